"""Replay a logged decision: same policy version, bandit state and context.

The profile is re-read from the logged score snapshot, the contact history as
it stood strictly before the decision, and the decision's generator is seeded
from its id, so the eligible set, the chosen offers and their propensities
come out as logged. The propensities are also recomputed from the *logged*
context vector alone (``propensities_from_log``), which needs neither the
profile nor the history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.decisioning.arbitration import choose_ranked
from nbo_engine.decisioning.assignment import resolve_treatment
from nbo_engine.decisioning.core import decide_core
from nbo_engine.decisioning.decide import (
    assign_experiment,
    decision_rng,
    load_compiled,
)
from nbo_engine.errors import NboError, UnknownDecisionError
from nbo_engine.experiments import ExperimentSpec, GlobalHoldout
from nbo_engine.store import Engine, read
from nbo_engine.store import decisions as store
from nbo_engine.store import experiments as experiment_store

__all__ = ["Replay", "replay_decision"]


@dataclass(frozen=True)
class Replay:
    """A decision recomputed from the log, next to what was logged."""

    decision_id: str
    eligible: tuple[str, ...]
    offers: tuple[str, ...]
    propensities: tuple[float, ...]
    context: NDArray[np.float64]
    propensities_from_log: tuple[float, ...]
    logged: Mapping[str, Any]

    @property
    def matches(self) -> bool:
        """Eligible set, offers, context and propensities as logged."""
        log = self.logged
        logged_props = tuple(o["propensity"] for o in log["offers"])
        return (
            self.eligible == tuple(log["eligible"])
            and self.offers == tuple(o["offer_id"] for o in log["offers"])
            and np.array_equal(self.context, np.asarray(log["context"]))
            and np.allclose(self.propensities, logged_props, rtol=0, atol=1e-12)
            and np.allclose(
                self.propensities_from_log, logged_props, rtol=0, atol=1e-12
            )
        )


def _logged_no_contact(rec: Mapping[str, Any]) -> str | None:
    """The no-contact reason of a logged decision, from its experiment and
    variant: the global holdout, or an experiment variant without offers."""
    if rec.get("experiment") == "global_holdout":
        return "global_holdout"
    if rec.get("variant") is not None and not rec["offers"] and not rec["eligible"]:
        return "experiment_holdout"
    return None


def _logged_treatment(
    engine: Engine, rec: Mapping[str, Any], experiments: Sequence[ExperimentSpec]
) -> str | None:
    """The offer or message id the logged variant served (offer and message
    experiments), from the given experiments or else the stored one."""
    name, variant = rec.get("experiment"), rec.get("variant")
    if not name or name == "global_holdout" or variant is None:
        return None
    spec: object = next((e for e in experiments if e.name == name), None)
    if spec is None:
        try:
            spec = experiment_store.get_experiment(engine, str(name)).spec
        except NboError:
            return None
    if not isinstance(spec, ExperimentSpec) or spec.kind not in ("offer", "message"):
        return None
    return next((v.treatment for v in spec.variants if v.name == variant), None)


def replay_decision(
    engine: Engine,
    decision_id: str,
    *,
    request: Mapping[str, Any] | None = None,
    experiments: Sequence[ExperimentSpec] = (),
    global_holdout: GlobalHoldout | None = None,
) -> Replay:
    """Recompute a logged decision (see the module doc).

    ``request`` is the request's context fields, if it had any (they are not
    logged apart from their effect on the context vector); ``experiments``
    and ``global_holdout`` as given to the decider (default: the holdout
    recorded in the log, i.e. the decision's experiment and variant).

    Raises
    ------
    UnknownDecisionError
        No decision has that id.
    """
    rec = store.decision_record(engine, decision_id)
    if rec is None:
        raise UnknownDecisionError(
            f"decision_id: no logged decision {decision_id!r}", [decision_id]
        )
    policy = load_compiled(
        engine, int(rec["policy_version_id"]), rec["bandit_state_id"]
    )
    ts = rec["ts"]
    customer = str(rec["customer_id"])
    with read(engine) as conn:
        row = store.read_profile(
            conn, int(rec["snapshot_id"]), customer, ts, policy.derived_fields
        )
        history = store.read_contact_history(
            conn, customer, ts, policy.contact.window_days, before=ts
        )
    if row is None:
        raise UnknownDecisionError(
            f"decision_id {decision_id!r}: customer {customer!r} is no longer in "
            f"snapshot {rec['snapshot_id']}",
            [decision_id],
        )
    if experiments or global_holdout is not None:
        _, _, no_contact = assign_experiment(
            customer, ts.date(), experiments, global_holdout
        )
    else:  # the log says who was held out
        no_contact = _logged_no_contact(rec)
    treatment, no_contact = resolve_treatment(
        policy, _logged_treatment(engine, rec, experiments), no_contact
    )
    out = decide_core(
        policy,
        row,
        history,
        channel=str(rec["channel"]),
        n=int(rec["n_requested"]),
        now=ts,
        rng=decision_rng(decision_id),
        request=request,
        no_contact=no_contact,
        treatment=treatment,
    )
    # From the log alone: logged context, logged eligible set, same values.
    x = np.asarray(rec["context"], dtype=np.float64)
    index = {o: k for k, o in enumerate(policy.offer_ids)}
    mask = np.zeros(policy.n_offers, dtype=bool)
    mask[[index[o] for o in rec["eligible"]]] = True
    from_log: tuple[float, ...] = ()
    if treatment is not None:  # the variant chose, not the bandit
        from_log = (1.0,) if mask.any() else ()
    elif mask.any():
        reward = policy.spec.bandit.reward
        weights = out.values if reward == "conversion" else out.values / policy.margin
        rng = decision_rng(decision_id)
        if hasattr(policy.bandit, "n_draws"):
            policy.bandit._rng = rng
        _, props = choose_ranked(
            policy.bandit, x, mask, weights, int(rec["n_requested"]), rng
        )
        from_log = tuple(props)
    return Replay(
        decision_id=decision_id,
        eligible=out.eligible,
        offers=tuple(policy.offer_ids[a] for a in out.arms),
        propensities=out.propensities,
        context=out.x,
        propensities_from_log=from_log,
        logged=rec,
    )
