"""The one hash behind every assignment: unit id -> bucket 0..9999.

Recipe (documented with golden vectors in ``docs/experiments.md``)::

    key    = f"{stage}:{salt}:{unit_id}".encode("utf-8")   # stage: holdout | layer | exp
    h      = fnv1a_64(key)                                  # FNV-1a, 64 bit
    h      = splitmix64_finalize(h)                         # avalanche, 64 bit
    bucket = h % 10_000

FNV-1a (Fowler, Noll, Vo; IETF draft-eastlake-fnv) and the splitmix64 finaliser
(Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators",
variant of Stafford's Mix13) are short, published and exist in every language
and in SQL with 64-bit unsigned arithmetic, so any other system can reproduce an
assignment. FNV-1a alone mixes its low bits poorly for keys that differ only in
their last characters (customer numbers); the finaliser fixes that.

The vectorised path runs the byte loop column by column over all ids of the same
byte length (usually one or two lengths), so a batch costs a handful of numpy
passes per byte of id, not a Python loop over customers. Integer ids are hashed
as their decimal text (``123`` and ``"123"`` are the same unit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import DataValidationError

__all__ = [
    "BUCKETS",
    "FNV64_OFFSET",
    "FNV64_PRIME",
    "bucket_of",
    "buckets",
    "fnv1a_64",
    "hash_key",
    "hash_of",
    "hashes",
    "splitmix64_finalize",
]

BUCKETS = 10_000
"""Number of buckets; a bucket is one basis point of traffic."""

FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_CHUNK = 1 << 14  # rows per pass: keeps the working set in cache


# ------------------------------------------------------------------ reference


def fnv1a_64(data: bytes, h: int = FNV64_OFFSET) -> int:
    """FNV-1a 64-bit hash of ``data``, continuing from state ``h``.

    Examples
    --------
    >>> hex(fnv1a_64(b"a"))
    '0xaf63dc4c8601ec8c'
    """
    for byte in data:
        h = ((h ^ byte) * FNV64_PRIME) & _MASK
    return h


def splitmix64_finalize(z: int) -> int:
    """The splitmix64 output function (a bijection on 64-bit integers).

    Examples
    --------
    >>> hex(splitmix64_finalize(0x9E3779B97F4A7C15))  # splitmix64(seed=0), 1st draw
    '0xe220a8397b1dcdaf'
    """
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def hash_key(stage: str, salt: str, unit_id: str | int) -> bytes:
    """The bytes hashed for one unit: ``f"{stage}:{salt}:{unit_id}"`` in UTF-8."""
    return f"{stage}:{salt}:{unit_id}".encode()


def hash_of(stage: str, salt: str, unit_id: str | int) -> int:
    """64-bit hash of one unit (pure Python reference; see module docstring)."""
    return splitmix64_finalize(fnv1a_64(hash_key(stage, salt, unit_id)))


def bucket_of(stage: str, salt: str, unit_id: str | int) -> int:
    """Bucket 0..9999 of one unit (pure Python reference).

    Examples
    --------
    >>> bucket_of("exp", "demo", "C00000001")
    4588
    """
    return hash_of(stage, salt, unit_id) % BUCKETS


# ------------------------------------------------------------------ vectorised


def _finalize(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    z ^= z >> np.uint64(30)
    z *= np.uint64(_M1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_M2)
    z ^= z >> np.uint64(31)
    return z


def _hash_columns(
    state: int, cols: NDArray[np.integer], out: NDArray[np.uint64]
) -> None:
    """FNV-1a over every column of ``cols`` (rows of equal byte length), then
    finalise into ``out``. ``cols`` holds byte values, shape (n, length)."""
    prime = np.uint64(FNV64_PRIME)
    for s in range(0, cols.shape[0], _CHUNK):
        block = cols[s : s + _CHUNK]
        h = np.full(block.shape[0], state, dtype=np.uint64)
        for j in range(block.shape[1]):
            # in place: byte values widen to uint64 inside the ufunc loop
            np.bitwise_xor(h, block[:, j], out=h, casting="unsafe")
            np.multiply(h, prime, out=h)
        out[s : s + _CHUNK] = _finalize(h)


def _by_length(
    state: int,
    cols: NDArray[np.integer],
    lengths: NDArray[np.int64],
    out: NDArray[np.uint64],
) -> None:
    """Hash left-aligned rows of ``cols`` whose true byte lengths are ``lengths``."""
    distinct = np.flatnonzero(np.bincount(lengths))
    if distinct.size == 1:
        _hash_columns(state, cols[:, : int(distinct[0])], out)
        return
    for length in distinct:
        rows = np.flatnonzero(lengths == length)
        part = np.empty(rows.size, dtype=np.uint64)
        _hash_columns(state, cols[rows, : int(length)], part)
        out[rows] = part


_FLOAT_EXACT = 2**50  # floor(x / 10.0) is exact for integers below this


def _int_group(
    mag: NDArray[np.uint64], negative: bool, length: int, state: int
) -> NDArray[np.uint64]:
    """Hash integers of one decimal length and sign as their text."""
    prime = np.uint64(FNV64_PRIME)
    out = np.empty(mag.size, dtype=np.uint64)
    exact = mag.size == 0 or int(mag.max()) < _FLOAT_EXACT
    for s in range(0, mag.size, _CHUNK):
        block = mag[s : s + _CHUNK]
        digits: list[NDArray[np.uint64]] = []  # right to left
        if exact:  # float division is several times faster than integer division
            rest = block.view(np.int64).astype(np.float64)
            for _ in range(length):
                q = np.floor(rest / 10.0)
                digits.append((rest - 10.0 * q + 48.0).astype(np.int64).view(np.uint64))
                rest = q
        else:
            rest_u = block.copy()
            for _ in range(length):
                rest_u, r = np.divmod(rest_u, np.uint64(10))
                digits.append(r + np.uint64(48))
        h = np.full(block.size, state, dtype=np.uint64)
        if negative:
            h ^= np.uint64(45)  # '-'
            h *= prime
        for d in reversed(digits):
            h ^= d
            h *= prime
        out[s : s + _CHUNK] = _finalize(h)
    return out


def _int_digits(values: NDArray[np.int64], state: int, out: NDArray[np.uint64]) -> None:
    """Hash integers as their decimal text without building strings."""
    neg = values < 0
    has_neg = bool(neg.any())
    if has_neg:
        # two's complement magnitude, exact for int64 min as well
        mag = np.where(
            neg, (~values).view(np.uint64) + np.uint64(1), values.view(np.uint64)
        )
    else:
        mag = values.view(np.uint64)
    top = int(mag.max())
    lengths = np.ones(values.size, dtype=np.int64)
    for k in range(1, len(str(top))):
        lengths += mag >= np.uint64(10**k)
    key = lengths * 2 + neg if has_neg else lengths * 2
    distinct = np.flatnonzero(np.bincount(key))  # O(n), unlike np.unique's sort
    if distinct.size == 1:
        k = int(distinct[0])
        out[:] = _int_group(mag, bool(k % 2), k // 2, state)
        return
    for k in distinct.tolist():
        rows = np.flatnonzero(key == k)
        out[rows] = _int_group(mag[rows], bool(k % 2), k // 2, state)


def _as_unit_array(unit_ids: ArrayLike | Sequence[str | int]) -> NDArray[np.generic]:
    arr = np.asarray(unit_ids)
    if arr.ndim != 1:
        raise DataValidationError(
            f"unit_ids: expected a 1-D array of ids, got shape {arr.shape}"
        )
    if arr.dtype == object:
        bad = [i for i, v in enumerate(arr.tolist()) if not isinstance(v, str | int)]
        if bad:
            raise DataValidationError(
                f"unit_ids[{bad[0]}]: expected a str or int id, got "
                f"{arr[bad[0]]!r} ({len(bad)} such value(s))"
            )
        arr = arr.astype(str)
    if arr.dtype.kind not in "USiu":
        raise DataValidationError(
            f"unit_ids: expected str or integer ids, got dtype {arr.dtype}"
        )
    return arr


def hashes(stage: str, salt: str, unit_ids: ArrayLike) -> NDArray[np.uint64]:
    """64-bit hashes of many units, vectorised; equal to :func:`hash_of` per id.

    Parameters
    ----------
    stage, salt : str
        Key prefix, see the module docstring.
    unit_ids : array-like, shape (n,)
        ``str`` (numpy ``U``/``S`` or object) or integer ids.

    Returns
    -------
    ndarray of uint64, shape (n,)
    """
    arr = _as_unit_array(unit_ids)
    state = fnv1a_64(f"{stage}:{salt}:".encode())
    out = np.empty(arr.size, dtype=np.uint64)
    if arr.size == 0:
        return out
    if arr.dtype.kind in "iu":
        if (
            arr.dtype.kind == "u"
            and arr.size
            and int(arr.max()) > np.iinfo(np.int64).max
        ):
            raise DataValidationError(
                "unit_ids: integer ids above 2**63 - 1 are not supported; pass them as str"
            )
        _int_digits(arr.astype(np.int64), state, out)
        return out
    if arr.dtype.kind == "S":
        width = arr.dtype.itemsize
        cols: NDArray[np.integer] = arr.view(np.uint8).reshape(-1, width)
        lengths = np.strings.str_len(cast(Any, arr)).astype(np.int64)
        _by_length(state, cols, lengths, out)
        return out
    # numpy 'U': UCS-4 code points. ASCII ids (the usual case) are their own bytes.
    width = arr.dtype.itemsize // 4
    points = arr.view(np.uint32).reshape(-1, width)
    if width and int(points.max()) < 128:
        lengths = np.strings.str_len(cast(Any, arr)).astype(np.int64)
        _by_length(state, points, lengths, out)
        return out
    encoded = np.array([s.encode() for s in arr.tolist()], dtype=bytes)
    width = max(encoded.dtype.itemsize, 1)
    cols = encoded.view(np.uint8).reshape(-1, width)
    lengths = np.fromiter((len(s.encode()) for s in arr.tolist()), np.int64, arr.size)
    _by_length(state, cols, lengths, out)
    return out


def buckets(stage: str, salt: str, unit_ids: ArrayLike) -> NDArray[np.int64]:
    """Buckets 0..9999 of many units, vectorised; equal to :func:`bucket_of` per id.

    Examples
    --------
    >>> buckets("exp", "demo", ["C00000001", "1"]).tolist()
    [4588, 5982]
    >>> buckets("exp", "demo", [1]).tolist()  # integers hash as their decimal text
    [5982]
    """
    return (hashes(stage, salt, unit_ids) % np.uint64(BUCKETS)).astype(np.int64)
