"""Turn any feature table into the float matrix the uplift learners take.

Numeric and boolean columns pass through; dates become days since 1970;
text/categorical columns are one-hot encoded (a missing value is a category of
its own) when they have at most ``max_onehot`` distinct values in training,
else ordinal-encoded by frequency. Missing numbers are replaced by the training
median and flagged in an extra 0/1 column, so every learner (including linear
final stages that refuse NaN) gets a finite matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError, NotFittedError

__all__ = ["FeatureEncoder"]

_MISSING = "<missing>"


@dataclass
class FeatureEncoder:
    """Learned once on the training frame, applied to any frame with its columns.

    Parameters
    ----------
    max_onehot : int
        Text columns with at most this many distinct values are one-hot encoded.

    Examples
    --------
    >>> df = pd.DataFrame({"age": [30.0, None, 50.0], "job": ["a", "b", None]})
    >>> enc = FeatureEncoder().fit(df)
    >>> enc.names_
    ['age', 'age_missing', 'job=<missing>', 'job=a', 'job=b']
    >>> enc.transform(df)[1].tolist()
    [40.0, 1.0, 0.0, 0.0, 1.0]
    """

    max_onehot: int = 32
    columns_: list[str] = field(default_factory=list)
    names_: list[str] = field(default_factory=list)
    _numeric: dict[str, float] = field(default_factory=dict)
    _flag_missing: set[str] = field(default_factory=set)
    _onehot: dict[str, list[str]] = field(default_factory=dict)
    _ordinal: dict[str, dict[str, int]] = field(default_factory=dict)

    @staticmethod
    def _as_number(s: pd.Series) -> pd.Series | None:
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            return s.astype("float64")
        if pd.api.types.is_datetime64_any_dtype(s):
            days = (s - pd.Timestamp("1970-01-01")).dt.days
            return days.astype("float64")
        return None

    @staticmethod
    def _as_text(s: pd.Series) -> pd.Series:
        return s.astype("string").fillna(_MISSING).astype(object)

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        """Learn medians, categories and output column names from ``frame``."""
        if frame.shape[1] == 0:
            raise DataValidationError("features: got no columns, expected at least one")
        self.columns_ = [str(c) for c in frame.columns]
        self.names_ = []
        for col in self.columns_:
            s = frame[col]
            num = self._as_number(s)
            if num is not None:
                med = float(num.median()) if num.notna().any() else 0.0
                self._numeric[col] = med
                self.names_.append(col)
                if num.isna().any():
                    self._flag_missing.add(col)
                    self.names_.append(f"{col}_missing")
                continue
            text = self._as_text(s)
            counts = text.value_counts()
            if counts.size <= self.max_onehot:
                cats = sorted(str(c) for c in counts.index)
                self._onehot[col] = cats
                self.names_.extend(f"{col}={c}" for c in cats)
            else:
                self._ordinal[col] = {str(c): i for i, c in enumerate(counts.index)}
                self.names_.append(col)
        return self

    def transform(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """The encoded matrix, shape (n_rows, len(names_)), all finite."""
        if not self.columns_:
            raise NotFittedError("FeatureEncoder.transform called before fit")
        missing = [c for c in self.columns_ if c not in frame.columns]
        if missing:
            raise DataValidationError(
                f"features: missing column(s) {', '.join(missing)}; expected the "
                f"columns the encoder was fitted on"
            )
        parts: list[NDArray[np.float64]] = []
        for col in self.columns_:
            s = frame[col]
            if col in self._numeric:
                num = self._as_number(s)
                if num is None:
                    num = pd.to_numeric(s, errors="coerce")
                v = num.to_numpy(dtype=np.float64, na_value=np.nan)
                nan = np.isnan(v)
                parts.append(np.where(nan, self._numeric[col], v))
                if col in self._flag_missing:
                    parts.append(nan.astype(np.float64))
            elif col in self._onehot:
                cats = self._onehot[col]
                codes = pd.Categorical(self._as_text(s), categories=cats).codes
                block = np.zeros((len(s), len(cats)))
                ok = codes >= 0
                block[np.flatnonzero(ok), codes[ok]] = 1.0
                parts.extend(block.T)
            else:
                mapping = self._ordinal[col]
                mapped = self._as_text(s).map(mapping)
                parts.append(np.asarray(mapped.fillna(len(mapping)), dtype=np.float64))
        return np.column_stack(parts) if parts else np.zeros((len(frame), 0))

    def fit_transform(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """``fit(frame).transform(frame)``."""
        return self.fit(frame).transform(frame)
