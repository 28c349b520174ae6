"""Encode customer covariates for the CLV models' log-parameters.

Text or categorical columns become one-hot dummies over *all* their levels (no
reference level): with the ridge penalty of ``mle.Covariates`` each level's
coefficient is its deviation from the population, shrunk toward zero, which is
partial pooling of per-segment parameters. Numeric columns are centred and
scaled to unit standard deviation so one penalty suits them all. The encoder is
plain data (JSON round-trip) so a saved model encodes new customers the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError

__all__ = ["CovariateEncoder"]


@dataclass(frozen=True)
class CovariateEncoder:
    """How each covariate column becomes model columns.

    Attributes
    ----------
    columns : tuple of str
        Source columns in order.
    levels : dict of str to tuple of str
        Levels of each categorical column (one dummy each).
    center, scale : dict of str to float
        Standardisation of each numeric column.
    """

    columns: tuple[str, ...]
    levels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    center: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, frame: pd.DataFrame) -> CovariateEncoder:
        """Learn levels and standardisation from ``frame``'s columns."""
        levels: dict[str, tuple[str, ...]] = {}
        center: dict[str, float] = {}
        scale: dict[str, float] = {}
        for col in frame.columns:
            s = frame[col]
            if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                v = s.to_numpy(np.float64)
                if not np.all(np.isfinite(v)):
                    i = int(np.flatnonzero(~np.isfinite(v))[0])
                    raise DataValidationError(
                        f"covariates row {i + 1} (customer {frame.index[i]!r}): column "
                        f"{col!r} is {v[i]}, expected a finite number"
                    )
                sd = float(v.std())
                center[str(col)] = float(v.mean())
                scale[str(col)] = sd if sd > 0 else 1.0
            else:
                levels[str(col)] = tuple(sorted(s.astype(str).unique().tolist()))
        return cls(tuple(map(str, frame.columns)), levels, center, scale)

    @property
    def names(self) -> tuple[str, ...]:
        """Model column names: ``col`` for numeric, ``col=level`` for dummies."""
        out: list[str] = []
        for c in self.columns:
            if c in self.levels:
                out += [f"{c}={lv}" for lv in self.levels[c]]
            else:
                out.append(c)
        return tuple(out)

    def transform(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Model matrix ``(n, len(names))`` for ``frame`` (unknown levels are all
        zeros, i.e. the population)."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataValidationError(
                f"covariates: missing column(s) {', '.join(missing)}; columns present: "
                f"{', '.join(map(str, frame.columns))}"
            )
        parts: list[NDArray[np.float64]] = []
        for c in self.columns:
            s = frame[c]
            if c in self.levels:
                values = s.astype(str).to_numpy()
                parts.append(
                    (values[:, None] == np.asarray(self.levels[c])[None, :]).astype(
                        np.float64
                    )
                )
            else:
                v = pd.to_numeric(s, errors="coerce").to_numpy(np.float64)
                if not np.all(np.isfinite(v)):
                    i = int(np.flatnonzero(~np.isfinite(v))[0])
                    raise DataValidationError(
                        f"covariates row {i + 1} (customer {frame.index[i]!r}): column "
                        f"{c!r} is {s.iloc[i]!r}, expected a finite number"
                    )
                parts.append(((v - self.center[c]) / self.scale[c])[:, None])
        if not parts:
            return np.zeros((len(frame), 0))
        return np.hstack(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "levels": {k: list(v) for k, v in self.levels.items()},
            "center": dict(self.center),
            "scale": dict(self.scale),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CovariateEncoder:
        return cls(
            tuple(d["columns"]),
            {k: tuple(v) for k, v in d["levels"].items()},
            {k: float(v) for k, v in d["center"].items()},
            {k: float(v) for k, v in d["scale"].items()},
        )
