"""The human pointer: one click on the rendered scene becomes a points file for every training view.

1. :func:`ray_surface_point`: the click's ray meets the field's surface where the field's own expected
   depth says, rendered by a narrow pinhole camera whose optical axis is the ray.
2. :func:`project_to_views`: that 3D point is projected into every training view; where the view's
   rendered depth shows something in front of it (a depth test) the view answers ``[]`` ("not in this
   view": negative evidence), else the projected pixel.
3. :func:`click_points` writes them as a points file (``"coordinates": "normalized"``), which
   ``point2act query`` and ``ns-train`` read like any pointer's answers.

Plain torch/numpy (the renders go through :func:`point2act.fusion.render_expected_depth`). Frames: all
positions and view matrices in one world frame (the viewer uses nerfstudio's); ``viewmats`` are
world-to-camera with OpenCV axes, pixel (i, j) has its centre at (j + 0.5, i + 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from point2act.fusion import render_expected_depth
from point2act.render import Splats
from point2act.splatting import Views

__all__ = ["SurfaceProbe", "click_points", "look_along", "project_to_views", "ray_surface_point"]


@dataclass(frozen=True)
class SurfaceProbe:
    """The narrow render :func:`ray_surface_point` looks along a ray with."""

    size: int = 33
    """Side of the square render, pixels; odd (the ray goes through the centre pixel)."""
    fov_deg: float = 2.0
    """Its field of view, degrees."""
    min_alpha: float = 0.5
    """Accumulated opacity at the centre pixel below which the ray meets nothing."""


def look_along(origin: np.ndarray, direction: np.ndarray) -> np.ndarray:  # [3], [3] -> [4, 4]
    """World-to-camera matrix (OpenCV axes) of a camera at ``origin`` whose +z axis is ``direction``."""
    z = np.asarray(direction, dtype=np.float64)
    z = z / np.linalg.norm(z)
    ref = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(ref, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: camera axes in world coordinates (world -> camera rotation)
    V = np.eye(4)
    V[:3, :3] = R
    V[:3, 3] = -R @ np.asarray(origin, dtype=np.float64)
    return V


def ray_surface_point(
    splats: Splats,
    origin: np.ndarray,  # [3]
    direction: np.ndarray,  # [3]
    probe: SurfaceProbe = SurfaceProbe(),
) -> np.ndarray | None:  # [3] or None when the ray meets nothing opaque
    """Where a ray first meets the field of ``splats``: expected depth at the centre of a square render with a
    narrow field of view (``probe``) looking along the ray (its centre pixel's z is the distance along the
    ray). ``None`` when the accumulated opacity there is below ``probe.min_alpha``."""
    size, fov_deg, min_alpha = probe.size, probe.fov_deg, probe.min_alpha
    if size % 2 == 0:
        raise ValueError("size must be odd (the ray goes through the centre pixel)")
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    f = 0.5 * size / np.tan(np.radians(fov_deg) / 2)
    K = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]])
    dev = splats.means.device
    V = torch.as_tensor(look_along(origin, d), dtype=torch.float32, device=dev)[None]
    K_t = torch.as_tensor(K, dtype=torch.float32, device=dev)[None]
    depth, alpha = render_expected_depth(splats, Views.one_size(V, K_t, size, size))
    c = size // 2
    if float(alpha[0, c, c]) < min_alpha:
        return None
    return np.asarray(origin, dtype=np.float64) + float(depth[0, c, c]) * d


def project_to_views(
    point: np.ndarray,  # [3]
    viewmats: np.ndarray,  # [C, 4, 4]
    Ks: np.ndarray,  # [C, 3, 3]
    sizes: Sequence[Tuple[int, int]],  # C x (H, W)
    depths: Sequence[np.ndarray],  # C x [H, W] rendered z-depth (0 = nothing rendered)
    rel_tol: float = 0.03,
) -> List[List[Tuple[float, float]]]:
    """The point's pixel ``[(x, y)]`` in each view where it is in the image and not hidden, else ``[]``.

    Hidden: the view's rendered depth at that pixel is more than ``rel_tol`` (relative) in front of the
    point's own depth."""
    p = np.append(np.asarray(point, dtype=np.float64), 1.0)
    out: List[List[Tuple[float, float]]] = []
    for V, K, (H, W), D in zip(viewmats, Ks, sizes, depths):
        pc = (np.asarray(V, dtype=np.float64) @ p)[:3]
        if pc[2] <= 1e-9:
            out.append([])
            continue
        uv = (np.asarray(K, dtype=np.float64) @ (pc / pc[2]))[:2]
        x, y = float(uv[0]), float(uv[1])
        if not (0.0 <= x < W and 0.0 <= y < H):
            out.append([])
            continue
        d = float(np.asarray(D)[int(y), int(x)])
        hidden = d > 0 and d < pc[2] * (1.0 - rel_tol)
        out.append([] if hidden else [(x, y)])
    return out


def click_points(
    keys: Sequence[str],
    sizes: Sequence[Tuple[int, int]],  # (H, W) of the views the pixels are in
    pixels: Sequence[List[Tuple[float, float]]],
    prompt: str,
    point_world: np.ndarray | None = None,
) -> Dict:
    """A points-file dict (``"coordinates": "normalized"``) from per-view pixels; records the 3D point."""
    pts = {
        k: [[x / w, y / h] for x, y in px] for k, (h, w), px in zip(keys, sizes, pixels)
    }
    out: Dict = {"prompt": prompt, "coordinates": "normalized", "points": pts, "pointer": {"backend": "click"}}
    if point_world is not None:
        out["pointer"]["point"] = [float(v) for v in point_world]
    return out
