"""Guardrail settings of a retune, with their limits written down as data.

Every setting has a documented default and an allowed range in
:data:`LIMITS`; :class:`Guardrails` checks itself against that table on
creation, so one error format serves every setting (``Guardrails.alpha:
expected a number in (0, 0.5), got 0.7``) and the tests read the same table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

from nbo_engine.errors import RetuneError

__all__ = ["EXPLORATION_PARAMS", "LIMITS", "Guardrails"]

#: Bandit type -> the exploration parameter a retune may tune and its
#: (floor, ceiling). ``logistic_ts`` has none: its prior variance also sets
#: how fast it learns, so it is left to the policy author.
EXPLORATION_PARAMS: dict[str, tuple[str, float, float]] = {
    "linucb": ("alpha", 0.25, 3.0),
    "lints": ("v", 0.25, 3.0),
    "epsilon_greedy": ("epsilon", 0.02, 0.3),
}

#: Setting -> (low, high, low inclusive, high inclusive, kind).
LIMITS: dict[str, tuple[float, float, bool, bool, str]] = {
    "alpha": (0.0, 0.5, False, False, "number"),
    "min_treated": (2, 10**9, True, True, "int"),
    "min_control": (2, 10**9, True, True, "int"),
    "max_changes": (0, 1000, True, True, "int"),
    "lever_step": (0.0, 1.0, False, True, "number"),
    "max_lever_step": (0.0, 1.0, False, True, "number"),
    "lever_max": (1.0, 100.0, True, True, "number"),
    "traffic_step": (0.0, 1.0, False, True, "number"),
    "max_traffic_step": (0.0, 1.0, False, True, "number"),
    "exploration_step": (0.0, 1.0, False, False, "number"),
    "max_exploration_step": (0.0, 1.0, False, False, "number"),
    "exploration_min_rewards": (0, 10**12, True, True, "int"),
    "exhaustion_share": (0.0, 1.0, False, False, "number"),
    "min_accept_rate": (0.0, 1.0, True, False, "number"),
    "ope_rel_tolerance": (0.0, 1.0, True, True, "number"),
    "ope_abs_tolerance": (0.0, math.inf, True, False, "number"),
    "rollback_alpha": (0.0, 0.5, False, False, "number"),
    "min_rollback_sample": (2, 10**9, True, True, "int"),
}


@dataclass(frozen=True)
class Guardrails:
    """What a retune may change, and the evidence it needs first.

    Attributes
    ----------
    alpha : float, default 0.05
        Family-wise (``holm``) or false-discovery (``bh``) level of the cell
        decisions, two-sided; an offer is suppressed in a segment only when its
        adjusted interval lies wholly below 0, promoted only when wholly above.
    multiple_testing : {"holm", "bh"}, default "holm"
        Adjustment across all tested (offer, segment) cells
        (:mod:`nbo_engine.experiments.multiple`). Holm bounds the chance of
        any false suppression in a week by ``alpha / 2``.
    min_treated, min_control : int, default 200 and 200
        Units in the offered and the holdout arm of a cell before it is tested.
    max_changes : int, default 5
        Changes per proposal (a week); more candidates are deferred, the
        strongest evidence first.
    lever_step : float, default 0.1
        Relative rise of an offer-segment lever where the offer is confidently
        helpful; ``max_lever_step`` (0.25) is the largest relative lever change
        a proposal may carry (suppression to 0 aside), ``lever_max`` (3.0) the
        highest lever it may set.
    traffic_step, max_traffic_step : float, default 0.1 and 0.2
        Ramp of a winning champion/challenger experiment's ``traffic`` per week,
        and the largest ramp a proposal may carry.
    exploration_step, max_exploration_step : float, default 0.2 and 0.25
        Relative cut of the bandit's exploration parameter once it has
        ``exploration_min_rewards`` (5,000) rewards, towards the floor of
        :data:`EXPLORATION_PARAMS`; the largest relative change allowed.
    exhaustion_share : float, default 0.2
        An offer eligible in at most this share of its peak share of decisions
        is exhausted (its end date is set to the retune day).
    min_accept_rate : float, default 0.002
        An offer whose acceptance fell significantly and whose acceptance
        interval now lies below this rate is exhausted too.
    ope_rel_tolerance, ope_abs_tolerance : float, default 0.02 and 0.0
        A proposal is refused when its off-policy value is below the current
        policy's by more than ``max(abs, rel x |current|)``.
    require_ope : bool, default True
        Refuse a proposal that changes the policy when no off-policy estimate
        could be made (no logged decisions of the current policy).
    ope_method : {"dr", "snips", "ips"}, default "dr"
    rollback_alpha : float, default 0.01
        Level of the test (Holm across guardrail metrics) that a guardrail
        metric got worse after the last change; ``min_rollback_sample`` (200)
        units are needed after the change.
    """

    alpha: float = 0.05
    multiple_testing: Literal["holm", "bh"] = "holm"
    min_treated: int = 200
    min_control: int = 200
    max_changes: int = 5
    lever_step: float = 0.1
    max_lever_step: float = 0.25
    lever_max: float = 3.0
    traffic_step: float = 0.1
    max_traffic_step: float = 0.2
    exploration_step: float = 0.2
    max_exploration_step: float = 0.25
    exploration_min_rewards: int = 5000
    exhaustion_share: float = 0.2
    min_accept_rate: float = 0.002
    ope_rel_tolerance: float = 0.02
    ope_abs_tolerance: float = 0.0
    require_ope: bool = True
    ope_method: Literal["dr", "snips", "ips"] = "dr"
    rollback_alpha: float = 0.01
    min_rollback_sample: int = 200

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name in LIMITS:
                _check(f.name, getattr(self, f.name))
        if self.multiple_testing not in ("holm", "bh"):
            raise RetuneError(
                "Guardrails.multiple_testing: expected holm or bh, got "
                f"{self.multiple_testing!r}"
            )
        if self.ope_method not in ("dr", "snips", "ips"):
            raise RetuneError(
                "Guardrails.ope_method: expected dr, snips or ips, got "
                f"{self.ope_method!r}"
            )
        if not isinstance(self.require_ope, bool):
            raise RetuneError(
                f"Guardrails.require_ope: expected true or false, got "
                f"{self.require_ope!r}"
            )
        for step, cap in (
            ("lever_step", "max_lever_step"),
            ("traffic_step", "max_traffic_step"),
            ("exploration_step", "max_exploration_step"),
        ):
            if getattr(self, step) > getattr(self, cap):
                raise RetuneError(
                    f"Guardrails.{step}: expected at most {cap} "
                    f"({getattr(self, cap)}), got {getattr(self, step)}"
                )


def _show(v: float, kind: str) -> str:
    return f"{int(v):,}" if kind == "int" else f"{v:g}"


def _check(name: str, value: object) -> None:
    low, high, low_in, high_in, kind = LIMITS[name]
    lo = f"{'[' if low_in else '('}{_show(low, kind)}"
    hi = f"{_show(high, kind)}{']' if high_in else ')'}"
    what = "an integer" if kind == "int" else "a number"
    bad = isinstance(value, bool) or not isinstance(
        value, int if kind == "int" else int | float
    )
    if not bad:
        v = float(value)  # type: ignore[arg-type]
        bad = not (math.isfinite(v) or (v == math.inf and high == math.inf and high_in))
        bad = bad or v < low or v > high
        bad = bad or (v == low and not low_in) or (v == high and not high_in)
    if bad:
        raise RetuneError(
            f"Guardrails.{name}: expected {what} in {lo}, {hi}, got {value!r}"
        )
