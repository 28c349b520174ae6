"""Tokenizer and recursive-descent parser of the eligibility rule language.

Grammar (keywords are case-insensitive; names are case-sensitive)::

    rule       := or_expr EOF
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | condition
    condition  := operand [tail]
    tail       := cmp operand [cmp operand]        # 18 <= age < 65 is a range
                | ["not"] "in" "[" [literal ("," literal)* [","]] "]"
                | ["not"] "between" operand "and" operand
                | "is" ["not"] "null"
    operand    := NUMBER | "-" NUMBER | STRING | "true" | "false"
                | NAME | FUNCTION "(" [STRING ("," STRING)*] ")"
    cmp        := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="

Nothing here evaluates text: the tokenizer only recognises the characters of
this grammar (a ``.``, a name starting with ``_`` or an unknown function is a
syntax error) and the parser only builds :mod:`nodes`. The input length and
the nesting depth are bounded, so a hostile rule gets a clean
:class:`~nbo_engine.errors.RuleError`, never a ``RecursionError`` or a hang;
the work is linear in the length of the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal as TypingLiteral
from typing import NoReturn, cast

from nbo_engine.errors import RuleError
from nbo_engine.policy.rules.nodes import (
    And,
    Boolean,
    Call,
    Compare,
    CompareOp,
    Expr,
    Field,
    InList,
    IsNull,
    Literal,
    Not,
    Number,
    Operand,
    Or,
    Range,
    String,
)

__all__ = ["FUNCTIONS", "KEYWORDS", "MAX_DEPTH", "MAX_LENGTH", "parse_rule"]

#: Longest rule accepted, in characters.
MAX_LENGTH = 10_000
#: Deepest nesting of parentheses and ``not`` accepted.
MAX_DEPTH = 64
#: Whitelisted functions and their number of string arguments.
FUNCTIONS: dict[str, int] = {"holds": 1, "in_segment": 1, "days_since": 1}
KEYWORDS = frozenset(
    {"and", "or", "not", "in", "between", "is", "null", "true", "false"}
)
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
_SINGLE = "()[],"
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_CMP = frozenset({"=", "!=", "<", "<=", ">", ">="})

Kind = TypingLiteral["number", "string", "name", "keyword", "op", "eof"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str  # as written (keywords lower-cased)
    value: object
    line: int
    column: int

    def describe(self) -> str:
        if self.kind == "eof":
            return "the end of the rule"
        if self.kind == "string":
            return f"string {self.text}"
        return f"'{self.text}'"


def _fail(line: int, column: int, message: str) -> NoReturn:
    raise RuleError([(line, column, message)])


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; raises :class:`RuleError` at the first
    character that is not part of the language."""
    tokens: list[Token] = []
    i, n, line, col = 0, len(text), 1, 1
    while i < n:
        c = text[i]
        if c == "\n":
            i, line, col = i + 1, line + 1, 1
            continue
        if c in " \t\r":
            i, col = i + 1, col + 1
            continue
        start = i
        if c in _DIGITS:
            while i < n and text[i] in _DIGITS:
                i += 1
            is_float = False
            if i < n and text[i] == ".":
                if i + 1 >= n or text[i + 1] not in _DIGITS:
                    _fail(line, col + i - start, "expected digits after '.'")
                i += 1
                while i < n and text[i] in _DIGITS:
                    i += 1
                is_float = True
            if i < n and text[i] in "eE":
                j = i + 1
                if j < n and text[j] in "+-":
                    j += 1
                if j >= n or text[j] not in _DIGITS:
                    _fail(line, col + i - start, "expected digits in the exponent")
                i = j
                while i < n and text[i] in _DIGITS:
                    i += 1
                is_float = True
            lexeme = text[start:i]
            if i < n and text[i] in _NAME_CHARS:
                _fail(line, col + i - start, f"unexpected {text[i]!r} after {lexeme}")
            if len(lexeme) > 40:
                _fail(line, col, f"number {lexeme[:20]}... is too long (> 40 digits)")
            value: object = float(lexeme) if is_float else int(lexeme)
            if is_float and not math.isfinite(cast(float, value)):
                _fail(line, col, f"number {lexeme} is not finite")
            tokens.append(Token("number", lexeme, value, line, col))
            col += i - start
            continue
        if c in _NAME_START:
            while i < n and text[i] in _NAME_CHARS:
                i += 1
            word = text[start:i]
            if word.startswith("_"):
                _fail(
                    line,
                    col,
                    f"name {word!r} is not allowed: names cannot start with '_'",
                )
            if i < n and text[i] == ".":
                _fail(
                    line,
                    col + i - start,
                    f"'.' after {word!r}: attribute access is not part of the rule "
                    "language",
                )
            low = word.lower()
            if low in KEYWORDS:
                tokens.append(Token("keyword", low, low, line, col))
            else:
                tokens.append(Token("name", word, word, line, col))
            col += i - start
            continue
        if c in "\"'":
            i += 1
            chars: list[str] = []
            while True:
                if i >= n or text[i] == "\n":
                    _fail(line, col, f"unterminated string (expected a closing {c})")
                ch = text[i]
                if ch == c:
                    i += 1
                    break
                if ch == "\\":
                    esc = text[i + 1] if i + 1 < n else ""
                    if esc not in _ESCAPES:
                        _fail(
                            line,
                            col + i - start,
                            f"unknown escape '\\{esc}' (expected one of "
                            "\\\\ \\\" \\' \\n \\t \\r)",
                        )
                    chars.append(_ESCAPES[esc])
                    i += 2
                    continue
                chars.append(ch)
                i += 1
            lexeme = text[start:i]
            tokens.append(Token("string", lexeme, "".join(chars), line, col))
            col += i - start
            continue
        two = text[i : i + 2]
        if two in ("<=", ">=", "!=", "=="):
            tokens.append(Token("op", "=" if two == "==" else two, two, line, col))
            i, col = i + 2, col + 2
            continue
        if c in "<>=-" or c in _SINGLE:
            tokens.append(Token("op", c, c, line, col))
            i, col = i + 1, col + 1
            continue
        if c == ".":
            _fail(
                line,
                col,
                "unexpected '.': attribute access is not part of the rule language",
            )
        _fail(line, col, f"unexpected character {c!r}")
    tokens.append(Token("eof", "", None, line, col))
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token], max_depth: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.max_depth = max_depth

    # ------------------------------------------------------------ helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _advance(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def _is(self, kind: Kind, text: str | None = None) -> bool:
        t = self.tokens[self.i]
        return t.kind == kind and (text is None or t.text == text)

    def _expect(self, kind: Kind, text: str, what: str) -> Token:
        if not self._is(kind, text):
            self._error(what)
        return self._advance()

    def _error(self, expected: str) -> NoReturn:
        t = self.tok
        _fail(t.line, t.column, f"expected {expected}, got {t.describe()}")

    def _enter(self, t: Token) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            _fail(
                t.line,
                t.column,
                f"rule nested deeper than {self.max_depth} levels of parentheses "
                "or 'not'",
            )

    # ------------------------------------------------------------ grammar
    def rule(self) -> Expr:
        expr = self.or_expr()
        if not self._is("eof"):
            self._error("'and', 'or' or the end of the rule")
        return expr

    def or_expr(self) -> Expr:
        first = self.tok
        items = [self.and_expr()]
        while self._is("keyword", "or"):
            self._advance()
            items.append(self.and_expr())
        if len(items) == 1:
            return items[0]
        return Or(tuple(items), pos=(first.line, first.column))

    def and_expr(self) -> Expr:
        first = self.tok
        items = [self.not_expr()]
        while self._is("keyword", "and"):
            self._advance()
            items.append(self.not_expr())
        if len(items) == 1:
            return items[0]
        return And(tuple(items), pos=(first.line, first.column))

    def not_expr(self) -> Expr:
        # Iterative over a run of 'not' so the depth check, not Python's
        # stack, bounds it.
        nots: list[Token] = []
        while self._is("keyword", "not"):
            t = self._advance()
            self._enter(t)
            nots.append(t)
        if self._is("op", "("):
            open_ = self._advance()
            self._enter(open_)
            expr = self.or_expr()
            self._expect("op", ")", f"')' to close the '(' at column {open_.column}")
            self.depth -= 1
        else:
            expr = self.condition()
        for t in reversed(nots):
            expr = Not(expr, pos=(t.line, t.column))
            self.depth -= 1
        return expr

    def condition(self) -> Expr:
        start = self.tok
        left = self.operand()
        pos = (start.line, start.column)
        t = self.tok
        if t.kind == "op" and t.text in _CMP:
            op1 = cast(CompareOp, self._advance().text)
            middle = self.operand()
            t2 = self.tok
            if t2.kind == "op" and t2.text in _CMP:
                op2 = self._advance().text
                high = self.operand()
                if self.tok.kind == "op" and self.tok.text in _CMP:
                    self._error("at most two chained comparisons")
                asc = {"<", "<="}
                desc = {">", ">="}
                if op1 in asc and op2 in asc:
                    return Range(middle, left, high, op1 == "<=", op2 == "<=", pos=pos)
                if op1 in desc and op2 in desc:
                    return Range(middle, high, left, op2 == ">=", op1 == ">=", pos=pos)
                _fail(
                    t2.line,
                    t2.column,
                    f"chained comparison '{op1}' then '{op2}': a chain must use "
                    "only < and <=, or only > and >=",
                )
            return Compare(op1, left, middle, pos=pos)
        negated = False
        if t.kind == "keyword" and t.text == "not":
            nxt = self.tokens[self.i + 1]
            self._advance()
            if nxt.kind != "keyword" or nxt.text not in ("in", "between"):
                self._error("'in' or 'between' after 'not'")
            negated = True
        if self._is("keyword", "in"):
            self._advance()
            return InList(left, self.literal_list(), negated, pos=pos)
        if self._is("keyword", "between"):
            self._advance()
            low = self.operand()
            self._expect("keyword", "and", "'and' in 'between ... and ...'")
            high = self.operand()
            rng = Range(left, low, high, True, True, pos=pos)
            return Not(rng, pos=pos) if negated else rng
        if self._is("keyword", "is"):
            self._advance()
            neg = False
            if self._is("keyword", "not"):
                self._advance()
                neg = True
            self._expect("keyword", "null", "'null' after 'is'")
            return IsNull(left, neg, pos=pos)
        return left

    def operand(self) -> Operand:
        t = self.tok
        pos = (t.line, t.column)
        if t.kind == "number":
            self._advance()
            return Number(cast(int | float, t.value), pos=pos)
        if t.kind == "op" and t.text == "-":
            self._advance()
            num = self.tok
            if num.kind != "number":
                self._error("a number after '-'")
            self._advance()
            return Number(-cast(int | float, num.value), pos=pos)
        if t.kind == "string":
            self._advance()
            return String(cast(str, t.value), pos=pos)
        if t.kind == "keyword" and t.text in ("true", "false"):
            self._advance()
            return Boolean(t.text == "true", pos=pos)
        if t.kind == "name":
            self._advance()
            if not self._is("op", "("):
                return Field(t.text, pos=pos)
            if t.text not in FUNCTIONS:
                _fail(
                    t.line,
                    t.column,
                    f"unknown function {t.text!r}; known functions: "
                    f"{', '.join(sorted(FUNCTIONS))}",
                )
            self._advance()
            args: list[String] = []
            while not self._is("op", ")"):
                if args:
                    self._expect("op", ",", "',' or ')'")
                a = self.tok
                if a.kind != "string":
                    self._error(f"a quoted string argument to {t.text}()")
                self._advance()
                args.append(String(cast(str, a.value), pos=(a.line, a.column)))
            self._advance()
            want = FUNCTIONS[t.text]
            if len(args) != want:
                _fail(
                    t.line,
                    t.column,
                    f"{t.text}() takes {want} string argument(s), got {len(args)}",
                )
            return Call(t.text, tuple(args), pos=pos)
        self._error("a field, a function call, a number, a string, true or false")

    def literal_list(self) -> tuple[Literal, ...]:
        self._expect("op", "[", "'[' to start the list")
        items: list[Literal] = []
        while not self._is("op", "]"):
            if items:
                self._expect("op", ",", "',' or ']'")
                if self._is("op", "]"):
                    break
            item = self.operand()
            if isinstance(item, Field | Call):
                line, column = item.pos
                _fail(
                    line, column, "list items must be numbers, strings, true or false"
                )
            items.append(item)
        self._advance()
        return tuple(items)


def parse_rule(
    text: str, *, max_length: int = MAX_LENGTH, max_depth: int = MAX_DEPTH
) -> Expr:
    """Parse an eligibility rule into its syntax tree.

    Parameters
    ----------
    text : str
        The rule, e.g. ``'age between 18 and 65 and not holds("credit_card")'``.
    max_length : int
        Longest accepted rule, in characters.
    max_depth : int
        Deepest accepted nesting of parentheses and ``not``.

    Returns
    -------
    Expr
        The root node (see :mod:`nbo_engine.policy.rules.nodes`).

    Raises
    ------
    RuleError
        With the line and column of the first problem and what was expected.

    Examples
    --------
    >>> parse_rule('age >= 18 and holds("mortgage")')  # doctest: +NORMALIZE_WHITESPACE
    And(operands=(Compare(op='>=', left=Field(name='age'), right=Number(value=18)),
                  Call(name='holds', args=(String(value='mortgage'),))))
    """
    if not isinstance(text, str):
        raise RuleError(
            [(1, 1, f"expected the rule as text, got {type(text).__name__}")]
        )
    if len(text) > max_length:
        raise RuleError(
            [
                (
                    1,
                    1,
                    f"rule is {len(text):,} characters long; the limit is {max_length:,}",
                )
            ]
        )
    if not text.strip():
        raise RuleError(
            [(1, 1, "rule is empty; write `true` to make every customer eligible")]
        )
    return _Parser(tokenize(text), max_depth).rule()
