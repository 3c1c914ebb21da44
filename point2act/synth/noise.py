"""Deterministic procedural noise (integer-hash value noise).

Used to give every surface a position-dependent colour variation, so a reconstruction
has features to lock on to. Pure functions of (position, seed): no global RNG state.

:func:`fbm3` runs a C++ kernel (``csrc/fbm3.cpp``, a pybind11 extension built on first use like the grasp
head's): the bits of its numpy reference :func:`_fbm3_numpy`, which runs where the kernel cannot be built
(``tests/synth/test_noise.py`` compares them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from point2act import _cpp

EXTENSION = _cpp.PybindExtension("synth", Path(__file__).resolve().parent / "csrc", "point2act synth kernels")

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_P = (np.uint64(73856093), np.uint64(19349663), np.uint64(83492791))


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array."""
    h = h ^ (h >> np.uint64(30))
    h = h * _M2
    h = h ^ (h >> np.uint64(27))
    h = h * _M3
    return h ^ (h >> np.uint64(31))


def hash01(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    """Hash integer lattice coordinates (any shape, int64) to floats in [0, 1)."""
    with np.errstate(over="ignore"):
        h = (
            ix.astype(np.int64).view(np.uint64) * _P[0]
            ^ iy.astype(np.int64).view(np.uint64) * _P[1]
            ^ iz.astype(np.int64).view(np.uint64) * _P[2]
            ^ (np.uint64(seed & 0xFFFFFFFF) * _M1)
        )
        h = _mix(h)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def value_noise3(p: np.ndarray, seed: int = 0) -> np.ndarray:
    """Smooth value noise in [0, 1] at points ``p`` (N, 3), lattice spacing 1. Returns (N,).

    The eight corners' hashes are :func:`hash01`'s, from each axis's two terms ``(b + d) * P`` computed once
    (uint64 products wrap, so they equal the per-corner ones bit for bit), and the corners are summed in the
    same order and grouping: the same bits as one :func:`hash01` call per corner, in a third of the time."""
    p = np.asarray(p, dtype=np.float64)
    base = np.floor(p)
    f = p - base
    b = base.astype(np.int64)
    w = f * f * (3.0 - 2.0 * f)  # smoothstep, (N, 3)
    out = np.zeros(p.shape[0], dtype=np.float64)
    with np.errstate(over="ignore"):
        terms = [[(b[:, a] + d).view(np.uint64) * _P[a] for d in (0, 1)] for a in range(3)]
        salt = np.uint64(seed & 0xFFFFFFFF) * _M1
        for dx in (0, 1):
            wx = w[:, 0] if dx else 1.0 - w[:, 0]
            for dy in (0, 1):
                wy = w[:, 1] if dy else 1.0 - w[:, 1]
                hxy = terms[0][dx] ^ terms[1][dy]
                wxy = wx * wy
                for dz in (0, 1):
                    wz = w[:, 2] if dz else 1.0 - w[:, 2]
                    h = _mix(hxy ^ terms[2][dz] ^ salt)
                    out += wxy * wz * ((h >> np.uint64(11)).astype(np.float64) / float(1 << 53))
    return out


def fbm3(p: np.ndarray, seed: int = 0, octaves: int = 3) -> np.ndarray:
    """Fractal sum of :func:`value_noise3` octaves, normalised to [0, 1]. ``p`` (N, 3) -> (N,).

    The C++ kernel where it builds, else :func:`_fbm3_numpy`: the same bits."""
    try:
        op = EXTENSION.load().fbm3
    except Exception:  # pragma: no cover - no compiler
        return _fbm3_numpy(p, seed, octaves)
    return op(np.ascontiguousarray(p, dtype=np.float64).reshape(-1, 3), int(seed), int(octaves))


def _fbm3_numpy(p: np.ndarray, seed: int = 0, octaves: int = 3) -> np.ndarray:
    """:func:`fbm3` in numpy: the kernel's reference."""
    total = np.zeros(np.asarray(p).shape[0], dtype=np.float64)
    amp, norm, freq = 1.0, 0.0, 1.0
    for o in range(octaves):
        total += amp * value_noise3(np.asarray(p) * freq, seed + 101 * o)
        norm += amp
        amp *= 0.5
        freq *= 2.03
    return total / norm
