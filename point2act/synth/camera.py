"""Pinhole cameras on a hemisphere around the mug.

Conventions (the same as nerfstudio's transforms.json):

* ``c2w`` is a (4, 4) camera-to-world matrix in the OpenGL convention: camera x right,
  y up, the camera looks along its -z axis.
* Pixel coordinates: origin at the top-left image corner, x right, y down; the centre of
  pixel (row i, col j) is (j + 0.5, i + 0.5).
* Depth is z-depth: the distance along the camera's viewing axis (not the ray length).

Projection of a world point X: ``p = inv(c2w) @ [X, 1]``; ``z = -p_z`` (z-depth);
``x = fx * p_x / z + cx``; ``y = -fy * p_y / z + cy``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from point2act.synth.config import SynthConfig

GOLDEN: float = 0.6180339887498949


@dataclass
class Intrinsics:
    """Pinhole intrinsics in pixels (no distortion)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int


def intrinsics(config: SynthConfig) -> Intrinsics:
    """Square-pixel pinhole with the configured horizontal fov, principal point at the centre."""
    fx = 0.5 * config.width / math.tan(math.radians(config.fov_x_deg) / 2.0)
    return Intrinsics(fx, fx, config.width / 2.0, config.height / 2.0, config.width, config.height)


def look_at_c2w(eye: np.ndarray, target: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """(4, 4) OpenGL camera-to-world for a camera at ``eye`` (3,) looking at ``target`` (3,)."""
    up = np.array([0.0, 0.0, 1.0]) if up is None else np.asarray(up, dtype=np.float64)
    fwd = np.asarray(target, dtype=np.float64) - np.asarray(eye, dtype=np.float64)
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, up)
    right /= np.linalg.norm(right)
    cam_up = np.cross(right, fwd)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, cam_up, -fwd, eye
    return c2w


def sample_cameras(config: SynthConfig, look_center: np.ndarray) -> np.ndarray:
    """``num_views`` OpenGL c2w matrices (N, 4, 4) on a hemisphere around ``look_center``.

    Azimuths are evenly spread over 360 degrees (seeded start and jitter); elevations follow
    a golden-ratio sequence over [elevation_min, elevation_max] so that neighbouring views
    differ in height; radii are uniform in [radius_min, radius_max]. Views on the far side
    of the mug from the handle at low elevation see the handle hidden by the mug body.
    """
    rng = np.random.default_rng([config.seed, 0xCA4E])
    n = config.num_views
    a0 = rng.uniform(0.0, 2 * np.pi)
    u0 = rng.uniform(0.0, 1.0)
    jit = math.radians(config.azimuth_jitter_deg)
    e_lo, e_hi = math.radians(config.elevation_min_deg), math.radians(config.elevation_max_deg)
    out = np.zeros((n, 4, 4))
    for i in range(n):
        az = a0 + 2 * np.pi * i / n + rng.uniform(-jit, jit)
        el = e_lo + (e_hi - e_lo) * ((u0 + i * GOLDEN) % 1.0)
        rad = rng.uniform(config.radius_min, config.radius_max)
        target = look_center + rng.uniform(-config.look_at_jitter, config.look_at_jitter, 3)
        eye = target + rad * np.array(
            [math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)]
        )
        out[i] = look_at_c2w(eye, target)
    return out


def camera_rays(k: Intrinsics, c2w: np.ndarray) -> np.ndarray:
    """Rays through all pixel centres, (H, W, 6) float32 = [origin xyz, direction xyz].

    Directions are NOT normalised: their component along the viewing axis is 1, so the ray
    parameter of a hit equals its z-depth.
    """
    j, i = np.meshgrid(np.arange(k.width) + 0.5, np.arange(k.height) + 0.5)  # (H, W)
    d_cam = np.stack([(j - k.cx) / k.fx, -(i - k.cy) / k.fy, -np.ones_like(j)], axis=-1)
    d_world = d_cam @ c2w[:3, :3].T  # (H, W, 3)
    origin = np.broadcast_to(c2w[:3, 3], d_world.shape)
    return np.concatenate([origin, d_world], axis=-1).astype(np.float32)


def project(points: np.ndarray, k: Intrinsics, c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points (N, 3) -> pixel coords (N, 2) [x, y] and z-depth (N,)."""
    w2c = np.linalg.inv(c2w)
    p = points @ w2c[:3, :3].T + w2c[:3, 3]
    z = -p[:, 2]
    xy = np.stack([k.fx * p[:, 0] / z + k.cx, -k.fy * p[:, 1] / z + k.cy], axis=1)
    return xy, z


def unproject(xy: np.ndarray, depth: np.ndarray, k: Intrinsics, c2w: np.ndarray) -> np.ndarray:
    """Pixel coords (N, 2) and z-depth (N,) -> world points (N, 3). Inverse of :func:`project`."""
    xy = np.atleast_2d(xy)
    depth = np.atleast_1d(depth)
    p = np.stack(
        [(xy[:, 0] - k.cx) / k.fx * depth, -(xy[:, 1] - k.cy) / k.fy * depth, -depth], axis=1
    )
    return p @ c2w[:3, :3].T + c2w[:3, 3]
