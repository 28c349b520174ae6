"""Reason codes for quarantined rows and for repairs: one home, documented."""

from __future__ import annotations

__all__ = ["QUARANTINE_REASONS", "REPAIR_REASONS"]

#: Why a row was quarantined (not loaded). Order = precedence when a row has
#: several problems: the first applies, the message lists them all.
QUARANTINE_REASONS: dict[str, str] = {
    "missing_required": "a required value is empty",
    "invalid_value": "a value cannot be parsed or is not an allowed value",
    "invalid_date": "a date or time cannot be parsed in any accepted format",
    "unknown_currency": "the currency is not a known ISO 4217 code",
    "future_date": "a date lies after the ingest's as-of time",
    "impossible_value": "a value is outside its possible range, or columns contradict "
    "each other (born after joining, balance on a closed account)",
    "duplicate_key": "an earlier row of the same file has the same key but other values",
    "orphan_reference": "a reference to a customer or account the store does not know",
    "parent_quarantined": "the referenced customer or account is itself quarantined",
}

#: How a loaded row was changed on the way in (or dropped, for duplicates).
REPAIR_REASONS: dict[str, str] = {
    "normalised_text": "whitespace trimmed or case and format normalised",
    "date_format": "a date in an accepted non-ISO format converted to ISO",
    "amount_format": "thousands separators or a currency sign removed from an amount",
    "invalid_optional": "an invalid optional value blanked (original kept here)",
    "duplicate_row": "an exact repeat of an earlier row, dropped",
    "merged_customer": "a second record of the same person, resolved to one customer",
    "alias_remapped": "a reference to a merged customer record moved to the survivor",
}
