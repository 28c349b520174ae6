"""Naive UTC, the store's time format: the one helper every module uses."""

from __future__ import annotations

import datetime as dt
import doctest

from nbo_engine import timeutil
from nbo_engine.timeutil import naive_utc


def test_doctests() -> None:
    result = doctest.testmod(timeutil)
    assert result.attempted > 0
    assert result.failed == 0


def test_aware_naive_and_dates() -> None:
    aware = dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert naive_utc(aware) == dt.datetime(2026, 3, 29, 6, 30)
    naive = dt.datetime(2026, 3, 29, 1, 30)
    assert naive_utc(naive) is naive
    assert naive_utc(dt.date(2026, 3, 29)) == dt.datetime(2026, 3, 29)
