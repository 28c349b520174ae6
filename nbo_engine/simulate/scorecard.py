"""Score an ingest against the simulator's truth (pure: frames in, frames out).

- dirt catch: of the manifest's spoiled rows, the share recorded in quarantine or
  in the repair log with the reason the manifest expects;
- clean rows lost: rows a correct ingest loads that did not arrive;
- entity resolution: precision and recall of alias -> survivor pairs;
- households: pairwise precision and recall of "same household".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nbo_engine.simulate.dirt import EXPECTED_REASON

__all__ = [
    "NOT_LOADED",
    "PairScores",
    "dirt_catch",
    "expected_loaded",
    "household_scores",
    "pair_scores",
    "same_group_pairs",
]

#: Kinds of dirt whose row must not be loaded (quarantined, dropped or merged).
NOT_LOADED = frozenset(
    {
        "exact_duplicate",
        "duplicate_person",
        "missing_value",
        "unknown_currency",
        "future_date",
        "orphan_fk",
        "impossible_value",
        "parent_spoiled",
    }
)


def dirt_catch(
    manifest: pd.DataFrame, quarantine: pd.DataFrame, repairs: pd.DataFrame
) -> pd.DataFrame:
    """Per entity and kind: spoiled rows, caught with the right reason, share.

    ``manifest`` has ``entity, row, kind``; ``quarantine`` and ``repairs`` have
    ``entity, row_number, reason``.
    """
    got = pd.concat(
        [
            quarantine[["entity", "row_number", "reason"]],
            repairs[["entity", "row_number", "reason"]],
        ],
        ignore_index=True,
    ).drop_duplicates()
    m = manifest[["entity", "row", "kind"]].copy()
    m["reason"] = m["kind"].map(EXPECTED_REASON)
    hit = m.merge(
        got.rename(columns={"row_number": "row"}),
        on=["entity", "row", "reason"],
        how="left",
        indicator=True,
    )
    m["caught"] = (hit["_merge"] == "both").to_numpy()
    out = (
        m.groupby(["entity", "kind"])
        .agg(spoiled=("caught", "size"), caught=("caught", "sum"))
        .reset_index()
    )
    out["share"] = out["caught"] / out["spoiled"]
    return out


def expected_loaded(
    manifest: pd.DataFrame, rows_in_file: dict[str, int]
) -> dict[str, int]:
    """Rows of each file that a correct ingest stores."""
    bad = manifest[manifest["kind"].isin(NOT_LOADED)].drop_duplicates(["entity", "row"])
    lost = bad.groupby("entity").size()
    return {e: n - int(lost.get(e, 0)) for e, n in rows_in_file.items()}


@dataclass(frozen=True)
class PairScores:
    true_pairs: int
    predicted_pairs: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.true_pairs if self.true_pairs else 1.0


def pair_scores(truth: pd.DataFrame, predicted: pd.DataFrame) -> PairScores:
    """Compare two sets of (alias_id, customer_id) pairs."""
    t = set(zip(truth["alias_id"], truth["customer_id"], strict=True))
    p = set(zip(predicted["alias_id"], predicted["customer_id"], strict=True))
    return PairScores(len(t), len(p), len(t & p))


def same_group_pairs(ids: pd.Series, groups: pd.Series) -> set[tuple[str, str]]:
    """All unordered pairs of ids that share a group."""
    frame = pd.DataFrame({"id": ids.to_numpy(), "g": groups.to_numpy()})
    frame = frame[frame.duplicated("g", keep=False)]
    m = frame.merge(frame, on="g", suffixes=("", "_b"))
    m = m[m["id"] < m["id_b"]]
    return set(zip(m["id"], m["id_b"], strict=True))


def household_scores(truth: pd.DataFrame, predicted: pd.DataFrame) -> PairScores:
    """Pairwise scores of household grouping over customers present in both.

    ``truth`` has ``customer_id, household_id`` (true), ``predicted`` the same.
    """
    common = np.intersect1d(truth["customer_id"], predicted["customer_id"])
    t = truth[truth["customer_id"].isin(common)]
    p = predicted[predicted["customer_id"].isin(common)]
    tp = same_group_pairs(t["customer_id"], t["household_id"])
    pp = same_group_pairs(p["customer_id"], p["household_id"])
    return PairScores(len(tp), len(pp), len(tp & pp))
