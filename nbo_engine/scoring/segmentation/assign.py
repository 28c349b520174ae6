"""Assign any customers to the segments fitted on a sample.

Segmentation is fitted on a sample of customers (:func:`segment_customers`);
the nightly job then scores the whole base chunk by chunk. The assigner keeps
what is needed to place any customer in every segmentation: the value-tier
thresholds, the behavioural :class:`Segmenter`, the product-affinity centroids
and the micro-segment cell map (merged cells included). It serialises to JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError
from nbo_engine.scoring.segmentation.pipeline import Segmentation
from nbo_engine.scoring.segmentation.segmenter import Segmenter

__all__ = ["SegmentAssigner"]


@dataclass(frozen=True)
class SegmentAssigner:
    """Everything needed to place a customer in each segmentation."""

    tier_names: tuple[str, ...]
    tier_thresholds: tuple[float, ...]
    segmenter: Segmenter
    affinity_columns: tuple[str, ...]
    affinity_centroids: NDArray[np.float64]
    affinity_names: tuple[str, ...]
    micro_map: dict[str, str]

    @classmethod
    def from_segmentation(cls, seg: Segmentation) -> SegmentAssigner:
        cells = seg.micro.cells
        return cls(
            tier_names=tuple(seg.tiers.spec.names),
            tier_thresholds=tuple(float(t) for t in seg.tiers.thresholds),
            segmenter=seg.segmenter,
            affinity_columns=tuple(seg.affinity.columns),
            affinity_centroids=np.asarray(seg.affinity.centroids, np.float64),
            affinity_names=tuple(seg.affinity.names),
            micro_map=dict(
                zip(
                    cells["cell"].astype(str),
                    cells["micro_segment"].astype(str),
                    strict=True,
                )
            ),
        )

    def assign(self, profile: pd.DataFrame, value: NDArray[np.float64]) -> pd.DataFrame:
        """Segments of every row of ``profile``; ``value`` is each customer's
        value score (the one the tiers were cut on), shape (n,)."""
        if len(value) != len(profile):
            raise DataValidationError(
                f"SegmentAssigner.assign: {len(profile)} profiles "
                f"but {len(value)} values"
            )
        v = np.asarray(value, np.float64)
        thresholds = np.asarray(self.tier_thresholds)
        codes = np.where(
            np.isfinite(v),
            (v[:, None] < thresholds[None, :]).sum(axis=1),
            len(self.tier_names) - 1,
        )
        tier = np.asarray(self.tier_names, dtype=object)[codes]
        cluster = self.segmenter.name_of(self.segmenter.assign(profile))
        stage = profile["life_stage"].astype(str).to_numpy(dtype=object)
        x = np.nan_to_num(
            profile.reindex(columns=list(self.affinity_columns)).to_numpy(
                np.float64, na_value=np.nan
            )
        )
        cent = self.affinity_centroids
        d2 = (x**2).sum(1)[:, None] - 2 * x @ cent.T + (cent**2).sum(1)[None, :]
        affinity = np.asarray(self.affinity_names, dtype=object)[np.argmin(d2, axis=1)]
        cell = pd.Series(
            np.char.add(
                np.char.add(np.char.add(tier.astype(str), "/"), cluster.astype(str)),
                np.char.add("/", stage.astype(str)),
            ),
            dtype=object,
        )
        micro = cell.map(self.micro_map).fillna(cell).to_numpy(dtype=object)
        return pd.DataFrame(
            {
                "value_tier": tier,
                "cluster": cluster,
                "life_stage": stage,
                "product_affinity": affinity,
                "micro_segment": micro,
            },
            index=profile.index,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": "nbo-segment-assigner/1",
                "tier_names": list(self.tier_names),
                "tier_thresholds": list(self.tier_thresholds),
                "segmenter": json.loads(self.segmenter.to_json()),
                "affinity_columns": list(self.affinity_columns),
                "affinity_centroids": self.affinity_centroids.tolist(),
                "affinity_names": list(self.affinity_names),
                "micro_map": self.micro_map,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> SegmentAssigner:
        d: dict[str, Any] = json.loads(text)
        if d.get("format") != "nbo-segment-assigner/1":
            raise DataValidationError(
                f"not a stored segment assigner ({d.get('format')!r})"
            )
        return cls(
            tuple(d["tier_names"]),
            tuple(d["tier_thresholds"]),
            Segmenter.from_json(json.dumps(d["segmenter"])),
            tuple(d["affinity_columns"]),
            np.asarray(d["affinity_centroids"], np.float64),
            tuple(d["affinity_names"]),
            dict(d["micro_map"]),
        )
