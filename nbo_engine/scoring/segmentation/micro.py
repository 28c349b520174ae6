"""Micro-segments: value tier x behavioural cluster x life stage, with a minimum size.

Every customer starts in the cell of their (tier, cluster, life stage), with id
``"<tier>/<cluster name>/<life stage>"``. While some cell holds fewer than
``min_size`` customers, the smallest one (ties: the first id in sort order) is
merged into its **nearest** other cell, where nearest means: a cell of the same
value tier if there is one (campaign budgets follow value), and among those the
one whose centroid -- the mean of its customers in the scaled behavioural
feature space -- is closest in Euclidean distance. The merged cell takes the
target's id and the target's centroid becomes the size-weighted mean of the
two. Ids are names, not numbers, so they stay the same from one run to the next
as long as the cell survives, and the merge map says where every small cell
went.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import DataValidationError

__all__ = ["MicroSegments", "micro_segments"]


@dataclass(frozen=True)
class MicroSegments:
    """``ids`` (n,) micro-segment of each customer; ``cells`` one row per original
    cell: ``cell``, ``size``, ``micro_segment`` (where it ended up), ``merged``."""

    ids: NDArray[np.object_]
    cells: pd.DataFrame
    min_size: int


def micro_segments(
    tier: ArrayLike,
    cluster: ArrayLike,
    life_stage: ArrayLike,
    z: NDArray[np.float64],
    min_size: int,
) -> MicroSegments:
    """Cross three segmentations and merge cells smaller than ``min_size``.

    Parameters
    ----------
    tier, cluster, life_stage : labels per customer, shape (n,) each.
    z : scaled behavioural features, shape (n, d) (defines "nearest").
    min_size : minimum customers per micro-segment (>= 1).

    Examples
    --------
    >>> z = np.array([[0.0], [0.1], [5.0], [5.1], [0.2]])
    >>> m = micro_segments(["a"] * 5, ["x", "x", "y", "y", "z"], ["s"] * 5, z, 2)
    >>> m.ids.tolist()
    ['a/x/s', 'a/x/s', 'a/y/s', 'a/y/s', 'a/x/s']
    """
    t, c, s = (np.asarray(a).astype(str) for a in (tier, cluster, life_stage))
    n = t.size
    if not (c.shape == s.shape == (n,) and z.shape[0] == n):
        raise DataValidationError(
            f"micro_segments: tier {t.shape}, cluster {c.shape}, life_stage "
            f"{s.shape} and z {z.shape}; expected n={n} rows for each"
        )
    if min_size < 1:
        raise DataValidationError(f"micro_segments: min_size={min_size}; expected >= 1")
    cell_of = np.char.add(np.char.add(np.char.add(t, "/"), np.char.add(c, "/")), s)
    ids, codes = np.unique(cell_of, return_inverse=True)
    codes = codes.reshape(-1)
    m = len(ids)
    size = np.bincount(codes, minlength=m).astype(np.float64)
    cent = np.zeros((m, z.shape[1]))
    np.add.at(cent, codes, z)
    cent /= np.maximum(size, 1.0)[:, None]
    tier_of_cell = np.array([i.split("/", 1)[0] for i in ids])
    target = np.arange(m)
    live = np.ones(m, dtype=bool)
    while live.sum() > 1:  # over cells (a few hundred at most), not customers
        small = np.flatnonzero(live & (size < min_size))
        if small.size == 0:
            break
        i = small[np.argmin(size[small])]
        others = np.flatnonzero(live & (np.arange(m) != i))
        same = others[tier_of_cell[others] == tier_of_cell[i]]
        pool = same if same.size else others
        j = pool[np.argmin(((cent[pool] - cent[i]) ** 2).sum(axis=1))]
        cent[j] = (cent[j] * size[j] + cent[i] * size[i]) / (size[j] + size[i])
        size[j] += size[i]
        live[i] = False
        target[target == i] = j
    final = ids[target]
    cells = pd.DataFrame(
        {
            "cell": ids,
            "size": np.bincount(codes, minlength=m),
            "micro_segment": final,
            "merged": target != np.arange(m),
        }
    )
    return MicroSegments(final[codes].astype(object), cells, min_size)
