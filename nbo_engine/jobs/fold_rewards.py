"""Fold outcomes into the bandits: the rewards that followed logged decisions.

A live decision is folded once its attribution window has closed: its reward
is then final (1 if the customer accepted or converted on that offer within
the window, or the events' value for value-rewarded policies; 0 if nothing
came). Each policy version's bandit state carries ``folded_until``, the time
before which every live decision is already in it; a fold takes the decisions
from there to ``now - window``, updates the newest state and stores the result
as a new state whose ``folded_until`` moves on. Saving the state, moving the
watermark and marking the events happen in one transaction that first checks
no other fold got there before (else it stops with nothing written), so no
decision and no event is ever counted twice, however often or concurrently the
job runs.

A retune that carries a version's bandit over to a new version links the two
(:func:`nbo_engine.store.decisions.lineage_heads`): from then on the decisions
of the old version (those whose windows close later, or any it serves again
after a rollback) are folded into the new version's state, which started from
the old one's newest state and watermark. So a bandit keeps learning across
retunes, and each decision still enters one line of states once.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np

from nbo_engine.bandit import BanditPolicy
from nbo_engine.decisioning.decide import load_compiled
from nbo_engine.jobs.export import decision_table
from nbo_engine.store import Engine, write
from nbo_engine.store import decisions as store
from nbo_engine.timeutil import naive_utc as _naive

__all__ = ["FoldResult", "fold_rewards"]

#: Decisions before this are all in an initial state's (empty) statistics.
_BEGINNING = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class FoldResult:
    """What one fold did for one policy version."""

    policy_version_id: int
    from_state_id: int
    new_state_id: int | None  # None: nothing to fold, or another fold won
    rewards: int  # chosen offers folded (each one reward, 0 or more)
    positive: int
    folded_until: dt.datetime
    note: str = ""


def fold_rewards(
    engine: Engine,
    *,
    now: dt.datetime,
    window_days: float = 30.0,
    policy_version_ids: list[int] | None = None,
) -> list[FoldResult]:
    """Fold every closed attribution window into each version's bandit.

    ``policy_version_ids`` default: every version that served live decisions.
    Each version's decisions go into its lineage head's state (the module
    doc); the results are per head.
    """
    until = _naive(now) - dt.timedelta(days=window_days)
    versions = policy_version_ids or store.versions_with_live_decisions(engine)
    out = []
    for version, members in store.fold_lines(engine, versions).items():
        compiled = load_compiled(engine, version)  # creates an initial state if none
        state = store.latest_bandit_state(engine, version)
        assert state is not None
        since = state.folded_until or _BEGINNING
        if until <= since:
            out.append(FoldResult(version, state.id, None, 0, 0, since, "up to date"))
            continue
        table, _ = decision_table(
            engine,
            policy_version_id=version,
            since=since,
            until=until,
            window_days=window_days,
            reward=compiled.spec.bandit.reward,
            versions=sorted({version, *members}),
        )
        if table.empty:
            out.append(FoldResult(version, state.id, None, 0, 0, since, "no decisions"))
            continue
        index = {o: i for i, o in enumerate(compiled.offer_ids)}
        X = np.asarray([json.loads(c) for c in table["context"]], dtype=np.float64)
        arms: np.ndarray = table["offer_id"].map(index).to_numpy(np.int64)
        rewards = table["reward"].to_numpy(np.float64)
        bandit = BanditPolicy.from_bytes(state.state)
        bandit.update(X, arms, rewards)
        with write(engine) as conn:
            if store.newest_state_id(conn, version) != state.id:
                out.append(
                    FoldResult(version, state.id, None, 0, 0, since, "another fold won")
                )
                continue
            new_id = store.save_bandit_state(
                conn,
                version,
                bandit.kind,
                bandit.to_bytes(),
                source="fold",
                n_rewards=state.n_rewards + len(table),
                folded_until=until,
                note=f"decisions {since.isoformat()} .. {until.isoformat()}",
            )
            store.mark_events_folded(
                conn, table["decision_id"].unique().tolist(), new_id
            )
        out.append(
            FoldResult(
                version,
                state.id,
                new_id,
                len(table),
                int((rewards > 0).sum()),
                until,
            )
        )
    return out
