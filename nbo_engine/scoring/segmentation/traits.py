"""How to speak about profile columns: the words, statistic and format of each
trait that :func:`~nbo_engine.scoring.segmentation.describe.describe_segments`
can report."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TRAITS", "Trait"]


@dataclass(frozen=True)
class Trait:
    """How to speak about one profile column.

    ``kind`` sets the statistic shown and its format: ``share``/``flag`` (mean,
    as a percentage), ``amount`` (median, currency), ``count`` (mean),
    ``number`` (median), ``income`` (median income band), ``sentiment`` (mean,
    signed). ``detail`` is formatted with ``seg`` and ``all`` (the segment's and
    the bank's statistic). ``high_name``/``low_name`` are the words used in the
    segment's name ("" for none).
    """

    column: str
    kind: str
    high: str
    low: str
    detail: str
    high_name: str = ""
    low_name: str = ""


def _flag(product: str, noun: str, name: str) -> Trait:
    return Trait(
        f"held_{product}",
        "flag",
        f"hold {noun}",
        f"rarely hold {noun}",
        "{seg} vs {all}",
        name,
        "",
    )


def _category(cat: str, words: str, name: str) -> Trait:
    return Trait(
        f"tx_cate_{cat}_count_365",
        "count",
        f"frequent {words} spend",
        f"little {words} spend",
        "{seg} " + words + " purchases a year vs {all}",
        name,
        "",
    )


TRAITS: tuple[Trait, ...] = (
    Trait(
        "age",
        "number",
        "older",
        "younger",
        "median age {seg} vs {all}",
        "mature",
        "young",
    ),
    Trait(
        "income_level",
        "income",
        "higher income",
        "lower income",
        "median income {seg} vs {all}",
        "affluent",
        "low-income",
    ),
    Trait(
        "rfm_mean_365",
        "amount",
        "big-ticket spenders",
        "small-ticket spenders",
        "median purchase {seg} vs {all}",
        "big-ticket",
        "small-ticket",
    ),
    Trait(
        "rfm_count_365",
        "count",
        "frequent purchasers",
        "infrequent purchasers",
        "{seg} purchases a year vs {all}",
        "frequent",
        "infrequent",
    ),
    Trait(
        "rfm_recency_days",
        "number",
        "lapsed",
        "recently active",
        "median {seg} days since last purchase vs {all}",
        "lapsed",
        "",
    ),
    Trait(
        "rfm_interpurchase_days",
        "number",
        "buy rarely",
        "buy often",
        "median {seg} days between purchases vs {all}",
        "",
        "",
    ),
    Trait(
        "dig_even_login_count_365",
        "count",
        "digitally engaged",
        "rarely log in",
        "{seg} logins a year vs {all}",
        "digital",
        "offline",
    ),
    Trait(
        "dig_mobile_share",
        "share",
        "mostly mobile",
        "prefer the web",
        "{seg} of digital activity on mobile vs {all}",
        "mobile-first",
        "",
    ),
    Trait(
        "chan_digital_share",
        "share",
        "mostly digital",
        "prefer people",
        "{seg} of contacts digital vs {all}",
        "",
        "",
    ),
    Trait(
        "chan_branch_share",
        "share",
        "use branches",
        "avoid branches",
        "{seg} of contacts in a branch vs {all}",
        "branch-loyal",
        "",
    ),
    Trait(
        "chan_call_centre_share",
        "share",
        "phone the bank",
        "rarely phone",
        "{seg} of contacts by phone vs {all}",
        "",
        "",
    ),
    Trait(
        "bureau_credit_score",
        "number",
        "strong credit",
        "weak credit",
        "median credit score {seg} vs {all}",
        "prime",
        "credit-stretched",
    ),
    Trait(
        "bureau_utilisation",
        "share",
        "use much of their credit",
        "use little of their credit",
        "{seg} credit utilisation vs {all}",
        "",
        "",
    ),
    Trait(
        "svc_sentiment_365",
        "sentiment",
        "positive in service contacts",
        "unhappy in service contacts",
        "mean sentiment {seg} vs {all}",
        "",
        "unhappy",
    ),
    Trait(
        "svc_complaints_365",
        "count",
        "complain",
        "rarely complain",
        "{seg} complaints a year vs {all}",
        "complaining",
        "",
    ),
    Trait(
        "svc_interactions_365",
        "count",
        "contact service often",
        "rarely contact service",
        "{seg} service contacts a year vs {all}",
        "",
        "",
    ),
    Trait(
        "bal_deposits",
        "amount",
        "large deposits",
        "small deposits",
        "median {seg} vs {all}",
        "saver",
        "",
    ),
    Trait(
        "bal_debt",
        "amount",
        "large borrowing",
        "little borrowing",
        "median {seg} vs {all}",
        "indebted",
        "",
    ),
    Trait(
        "n_products",
        "number",
        "hold many products",
        "hold few products",
        "median {seg} products vs {all}",
        "multi-product",
        "single-product",
    ),
    _flag("savings", "savings accounts", "saver"),
    _flag("credit_card", "credit cards", "card-holding"),
    _flag("personal_loan", "personal loans", "borrower"),
    _flag("mortgage", "mortgages", "mortgaged"),
    _flag("investment", "investments", "investor"),
    _flag("insurance", "insurance", "insured"),
    _category("travel", "travel", "traveller"),
    _category("dining", "dining", "diner"),
    _category("entertainment", "entertainment", "entertainment"),
    _category("groceries", "grocery", "grocery"),
    _category("health", "health", ""),
)
