"""Life-stage segments: the profile's ``life_stage`` (one rule, in
:func:`nbo_engine.features.lifestage.life_stage_of`), validated."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError
from nbo_engine.features.lifestage import LIFE_STAGES

__all__ = ["life_stage_segments"]


def life_stage_segments(profile: pd.DataFrame) -> NDArray[np.object_]:
    """Life stage of every customer, shape (n,), one of :data:`LIFE_STAGES`.

    Raises
    ------
    DataValidationError
        No ``life_stage`` column, or a value outside :data:`LIFE_STAGES`.
    """
    if "life_stage" not in profile.columns:
        raise DataValidationError(
            "life_stage_segments: profile lacks column 'life_stage'; expected the "
            "output of build_features"
        )
    stage = profile["life_stage"].to_numpy(dtype=object)
    bad = ~np.isin(stage, np.asarray(LIFE_STAGES, dtype=object))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"life_stage_segments: row {i} (customer_id={profile.index[i]}) has "
            f"life_stage {stage[i]!r}; expected one of {', '.join(LIFE_STAGES)}"
        )
    return stage
