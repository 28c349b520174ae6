"""The data contract: every input file, every column, written once.

``docs/data-contract.md`` is generated from this module (``nbo contract``) and a
test checks that the two agree. The simulator writes files that follow it and the
ingest pipeline validates against it, so there is one home for each rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CURRENCIES",
    "ENTITY_ORDER",
    "PRODUCTS",
    "SCHEMAS",
    "ColumnSpec",
    "FileSchema",
    "contract_markdown",
    "schema_for",
]

Kind = Literal[
    "str", "text", "int", "float", "money", "date", "datetime", "bool", "enum"
]
Normalise = Literal["none", "upper", "lower", "title", "postcode", "phone", "email"]

PRODUCTS: tuple[str, ...] = (
    "current",
    "savings",
    "credit_card",
    "personal_loan",
    "mortgage",
    "investment",
    "insurance",
)
CURRENCIES: tuple[str, ...] = ("GBP", "EUR", "USD")
INCOME_BANDS: tuple[str, ...] = ("<20k", "20-40k", "40-70k", "70-100k", "100k+")
OCCUPATIONS: tuple[str, ...] = (
    "employed",
    "self_employed",
    "student",
    "retired",
    "unemployed",
    "homemaker",
)
MARITAL: tuple[str, ...] = ("single", "married", "partner", "divorced", "widowed")
TXN_CATEGORIES: tuple[str, ...] = (
    "groceries",
    "dining",
    "travel",
    "fuel",
    "retail",
    "utilities",
    "entertainment",
    "health",
    "cash",
    "other",
)
TXN_CHANNELS: tuple[str, ...] = ("card_present", "online", "atm", "transfer")
DIGITAL_CHANNELS: tuple[str, ...] = ("web", "mobile")
DIGITAL_EVENTS: tuple[str, ...] = ("login", "product_view", "offer_view", "offer_click")
SERVICE_CHANNELS: tuple[str, ...] = ("branch", "call_centre", "chat", "email")
SERVICE_REASONS: tuple[str, ...] = (
    "account_query",
    "card_issue",
    "fees",
    "loan_enquiry",
    "mortgage_enquiry",
    "fraud_report",
    "technical_issue",
    "address_change",
    "complaint",
)
CONTACT_CHANNELS: tuple[str, ...] = ("web", "mobile", "branch", "call_centre", "email")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of an input file.

    ``kind`` decides parsing: ``money`` accepts thousands separators and a leading
    currency sign (repaired, reason ``amount_format``); ``date``/``datetime`` accept
    ISO 8601 and the documented alternative formats (repaired, reason
    ``date_format``); ``bool`` accepts true/false, yes/no, y/n, 1/0 in any case.
    """

    name: str
    kind: Kind
    required: bool
    description: str
    unit: str = ""
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    normalise: Normalise = "none"
    references: tuple[str, str] | None = None
    not_future: bool = False


@dataclass(frozen=True)
class FileSchema:
    """One input file: its columns, natural key and the checks across columns."""

    entity: str
    description: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    checks: tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _c(
    name: str,
    kind: Kind,
    required: bool,
    description: str,
    **kw: object,
) -> ColumnSpec:
    return ColumnSpec(name, kind, required, description, **kw)  # type: ignore[arg-type]


SCHEMAS: dict[str, FileSchema] = {
    s.entity: s
    for s in (
        FileSchema(
            "market",
            "Weekly external market indicators; one row per week.",
            (
                _c("week_start", "date", True, "Monday of the week", not_future=True),
                _c(
                    "policy_rate",
                    "float",
                    True,
                    "Central bank policy rate",
                    unit="%",
                    minimum=-5,
                    maximum=30,
                ),
                _c(
                    "unemployment_rate",
                    "float",
                    True,
                    "Unemployment rate",
                    unit="%",
                    minimum=0,
                    maximum=60,
                ),
                _c(
                    "house_price_index",
                    "float",
                    True,
                    "House price index (start=100)",
                    minimum=1,
                    maximum=10_000,
                ),
            ),
            key=("week_start",),
        ),
        FileSchema(
            "customers",
            "One row per customer record. The same person may appear under two ids; "
            "ingest resolves them to one customer and keeps the other id as an alias.",
            (
                _c("customer_id", "str", True, "Bank customer number"),
                _c("first_name", "str", True, "Given name", normalise="title"),
                _c("last_name", "str", True, "Family name", normalise="title"),
                _c(
                    "birth_date",
                    "date",
                    True,
                    "Date of birth; must precede join_date",
                    not_future=True,
                ),
                _c("address", "str", True, "Street address line", normalise="title"),
                _c("city", "str", False, "Town or city", normalise="title"),
                _c(
                    "postcode",
                    "str",
                    True,
                    "Postal code (UK style)",
                    normalise="postcode",
                ),
                _c(
                    "email",
                    "str",
                    False,
                    "E-mail address; invalid ones are blanked",
                    normalise="email",
                ),
                _c(
                    "phone",
                    "str",
                    False,
                    "Phone number; stored as +44 digits",
                    normalise="phone",
                ),
                _c(
                    "income_band",
                    "enum",
                    False,
                    "Declared income band",
                    allowed=INCOME_BANDS,
                ),
                _c("occupation", "enum", False, "Occupation", allowed=OCCUPATIONS),
                _c("marital_status", "enum", False, "Marital status", allowed=MARITAL),
                _c(
                    "dependants",
                    "int",
                    False,
                    "Number of dependent children",
                    minimum=0,
                    maximum=15,
                ),
                _c(
                    "join_date",
                    "date",
                    True,
                    "Date the relationship began",
                    not_future=True,
                ),
                _c("marketing_consent", "bool", True, "Consent to marketing contact"),
                _c(
                    "do_not_contact",
                    "bool",
                    False,
                    "Customer asked for no contact at all (default false)",
                ),
            ),
            key=("customer_id",),
            checks=(
                "birth_date < join_date and age at join below 110 "
                "(else impossible_value)",
            ),
        ),
        FileSchema(
            "accounts",
            "Products held, open or closed.",
            (
                _c("account_id", "str", True, "Account number"),
                _c(
                    "customer_id",
                    "str",
                    True,
                    "Primary holder",
                    references=("customers", "customer_id"),
                ),
                _c(
                    "joint_customer_id",
                    "str",
                    False,
                    "Second holder of a joint account",
                    references=("customers", "customer_id"),
                ),
                _c("product", "enum", True, "Product type", allowed=PRODUCTS),
                _c("open_date", "date", True, "Opening date", not_future=True),
                _c(
                    "close_date",
                    "date",
                    False,
                    "Closing date, empty while open",
                    not_future=True,
                ),
                _c(
                    "balance",
                    "money",
                    True,
                    "Balance at extract (debt positive for loans and cards)",
                    unit="currency",
                ),
                _c(
                    "credit_limit",
                    "money",
                    False,
                    "Credit limit or overdraft",
                    unit="currency",
                    minimum=0,
                ),
                _c(
                    "interest_rate",
                    "float",
                    False,
                    "Annual interest rate",
                    unit="%",
                    minimum=-5,
                    maximum=100,
                ),
                _c(
                    "currency",
                    "enum",
                    True,
                    "ISO 4217 code",
                    allowed=CURRENCIES,
                    normalise="upper",
                ),
            ),
            key=("account_id",),
            checks=(
                "close_date >= open_date (else impossible_value)",
                "a closed account has a zero balance (else impossible_value)",
            ),
        ),
        FileSchema(
            "balances",
            "Month-end balance of each account.",
            (
                _c(
                    "account_id",
                    "str",
                    True,
                    "Account number",
                    references=("accounts", "account_id"),
                ),
                _c("month_end", "date", True, "Last day of the month", not_future=True),
                _c("balance", "money", True, "Balance", unit="currency"),
            ),
            key=("account_id", "month_end"),
        ),
        FileSchema(
            "transactions",
            "Card and account transactions (purchases).",
            (
                _c("transaction_id", "str", True, "Unique transaction reference"),
                _c(
                    "account_id",
                    "str",
                    True,
                    "Account debited",
                    references=("accounts", "account_id"),
                ),
                _c(
                    "customer_id",
                    "str",
                    True,
                    "Customer",
                    references=("customers", "customer_id"),
                ),
                _c(
                    "timestamp",
                    "datetime",
                    True,
                    "When it happened (local time)",
                    not_future=True,
                ),
                _c(
                    "amount",
                    "money",
                    True,
                    "Amount spent, positive",
                    unit="currency",
                    minimum=0.0,
                ),
                _c(
                    "currency",
                    "enum",
                    True,
                    "ISO 4217 code",
                    allowed=CURRENCIES,
                    normalise="upper",
                ),
                _c(
                    "category",
                    "enum",
                    True,
                    "Merchant category",
                    allowed=TXN_CATEGORIES,
                    normalise="lower",
                ),
                _c(
                    "channel",
                    "enum",
                    True,
                    "How it was made",
                    allowed=TXN_CHANNELS,
                    normalise="lower",
                ),
            ),
            key=("transaction_id",),
        ),
        FileSchema(
            "digital_events",
            "Web and mobile activity.",
            (
                _c("event_id", "str", True, "Unique event id"),
                _c(
                    "customer_id",
                    "str",
                    True,
                    "Customer",
                    references=("customers", "customer_id"),
                ),
                _c("timestamp", "datetime", True, "When it happened", not_future=True),
                _c(
                    "channel",
                    "enum",
                    True,
                    "web or mobile",
                    allowed=DIGITAL_CHANNELS,
                    normalise="lower",
                ),
                _c(
                    "event_type",
                    "enum",
                    True,
                    "What happened",
                    allowed=DIGITAL_EVENTS,
                    normalise="lower",
                ),
                _c(
                    "product",
                    "enum",
                    False,
                    "Product viewed (product_view only)",
                    allowed=PRODUCTS,
                    normalise="lower",
                ),
            ),
            key=("event_id",),
        ),
        FileSchema(
            "interactions",
            "Service interactions with a free-text note.",
            (
                _c("interaction_id", "str", True, "Unique interaction id"),
                _c(
                    "customer_id",
                    "str",
                    True,
                    "Customer",
                    references=("customers", "customer_id"),
                ),
                _c("timestamp", "datetime", True, "When it happened", not_future=True),
                _c(
                    "channel",
                    "enum",
                    True,
                    "Service channel",
                    allowed=SERVICE_CHANNELS,
                    normalise="lower",
                ),
                _c(
                    "reason",
                    "enum",
                    True,
                    "Contact reason",
                    allowed=SERVICE_REASONS,
                    normalise="lower",
                ),
                _c("note", "text", False, "Agent's free-text note"),
                _c("complaint", "bool", True, "Logged as a formal complaint"),
            ),
            key=("interaction_id",),
        ),
        FileSchema(
            "bureau",
            "Quarterly credit-bureau attributes.",
            (
                _c(
                    "customer_id",
                    "str",
                    True,
                    "Customer",
                    references=("customers", "customer_id"),
                ),
                _c("as_of", "date", True, "Date the bureau reported", not_future=True),
                _c(
                    "credit_score",
                    "int",
                    True,
                    "Bureau score",
                    minimum=300,
                    maximum=999,
                ),
                _c(
                    "total_debt",
                    "money",
                    True,
                    "Debt across all lenders",
                    unit="currency",
                    minimum=0,
                ),
                _c(
                    "open_trades",
                    "int",
                    True,
                    "Open credit lines",
                    minimum=0,
                    maximum=200,
                ),
                _c(
                    "delinquencies_12m",
                    "int",
                    True,
                    "Missed payments, last 12 months",
                    minimum=0,
                    maximum=100,
                ),
                _c(
                    "utilisation",
                    "float",
                    True,
                    "Revolving balance / limit",
                    unit="ratio",
                    minimum=0,
                    maximum=5,
                ),
            ),
            key=("customer_id", "as_of"),
        ),
        FileSchema(
            "campaign_history",
            "Past campaign contacts, with randomised control groups.",
            (
                _c("contact_id", "str", True, "Unique contact id"),
                _c("campaign_id", "str", True, "Campaign"),
                _c(
                    "customer_id",
                    "str",
                    True,
                    "Customer",
                    references=("customers", "customer_id"),
                ),
                _c("offer_id", "str", True, "Offer made (or held back, if control)"),
                _c(
                    "channel",
                    "enum",
                    True,
                    "Channel",
                    allowed=CONTACT_CHANNELS,
                    normalise="lower",
                ),
                _c(
                    "contact_date",
                    "date",
                    True,
                    "Date of contact (or of selection)",
                    not_future=True,
                ),
                _c("treated", "bool", True, "false for the randomised control group"),
                _c(
                    "treatment_probability",
                    "float",
                    True,
                    "Probability this customer was assigned to treatment",
                    unit="ratio",
                    minimum=0.0,
                    maximum=1.0,
                ),
                _c("responded", "bool", True, "Clicked or replied"),
                _c("converted", "bool", True, "Took the product within 30 days"),
                _c(
                    "conversion_date",
                    "date",
                    False,
                    "Date of conversion",
                    not_future=True,
                ),
            ),
            key=("contact_id",),
        ),
    )
}

#: Load order: parents before the files that reference them.
ENTITY_ORDER: tuple[str, ...] = (
    "market",
    "customers",
    "accounts",
    "balances",
    "transactions",
    "digital_events",
    "interactions",
    "bureau",
    "campaign_history",
)

DATE_FORMATS_DOC = (
    "ISO `YYYY-MM-DD` (datetimes `YYYY-MM-DD HH:MM:SS` or with `T`); also accepted "
    "and repaired: `DD/MM/YYYY` (day first), `YYYY/MM/DD`, `YYYYMMDD`, "
    "`DD-Mon-YYYY` (e.g. `05-Mar-2024`)"
)


def schema_for(entity: str) -> FileSchema:
    """The schema of ``entity``; raises ``KeyError`` naming the known entities."""
    try:
        return SCHEMAS[entity]
    except KeyError:
        raise KeyError(
            f"unknown entity {entity!r}; expected one of {', '.join(ENTITY_ORDER)}"
        ) from None


def contract_markdown() -> str:
    """The data contract as Markdown (``docs/data-contract.md``)."""
    out = [
        "# Data contract: input files",
        "",
        "Generated from `nbo_engine/ingest/schemas.py` by `nbo contract`; do not edit "
        "by hand.",
        "",
        'Files are CSV (UTF-8, header row, comma separated, `"` quoting) or Parquet, '
        "named `<entity>.csv` or `<entity>.parquet` in the folder given to "
        "`nbo ingest DIR`. Load order: "
        + ", ".join(f"`{e}`" for e in ENTITY_ORDER)
        + ".",
        "",
        "## Parsing and repairs",
        "",
        f"- Dates: {DATE_FORMATS_DOC}. A date later than the ingest's as-of time "
        "is quarantined (`future_date`).",
        "- Money: plain decimals; thousands separators and a leading currency sign "
        "(`£1,234.50`, `GBP 1,234.50`) are repaired (`amount_format`).",
        "- Text is trimmed and inner spaces collapsed; names and addresses are "
        "title-cased, emails lower-cased, postcodes upper-cased with one space, "
        "phones reduced to `+44` and digits (`normalised_text`).",
        "- Booleans: true/false, yes/no, y/n, 1/0 in any case.",
        "- A missing required value quarantines the row (`missing_required`); an "
        "invalid optional value is blanked and the original kept in the repair log "
        "(`invalid_optional`).",
        "- Exact duplicate rows are dropped (`duplicate_row`); a second row with the "
        "same key but other values is quarantined (`duplicate_key`).",
        "- References to unknown parents are quarantined (`orphan_reference`).",
        "",
    ]
    for entity in ENTITY_ORDER:
        s = SCHEMAS[entity]
        out += [
            f"## `{entity}`",
            "",
            s.description,
            "",
            f"Key: {', '.join(f'`{k}`' for k in s.key)}.",
            "",
            "| column | type | required | unit | allowed values / range | description |",
            "|---|---|---|---|---|---|",
        ]
        for c in s.columns:
            if c.allowed:
                allowed = ", ".join(f"`{a}`" for a in c.allowed)
            elif c.minimum is not None or c.maximum is not None:
                lo = "" if c.minimum is None else f"{c.minimum:g}"
                hi = "" if c.maximum is None else f"{c.maximum:g}"
                allowed = f"[{lo}, {hi}]"
            else:
                allowed = ""
            if c.references:
                allowed = (allowed + " " if allowed else "") + (
                    f"references `{c.references[0]}.{c.references[1]}`"
                )
            if c.not_future:
                allowed = (allowed + "; " if allowed else "") + "not in the future"
            out.append(
                f"| `{c.name}` | {c.kind} | {'yes' if c.required else 'no'} | "
                f"{c.unit} | {allowed} | {c.description} |"
            )
        if s.checks:
            out += ["", "Row checks: " + "; ".join(s.checks) + "."]
        out.append("")
    return "\n".join(out)
