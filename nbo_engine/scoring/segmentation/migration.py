"""Segment migration between two snapshots' assignments."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nbo_engine.errors import DataValidationError

__all__ = ["GONE", "NEW", "MigrationMatrix", "migration_matrix"]

#: Row for customers only in the later snapshot, column for those only in the earlier.
NEW = "(new)"
GONE = "(gone)"


@dataclass(frozen=True)
class MigrationMatrix:
    """``counts`` (before x after, customers) and ``shares`` (each row divided by
    its total); ``stayed`` is the share of customers present in both snapshots
    whose segment did not change."""

    counts: pd.DataFrame
    shares: pd.DataFrame
    stayed: float


def migration_matrix(before: pd.Series, after: pd.Series) -> MigrationMatrix:
    """Cross-tabulate two assignments indexed by customer id.

    Customers only in ``before`` land in the column ``(gone)``; customers only
    in ``after`` in the row ``(new)``.

    Examples
    --------
    >>> b = pd.Series(["a", "a", "b"], index=["C1", "C2", "C3"])
    >>> a = pd.Series(["a", "b", "b"], index=["C1", "C2", "C4"])
    >>> migration_matrix(b, a).counts.loc["a"].tolist()
    [1, 1, 0]
    """
    for name, s in (("before", before), ("after", after)):
        if not s.index.is_unique:
            dup = s.index[s.index.duplicated()][0]
            raise DataValidationError(
                f"migration_matrix: {name} has customer {dup!r} more than once; "
                "expected one segment per customer"
            )
    joined = pd.concat(
        {"before": before.astype(str), "after": after.astype(str)}, axis=1, join="outer"
    )
    b = joined["before"].fillna(NEW).to_numpy(dtype=object)
    a = joined["after"].fillna(GONE).to_numpy(dtype=object)
    rows = sorted(set(before.astype(str))) + ([NEW] if (b == NEW).any() else [])
    cols = sorted(set(after.astype(str))) + ([GONE] if (a == GONE).any() else [])
    ri = pd.Index(rows).get_indexer(pd.Index(b))
    ci = pd.Index(cols).get_indexer(pd.Index(a))
    counts = np.bincount(ri * len(cols) + ci, minlength=len(rows) * len(cols))
    frame = pd.DataFrame(
        counts.reshape(len(rows), len(cols)),
        index=pd.Index(rows, name="before"),
        columns=pd.Index(cols, name="after"),
    )
    totals = frame.sum(axis=1).replace(0, np.nan)
    both = (b != NEW) & (a != GONE)
    stayed = float((b[both] == a[both]).mean()) if both.any() else float("nan")
    return MigrationMatrix(frame, frame.div(totals, axis=0).fillna(0.0), stayed)
