"""Find rows whose key repeats an earlier row of the same file, in bounded memory.

Keys are hashed to 64 bits (FNV-1a over the UTF-8 bytes, vectorised in numpy) and
remembered in sorted runs that are merged like a binary counter, so checking a
chunk costs O(chunk x log(runs)) and a 20M-row file keeps 160 MB of hashes.
Candidates are then confirmed on the real values by the loader, so a hash
collision cannot drop a row silently (see ``load.py``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

__all__ = ["SeenKeys", "string_hash64"]

_FNV_OFFSET = np.uint64(1469598103934665603)
_FNV_PRIME = np.uint64(1099511628211)


def string_hash64(arr: pa.Array | pa.ChunkedArray) -> NDArray[np.uint64]:
    """64-bit FNV-1a of each string (nulls hash like the empty string), (n,)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.fill_null(arr.cast(pa.string()), "")
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[
        arr.offset : arr.offset + n + 1
    ]
    data = arr.buffers()[2]
    buf = (
        np.frombuffer(data, dtype=np.uint8)
        if data is not None
        else np.zeros(1, np.uint8)
    )
    starts = offsets[:-1].astype(np.int64)
    lengths = np.diff(offsets).astype(np.int64)
    h = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    if n == 0:
        return h
    with np.errstate(over="ignore"):
        for j in range(int(lengths.max(initial=0))):
            active = lengths > j
            if active.all():
                byte = buf[starts + j].astype(np.uint64)
                h = (h ^ byte) * _FNV_PRIME
            else:
                idx = np.flatnonzero(active)
                byte = buf[starts[idx] + j].astype(np.uint64)
                h[idx] = (h[idx] ^ byte) * _FNV_PRIME
        h = (h ^ lengths.astype(np.uint64)) * _FNV_PRIME
    return h


class SeenKeys:
    """The key hashes of a file so far, as sorted runs (an LSM-style set)."""

    def __init__(self) -> None:
        self._runs: list[NDArray[np.uint64]] = []

    def __len__(self) -> int:
        return sum(r.size for r in self._runs)

    def contains(self, h: NDArray[np.uint64]) -> NDArray[np.bool_]:
        """Which hashes were added before, shape (n,)."""
        found = np.zeros(h.size, dtype=bool)
        for run in self._runs:
            i = np.searchsorted(run, h)
            i = np.minimum(i, run.size - 1)
            found |= run[i] == h
        return found

    def add(self, h: NDArray[np.uint64]) -> None:
        """Remember hashes (duplicates allowed)."""
        if h.size == 0:
            return
        self._runs.append(np.sort(h, kind="stable"))
        while len(self._runs) >= 2 and self._runs[-1].size >= self._runs[-2].size:
            b = self._runs.pop()
            a = self._runs.pop()
            self._runs.append(np.sort(np.concatenate([a, b]), kind="stable"))


def first_occurrence(h: NDArray[np.uint64]) -> NDArray[np.int64]:
    """For each element, the position of the first element with the same hash."""
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    out: NDArray[np.int64] = first[inverse].astype(np.int64)
    return out
