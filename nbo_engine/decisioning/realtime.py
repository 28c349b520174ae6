"""The real-time part of a customer's profile, from the offer events channels post.

Accounts, bureau and scores in the store are as fresh as the last ingest and
score refresh; the events a channel posts to ``POST /v1/events`` count at
once. Every decision already reads the customer's recent contact history
(offers shown and offer events, at least the last 30 days), and from it the
decider adds to the profile, before any rule, segment rule, message or
context vector reads it:

- ``rt_impressions_7``, ``rt_clicks_7``: offer impressions and clicks in the
  last 7 days; ``rt_accepts_30``, ``rt_declines_30``: accepts (and
  conversions) and declines in the last 30 days;
- ``rt_days_since_click``, ``rt_days_since_accept`` (``days_since(
  "last_offer_click")``, ``days_since("last_offer_accept")``), missing when
  there was none in the window;
- ``held_<product>`` true for the product of an offer the customer accepted
  or converted on (the accounts table learns of it at the next ingest), so
  ``holds("savings")`` stops a second savings offer at once.

Segment rules read the updated profile, so a customer moves segment the
moment an event makes a rule hold (dynamic segment reassignment). Replays
read the same history, so they see the same fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nbo_engine.policy.fields import REALTIME_FIELDS
from nbo_engine.store.decisions import ContactHistory

__all__ = ["REALTIME_FIELDS", "realtime_fields"]

_NONE: dict[str, Any] = {
    "rt_impressions_7": 0,
    "rt_clicks_7": 0,
    "rt_accepts_30": 0,
    "rt_declines_30": 0,
    "rt_days_since_click": None,
    "rt_days_since_accept": None,
}


def realtime_fields(
    history: ContactHistory, products: Mapping[str, str]
) -> dict[str, Any]:
    """The real-time fields of one customer from their contact history.

    ``products`` maps offer id -> product (the policy's offers).

    >>> import numpy as np
    >>> h = ContactHistory.empty()
    >>> realtime_fields(h, {})["rt_accepts_30"]
    0
    >>> obj = lambda *v: np.array(v, dtype=object)
    >>> h = ContactHistory(np.empty(0), obj(), obj(), obj(),
    ...                    np.array([0.5, 2.0, 10.0]), obj("a", "a", "b"),
    ...                    obj("impression", "accept", "click"))
    >>> f = realtime_fields(h, {"a": "savings"})
    >>> f["rt_accepts_30"], f["rt_impressions_7"], f["rt_days_since_accept"], f["held_savings"]
    (1, 1, 2.0, True)
    >>> f["rt_clicks_7"], f["rt_days_since_click"]
    (0, 10.0)
    """
    age, kind = history.event_age, history.event_type
    if age.size == 0:
        return dict(_NONE)
    week, month = age <= 7.0, age <= 30.0
    clicks = kind == "click"
    taken = (kind == "accept") | (kind == "conversion")
    out: dict[str, Any] = {
        "rt_impressions_7": int(((kind == "impression") & week).sum()),
        "rt_clicks_7": int((clicks & week).sum()),
        "rt_accepts_30": int((taken & month).sum()),
        "rt_declines_30": int(((kind == "decline") & month).sum()),
        "rt_days_since_click": float(age[clicks].min()) if clicks.any() else None,
        "rt_days_since_accept": float(age[taken].min()) if taken.any() else None,
    }
    for offer in set(history.event_offer[taken].tolist()):
        product = products.get(offer)
        if product is not None:
            out[f"held_{product}"] = True
    return out
