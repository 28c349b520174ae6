"""The fitted, frozen segmenter: features -> scaled space -> behavioural cluster.

It holds everything assignment needs (feature transforms, the scaler, the
cluster model and the cluster names) as plain numpy arrays, so one customer is
assigned in microseconds (:func:`assign_segment`) when new events arrive, and
it serialises to JSON and back exactly (floats are written with ``repr``, which
round-trips every float64).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError, StateFormatError
from nbo_engine.scoring.segmentation.features import (
    CLIP,
    FeatureSpec,
    Scaler,
    raw_matrix,
)
from nbo_engine.scoring.segmentation.model import ClusterModel

__all__ = ["FORMAT", "NOISE_NAME", "Segmenter", "assign_segment"]

FORMAT = "nbo.segmenter"
VERSION = 1
NOISE_NAME = "unassigned"


@dataclass(frozen=True, eq=False)
class Segmenter:
    """A fitted behavioural segmentation.

    Attributes
    ----------
    features : the feature axes, in order (d of them).
    scaler : fitted centre and scale, shape (d,) each.
    model : the cluster model in the scaled space.
    names : one readable name per cluster, shape (k,).
    """

    features: tuple[FeatureSpec, ...]
    scaler: Scaler
    model: ClusterModel
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        # Precomputed for the one-customer path.
        object.__setattr__(
            self, "_log_mask", np.array([f.transform == "log1p" for f in self.features])
        )
        object.__setattr__(self, "_columns", tuple(f.column for f in self.features))

    @property
    def n_clusters(self) -> int:
        return self.model.n_clusters

    def with_names(self, names: tuple[str, ...]) -> Segmenter:
        """The same segmenter with other cluster names."""
        if len(names) != self.n_clusters:
            raise DataValidationError(
                f"Segmenter.with_names: got {len(names)} names; expected "
                f"{self.n_clusters} (one per cluster)"
            )
        return replace(self, names=tuple(names))

    def scaled(self, profile: pd.DataFrame) -> NDArray[np.float64]:
        """Scaled feature matrix of ``profile``, shape (n_customers, d)."""
        return self.scaler.transform(raw_matrix(profile, self.features))

    def assign(self, profile: pd.DataFrame) -> NDArray[np.int64]:
        """Cluster of every customer in ``profile`` (rows), shape (n,); -1 noise."""
        return self.model.predict(self.scaled(profile))

    def name_of(self, labels: NDArray[np.int64]) -> NDArray[np.object_]:
        """Cluster names for labels, shape (n,); noise is ``'unassigned'``."""
        names = np.asarray((*self.names, NOISE_NAME), dtype=object)
        return names[np.where(labels >= 0, labels, len(self.names))]

    # ---------------------------------------------------------------- one row

    def assign_one(self, row: Mapping[str, Any]) -> int:
        """Cluster of one customer given their profile values (a ``dict`` or a
        ``pandas.Series`` keyed by column); missing keys and ``None`` count as
        missing values. Uses the same arithmetic as :meth:`assign`."""
        values = np.empty(len(self._columns))  # type: ignore[attr-defined]
        for j, col in enumerate(self._columns):  # type: ignore[attr-defined]
            v = row.get(col)
            values[j] = np.nan if v is None else float(v)
        values[~np.isfinite(values)] = np.nan
        log = self._log_mask  # type: ignore[attr-defined]
        values[log] = np.log1p(np.clip(values[log], 0.0, None))
        z = (values - self.scaler.center) / self.scaler.scale
        z = np.clip(z, -CLIP, CLIP)
        z[np.isnan(z)] = 0.0
        return int(self.model._predict_block(z[None, :])[0])

    # ---------------------------------------------------------------- JSON

    def to_json(self) -> str:
        """JSON text of the whole segmenter (no pickle)."""
        m = self.model

        def arr(a: NDArray[Any] | None) -> Any:
            return None if a is None else a.tolist()

        doc = {
            "format": FORMAT,
            "version": VERSION,
            "features": [[f.name, f.column, f.transform] for f in self.features],
            "center": arr(self.scaler.center),
            "scale": arr(self.scaler.scale),
            "names": list(self.names),
            "method": m.method,
            "params": [[k, v] for k, v in m.params],
            "assignment": m.assignment,
            "centroids": arr(m.centroids),
            "precisions_chol": arr(m.precisions_chol),
            "log_weights": arr(m.log_weights),
            "exemplars": arr(m.exemplars),
            "exemplar_labels": arr(m.exemplar_labels),
            "radius": m.radius if np.isfinite(m.radius) else None,
        }
        return json.dumps(doc, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Segmenter:
        """Read :meth:`to_json`'s output.

        Raises
        ------
        StateFormatError
            Not JSON, another format or version, or a field missing/malformed.
        """
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StateFormatError(f"Segmenter.from_json: not JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
            raise StateFormatError(
                f"Segmenter.from_json: format {got!r}; expected {FORMAT!r}"
            )
        if doc.get("version") != VERSION:
            raise StateFormatError(
                f"Segmenter.from_json: version {doc.get('version')!r}; this release "
                f"reads version {VERSION}"
            )
        try:
            d = len(doc["features"])
            k = len(doc["names"])

            def arr(key: str, shape: tuple[int, ...], dtype: type = np.float64) -> Any:
                if doc[key] is None:
                    return None
                a: NDArray[Any] = np.asarray(doc[key], dtype=dtype)
                if a.size == 0:
                    a = a.reshape(shape)
                if a.shape[1:] != shape[1:] or (
                    shape[0] >= 0 and a.shape[0] != shape[0]
                ):
                    raise ValueError(f"'{key}' has shape {a.shape}, expected {shape}")
                return a

            model = ClusterModel(
                method=str(doc["method"]),
                params=tuple((str(p), float(v)) for p, v in doc["params"]),
                assignment=doc["assignment"],
                centroids=arr("centroids", (k, d)),
                precisions_chol=arr("precisions_chol", (k, d, d)),
                log_weights=arr("log_weights", (k,)),
                exemplars=arr("exemplars", (-1, d)),
                exemplar_labels=arr("exemplar_labels", (-1,), np.int64),
                radius=float("inf") if doc["radius"] is None else float(doc["radius"]),
            )
            if model.assignment not in ("centroid", "gaussian", "exemplar"):
                raise ValueError(f"assignment {model.assignment!r}")
            return cls(
                features=tuple(FeatureSpec(*f) for f in doc["features"]),
                scaler=Scaler(arr("center", (d,)), arr("scale", (d,))),
                model=model,
                names=tuple(str(x) for x in doc["names"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StateFormatError(
                f"Segmenter.from_json: malformed document ({type(exc).__name__}: {exc})"
            ) from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Segmenter) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


def assign_segment(segmenter: Segmenter, profile_row: Mapping[str, Any]) -> int:
    """Behavioural cluster of one customer (real-time path, numpy only).

    Parameters
    ----------
    segmenter : a fitted :class:`Segmenter`.
    profile_row : the customer's profile values keyed by column (``dict`` or
        ``pandas.Series``); only the segmenter's feature columns are read.

    Returns
    -------
    The cluster number (``segmenter.names[label]``), or -1 (noise) for a density
    clustering when the customer lies far from every cluster.
    """
    return segmenter.assign_one(profile_row)
