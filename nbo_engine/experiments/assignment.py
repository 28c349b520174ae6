"""Deterministic assignment of units (customers) to variants.

Three independent hashes (``hashing.py``), applied in this order:

1. **Global holdout**: ``bucket("holdout", holdout.salt, id) < holdout.buckets``
   -> the unit gets no offers at all and is in no experiment (``GLOBAL_HOLDOUT``).
2. **Layer slot** (experiments in a layer only): ``bucket("layer", layer.name, id)``
   must fall in the experiment's slots ``[layer.start, layer.end)``; the slots of
   the experiments in one layer are disjoint, so a unit is in at most one of
   them. Different layers use different hashes, so they are independent.
3. **Variant**: ``bucket("exp", experiment.salt, id)``. Variant ``i`` (declaration
   order) reserves the bucket range ``[S_i, S_i + W_i)`` with
   ``W_i = round(weight_i * 10000)`` and ``S_i = W_0 + ... + W_{i-1}``; of it,
   the first ``E_i = floor(traffic * W_i)`` buckets are exposed. A unit whose
   bucket is in no exposed range is ``NOT_ENROLLED``.

Ramping ``traffic`` up only extends each exposed range from its fixed start, and
a new variant appended with a weight from the unreserved remainder takes
buckets nobody held; in both cases no unit moves from one variant to another.
Pausing a variant empties its exposed range (its units become not enrolled).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nbo_engine.experiments.hashing import BUCKETS, bucket_of, buckets
from nbo_engine.experiments.spec import ExperimentSpec, GlobalHoldout

__all__ = [
    "GLOBAL_HOLDOUT",
    "NOT_ENROLLED",
    "assign",
    "assign_names",
    "assign_one",
    "exposed_buckets",
    "in_global_holdout",
    "in_global_holdout_one",
    "planned_split",
    "variant_table",
]

NOT_ENROLLED = -1
"""Index returned for a unit outside the experiment (layer slot or traffic)."""
GLOBAL_HOLDOUT = -2
"""Index returned for a unit in the global holdout (no offers at all)."""

_NAMES = {NOT_ENROLLED: "not_enrolled", GLOBAL_HOLDOUT: "global_holdout"}


def exposed_buckets(experiment: ExperimentSpec) -> list[tuple[int, int]]:
    """``(start, end)`` of each variant's exposed bucket range, in order."""
    out = []
    start = 0
    for v in experiment.variants:
        width = v.reserved_buckets
        exposed = 0 if v.paused else math.floor(experiment.traffic * width + 1e-9)
        out.append((start, start + exposed))
        start += width
    return out


def variant_table(experiment: ExperimentSpec) -> NDArray[np.int16]:
    """Variant index of every bucket 0..9999 (``NOT_ENROLLED`` where none)."""
    table = np.full(BUCKETS, NOT_ENROLLED, dtype=np.int16)
    for i, (lo, hi) in enumerate(exposed_buckets(experiment)):
        table[lo:hi] = i
    return table


def planned_split(experiment: ExperimentSpec) -> NDArray[np.float64]:
    """Expected share of enrolled units per variant, shape (n_variants,).

    From the exposed bucket counts, not the nominal weights, so rounding of odd
    weights and ramps never shows up as a sample-ratio mismatch.
    """
    counts = np.array([hi - lo for lo, hi in exposed_buckets(experiment)], float)
    total = counts.sum()
    return counts / total if total > 0 else counts


def in_global_holdout(holdout: GlobalHoldout, unit_ids: ArrayLike) -> NDArray[np.bool_]:
    """Whether each unit is in the global holdout, shape (n,)."""
    return buckets("holdout", holdout.salt, unit_ids) < holdout.buckets


def in_global_holdout_one(holdout: GlobalHoldout, unit_id: str | int) -> bool:
    """Single-unit form of :func:`in_global_holdout`."""
    return bucket_of("holdout", holdout.salt, unit_id) < holdout.buckets


def assign(
    experiment: ExperimentSpec,
    unit_ids: ArrayLike,
    global_holdout: GlobalHoldout | None = None,
) -> NDArray[np.int16]:
    """Variant index of each unit, vectorised.

    Parameters
    ----------
    experiment : ExperimentSpec
    unit_ids : array-like of str or int, shape (n,)
        Customer (or other unit) ids; integers hash as their decimal text.
    global_holdout : GlobalHoldout, optional
        When given, units in it get ``GLOBAL_HOLDOUT``.

    Returns
    -------
    ndarray of int16, shape (n,)
        Index into ``experiment.variants``, ``NOT_ENROLLED`` (-1) or
        ``GLOBAL_HOLDOUT`` (-2). Audience rules and dates are the caller's:
        assignment is a pure function of the ids.

    Examples
    --------
    >>> from nbo_engine.experiments.spec import parse_experiment
    >>> exp = parse_experiment({
    ...     "name": "demo", "kind": "offer", "start": "2025-01-01",
    ...     "variants": [{"name": "control", "weight": 0.5, "control": True},
    ...                  {"name": "card", "weight": 0.5, "treatment": "cc-01"}],
    ...     "metrics": {"primary": "conversion"}})
    >>> ids = ["C00000001", "C00000002", "C00000003", "C00000004", "C00000005"]
    >>> assign(exp, ids).tolist()
    [0, 0, 0, 0, 1]
    """
    table = variant_table(experiment)
    out = table[buckets("exp", experiment.hash_salt, unit_ids)]
    if experiment.layer is not None:
        layer = experiment.layer
        slot = buckets("layer", layer.name, unit_ids)
        out[(slot < layer.start) | (slot >= layer.end)] = NOT_ENROLLED
    if global_holdout is not None:
        out[in_global_holdout(global_holdout, unit_ids)] = GLOBAL_HOLDOUT
    return out


def assign_names(
    experiment: ExperimentSpec,
    unit_ids: ArrayLike,
    global_holdout: GlobalHoldout | None = None,
) -> NDArray[np.str_]:
    """Like :func:`assign`, as variant names (``not_enrolled``,
    ``global_holdout`` for the two codes)."""
    idx = assign(experiment, unit_ids, global_holdout)
    names = np.array(
        [*experiment.variant_names, _NAMES[GLOBAL_HOLDOUT], _NAMES[NOT_ENROLLED]]
    )
    # codes -2, -1 index the last two entries
    return names[idx]


def assign_one(
    experiment: ExperimentSpec,
    unit_id: str | int,
    global_holdout: GlobalHoldout | None = None,
) -> str | None:
    """Variant name of one unit, or ``None`` when it is not in the experiment
    (not enrolled, or in the global holdout). Same answer as :func:`assign`."""
    if global_holdout is not None and in_global_holdout_one(global_holdout, unit_id):
        return None
    layer = experiment.layer
    if layer is not None:
        slot = bucket_of("layer", layer.name, unit_id)
        if not layer.start <= slot < layer.end:
            return None
    b = bucket_of("exp", experiment.hash_salt, unit_id)
    for v, (lo, hi) in zip(
        experiment.variants, exposed_buckets(experiment), strict=True
    ):
        if lo <= b < hi:
            return v.name
    return None
