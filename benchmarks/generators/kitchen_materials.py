"""The kitchen generator's surfaces: :class:`Material` (an albedo function with Blinn-Phong specular
terms) and the procedural textures that give it its colour: flat and speckled paint, wood grain, woven
cloth, glazed tiles, printed can labels, brushed metal, and the inside/outside coating of pans and pots.

Each texture is a function of world points and normals (``(p [N, 3], n [N, 3]) -> linear RGB [N, 3]``);
:func:`_local` evaluates one in an object's own frame, so that the texture moves with the object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .common import fbm, value_noise


@dataclass
class Material:
    albedo: Callable[[np.ndarray, np.ndarray], np.ndarray]
    """(world points [N, 3], normals [N, 3]) -> linear RGB [N, 3]."""
    spec: float = 0.05
    shininess: float = 16.0
    smooth: bool = True
    """Interpolated vertex normals (curved parts); False: the triangle's normal (boxes)."""


# ------------------------------------------------------------------------------------------ textures
def flat(c) -> Callable:
    c = np.asarray(c, float)
    return lambda p, n: np.broadcast_to(c, (len(p), 3)).copy()


def speckled(c, seed: int, amount: float = 0.12, freq: float = 90.0) -> Callable:
    c = np.asarray(c, float)
    return lambda p, n: c * (1 - amount + 2 * amount * fbm(p, freq, seed, 3))[:, None]


def wood(c_light, c_dark, seed: int, axis: int = 0, ring_freq: float = 38.0) -> Callable:
    """Grain: rings around an axis, distorted by noise; lines run along ``axis``."""
    a, b = np.asarray(c_light, float), np.asarray(c_dark, float)

    def f(p, n):
        q = p.copy()
        q[:, axis] *= 0.08  # stretched along the grain
        r = np.hypot(*(q[:, k] for k in range(3) if k != axis))
        g = (r * ring_freq + 4.0 * fbm(q, 6.0, seed, 3)) % 1.0
        g = np.clip(np.abs(g - 0.5) * 2.6 - 0.3, 0, 1) ** 1.5
        fine = value_noise(q * np.array([1, 14, 14]) if axis == 0 else q, 300.0, seed + 7)
        m = np.clip(g * 0.8 + 0.2 * fine, 0, 1)[:, None]
        return a * (1 - m) + b * m

    return f


def cloth(c1, c2, seed: int, pitch: float = 0.004) -> Callable:
    """A woven check: two thread colours, a twill-like weave and fibre noise."""
    a, b = np.asarray(c1, float), np.asarray(c2, float)

    def f(p, n):
        u, v = p[:, 0] / pitch, p[:, 1] / pitch
        warp = (np.floor(u / 6) % 2).astype(bool)
        weft = (np.floor(v / 6) % 2).astype(bool)
        over = ((np.floor(u) + np.floor(v)) % 2).astype(bool)
        band = np.where(over, warp, weft)
        base = np.where(band[:, None], a, 0.5 * (a + b))
        base = np.where((warp & weft)[:, None], b, base)
        return base * (0.85 + 0.3 * value_noise(p, 900.0, seed))[:, None]

    return f


def tiles(c_tile, c_grout, size: float, seed: int, vertical: bool = False) -> Callable:
    ct, cg = np.asarray(c_tile, float), np.asarray(c_grout, float)

    def f(p, n):
        u = p[:, 0] + p[:, 1] if vertical else p[:, 0]
        v = p[:, 2] if vertical else p[:, 1]
        fu, fv = (u / size) % 1.0, (v / size) % 1.0
        grout = (np.minimum(fu, 1 - fu) < 0.04) | (np.minimum(fv, 1 - fv) < 0.04)
        iu, iv = np.floor(u / size), np.floor(v / size)
        tint = 0.9 + 0.2 * value_noise(np.stack([iu, iv, iu * 0], 1), 1.0, seed)
        return np.where(grout[:, None], cg, ct * tint[:, None] * (0.95 + 0.1 * fbm(p, 40.0, seed + 1, 2))[:, None])

    return f


def label(c_band, c_base, seed: int, z0: float, z1: float) -> Callable:
    """A printed can label: a coloured band with text-like blocks, metal above and below."""
    cb, c0 = np.asarray(c_band, float), np.asarray(c_base, float)
    metal = np.array([0.72, 0.72, 0.74])

    def f(p, n):
        z = p[:, 2]
        ang = np.arctan2(p[:, 1], p[:, 0])
        inband = (z > z0 + 0.15 * (z1 - z0)) & (z < z0 + 0.85 * (z1 - z0))
        cell = np.stack([np.floor(ang / 0.25), np.floor(z / 0.008), 0 * z], 1)
        text = (value_noise(cell, 1.0, seed) > 0.55) & (np.abs(z - z0 - 0.5 * (z1 - z0)) < 0.2 * (z1 - z0))
        col = np.where(inband[:, None], np.where(text[:, None], c0, cb), c0)
        top = n[:, 2] > 0.7
        col = np.where(((z > z1 - 0.004) | top | (z < z0 + 0.004))[:, None], metal, col)
        return col

    return f


def metal(c, seed: int) -> Callable:
    c = np.asarray(c, float)
    return lambda p, n: c * (0.85 + 0.3 * value_noise(p * np.array([1.0, 1.0, 40.0]), 200.0, seed))[:, None]


def inside_outside(c_in, c_out, seed: int, cx: float, cy: float) -> Callable:
    """Pans and pots: a dark coating where the normal points to the vessel's axis or up (inside), enamel
    outside; both speckled."""
    ci, co = np.asarray(c_in, float), np.asarray(c_out, float)

    def f(p, n):
        radial = np.stack([p[:, 0] - cx, p[:, 1] - cy], 1)
        inward = np.sum(radial * n[:, :2], axis=1) < 0
        inner = inward | (n[:, 2] > 0.6)
        col = np.where(inner[:, None], ci, co)
        return col * (0.88 + 0.24 * value_noise(p, 160.0, seed))[:, None]

    return f


def _local(albedo: Callable, R: np.ndarray, t: np.ndarray) -> Callable:
    """``albedo`` evaluated in an object's frame (world = R @ local + t)."""
    R, t = np.asarray(R, float), np.asarray(t, float)
    return lambda p, n: albedo((p - t) @ R, n @ R)
