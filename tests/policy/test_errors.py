"""Messages pinned: rule errors name line, column and what was expected;
policy file errors name file, line, field, what was expected and received."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nbo_engine.errors import PolicyFileError, RuleError
from nbo_engine.policy import compile_rule, load_policy, parse_policy, parse_rule
from tests.policy.strategies import SCHEMA


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "",
            r"^line 1, column 1: rule is empty; write `true` to make every customer eligible$",
        ),
        (
            "age >=",
            r"^line 1, column 7: expected a field, a function call, a number, a string, true or false, got the end of the rule$",
        ),
        (
            "age >= 18 and",
            r"^line 1, column 14: expected a field, .* got the end of the rule$",
        ),
        (
            "(age > 1",
            r"^line 1, column 9: expected '\)' to close the '\(' at column 1, got the end of the rule$",
        ),
        (
            "age > 1)",
            r"^line 1, column 8: expected 'and', 'or' or the end of the rule, got '\)'$",
        ),
        (
            "age\n  >= 18\n  and or",
            r"^line 3, column 7: expected a field, .* got 'or'$",
        ),
        (
            "age between 1 or 2",
            r"^line 1, column 15: expected 'and' in 'between ... and ...', got 'or'$",
        ),
        ("age is 3", r"^line 1, column 8: expected 'null' after 'is', got '3'$"),
        (
            "age not 3",
            r"^line 1, column 9: expected 'in' or 'between' after 'not', got '3'$",
        ),
        ("age in 3", r"^line 1, column 8: expected '\[' to start the list, got '3'$"),
        ("age in [1 2]", r"^line 1, column 11: expected ',' or '\]', got '2'$"),
        (
            "age in [x]",
            r"^line 1, column 9: list items must be numbers, strings, true or false$",
        ),
        (
            "1 < age > 2",
            r"^line 1, column 9: chained comparison '<' then '>': a chain must use only < and <=, or only > and >=$",
        ),
        (
            "1 < age < 2 < 3",
            r"^line 1, column 13: expected at most two chained comparisons, got '<'$",
        ),
        (
            "name = 'abc",
            r"^line 1, column 8: unterminated string \(expected a closing '\)$",
        ),
        (r"name = 'a\q'", r"^line 1, column 10: unknown escape '\\q'"),
        ("age = 1.", r"^line 1, column 8: expected digits after '\.'$"),
        ("age = 1e", r"^line 1, column 8: expected digits in the exponent$"),
        ("age = 12abc", r"^line 1, column 9: unexpected 'a' after 12$"),
        ("age = - x", r"^line 1, column 9: expected a number after '-', got 'x'$"),
        ("age @ 1", r"^line 1, column 5: unexpected character '@'$"),
        (
            "foo(1)",
            r"^line 1, column 1: unknown function 'foo'; known functions: days_since, holds, in_segment$",
        ),
        (
            "holds()",
            r"^line 1, column 1: holds\(\) takes 1 string argument\(s\), got 0$",
        ),
        (
            "x.y",
            r"^line 1, column 2: '\.' after 'x': attribute access is not part of the rule language$",
        ),
        (
            "__class__",
            r"^line 1, column 1: name '__class__' is not allowed: names cannot start with '_'$",
        ),
    ],
)
def test_syntax_errors(text: str, match: str) -> None:
    with pytest.raises(RuleError, match=match) as info:
        parse_rule(text)
    assert len(info.value.issues) == 1


def test_schema_errors_are_all_listed() -> None:
    text = 'agee > 1 and tier = "platinum" and name < 3 and holds("boat")\n or age'
    with pytest.raises(RuleError) as info:
        compile_rule(text, SCHEMA)
    assert [f"line {a}, column {b}: {m}" for a, b, m in info.value.issues] == [
        "line 1, column 1: unknown field 'agee' (did you mean 'age'?)",
        "line 1, column 21: 'platinum' is not a value of 'tier'; expected one of gold, silver, bronze",
        "line 1, column 36: '<' compares numbers, got string field 'name'",
        "line 1, column 55: unknown product 'boat' in holds(); expected one of savings, mortgage",
        "line 2, column 5: number field 'age' is not a condition; compare it (e.g. '= ...') or use a bool field",
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("age = 'x'", r"cannot compare number field 'age' with string 'x'"),
        ("age in ['a']", r"list item string 'a' does not match number field 'age'"),
        ("name between 1 and 2", r"a range compares numbers, got string field 'name'"),
        (
            'days_since("never") > 1',
            r"unknown event 'never' in days_since\(\); expected one of last_complaint, last_login",
        ),
        (
            'in_segment("digitl")',
            r"unknown segment 'digitl' in in_segment\(\) \(did you mean 'digital'\?\)",
        ),
        ("holds", r"unknown field 'holds' \(call it: holds\(\"...\"\)\)"),
        ("3", r"number 3 is not a condition"),
    ],
)
def test_type_errors(text: str, match: str) -> None:
    with pytest.raises(RuleError, match=match):
        compile_rule(text, SCHEMA)


MINIMAL = """\
name: p
offers:
  - id: a
    product: savings
    name: A
    channels: [web]
    value: {margin: 1, cost: 0, horizon_days: 30}
    message: hello
    start: 2026-01-01
bandit: {type: lints}
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyFileError) as info:
        parse_policy(text, "policy.yaml")
    return list(info.value.problems)


def test_minimal_policy_is_valid() -> None:
    spec = parse_policy(MINIMAL)
    assert spec.bandit.type == "lints"
    assert spec.rule("a").text == "true"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "cost: 0",
            "cost: -1",
            "policy.yaml:7 offers[0].value.cost: expected number >= 0.0, got -1",
        ),
        (
            "horizon_days: 30",
            "horizon_days: many",
            "policy.yaml:7 offers[0].value.horizon_days: expected int, got 'many'",
        ),
        (
            "product: savings",
            "product: boat",
            "policy.yaml:4 offers[0].product: expected one of current, savings, credit_card, personal_loan, mortgage, investment, insurance, got 'boat'",
        ),
        (
            "[web]",
            "[web, fax]",
            "policy.yaml:6 offers[0].channels[1]: expected one of 'web', 'mobile', 'branch', 'call_centre' or 'email', got 'fax'",
        ),
        (
            "[web]",
            "[web, web]",
            "policy.yaml:6 offers[0].channels: channels repeat(s) web; expected each once",
        ),
        (
            "[web]",
            "[]",
            "policy.yaml:6 offers[0].channels: expected at least 1 item(s), got 0",
        ),
        (
            "2026-01-01\n",
            "2026-01-01\n    end: 2025-12-31\n",
            "policy.yaml:10 offers[0].end: expected end >= start (2026-01-01), got 2025-12-31",
        ),
        (
            "start: 2026-01-01",
            "start: soon",
            "policy.yaml:9 offers[0].start: expected date (YYYY-MM-DD), got 'soon'",
        ),
        (
            "    name: A\n",
            "",
            "policy.yaml:3 offers[0].name: required field is missing",
        ),
        (
            "message: hello",
            "message: hello\n    colour: red",
            "policy.yaml:9 offers[0].colour: unknown field; expected one of id, product, name, channels, value, message, messages, start, end, eligibility, lever, segment_levers, contact",
        ),
        (
            "message: hello",
            "message: hello\n    contact: {max_per_week: -1}",
            "policy.yaml:9 offers[0].contact.max_per_week: expected int >= 0, got -1",
        ),
        (
            "message: hello",
            "message: hello\n    contact: {max_per_day: 3, max_per_week: 2}",
            "policy.yaml:9 offers[0].contact: max_per_day (3) exceeds max_per_week (2); expected max_per_day <= max_per_week",
        ),
        (
            "message: hello",
            "message: 'Hi {{ balance }}'",
            "policy.yaml:8 offers[0].message: template line 1: field 'balance' is not allowed in messages (allowed: city, first_name, last_name)",
        ),
        (
            "message: hello",
            "message: '{{ first_name.__class__ }}'",
            "policy.yaml:8 offers[0].message: template line 1: getattr is not allowed in messages (only fields, text filters and if)",
        ),
        (
            "message: hello",
            "message: 'Hi {{ first_name'",
            "policy.yaml:8 offers[0].message: template line 1: template syntax: unexpected end of template, expected 'end of print statement'.",
        ),
        (
            "message: hello",
            "message: hello\n    eligibility: age >=",
            "policy.yaml:9 offers[0].eligibility: rule line 1, column 7: expected a field, a function call, a number, a string, true or false, got the end of the rule",
        ),
        (
            "message: hello",
            "message: hello\n    segment_levers: {vip: 2}",
            "policy.yaml:9 offers[0].segment_levers.vip: unknown segment 'vip'; expected one of (no segments declared)",
        ),
        (
            "message: hello",
            "message: hello\n    lever: -2",
            "policy.yaml:9 offers[0].lever: expected number >= 0.0, got -2",
        ),
        (
            "{type: lints}",
            "{type: ucb}",
            "policy.yaml:10 bandit: expected type one of linucb, lints, epsilon_greedy, logistic_ts, got 'ucb'",
        ),
        (
            "{type: lints}",
            "{type: epsilon_greedy, params: {epsilon: 2}}",
            "policy.yaml:10 bandit.params.epsilon: expected number <= 1.0, got 2",
        ),
        (
            "{type: lints}",
            "{type: lints, features: [first_name]}",
            "policy.yaml:10 bandit.features[0]: expected a number or bool profile field, or a category field with declared values (one-hot), got 'first_name'",
        ),
        (
            "{type: lints}",
            "{type: lints, features: [segment]}",
            "policy.yaml:10 bandit.features[0]: expected a number or bool profile field, or a category field with declared values (one-hot), got 'segment'",
        ),
        (
            "name: p\n",
            "name: P q\n",
            "policy.yaml:1 name: expected a lower_snake_case name (pattern ^[a-z][a-z0-9_]{0,63}$), got 'P q'",
        ),
        (
            "name: p\n",
            "name: p\nname: q\n",
            "policy.yaml:2 name: duplicate key 'name' (first at line 1)",
        ),
        (
            "name: p\n",
            "name: p\ncontact: {all_channels: {per_week: -3}}\n",
            "policy.yaml:2 contact.all_channels.per_week: expected int >= 0, got -3",
        ),
        (
            "name: p\n",
            "name: p\ncontact: {quiet_hours: {start: '21:00', end: '21:00'}}\n",
            "policy.yaml:2 contact.quiet_hours.end: expected end different from start, got 21:00:00",
        ),
        (
            "name: p\n",
            "name: p\ncontact: {consent_field: city}\n",
            "policy.yaml:2 contact.consent_field: expected a bool profile field, got 'city'",
        ),
        (
            "name: p\n",
            "name: p\narbitration: {max_offers: 0}\n",
            "policy.yaml:2 arbitration.max_offers: expected int >= 1, got 0",
        ),
    ],
)
def test_policy_file_errors(old: str, new: str, expected: str) -> None:
    assert old in MINIMAL
    assert expected in _problems(MINIMAL.replace(old, new, 1))


def test_every_problem_is_listed_in_line_order() -> None:
    text = (
        MINIMAL.replace("cost: 0", "cost: -1")
        .replace("message: hello", "message: hello\n    eligibility: agee > 1")
        .replace("  - id: a", "  - id: a\n    colour: red")
        + "  # duplicate offer\n"
    )
    text = text.replace("bandit:", "offers_extra: 1\nbandit:")
    problems = _problems(text)
    assert problems == [
        "policy.yaml:4 offers[0].colour: unknown field; expected one of id, product, name, channels, value, message, messages, start, end, eligibility, lever, segment_levers, contact",
        "policy.yaml:8 offers[0].value.cost: expected number >= 0.0, got -1",
        "policy.yaml:10 offers[0].eligibility: rule line 1, column 1: unknown field 'agee' (did you mean 'age'?)",
        "policy.yaml:12 offers_extra: unknown field; expected one of version, name, description, segments, segment_rules, profile_fields, template_fields, offers, contact, arbitration, bandit",
    ]


def test_segment_rules_are_checked() -> None:
    text = MINIMAL.replace(
        "bandit:",
        "segments: [young, old]\n"
        "segment_rules:\n"
        "  young: agee < 30\n"
        '  old: in_segment("young")\n'
        "  mid: age > 40\n"
        "bandit:",
    )
    problems = _problems(text)
    assert any(
        "segment_rules.young: rule line 1, column 1: unknown field 'agee'" in p
        for p in problems
    ), problems
    assert any(
        "segment_rules.old: a segment rule cannot read the segment it defines" in p
        for p in problems
    ), problems
    assert any(
        "segment_rules.mid: unknown segment 'mid'; expected one of young, old" in p
        for p in problems
    ), problems


def test_duplicate_offer_ids() -> None:
    offer = MINIMAL[MINIMAL.index("  - id: a") : MINIMAL.index("bandit:")]
    text = MINIMAL.replace("bandit:", offer + "bandit:")
    assert (
        "policy.yaml:10 offers[1].id: duplicate offer id 'a' (also offers[0])"
        in _problems(text)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: [unclosed\n",
            "policy.yaml:2 YAML syntax: expected ',' or ']', but got '<stream end>'",
        ),
        (
            "- just\n- a list\n",
            "policy.yaml:1 (top level): expected a mapping of policy fields, got a list of 2",
        ),
        (
            "",
            "policy.yaml:1 (top level): expected a mapping of policy fields, got None",
        ),
    ],
)
def test_unusable_yaml(text: str, expected: str) -> None:
    assert _problems(text) == [expected]


def test_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match=r"no\.yaml: no such file"):
        load_policy(tmp_path / "no.yaml")
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 1_000_000)
    with pytest.raises(
        PolicyFileError,
        match=r"big\.yaml: file is 1,000,002 bytes; the limit is 1,000,000",
    ):
        load_policy(big)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"name: \xff\xfe")
    with pytest.raises(
        PolicyFileError,
        match=r"bin\.yaml: not UTF-8 text \(byte 6\); expected a YAML file",
    ):
        load_policy(binary)


def test_billion_laughs_is_cheap() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    start = time.perf_counter()
    problems = _problems("\n".join(lines) + "\n")
    assert time.perf_counter() - start < 2.0
    assert any(p.startswith("policy.yaml:1 a0: unknown field") for p in problems)


def test_alternative_messages_are_checked_like_the_message() -> None:
    ok = MINIMAL.replace(
        "    message: hello\n",
        "    message: hello\n    messages:\n      msg-a: 'Hi {{ first_name }}'\n",
    )
    assert parse_policy(ok).offers[0].messages == {"msg-a": "Hi {{ first_name }}"}
    bad_template = ok.replace("{{ first_name }}", "{{ first_name.__class__ }}")
    (problem,) = _problems(bad_template)
    assert problem.startswith("policy.yaml:10 offers[0].messages.msg-a: template")
    clash = ok.replace("msg-a:", "a:")  # the offer's own id
    (problem,) = _problems(clash)
    assert "message id 'a' is used twice" in problem
    bad_id = ok.replace("msg-a:", "Msg A:")
    assert any("offers[0].messages" in p for p in _problems(bad_id))
