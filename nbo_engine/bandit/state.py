"""The bytes format of a policy's state: versioned, explicit, no pickle.

A state is an uncompressed ``.npz`` archive (``np.savez`` into memory) with

* ``header``: UTF-8 JSON as a ``uint8`` array::

      {"format": "nbo_engine.bandit", "version": 1, "policy": "LinUCB",
       "params": {...constructor arguments...},
       "clock": {"decisions": 1200, "decayed_at": 1000},
       "rng": {...numpy bit-generator state...}}

* one float64 array per learned statistic (``gram``, ``xy``, ``yy``,
  ``count`` for the linear policies; ``mean``, ``precision``, ``count`` for
  the logistic one), shapes given in each policy's docstring.

Reading uses ``np.load(..., allow_pickle=False)``: object arrays are refused,
so loading bytes never runs code. A state written by another policy class, of
another format version, or not written by :func:`encode_state` at all is
rejected with :class:`~nbo_engine.errors.StateFormatError`.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.errors import StateFormatError

__all__ = [
    "FORMAT",
    "VERSION",
    "DecodedState",
    "decode_state",
    "encode_state",
    "generator_from_state",
]

FORMAT = "nbo_engine.bandit"
#: Bump when the meaning or layout of the arrays or header changes.
VERSION = 1


@dataclass(frozen=True)
class DecodedState:
    """What :func:`decode_state` read, checked only for format and version."""

    policy: str
    params: dict[str, Any]
    clock: dict[str, int]
    rng: dict[str, Any]
    arrays: dict[str, NDArray[np.float64]]


def _jsonable(o: object) -> object:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.integer):
        return int(o)
    raise TypeError(f"cannot serialise {type(o).__name__}")


def encode_state(
    policy: str,
    params: dict[str, Any],
    clock: dict[str, int],
    rng: np.random.Generator,
    arrays: dict[str, NDArray[np.float64]],
) -> bytes:
    """Serialise a policy's parameters, clock, generator state and arrays."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "policy": policy,
        "params": params,
        "clock": clock,
        "rng": rng.bit_generator.state,
    }
    raw = json.dumps(header, default=_jsonable, sort_keys=True).encode()
    buf = io.BytesIO()
    members: dict[str, Any] = {"header": np.frombuffer(raw, dtype=np.uint8), **arrays}
    np.savez(buf, **members)
    return buf.getvalue()


def decode_state(data: bytes) -> DecodedState:
    """Read bytes written by :func:`encode_state`; check format and version."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise StateFormatError(
            f"bandit state: expected bytes from to_bytes(), got {type(data).__name__}"
        )
    blob = bytes(data)
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            files = list(z.files)
            if "header" not in files:
                raise StateFormatError(
                    "bandit state: the archive has no 'header' entry; expected "
                    f"bytes written by to_bytes(), got members {files}"
                )
            header = json.loads(z["header"].tobytes().decode())
            arrays = {f: np.asarray(z[f]) for f in files if f != "header"}
    except StateFormatError:
        raise
    except (
        OSError,
        ValueError,
        EOFError,
        zipfile.BadZipFile,
        UnicodeDecodeError,
    ) as exc:
        raise StateFormatError(
            f"bandit state: not a state written by to_bytes() ({len(blob)} bytes "
            f"starting {blob[:8]!r}): {exc}"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else header
        raise StateFormatError(f"bandit state: format is {got!r}, expected {FORMAT!r}")
    if header.get("version") != VERSION:
        raise StateFormatError(
            f"bandit state: format version {header.get('version')!r} is not "
            f"supported; this release reads version {VERSION}"
        )
    for f, a in arrays.items():
        if a.dtype != np.float64:
            raise StateFormatError(
                f"bandit state: array {f!r} has dtype {a.dtype}, expected float64"
            )
    return DecodedState(
        policy=str(header["policy"]),
        params=dict(header["params"]),
        clock=dict(header["clock"]),
        rng=dict(header["rng"]),
        arrays=arrays,
    )


def generator_from_state(state: dict[str, Any]) -> np.random.Generator:
    """A generator positioned exactly where the serialised one was."""
    name = state.get("bit_generator")
    cls = getattr(np.random, str(name), None)
    if (
        cls is None
        or not isinstance(cls, type)
        or not issubclass(cls, np.random.BitGenerator)
    ):
        raise StateFormatError(f"bandit state: unknown random bit generator {name!r}")
    bg = cls()
    bg.state = state
    return np.random.Generator(bg)
