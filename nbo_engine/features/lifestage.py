"""Life stage: one rule, used by the profile and by the simulated bank."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["LIFE_STAGES", "life_stage_of"]

LIFE_STAGES: tuple[str, ...] = (
    "student",
    "young_adult",
    "family",
    "established",
    "pre_retiree",
    "retiree",
)


def life_stage_of(
    age: NDArray[np.float64],
    dependants: NDArray[np.integer] | NDArray[np.floating],
    student: NDArray[np.bool_],
) -> NDArray[np.int8]:
    """Life stage index (into :data:`LIFE_STAGES`) from age in years, number of
    dependants and whether the customer is a student, shape (n,).

    student: under 25 and a student; young_adult: under 35 without dependants;
    family: under 55 with dependants; established: under 55; pre_retiree: under
    67; retiree: 67 and over. Missing dependants count as none.

    >>> life_stage_of(np.array([20.0, 30.0, 40.0, 70.0]), np.array([0, 0, 2, 0]),
    ...               np.array([True, False, False, False])).tolist()
    [0, 1, 2, 5]
    """
    dep = np.nan_to_num(np.asarray(dependants, dtype=np.float64), nan=0.0)
    stage = np.full(age.shape, LIFE_STAGES.index("retiree"), dtype=np.int8)
    stage[age < 67] = LIFE_STAGES.index("pre_retiree")
    stage[age < 55] = LIFE_STAGES.index("established")
    stage[(age < 55) & (dep > 0)] = LIFE_STAGES.index("family")
    stage[(age < 35) & (dep == 0)] = LIFE_STAGES.index("young_adult")
    stage[(age < 25) & student] = LIFE_STAGES.index("student")
    return stage
