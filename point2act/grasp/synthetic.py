"""Synthetic tabletop scenes for tests and benchmarks (numpy only).

A table plane (z = 0), a mug (open cup: outer wall, inner wall, rim, inner
bottom) with a torus handle on its +x side, and a box distractor. Surface
points stand in for Gaussian centres; the handle gets high relevancy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

__all__ = ["TabletopSampling", "tabletop_scene", "LABELS"]

LABELS = {"table": 0, "mug": 1, "handle": 2, "box": 3, "floater": 4}


def _cyl(rng, n, r, z: Tuple[float, float], centre: Tuple[float, float] = (0.0, 0.0)):
    """``n`` points on the side of a vertical cylinder of radius ``r`` from ``z[0]`` to ``z[1]``, its axis through
    ``centre`` (x, y)."""
    cx, cy = centre
    a = rng.uniform(0, 2 * np.pi, n)
    z = rng.uniform(z[0], z[1], n)
    return np.c_[cx + r * np.cos(a), cy + r * np.sin(a), z]


def _disk(rng, n, r: Tuple[float, float], z, centre: Tuple[float, float] = (0.0, 0.0)):
    """``n`` points on a horizontal annulus at height ``z``, radii ``r[0]`` to ``r[1]``, centred at ``centre``
    (x, y)."""
    cx, cy = centre
    r0, r1 = r
    a = rng.uniform(0, 2 * np.pi, n)
    r = np.sqrt(rng.uniform(r0 * r0, r1 * r1, n))
    return np.c_[cx + r * np.cos(a), cy + r * np.sin(a), np.full(n, z)]


def _torus_xz(rng, n, R, r, center):
    """Torus with its axis along y (the ring lies in the xz-plane), area-uniform."""
    out = []
    need = n
    while need > 0:
        m = 2 * need + 16
        u = rng.uniform(0, 2 * np.pi, m)  # around the ring
        w = rng.uniform(0, 2 * np.pi, m)  # around the tube
        acc = rng.uniform(0, 1, m) < (R + r * np.cos(w)) / (R + r)
        u, w = u[acc], w[acc]
        ring = R + r * np.cos(w)
        p = np.c_[ring * np.cos(u), r * np.sin(w), ring * np.sin(u)] + center
        out.append(p)
        need -= len(p)
    return np.concatenate(out)[:n]


def _box_surface(rng, n, lo, hi, skip_bottom=True):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    s = hi - lo
    faces = []  # (axis, value)
    areas = []
    for ax in range(3):
        o = [i for i in range(3) if i != ax]
        for side in (0, 1):
            if skip_bottom and ax == 2 and side == 0:
                continue
            faces.append((ax, side))
            areas.append(s[o[0]] * s[o[1]])
    areas = np.asarray(areas)
    k = rng.multinomial(n, areas / areas.sum())
    pts = []
    for (ax, side), m in zip(faces, k):
        p = lo + rng.uniform(0, 1, (m, 3)) * s
        p[:, ax] = hi[ax] if side else lo[ax]
        pts.append(p)
    return np.concatenate(pts)


@dataclass(frozen=True)
class TabletopSampling:
    """How densely and how cleanly :func:`tabletop_scene` samples its surfaces (metric)."""

    object_density: float = 250_000.0
    """Points per m² on the mug, its handle and the box."""
    table_density: float = 100_000.0
    """Points per m² on the table."""
    noise: float = 0.0005
    """Standard deviation of the Gaussian noise added to every surface point (m)."""
    num_floaters: int = 300
    """Low-opacity points in the air above the table, with random relevancy."""


def tabletop_scene(
    seed: int = 0,
    sampling: TabletopSampling = TabletopSampling(),
    table_size: float = 0.4,
    scale: float = 1.0,
) -> Dict[str, np.ndarray]:
    """A metric tabletop (then multiplied by ``scale``), sampled as ``sampling`` says; the table is a square of
    side ``table_size`` (m).

    Returns ``means, opacities, relevancy, scales, labels, camera_centers`` and
    ``handle_centroid`` (mean of the true handle surface points) and geometry
    constants (``mug_radius``, ``mug_height``, ``handle_R``, ``handle_r``,
    ``handle_center``)."""
    rng = np.random.default_rng(seed)
    object_density, table_density = sampling.object_density, sampling.table_density
    noise, num_floaters = sampling.noise, sampling.num_floaters
    mug_r, mug_h, wall, bottom = 0.04, 0.09, 0.004, 0.006
    hR, hr = 0.028, 0.006
    hc = np.array([mug_r, 0.0, 0.045])

    def cnt(area, dens=object_density):
        return max(1, int(round(area * dens)))

    parts, labels = [], []

    def add(p, lab):
        parts.append(p)
        labels.append(np.full(len(p), LABELS[lab]))

    # table, minus the footprints of the objects
    t = _disk(rng, 0, (0, 1), 0)  # placeholder for shape
    t = np.c_[rng.uniform(-table_size / 2, table_size / 2, (cnt(table_size**2, table_density), 2)), np.zeros(cnt(table_size**2, table_density))]
    box_lo, box_hi = np.array([-0.15, 0.05, 0.0]), np.array([-0.09, 0.11, 0.08])
    inside_mug = np.hypot(t[:, 0], t[:, 1]) < mug_r
    inside_box = np.all((t[:, :2] > box_lo[:2]) & (t[:, :2] < box_hi[:2]), axis=1)
    add(t[~inside_mug & ~inside_box], "table")
    # mug: outer wall, inner wall, rim, inner bottom
    add(_cyl(rng, cnt(2 * np.pi * mug_r * mug_h), mug_r, (0.0, mug_h)), "mug")
    add(_cyl(rng, cnt(2 * np.pi * (mug_r - wall) * (mug_h - bottom)), mug_r - wall, (bottom, mug_h)), "mug")
    add(_disk(rng, cnt(np.pi * (mug_r**2 - (mug_r - wall) ** 2)), (mug_r - wall, mug_r), mug_h), "mug")
    add(_disk(rng, cnt(np.pi * (mug_r - wall) ** 2), (0, mug_r - wall), bottom), "mug")
    # handle: the part of the torus outside the mug
    th = _torus_xz(rng, cnt(4 * np.pi**2 * hR * hr), hR, hr, hc)
    add(th[np.hypot(th[:, 0], th[:, 1]) > mug_r], "handle")
    # box distractor (no bottom face)
    add(_box_surface(rng, cnt(2 * 0.06 * 0.06 + 4 * 0.06 * 0.08), box_lo, box_hi), "box")
    means = np.concatenate(parts)
    lab = np.concatenate(labels)
    true_handle = means[lab == LABELS["handle"]].copy()
    means = means + rng.normal(0, noise, means.shape)
    # floaters: low opacity, random relevancy
    fl = np.c_[rng.uniform(-0.2, 0.2, (num_floaters, 2)), rng.uniform(0.0, 0.25, num_floaters)]
    means = np.concatenate([means, fl])
    lab = np.concatenate([lab, np.full(num_floaters, LABELS["floater"])])
    n = len(means)
    opac = rng.uniform(0.6, 1.0, n)
    opac[lab == LABELS["floater"]] = rng.uniform(0.0, 0.08, num_floaters)
    rel = rng.uniform(0.0, 0.2, n)
    hmask = lab == LABELS["handle"]
    rel[hmask] = rng.uniform(0.85, 1.0, hmask.sum())
    rel[lab == LABELS["floater"]] = rng.uniform(0, 1, num_floaters)
    scales = np.exp(rng.normal(np.log(0.002), 0.3, (n, 3)))
    az = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    el = np.where(np.arange(24) % 2 == 0, np.radians(35), np.radians(60))
    cams = 0.6 * np.c_[np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)]
    return {
        "means": means * scale,
        "opacities": opac,
        "relevancy": rel,
        "scales": scales * scale,
        "labels": lab,
        "camera_centers": cams * scale,
        "handle_centroid": true_handle.mean(0) * scale,
        "handle_center": hc * scale,
        "handle_R": hR * scale,
        "handle_r": hr * scale,
        "mug_radius": mug_r * scale,
        "mug_height": mug_h * scale,
    }
