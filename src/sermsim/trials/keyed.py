"""Random draws keyed by (seed, arm, patient index, stream): counter-based, so that a draw
depends only on its key, never on how many people came before or how a run is sharded.

Each uniform is a SplitMix64 hash of the key (Steele, Lea & Flood, OOPSLA 2014: the
finaliser of Java's SplittableRandom), mapped to (0, 1) with 53 bits.

>>> a = uniforms(7, "placebo", np.arange(5), "age")
>>> b = uniforms(7, "placebo", np.arange(2, 5), "age")
>>> bool(np.all(a[2:] == b))
True
"""

from __future__ import annotations

import zlib

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def name_key(name: str) -> int:
    """A stable 32-bit key for a name (CRC-32): arms and streams keyed by name, not order."""
    return zlib.crc32(name.encode("utf-8"))


def uniforms(seed: int, arm: str, index: NDArray[np.int64], stream: str) -> NDArray[np.float64]:
    """One uniform in (0, 1) per index, for this seed, arm and stream."""
    with np.errstate(over="ignore"):
        x = _mix(np.full(len(index), np.uint64(seed % 2**64), dtype=np.uint64))
        x = _mix(x ^ np.uint64(name_key(arm)))
        x = _mix(x ^ np.uint64(name_key(stream)))
        x = _mix(x ^ np.asarray(index, dtype=np.uint64))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53


def normals(seed: int, arm: str, index: NDArray[np.int64], stream: str) -> NDArray[np.float64]:
    return np.asarray(ndtri(uniforms(seed, arm, index, stream)), dtype=np.float64)
