"""How many threads native model libraries (LightGBM) should use."""

from __future__ import annotations

import os

__all__ = ["lgb_threads"]


def lgb_threads(n_rows: int, n_jobs: int | None = None) -> int:
    """LightGBM threads for ``n_rows`` of training data.

    OpenMP workers spin while they wait; on small data (refreshes train on a
    sample) extra threads cost more in synchronisation than they save, and on a
    busy machine they slowed fits more than tenfold. One thread below 200,000
    rows, otherwise up to four cores, unless ``n_jobs`` says otherwise.
    """
    if n_jobs is not None:
        return max(1, n_jobs)
    if n_rows < 200_000:
        return 1
    return max(1, min(4, os.cpu_count() or 1))
