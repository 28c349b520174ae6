"""The assignment hash: published primitives, golden vectors, vectorised equals
reference, uniform buckets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nbo_engine.errors import DataValidationError
from nbo_engine.experiments.hashing import (
    BUCKETS,
    bucket_of,
    buckets,
    fnv1a_64,
    hash_of,
    hashes,
    splitmix64_finalize,
)

from .conftest import string_ids


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # FNV-1a 64 test vectors (Fowler/Noll/Vo reference test suite)
        (b"", 0xCBF29CE484222325),
        (b"a", 0xAF63DC4C8601EC8C),
        (b"foobar", 0x85944171F73967E8),
    ],
)
def test_fnv1a_published_vectors(data: bytes, expected: int) -> None:
    assert fnv1a_64(data) == expected


def test_splitmix64_published_vector() -> None:
    # splitmix64 seeded with 0: state += 0x9E3779B97F4A7C15, output = finalize(state)
    assert splitmix64_finalize(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF


# Golden vectors: any other implementation of the recipe must reproduce these
# (the same table is in docs/experiments.md).
GOLDEN = [
    ("exp", "demo", "C00000001", 0x2D6DE7E7B2331D7C, 4588),
    ("exp", "demo", "C00000002", 0x4ED3E8A30D9A5CBA, 794),
    ("exp", "demo", "1", 0x43E768D918209E0E, 5982),
    ("exp", "demo", "", 0x519ED418D9E750C6, 5446),
    ("exp", "mortgage-q3", "C12345678", 0x3D0E747F88427D87, 775),
    ("layer", "outbound-email", "C00000001", 0x196404136C18933, 1475),
    ("holdout", "gh-2025", "C00000001", 0x363CBC1DF00487E2, 146),
    ("holdout", "gh-2025", "C00042042", 0x30AC9B607CBC0E1, 4913),
    ("exp", "demo", "Zoë-7", 0xB06CA22E8B646644, 5716),
    ("exp", "demo", "-5", 0xBF63441F41E39FB5, 2261),
]


@pytest.mark.parametrize(("stage", "salt", "unit", "h", "bucket"), GOLDEN)
def test_golden_vectors(stage: str, salt: str, unit: str, h: int, bucket: int) -> None:
    assert hash_of(stage, salt, unit) == h
    assert bucket_of(stage, salt, unit) == bucket
    assert int(hashes(stage, salt, np.array([unit]))[0]) == h
    assert int(buckets(stage, salt, [unit])[0]) == bucket


def test_golden_vectors_are_in_the_docs() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "experiments.md").read_text()
    for stage, salt, unit, h, bucket in GOLDEN:
        assert f"| `{stage}` | `{salt}` | `{unit}` | `{h:016x}` | {bucket} |" in doc


def test_vectorised_equals_reference_on_mixed_lengths(rng: np.random.Generator) -> None:
    alphabet = np.array(list("ABCxyz0123456789-_"))
    lengths = rng.integers(0, 14, size=3000)
    ids = ["".join(rng.choice(alphabet, size=k)) for k in lengths]
    got = hashes("exp", "s", np.array(ids))
    assert got.tolist() == [hash_of("exp", "s", u) for u in ids]
    # the same ids as bytes and as an object array
    assert (
        hashes("exp", "s", np.array([u.encode() for u in ids])).tolist() == got.tolist()
    )
    assert hashes("exp", "s", np.array(ids, dtype=object)).tolist() == got.tolist()


def test_non_ascii_ids_hash_their_utf8_bytes() -> None:
    ids = ["Zoë-7", "Ørsted", "C00000001", "日本"]
    assert hashes("exp", "s", ids).tolist() == [hash_of("exp", "s", u) for u in ids]


def test_integer_ids_hash_as_their_decimal_text(rng: np.random.Generator) -> None:
    ints = np.concatenate(
        [
            rng.integers(-(10**12), 10**12, size=2000),
            [
                0,
                1,
                -1,
                9,
                10,
                99,
                100,
                np.iinfo(np.int64).max,
                np.iinfo(np.int64).min + 1,
            ],
        ]
    ).astype(np.int64)
    as_int = hashes("exp", "s", ints)
    as_text = hashes("exp", "s", ints.astype(str))
    assert as_int.tolist() == as_text.tolist()
    assert as_int[:50].tolist() == [hash_of("exp", "s", int(v)) for v in ints[:50]]
    assert hashes("exp", "s", ints[:100].astype(np.uint32).astype(np.int32)).size == 100


def test_empty_input() -> None:
    assert buckets("exp", "s", np.array([], dtype=str)).shape == (0,)


def test_salt_and_stage_change_the_hash() -> None:
    ids = string_ids(20_000)
    a = buckets("exp", "a", ids)
    # different salt or stage: independent buckets (agreement ~ 1/10000)
    assert (a == buckets("exp", "b", ids)).mean() < 0.002
    assert (a == buckets("layer", "a", ids)).mean() < 0.002


def _uniformity_p(n: int, *, text: bool = True) -> float:
    ids = string_ids(n) if text else np.arange(n)
    counts = np.bincount(buckets("exp", "uniformity", ids), minlength=BUCKETS)
    return float(stats.chisquare(counts).pvalue)


def test_buckets_are_uniform_on_1m_sequential_ids() -> None:
    # Sequential customer numbers are the hard case for FNV alone; 1M ids,
    # 100 per bucket: the chi-square test rejects a 5% skew of one bucket class.
    assert _uniformity_p(1_000_000) > 1e-4


@pytest.mark.slow
def test_buckets_are_uniform_on_10m_ids() -> None:
    # integer ids (hashed as their decimal text) are quicker to build than strings
    assert _uniformity_p(10_000_000, text=False) > 1e-4


def test_low_and_high_buckets_are_uniform_within_prefixes() -> None:
    # Each block of 1,000 sequential ids spreads over the 10 deciles evenly.
    ids = string_ids(200_000)
    dec = buckets("exp", "blocks", ids) // 1000
    table = np.bincount((np.arange(ids.size) // 1000) * 10 + dec, minlength=2000)
    res = stats.chi2_contingency(table.reshape(200, 10))
    assert res.pvalue > 1e-4


def test_rejects_bad_ids() -> None:
    with pytest.raises(
        DataValidationError, match=r"unit_ids\[1\]: expected a str or int id, got None"
    ):
        buckets("exp", "s", np.array(["a", None], dtype=object))
    with pytest.raises(
        DataValidationError, match=r"expected a 1-D array of ids, got shape \(2, 2\)"
    ):
        buckets("exp", "s", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(
        DataValidationError, match=r"expected str or integer ids, got dtype float64"
    ):
        buckets("exp", "s", np.array([1.5, 2.0]))
