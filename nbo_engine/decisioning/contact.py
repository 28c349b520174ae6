"""Contact policy, vectorised over offers.

Given a customer's recent contact history (offers shown in live decisions and
offer events, :class:`~nbo_engine.store.decisions.ContactHistory`), which offers
may be shown now on a channel:

* **caps** per channel and across channels per day, week and month. A contact
  is one live decision that showed at least one offer; windows are rolling
  (the 1, 7 and 30 days before the decision). A channel over any of its caps,
  or the customer over any all-channel cap, gets no offer.
* **per-offer caps** (``offer.contact.max_per_*``): times the offer was shown.
* **cool-down**: no offer in the ``cooldown_after_decline_days`` after the
  customer declined it (the offer's own value, else the policy's).
* **suppression**: an offer shown (``impression`` events) ``after_impressions``
  times within ``window_days`` with no response (click, accept, decline,
  conversion) since is not shown again until the customer responds or the
  impressions age out.
* **do-not-contact, consent, quiet hours** block the whole request
  (:func:`blocked_reason`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.ingest.schemas import CONTACT_CHANNELS
from nbo_engine.policy import PolicySpec
from nbo_engine.store.decisions import ContactHistory

__all__ = [
    "RESPONSES",
    "WINDOWS_DAYS",
    "ContactTables",
    "blocked_reason",
    "offer_contact_mask",
]

#: Rolling windows of the day, week and month caps (days).
WINDOWS_DAYS = np.array([1.0, 7.0, 30.0])
#: Event types that count as a response (end a run of ignored impressions).
RESPONSES: tuple[str, ...] = ("click", "accept", "decline", "conversion")
_INF = np.inf


def _caps(day: int | None, week: int | None, month: int | None) -> NDArray[np.float64]:
    return np.array([_INF if v is None else float(v) for v in (day, week, month)])


@dataclass(frozen=True)
class ContactTables:
    """A policy's contact rules as arrays (``K`` offers, 3 windows)."""

    offer_index: Mapping[str, int]
    channel_caps: Mapping[str, NDArray[np.float64]]  # channel -> (3,)
    all_caps: NDArray[np.float64]  # (3,)
    offer_caps: NDArray[np.float64]  # (K, 3)
    cooldown_days: NDArray[np.float64]  # (K,)
    suppress_after: float  # inf: no suppression
    suppress_window: float
    #: Days of history a decision needs (the longest window, cool-down or
    #: suppression window).
    window_days: float

    @classmethod
    def of(cls, spec: PolicySpec) -> ContactTables:
        c = spec.contact
        per: dict[str, NDArray[np.float64]] = {
            str(ch): _caps(caps.per_day, caps.per_week, caps.per_month)
            for ch, caps in c.per_channel.items()
        }
        for ch in CONTACT_CHANNELS:
            per.setdefault(ch, _caps(None, None, None))
        offer_caps = np.array(
            [
                _caps(
                    o.contact.max_per_day,
                    o.contact.max_per_week,
                    o.contact.max_per_month,
                )
                for o in spec.offers
            ]
        )
        cooldown = np.array(
            [
                float(
                    c.cooldown_after_decline_days
                    if o.contact.cooldown_after_decline_days is None
                    else o.contact.cooldown_after_decline_days
                )
                for o in spec.offers
            ]
        )
        sup = c.suppression
        window = max(
            float(WINDOWS_DAYS[-1]),
            float(cooldown.max(initial=0.0)),
            float(sup.window_days) if sup else 0.0,
        )
        return cls(
            offer_index={o.id: k for k, o in enumerate(spec.offers)},
            channel_caps=per,
            all_caps=_caps(
                c.all_channels.per_day,
                c.all_channels.per_week,
                c.all_channels.per_month,
            ),
            offer_caps=offer_caps,
            cooldown_days=cooldown,
            suppress_after=float(sup.after_impressions) if sup else _INF,
            suppress_window=float(sup.window_days) if sup else 0.0,
            window_days=window,
        )

    def _index(self, offers: NDArray[np.object_]) -> NDArray[np.int64]:
        get = self.offer_index.get
        return np.fromiter((get(o, -1) for o in offers), np.int64, offers.size)


def _last_age(
    idx: NDArray[np.int64], age: NDArray[np.float64], k: int
) -> NDArray[np.float64]:
    """Youngest age per offer (inf when none), shape (k,)."""
    out = np.full(k, _INF)
    keep = idx >= 0
    np.minimum.at(out, idx[keep], age[keep])
    return out


def offer_contact_mask(
    tables: ContactTables, history: ContactHistory, channel: str
) -> tuple[bool, NDArray[np.bool_]]:
    """Whether ``channel`` may contact the customer now, and which offers.

    Returns
    -------
    open : False when a channel or all-channel cap is reached.
    mask : (K,) offers allowed by per-offer caps, cool-downs and suppression.

    Examples
    --------
    >>> import numpy as np
    >>> from nbo_engine.store.decisions import ContactHistory
    >>> t = ContactTables({"a": 0, "b": 1}, {"web": np.array([1.0, np.inf, np.inf])},
    ...     np.full(3, np.inf), np.full((2, 3), np.inf), np.array([30.0, 30.0]),
    ...     np.inf, 0.0, 30.0)
    >>> o = np.array([], dtype=object)
    >>> h = ContactHistory(np.array([0.5]), np.array(["web"], dtype=object),
    ...     np.array(["a"], dtype=object), np.array(["d1"], dtype=object),
    ...     np.array([2.0]), np.array(["b"], dtype=object),
    ...     np.array(["decline"], dtype=object))
    >>> is_open, mask = offer_contact_mask(t, h, "web")
    >>> bool(is_open), mask.tolist()
    (False, [True, False])
    """
    k = tables.offer_caps.shape[0]
    mask = np.ones(k, dtype=bool)
    is_open = True
    if history.shown_age.size:
        # contacts = distinct live decisions that showed something
        _, first = np.unique(history.shown_decision, return_index=True)
        d_age = history.shown_age[first]
        d_same = history.shown_channel[first] == channel
        within = d_age[None, :] < WINDOWS_DAYS[:, None]  # (3, n_decisions)
        all_counts = within.sum(axis=1)
        ch_counts = (within & d_same[None, :]).sum(axis=1)
        ch_caps = tables.channel_caps.get(channel, np.full(3, _INF))
        is_open = bool(
            np.all(all_counts < tables.all_caps) and np.all(ch_counts < ch_caps)
        )
        idx = tables._index(history.shown_offer)
        keep = idx >= 0
        per_offer = np.stack(
            [
                np.bincount(idx[keep & (history.shown_age < w)], minlength=k)
                for w in WINDOWS_DAYS
            ],
            axis=1,
        )  # (K, 3)
        mask &= np.all(per_offer < tables.offer_caps, axis=1)
    if history.event_age.size:
        idx = tables._index(history.event_offer)
        types = history.event_type
        declined = _last_age(
            np.where(types == "decline", idx, -1), history.event_age, k
        )
        mask &= ~(declined < tables.cooldown_days)
        if np.isfinite(tables.suppress_after):
            responded = _last_age(
                np.where(np.isin(types, RESPONSES), idx, -1), history.event_age, k
            )
            imp = (
                (types == "impression")
                & (idx >= 0)
                & (history.event_age < tables.suppress_window)
            )
            imp &= history.event_age < responded[np.maximum(idx, 0)]
            ignored = np.bincount(idx[imp], minlength=k)
            mask &= ignored < tables.suppress_after
    return is_open, mask


def blocked_reason(
    spec: PolicySpec, profile: Mapping[str, Any], channel: str, now: dt.datetime
) -> str | None:
    """Why nothing may be offered on this request, or ``None``.

    ``do_not_contact`` (any channel), ``no_consent`` (the channel needs
    marketing consent and the profile's consent field is not true) or
    ``quiet_hours`` (``now`` is aware, or naive UTC).
    """
    c = spec.contact
    if profile.get(c.do_not_contact_field) in (True, 1):
        return "do_not_contact"
    if channel in c.consent_required_channels and profile.get(c.consent_field) not in (
        True,
        1,
    ):
        return "no_consent"
    if c.quiet_hours is not None:
        aware = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
        if c.quiet_hours.is_quiet(channel, aware):
            return "quiet_hours"
    return None
