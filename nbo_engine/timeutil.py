"""Times as the store keeps them: naive UTC.

The store's ``DateTime()`` columns (decisions, events, job runs, proposals,
reports) hold naive UTC; edges may pass aware times in any zone.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["naive_utc"]


def naive_utc(t: dt.datetime | dt.date) -> dt.datetime:
    """``t`` as a naive UTC datetime: aware times are converted, naive ones
    are taken as UTC already, a date is its midnight.

    >>> naive_utc(dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))))
    datetime.datetime(2026, 1, 1, 10, 0)
    >>> naive_utc(dt.date(2026, 1, 1))
    datetime.datetime(2026, 1, 1, 0, 0)
    """
    if not isinstance(t, dt.datetime):
        return dt.datetime(t.year, t.month, t.day)
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t
