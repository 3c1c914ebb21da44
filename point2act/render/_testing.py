"""Synthetic Gaussian scenes shared by the render tests and the benchmark."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict

import torch
from torch import Tensor


def look_at_viewmat(eye: Tensor, target: Tensor) -> Tensor:  # [3], [3] -> [4, 4]
    """World-to-camera matrix (OpenCV convention: +z forward, +y down)."""
    f = target - eye
    f = f / f.norm()
    up = torch.tensor([0.0, -1.0, 0.0], dtype=eye.dtype)
    if torch.abs(torch.dot(f, up)) > 0.99:
        up = torch.tensor([0.0, 0.0, 1.0], dtype=eye.dtype)
    r = torch.linalg.cross(up, f)
    r = r / r.norm()
    d = torch.linalg.cross(f, r)
    R = torch.stack([r, d, f], 0)  # rows: camera axes in world coords
    V = torch.eye(4, dtype=eye.dtype)
    V[:3, :3] = R
    V[:3, 3] = -R @ eye
    return V


@dataclass(frozen=True)
class SceneSpec:
    """The plain scene :func:`random_scene` draws: how many Gaussians of what size, seen by how many cameras of
    what image size, drawn from which seed in which dtype."""

    N: int
    """Number of Gaussians."""
    width: int
    """Image width of every camera, pixels."""
    height: int
    """Image height of every camera, pixels."""
    C: int = 1
    """Number of cameras."""
    seed: int = 0
    """Seed of the draws."""
    dtype: torch.dtype = torch.float64
    """Dtype of every tensor."""
    scale: float = 0.02
    """Median of the log-normal scales."""


@dataclass(frozen=True)
class SceneExtras:
    """What :func:`random_scene` adds to its plain scene: the colours' layout, and Gaussians placed
    where they must be culled."""

    sh_degree: int | None = None
    """Colours as spherical harmonics of this degree, (N, K, 3) with K = (degree + 1)^2; None: plain
    colours of ``n_channels`` channels."""
    n_channels: int = 3
    """Channels of the plain colours."""
    per_camera_colors: bool = False
    """One set of colours per camera: (C, N, ...)."""
    n_behind: int = 0
    """The first ``n_behind`` Gaussians lie behind the first camera."""
    n_offscreen: int = 0
    """The next ``n_offscreen`` Gaussians lie far outside its image."""


def random_scene(spec: SceneSpec, extras: SceneExtras = SceneExtras()) -> Dict[str, object]:
    """Splatfacto-like random scene of ``spec``: Gaussians in the cameras' view frusta.

    Depths in [2, 5], log-normal scales around ``spec.scale``, opacities in
    [0.1, 0.9], random rotations; focal length 0.8 * width. Optionally some
    Gaussians behind the first camera (``extras.n_behind``) or far outside its
    image (``extras.n_offscreen``), which must be culled (``radii == 0``).
    """
    N, width, height, C, seed, dtype, scale = (spec.N, spec.width, spec.height, spec.C, spec.seed, spec.dtype,
                                               spec.scale)
    sh_degree, n_channels, per_camera_colors = extras.sh_degree, extras.n_channels, extras.per_camera_colors
    n_behind, n_offscreen = extras.n_behind, extras.n_offscreen
    g = torch.Generator().manual_seed(seed)
    fx = 0.8 * width
    u = torch.rand(N, 3, generator=g, dtype=dtype)
    z = 2.0 + 3.0 * u[:, 2]
    x = (u[:, 0] - 0.5) * 1.1 * width / fx * z
    y = (u[:, 1] - 0.5) * 1.1 * height / fx * z
    means = torch.stack([x, y, z], -1)
    if n_behind:
        means[:n_behind, 2] = -1.0 - torch.rand(n_behind, generator=g, dtype=dtype)
    if n_offscreen:
        sl = slice(n_behind, n_behind + n_offscreen)
        means[sl, 0] = 50.0 + torch.rand(n_offscreen, generator=g, dtype=dtype)
    quats = torch.randn(N, 4, generator=g, dtype=dtype)
    scales = torch.exp(
        torch.randn(N, 3, generator=g, dtype=dtype) * 0.5 + math.log(scale)
    )
    opacities = 0.1 + 0.8 * torch.rand(N, generator=g, dtype=dtype)
    lead = (C, N) if per_camera_colors else (N,)
    if sh_degree is None:
        colors = torch.rand(*lead, n_channels, generator=g, dtype=dtype)
    else:
        K = (sh_degree + 1) ** 2
        colors = 0.3 * torch.randn(*lead, K, 3, generator=g, dtype=dtype)
    viewmats = [torch.eye(4, dtype=dtype)]
    for c in range(1, C):
        ang = 0.15 * c
        eye = torch.tensor([3.5 * math.sin(ang), 0.1 * c, 3.5 - 3.5 * math.cos(ang)], dtype=dtype)
        viewmats.append(look_at_viewmat(eye, torch.tensor([0.0, 0.0, 3.5], dtype=dtype)))
    viewmats = torch.stack(viewmats, 0)
    K = torch.tensor(
        [[fx, 0.0, width / 2.0], [0.0, fx, height / 2.0], [0.0, 0.0, 1.0]], dtype=dtype
    )
    Ks = K[None].repeat(C, 1, 1)
    return dict(
        means=means,
        quats=quats,
        scales=scales,
        opacities=opacities,
        colors=colors,
        viewmats=viewmats,
        Ks=Ks,
        width=width,
        height=height,
    )
