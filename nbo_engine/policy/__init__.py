"""Policy specification: offers, eligibility rules, contact policy, arbitration
and bandit settings, loaded from YAML and validated.

Importable without the store: decisioning and the API use :class:`PolicySpec`.
"""

from nbo_engine.policy.load import load_policy, parse_policy
from nbo_engine.policy.rules import Rule, RuleSchema, compile_rule, parse_rule, to_text
from nbo_engine.policy.spec import (
    Arbitration,
    BanditSpec,
    Caps,
    ContactPolicy,
    Offer,
    OfferContact,
    PolicySpec,
    QuietHours,
    Suppression,
    ValueModel,
)
from nbo_engine.policy.templates import check_template, render_message

__all__ = [
    "Arbitration",
    "BanditSpec",
    "Caps",
    "ContactPolicy",
    "Offer",
    "OfferContact",
    "PolicySpec",
    "QuietHours",
    "Rule",
    "RuleSchema",
    "Suppression",
    "ValueModel",
    "check_template",
    "compile_rule",
    "load_policy",
    "parse_policy",
    "parse_rule",
    "render_message",
    "to_text",
]
