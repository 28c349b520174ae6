"""Export the decision log with propensities and rewards for outside tools.

Each row is one chosen offer of one logged decision: the context the policy
saw, the offers it could choose from (the eligible set minus offers already
placed at better ranks), the one it chose and the probability it had of
choosing it, and the reward that followed within the attribution window.
Vowpal Wabbit (``--cb_explore_adf``) and Open Bandit Pipeline can then check
our off-policy estimates with their own estimators.

Formats
-------
``parquet``
    One row per chosen offer, columns of :func:`decision_table`.
``vw``
    Vowpal Wabbit contextual-bandit ADF text: per example a ``shared`` line
    with the context (``c0:...``), one ``|a offer=ID`` line per available
    offer, the chosen one prefixed ``0:COST:PROB`` with ``COST = -reward``,
    then a blank line.
``obp``
    A NumPy ``.npz`` (no pickles) with Open Bandit Pipeline's bandit-feedback
    arrays: ``context`` (n, d), ``action`` (n,), ``position`` (n,, 0-based
    rank), ``reward``, ``pscore``, ``action_context`` (identity, n_actions x
    n_actions), ``n_rounds``, ``n_actions`` and ``action_names``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nbo_engine.errors import DecisionInputError
from nbo_engine.store import Engine
from nbo_engine.store import decisions as store
from nbo_engine.store.policies import read_slots

__all__ = ["FORMATS", "ExportReport", "decision_table", "export_decisions"]

FORMATS = ("parquet", "vw", "obp")


@dataclass(frozen=True)
class ExportReport:
    path: Path
    format: str
    policy_version_id: int
    rows: int
    decisions: int
    rewarded: int


def decision_table(
    engine: Engine,
    *,
    policy_version_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    window_days: float = 30.0,
    reward: str = "conversion",
    versions: Sequence[int] = (),
) -> tuple[pd.DataFrame, int]:
    """The live decision log of one policy version with rewards attached.

    ``versions``: read the decisions of these versions instead (the members of
    a bandit lineage, see :func:`nbo_engine.store.decisions.fold_lines`).

    ``reward="conversion"``: 1 if an accept or conversion event for that
    decision and offer arrived within ``window_days`` of the decision, else 0;
    ``reward="value"``: the sum of those events' values. Returns the frame
    (one row per chosen offer, with ``available`` offers as a JSON list) and
    the policy version id used (default: the live one).
    """
    if reward not in ("conversion", "value"):
        raise DecisionInputError(
            f"reward: expected conversion or value, got {reward!r}", "reward", reward
        )
    if not window_days > 0:
        raise DecisionInputError(
            f"window_days: expected a positive number of days, got {window_days!r}",
            "window_days",
            window_days,
        )
    if policy_version_id is None:
        live = read_slots(engine)["live"]
        if live is None:
            raise DecisionInputError(
                "policy_version: no live policy; publish one or name a version",
                "policy_version",
                None,
            )
        policy_version_id = int(live)
    log = store.decision_log(
        engine,
        policy_version_id=list(versions) or policy_version_id,
        since=since,
        until=until,
    )
    log["reward"] = 0.0
    if not log.empty:
        events = store.positive_events(engine, log["decision_id"].unique().tolist())
        if not events.empty:
            when = log[["decision_id", "offer_id", "ts"]].merge(
                events.rename(columns={"ts": "event_ts"}),
                on=["decision_id", "offer_id"],
            )
            inside = when["event_ts"] - when["ts"] <= pd.Timedelta(days=window_days)
            when = when[inside & (when["event_ts"] >= when["ts"])]
            if reward == "conversion":
                got = when.groupby(["decision_id", "offer_id"]).size().clip(upper=1)
            else:
                got = when.groupby(["decision_id", "offer_id"])["value"].sum()
            key = pd.MultiIndex.from_frame(log[["decision_id", "offer_id"]])
            log["reward"] = got.reindex(key).fillna(0.0).to_numpy(np.float64)
    # What each rank could choose from: the eligible set minus earlier picks.
    available = []
    taken: dict[str, list[str]] = {}
    for did, eligible, offer in zip(
        log["decision_id"], log["eligible"], log["offer_id"], strict=True
    ):  # one pass over logged rows, a handful of offers each
        before = taken.setdefault(did, [])
        available.append(
            json.dumps([o for o in json.loads(eligible) if o not in before])
        )
        before.append(offer)
    log["available"] = available
    return log, policy_version_id


def _contexts(log: pd.DataFrame) -> np.ndarray:
    rows = [json.loads(c) for c in log["context"]]
    width = {len(r) for r in rows}
    if len(width) > 1:  # pragma: no cover - one policy version has one layout
        raise DecisionInputError(
            "context: rows of different lengths", "context", sorted(width)
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)


def _write_vw(log: pd.DataFrame, path: Path) -> None:
    X = _contexts(log)
    rewards = log["reward"].to_numpy(np.float64)
    pscores = log["propensity"].to_numpy(np.float64)
    with path.open("w", encoding="utf-8") as fh:
        for i, (available, chosen) in enumerate(
            zip(log["available"], log["offer_id"], strict=True)
        ):  # text output is written line by line whatever the vectorisation
            feats = " ".join(f"c{j}:{v:.6g}" for j, v in enumerate(X[i]) if v != 0.0)
            fh.write(f"shared |u {feats}\n")
            for offer in json.loads(available):
                label = (
                    f"0:{-rewards[i]:g}:{pscores[i]:.6g} " if offer == chosen else ""
                )
                fh.write(f"{label}|a offer={offer}\n")
            fh.write("\n")


def _write_obp(log: pd.DataFrame, path: Path) -> None:
    """``np.savez`` to ``path`` exactly (it would add ``.npz`` to a bare name)."""
    names = sorted(
        {o for a in log["available"] for o in json.loads(a)} | set(log["offer_id"])
    )
    index = {n: i for i, n in enumerate(names)}
    with path.open("wb") as fh:
        _savez(fh, log, names, index)


def _savez(fh: Any, log: pd.DataFrame, names: list[str], index: dict[str, int]) -> None:
    np.savez(
        fh,
        n_rounds=np.int64(len(log)),
        n_actions=np.int64(len(names)),
        action=log["offer_id"].map(index).to_numpy(np.int64),
        position=(log["rank"].to_numpy(np.int64) - 1),
        reward=log["reward"].to_numpy(np.float64),
        pscore=log["propensity"].to_numpy(np.float64),
        context=_contexts(log),
        action_context=np.eye(len(names)),
        action_names=np.asarray(names, dtype=str),
    )


def export_decisions(
    engine: Engine,
    out: Path,
    fmt: str,
    *,
    policy_version_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    window_days: float = 30.0,
    reward: str = "conversion",
) -> ExportReport:
    """Write the decision log of one policy version to ``out`` in ``fmt``."""
    if fmt not in FORMATS:
        raise DecisionInputError(
            f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}", "format", fmt
        )
    log, version = decision_table(
        engine,
        policy_version_id=policy_version_id,
        since=since,
        until=until,
        window_days=window_days,
        reward=reward,
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        log.to_parquet(out, index=False)
    elif fmt == "vw":
        _write_vw(log, out)
    else:
        _write_obp(log, out)
    return ExportReport(
        out,
        fmt,
        version,
        len(log),
        int(log["decision_id"].nunique()) if len(log) else 0,
        int((log["reward"] > 0).sum()),
    )
