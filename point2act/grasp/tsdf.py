"""A truncated signed distance cube fused from depth maps, and its surface points (the zero crossings).

The fused surface the grasps are planned on (:func:`point2act.fusion.tsdf_fuse`) is the zero level of a TSDF:
each voxel of a cube averages, over the views that see it in front of (or less than the truncation distance
behind) their measured depth, the signed distance along the ray to that depth, divided by the truncation
distance and clipped at 1. Its surface points are the zero crossings between neighbouring voxels along each
axis. This is the scheme of open3d's ``UniformTSDFVolume`` (``integrate``, then ``extract_point_cloud``),
computed the same way in float32 (``tests/grasp/test_tsdf.py``: the same points in the same order), without
importing open3d, whose import alone takes about half a second of every ``point2act export`` and
``point2act query``.

:func:`tsdf_points` runs the C++ kernel (``csrc/tsdf_fuse.cpp``); :func:`tsdf_points_reference` is its numpy
reference, whose float32 expressions the kernel evaluates in the same order: equal answers.

Cameras follow open3d here: a view's intrinsics ``fx, fy, cx, cy`` put pixel centres at integer coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from point2act.grasp import _kernel

__all__ = ["TsdfCube", "tsdf_points", "tsdf_points_reference"]

SURFACE_TSDF = 0.98
"""A voxel takes part in a zero crossing when its normalised distance lies in [-0.98, 0.98): the voxels at the
truncation distance (1 in front, nothing behind) are not measurements of the surface's position."""


@dataclass(frozen=True)
class TsdfCube:
    """The cube: ``res`` voxels per side of length ``voxel``, its corner at ``origin``, truncation ``trunc``."""

    origin: np.ndarray  # [3] float64
    """The cube's corner (world units, the views' frame)."""
    voxel: float
    """The voxels' side."""
    res: int
    """Voxels per side."""
    trunc: float
    """The truncation distance (world units)."""


def _check(depths: np.ndarray, E: np.ndarray, intr: np.ndarray):
    d = np.ascontiguousarray(depths, dtype=np.float32)
    if d.ndim != 3:
        raise ValueError(f"tsdf_points: depths must be [C, H, W], got {d.shape}")
    C = d.shape[0]
    E32 = np.ascontiguousarray(np.asarray(E, dtype=np.float64).reshape(C, 4, 4), dtype=np.float32)
    i32 = np.ascontiguousarray(np.asarray(intr, dtype=np.float64).reshape(C, 4), dtype=np.float32)
    return d, E32, i32


def tsdf_points(
    depths: np.ndarray,  # [C, H, W] z-depth, 0: no measurement
    E: np.ndarray,  # [C, 4, 4] world-to-camera
    intr: np.ndarray,  # [C, 4] fx, fy, cx, cy (pixel centres at integer coordinates)
    cube: TsdfCube,
) -> np.ndarray:  # [M, 3] float64
    """The zero crossings of the TSDF that ``depths`` fuse into ``cube`` (module docstring), in the order of
    their first voxel (x, then y, then z) and their axis. The C++ kernel; :func:`tsdf_points_reference` where it
    cannot be built."""
    d, E32, i32 = _check(depths, E, intr)
    if d.shape[0] == 0:
        return np.zeros((0, 3))
    kernel = _kernel.kernel("tsdf_fuse")
    if kernel is None:  # pragma: no cover - no compiler: the reference gives the same answer, slower
        return tsdf_points_reference(d, E32, i32, cube)
    origin = np.ascontiguousarray(np.asarray(cube.origin, dtype=np.float64).reshape(3))
    return kernel(d, E32, i32, origin, float(cube.voxel), int(cube.res), float(cube.trunc), -1)


def tsdf_volume_reference(depths: np.ndarray, E: np.ndarray, intr: np.ndarray,
                          cube: TsdfCube):  # -> tsdf [res, res, res] float32, weight [res, res, res] float32
    """The cube's normalised signed distances and weights (numpy, float32, every voxel at once per view)."""
    d, E32, i32 = _check(depths, E, intr)
    C, H, W = d.shape
    res, f = int(cube.res), np.float32
    vl = f(cube.voxel)
    half = vl * f(0.5)
    trunc = f(cube.trunc)
    trunc_inv = f(1.0) / trunc
    o = np.asarray(cube.origin, dtype=np.float64).reshape(3)
    steps = half + vl * np.arange(res, dtype=np.float32)  # float32
    p0 = (steps.astype(np.float64) + o[0]).astype(np.float32)[:, None]  # [res, 1]
    p1 = (steps.astype(np.float64) + o[1]).astype(np.float32)[None, :]  # [1, res]
    p2 = f(np.float64(half) + o[2])
    tsdf = np.zeros((res, res, res), np.float32)
    weight = np.zeros((res, res, res), np.float32)
    safe_w, safe_h = f(W) - f(0.0001), f(H) - f(0.0001)
    for c in range(C):
        e = E32[c]
        fx, fy, cx, cy = (f(v) for v in i32[c])
        xx = (np.arange(W, dtype=np.float32) - cx) * (f(1.0) / fx)
        yy = (np.arange(H, dtype=np.float32) - cy) * (f(1.0) / fy)
        cam = []
        for r in range(3):
            start = ((e[r, 0] * p0 + e[r, 1] * p1) + e[r, 2] * p2) + e[r, 3]  # [res, res]
            seq = np.empty((res, res, res), np.float32)
            seq[:, :, 0] = start
            seq[:, :, 1:] = e[r, 2] * vl
            cam.append(np.cumsum(seq, axis=2, dtype=np.float32))  # the kernel's running sum along z
        c0, c1, c2 = cam
        front = c2 > 0
        z = np.where(front, c2, f(1.0))
        u_f = (c0 * fx) / z + cx + f(0.5)
        v_f = (c1 * fy) / z + cy + f(0.5)
        ok = front & (u_f >= f(0.0001)) & (u_f < safe_w) & (v_f >= f(0.0001)) & (v_f < safe_h)
        sel = np.flatnonzero(ok)
        u = u_f.reshape(-1)[sel].astype(np.int64)
        v = v_f.reshape(-1)[sel].astype(np.int64)
        dd = d[c][v, u]
        meas = dd > 0
        sel, u, v, dd = sel[meas], u[meas], v[meas], dd[meas]
        a, b = xx[u], yy[v]
        sdf = (dd - c2.reshape(-1)[sel]) * np.sqrt((a * a + b * b) + f(1.0))
        near = sdf > -trunc
        sel, sdf = sel[near], sdf[near]
        t = np.minimum(f(1.0), sdf * trunc_inv)
        tf, wf = tsdf.reshape(-1), weight.reshape(-1)
        tf[sel] = (tf[sel] * wf[sel] + t) / (wf[sel] + f(1.0))
        wf[sel] += f(1.0)
    return tsdf, weight


def tsdf_points_reference(depths: np.ndarray, E: np.ndarray, intr: np.ndarray, cube: TsdfCube) -> np.ndarray:
    """:func:`tsdf_points` in numpy (the kernel's reference)."""
    tsdf, weight = tsdf_volume_reference(depths, E, intr, cube)
    res = int(cube.res)
    vl = float(cube.voxel)
    half = vl * 0.5
    o = np.asarray(cube.origin, dtype=np.float64).reshape(3)
    lo, hi = np.float32(-SURFACE_TSDF), np.float32(SURFACE_TSDF)
    valid = (weight != 0) & (tsdf < hi) & (tsdf >= lo)
    keys, pts = [], []
    inner = slice(1, res - 1)
    for a in range(3):
        # first voxels in 1..res-2 on every axis, the second one step along axis a, still below res-1
        first = [inner, inner, inner]
        second = [inner, inner, inner]
        first[a] = slice(1, res - 2)
        second[a] = slice(2, res - 1)
        f0, f1 = tsdf[tuple(first)], tsdf[tuple(second)]
        both = valid[tuple(first)] & valid[tuple(second)] & (f0 * f1 < 0)
        idx = np.argwhere(both) + 1  # [K, 3] the first voxel's index
        r0, r1 = np.abs(f0[both]), np.abs(f1[both])
        p = half + vl * idx.astype(np.float64)
        p0a = p[:, a].copy()
        p[:, a] = (p0a * r1.astype(np.float64) + (p0a + vl) * r0.astype(np.float64)) / (r0 + r1).astype(np.float64)
        pts.append(p + o)
        keys.append(((idx[:, 0] * res + idx[:, 1]) * res + idx[:, 2]) * 3 + a)
    key = np.concatenate(keys)
    order = np.argsort(key, kind="stable")
    return np.concatenate(pts)[order].reshape(-1, 3)
