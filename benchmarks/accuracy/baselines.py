"""Baselines on the same points: single-view lift and multi-view triangulation with RANSAC.

Cameras follow :mod:`point2act.synth.camera` (OpenGL camera-to-world, pixel centres at +0.5,
z-depth).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import List, Optional, Sequence

import numpy as np

from point2act.synth.camera import Intrinsics, project, unproject


def lift_single_view(
    xy: Sequence[float],  # [2] pixel (x, y)
    depth: np.ndarray,  # [H, W] z-depth in metres, 0 = no surface
    k: Intrinsics,
    c2w: np.ndarray,  # [4, 4] OpenGL camera-to-world
) -> Optional[np.ndarray]:  # [3] or None
    """Lift one view's point with that view's depth (a depth sensor): the depth of the pixel that
    contains the point, unprojected along the ray through the point. None where the pixel has no
    surface (depth 0, e.g. sky)."""
    h, w = depth.shape
    col = min(max(int(np.floor(xy[0])), 0), w - 1)
    row = min(max(int(np.floor(xy[1])), 0), h - 1)
    d = float(depth[row, col])
    if not d > 0:
        return None
    return unproject(np.asarray([xy], dtype=np.float64), np.asarray([d]), k, c2w)[0]


def pixel_ray(xy: Sequence[float], k: Intrinsics, c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ray (origin [3], unit direction [3]) through pixel position ``xy`` [2] of a camera."""
    d_cam = np.array([(xy[0] - k.cx) / k.fx, -(xy[1] - k.cy) / k.fy, -1.0])
    d = c2w[:3, :3] @ d_cam
    return c2w[:3, 3].astype(np.float64).copy(), d / np.linalg.norm(d)


def triangulate(
    origins: np.ndarray,  # [R, 3]
    directions: np.ndarray,  # [R, 3] (normalised inside)
    weights: Optional[np.ndarray] = None,  # [R]
) -> np.ndarray:  # [3]
    """The point minimising the (weighted) sum of squared distances to the rays (lines), in closed
    form: ``sum_r w_r (I - d_r d_r^T) (p - o_r) = 0``. Needs two non-parallel rays."""
    o = np.asarray(origins, dtype=np.float64).reshape(-1, 3)
    d = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    w = np.ones(len(o)) if weights is None else np.asarray(weights, dtype=np.float64)
    P = np.eye(3)[None] - d[:, :, None] * d[:, None, :]  # [R, 3, 3]
    A = np.einsum("r,rij->ij", w, P)
    b = np.einsum("r,rij,rj->i", w, P, o)
    return np.linalg.solve(A, b)


@dataclass
class RansacResult:
    """Outcome of :func:`ransac_triangulate`."""

    point: Optional[np.ndarray]
    """[3] the refined point, or None (fewer than two views, or no consistent pair)."""
    inliers: List[int] = field(default_factory=list)
    """Indices (into the views given) of the inlier views."""
    hypotheses: int = 0
    """Pairs tried."""


def ransac_triangulate(
    xys: Sequence[Sequence[float]],  # V x [2]
    intrinsics: Sequence[Intrinsics],
    c2ws: Sequence[np.ndarray],  # V x [4, 4]
    threshold_px: float,
    max_pairs: int = 2000,
    seed: int = 0,
    min_angle_deg: float = 2.0,
) -> RansacResult:
    """Multi-view triangulation of one point per view, robust to outlier views.

    Every pair of views (or ``max_pairs`` random ones when there are more) with rays at least
    ``min_angle_deg`` apart gives a hypothesis (:func:`triangulate` of the two rays) that must lie
    in front of both cameras; its inliers are the views that see it within ``threshold_px`` of their
    point. The hypothesis with the most inliers wins (ties: the smaller summed reprojection error),
    then is refined by :func:`triangulate` over its inliers (iterated until the inlier set is
    stable). Deterministic for a given ``seed``.
    """
    V = len(xys)
    if V < 2:
        return RansacResult(None)
    rays = [pixel_ray(xy, k, c) for xy, k, c in zip(xys, intrinsics, c2ws)]
    O = np.stack([r[0] for r in rays])
    D = np.stack([r[1] for r in rays])
    xy_arr = np.asarray(xys, dtype=np.float64).reshape(V, 2)

    def reproj(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # errors [V] px, in front [V]
        err, front = np.empty(V), np.empty(V, dtype=bool)
        for i in range(V):
            uv, z = project(p[None], intrinsics[i], c2ws[i])
            err[i] = float(np.linalg.norm(uv[0] - xy_arr[i]))
            front[i] = z[0] > 0
        return np.where(front, err, np.inf), front

    pairs = list(combinations(range(V), 2))
    if len(pairs) > max_pairs:
        rng = np.random.default_rng(seed)
        pairs = [pairs[i] for i in np.sort(rng.choice(len(pairs), max_pairs, replace=False))]
    cos_min = np.cos(np.radians(min_angle_deg))
    best: tuple[int, float] = (0, np.inf)
    best_in: Optional[np.ndarray] = None
    tried = 0
    for i, j in pairs:
        if abs(float(D[i] @ D[j])) > cos_min:
            continue
        p = triangulate(O[[i, j]], D[[i, j]])
        err, front = reproj(p)
        if not (front[i] and front[j]):
            continue
        tried += 1
        inl = err <= threshold_px
        key = (int(inl.sum()), float(err[inl].sum()))
        if key[0] > best[0] or (key[0] == best[0] and key[1] < best[1]):
            best, best_in = key, inl
    if best_in is None or best[0] < 2:
        return RansacResult(None, hypotheses=tried)
    inl = best_in
    p = triangulate(O[inl], D[inl])
    for _ in range(10):
        err, _f = reproj(p)
        new = err <= threshold_px
        if new.sum() < 2 or np.array_equal(new, inl):
            break
        inl = new
        p = triangulate(O[inl], D[inl])
    return RansacResult(p, [int(i) for i in np.flatnonzero(inl)], tried)


def lift_with_rendered_depth(
    xy: Sequence[float],  # [2] pixel (x, y) in the image the pointer saw
    image_size: tuple[int, int],  # (H, W) of that image
    depth: np.ndarray,  # [h, w] rendered expected z-depth (nerfstudio units), 0 = none
    alpha: Optional[np.ndarray],  # [h, w] accumulated opacity, or None
    K: np.ndarray,  # [3, 3] intrinsics of the rendered depth (OpenCV, pixel centres at +0.5)
    viewmat: np.ndarray,  # [4, 4] world-to-camera, OpenCV axes (nerfstudio frame)
    min_alpha: float = 0.5,
) -> Optional[np.ndarray]:  # [3] nerfstudio frame, or None
    """Lift one view's point with the *reconstruction's* depth: the expected depth the trained field
    renders for that view (:func:`point2act.fusion.render_expected_depth`, as the grasp head fuses it),
    at the pixel containing the point (the render may be at a lower resolution than the image: the point
    is scaled to it). None where the render is empty (alpha below ``min_alpha`` or depth 0)."""
    H, W = image_size
    h, w = depth.shape
    sx, sy = w / float(W), h / float(H)
    x, y = float(xy[0]) * sx, float(xy[1]) * sy
    col = min(max(int(np.floor(x)), 0), w - 1)
    row = min(max(int(np.floor(y)), 0), h - 1)
    d = float(depth[row, col])
    if not d > 0 or (alpha is not None and float(alpha[row, col]) < min_alpha):
        return None
    K = np.asarray(K, dtype=np.float64)
    p_cam = np.array([(x - K[0, 2]) / K[0, 0] * d, (y - K[1, 2]) / K[1, 1] * d, d])
    vm = np.asarray(viewmat, dtype=np.float64)
    R, t = vm[:3, :3], vm[:3, 3]
    return R.T @ (p_cam - t)


def best_view(
    candidates: Sequence[tuple[int, Optional[float], Optional[np.ndarray]]],  # (view index, confidence, point)
    rule: str = "first",
) -> Optional[np.ndarray]:
    """The "best view" baseline: one view's lifted point. ``rule="first"``: the first view (in capture
    order) whose answer lifts to a point; ``"confident"``: the highest confidence (ties: the first),
    among views with a point and a confidence."""
    ok = [(i, c, p) for i, c, p in candidates if p is not None]
    if not ok:
        return None
    if rule == "confident":
        rated = [x for x in ok if x[1] is not None]
        if rated:
            return max(rated, key=lambda x: (x[1], -x[0]))[2]
    return min(ok, key=lambda x: x[0])[2]
