"""A dense point cloud from posed images: two-view stereo (rectification with the known poses, OpenCV's
semi-global matching) on chosen view pairs, each point kept only when another pair confirms it.

Why: a capture without a point cloud gets a sparse SIFT cloud (:mod:`point2act.startcloud.triangulate`), and thin
parts (a handle, a pan's grip) get few SIFT points: training then starts them from random Gaussians and
often paints them onto the table. Semi-global matching gives a depth on every textured pixel and along
silhouette edges, so the start cloud covers the thin parts too.

How: each view ``i`` picks one partner (optical axes within :data:`MAX_AXIS_ANGLE_DEG`, baseline over
scene depth at least :data:`MIN_BASELINE_RATIO`, nearest :data:`BASELINE_RATIO`, baseline mostly along the
image rows). The baseline has no upper bound: the axis angle already bounds how differently a pair's views
see a patch, and a few-view capture (11 views in a ring, a third of their scene depth apart or more) pairs
only its neighbours that way. Each pair is rectified (``cv2.stereoRectify``'s rotations; canvases sized
here so that each holds its whole source view at the source focal length), matched (``cv2.StereoSGBM``)
and reprojected. A view of more than :data:`MAX_PIXELS` pixels is matched at the smallest whole divisor that
brings it within: a pair's cost grows as its pixels to the power 1.5.
Pixels whose matching window is flat (:data:`MIN_TEXTURE_STD`: SGM fills flat regions from their
borders) or that sit on a disparity edge (:data:`MAX_DISPARITY_STEP`: block matching smears the near
side's depth over the edge) get no point. SGBM's mismatches are seldom repeated by an independent pair:
a point survives only when a point of another pair not sharing its left (reference) view lies within
:data:`CONSISTENCY_PX` pixel footprints of it. The union is voxel-downsampled to ``max_points``.

Plain numpy + OpenCV + scipy; nothing here imports torch or nerfstudio. Cameras follow gsplat:
``viewmats`` world-to-camera with OpenCV axes (x right, y down, z forward), ``Ks`` pinhole intrinsics
of the images as given, images RGB.

Check: ``tests/startcloud/test_stereo.py`` matches a ray-cast textured floor, box and thin bar seen by a ring of
cameras and bounds the points' distance to the true surfaces; a flat-coloured scene gives points on
the silhouettes only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from point2act import threads
from point2act.splatting import pixel_divisor

__all__ = ["MAX_AXIS_ANGLE_DEG", "BASELINE_RATIO", "MAX_PIXELS", "MIN_BASELINE_RATIO", "StereoCloud", "choose_pairs",
           "scene_depths", "stereo_points", "view_at_divisor", "view_depth_maps"]

MAX_AXIS_ANGLE_DEG = 35.0
"""Largest angle between the optical axes of a pair: beyond it rectification warps the views apart
and the block matcher's square windows no longer see the same patch."""
MIN_BASELINE_RATIO = 0.05
"""Smallest baseline / scene depth of a pair: below it, depth is poorly fixed."""
BASELINE_RATIO = 0.15
"""Preferred baseline / scene depth: a disparity of ~15 % of the focal length at the scene."""
DEPTH_RANGE = (0.4, 2.5)
"""Depths searched, as multiples of the scene depth of the pair's left view (sets SGBM's disparities)."""
BLOCK_SIZE = 5
"""SGBM's matching window (pixels, odd)."""
UNIQUENESS_RATIO = 10
"""SGBM: the best cost must beat the second best by this many percent (rejects flat regions)."""
SPECKLE_WINDOW = 100
"""SGBM: connected disparity blobs smaller than this (pixels) are removed."""
SPECKLE_RANGE = 2
"""SGBM: largest disparity step (pixels) inside one blob."""
DISP12_MAX_DIFF = 1
"""SGBM: largest left-right disagreement (pixels) of a kept disparity."""
MAX_RECTIFIED_SCALE = 2.5
"""Largest rectified canvas side, as a multiple of the source's: beyond it the focal length shrinks."""
MIN_TEXTURE_STD = 4.0
"""Smallest standard deviation (grey levels, 0..255) in a pixel's matching window for it to get a point:
SGM carries disparities into flat regions from their borders, where no evidence supports them."""
MAX_DISPARITY_STEP = 2.0
"""Largest disparity spread (pixels) in a kept pixel's 3 x 3 neighbourhood (see ``_smooth``)."""
CONSISTENCY_PX = 2.0
"""A point is confirmed by another pair's point within this many pixel footprints (z / f) of it."""
MAX_PIXELS = 640 * 480
"""The most pixels of a view the matching reads: a larger view is matched at the smallest whole divisor that
brings it within (:func:`point2act.splatting.pixel_divisor`), its depth map drawn at its own size. SGBM's cost is
pixels times disparities, and a pair's disparities span a fixed share of the focal length
(:data:`DEPTH_RANGE`), so a pair's cost grows as its pixels to the power 1.5: 0.8 s a pair at 640x480 against
7-12 s at 1280x960 on two cores, for points thinned to at most ``max_points`` all the same. A view of more
pixels gets the points and the depth a 640x480 view of the scene gets, on every ``d``-th pixel's worth of its
own."""


@dataclass
class StereoCloud:
    """Points from consistency-checked two-view stereo."""

    points: np.ndarray  # [M, 3] float64
    """Positions, in the frame of the given cameras."""
    colors: np.ndarray  # [M, 3] uint8
    """RGB of each point (its pixel in the pair's left view)."""
    pairs: int
    """Rectified pairs matched."""
    seconds: float
    """Wall time of pairing, matching, checking and downsampling."""
    depths: tuple = ()
    """Per view, its depth map [H, W] float32 (camera z, 0 where none): every confirmed point of the pairs it
    belongs to, at the pixel it projects to, the nearest where two fall on one pixel (:func:`view_depth_maps`).
    Empty where not computed."""

    def __len__(self) -> int:
        return int(len(self.points))

    def summary(self) -> str:
        return f"{len(self)} stereo points from {self.pairs} view pairs ({self.seconds:.1f} s)"


def _centres_axes(viewmats: np.ndarray):
    """Camera centres [C, 3] and optical axes (unit, world) [C, 3] of world-to-camera ``viewmats``."""
    R, t = viewmats[:, :3, :3], viewmats[:, :3, 3]
    centres = -np.einsum("cji,cj->ci", R, t)  # -R^T t
    return centres, R[:, 2, :]


def scene_depths(viewmats: np.ndarray) -> np.ndarray:  # [C]
    """Distance from each camera centre to the point nearest (least squares) to all optical axes:
    the scene depth of an inward-looking capture. NaN where that point is not in front of the camera
    (parallel axes: no common point)."""
    centres, axes = _centres_axes(viewmats)
    proj = np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]  # [C, 3, 3]
    A, b = proj.sum(0), np.einsum("cij,cj->i", proj, centres)
    w = np.linalg.eigvalsh(A)
    if w[0] < 1e-6 * max(w[-1], 1e-12):
        return np.full(len(viewmats), np.nan)
    p = np.linalg.solve(A, b)
    rel = p[None] - centres
    depth = np.linalg.norm(rel, axis=1)
    return np.where(np.sum(rel * axes, axis=1) > 0, depth, np.nan)


def choose_pairs(
    viewmats: np.ndarray,  # [C, 4, 4]
    scene_depth: np.ndarray | None = None,  # [C]
) -> list[tuple[int, int]]:
    """One partner per view (see the module doc), each unordered pair once, sorted: [(i, j), ...]
    with i < j. Views without an admissible partner are left out."""
    viewmats = np.asarray(viewmats, dtype=np.float64)
    depth = scene_depths(viewmats) if scene_depth is None else np.asarray(scene_depth, dtype=np.float64)
    centres, axes = _centres_axes(viewmats)
    cos_max = np.cos(np.radians(MAX_AXIS_ANGLE_DEG))
    pairs = set()
    for i in range(len(viewmats)):
        if not (np.isfinite(depth[i]) and depth[i] > 0):
            continue
        rel = centres @ viewmats[i, :3, :3].T + viewmats[i, :3, 3]  # [C, 3] all centres in camera i
        ratio = np.linalg.norm(centres - centres[i], axis=1) / depth[i]
        rows = np.abs(rel[:, 0]) >= np.abs(rel[:, 1])  # baseline mostly along camera i's rows
        ok = (axes @ axes[i] >= cos_max) & (ratio >= MIN_BASELINE_RATIO) & rows
        ok[i] = False
        if ok.any():
            j = int(np.flatnonzero(ok)[np.argmin(np.abs(ratio[ok] - BASELINE_RATIO))])
            pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def image_uint8(image) -> np.ndarray:  # [H, W(, C)] -> the same shape, uint8
    """An image as 8-bit values: uint8 as it is, floats in [0, 1] scaled by 255, rounded and clipped."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.clip(np.round(a.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return a


def _as_rgb8(image) -> np.ndarray:  # [H, W, 3] uint8
    a = image_uint8(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return np.ascontiguousarray(a[..., :3])


def _rectify(cv2, K: np.ndarray, V: np.ndarray, a: int, b: int, size: tuple):
    """Rectification of views (a, b) as (left, right), the roles swapped so the left camera is on the
    left: (left, right, canvas (w, h), (R1, R2, P1, P2, Q)); None when it would be vertical. The rotations
    R1, R2 are ``cv2.stereoRectify``'s; the projections are set here: the source focal length, and each
    canvas holds its whole source image (rows shared by both) -- OpenCV's ``alpha`` crops or shrinks
    the views of inward-looking cameras by up to half."""
    w, h = size
    for left, right in ((a, b), (b, a)):
        R = V[right, :3, :3] @ V[left, :3, :3].T  # camera left -> camera right
        T = V[right, :3, 3] - R @ V[left, :3, 3]
        R1, R2, P1, P2 = cv2.stereoRectify(K[left], None, K[right], None, size, R, T,
                                           flags=cv2.CALIB_ZERO_DISPARITY, alpha=0)[:4]
        if abs(P2[1, 3]) > abs(P2[0, 3]):
            return None
        if P2[0, 3] < 0:
            break
    else:
        return None
    f = float(np.mean([K[left, 0, 0], K[left, 1, 1], K[right, 0, 0], K[right, 1, 1]]))
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=np.float64)  # [4, 3] pixel edges
    boxes = []
    for view, Rr in ((left, R1), (right, R2)):
        rays = corners @ np.linalg.inv(K[view]).T @ Rr.T  # [4, 3] in the rectified camera
        if np.any(rays[:, 2] < 0.2 * np.linalg.norm(rays, axis=1)):
            return None  # a source corner near or behind the rectified image plane
        xy = rays[:, :2] / rays[:, 2:]
        boxes.append((xy.min(0), xy.max(0)))
    y0, y1 = max(boxes[0][0][1], boxes[1][0][1]), min(boxes[0][1][1], boxes[1][1][1])  # rows both see
    x_span = max(boxes[0][1][0] - boxes[0][0][0], boxes[1][1][0] - boxes[1][0][0])
    f *= min(1.0, MAX_RECTIFIED_SCALE * w / (f * x_span), MAX_RECTIFIED_SCALE * h / (f * max(y1 - y0, 1e-9)))
    new = (int(np.ceil(f * x_span)), int(np.ceil(f * (y1 - y0))))
    if min(new) < 2 * BLOCK_SIZE:
        return None
    cx1, cx2, cy = -f * boxes[0][0][0], -f * boxes[1][0][0], -f * y0
    tx = float((R2 @ T)[0])  # the left camera in the right rectified frame: x < 0
    P1 = np.array([[f, 0, cx1, 0], [0, f, cy, 0], [0, 0, 1, 0]])
    P2 = np.array([[f, 0, cx2, f * tx], [0, f, cy, 0], [0, 0, 1, 0]])
    Q = np.array([[1, 0, 0, -cx1], [0, 1, 0, -cy], [0, 0, 0, f], [0, 0, -1 / tx, (cx1 - cx2) / tx]])
    return left, right, new, (R1, R2, P1, P2, Q)


def _textured(cv2, image: np.ndarray) -> np.ndarray:  # [H, W] bool
    """Pixels whose BLOCK_SIZE window of grey values varies by at least MIN_TEXTURE_STD."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean = cv2.blur(grey, (BLOCK_SIZE, BLOCK_SIZE))
    var = cv2.blur(grey * grey, (BLOCK_SIZE, BLOCK_SIZE)) - mean * mean
    return var >= MIN_TEXTURE_STD**2


def _smooth(cv2, disp: np.ndarray, ok: np.ndarray) -> np.ndarray:  # [H, W] bool
    """Pixels whose 3 x 3 neighbours all have a disparity, within MAX_DISPARITY_STEP of theirs: the
    pixel next to a depth edge is where block matching smears the near side's depth (a window that
    straddles the edge matches the near surface's texture)."""
    k = np.ones((3, 3), np.uint8)
    hi = cv2.dilate(np.where(ok, disp, np.float32(1e6)), k)  # an invalid neighbour counts as a jump
    lo = cv2.erode(np.where(ok, disp, np.float32(-1e6)), k)
    return (hi - lo) <= MAX_DISPARITY_STEP


def _match_pair(cv2, images: list, K: np.ndarray, V: np.ndarray, pair: tuple, depth: np.ndarray):
    """SGBM on one pair: (left view, points [N, 3] world, colours [N, 3] uint8, depths in the left
    view [N]), or None when the pair cannot be rectified horizontally."""
    h, w = images[pair[0]].shape[:2]
    if images[pair[1]].shape[:2] != (h, w):
        return None
    rect = _rectify(cv2, K, V, pair[0], pair[1], (w, h))
    if rect is None:
        return None
    left, right, (wr, hr), (R1, R2, P1, P2, Q) = rect
    views, valid = [], []
    for view, Rr, P in ((left, R1, P1), (right, R2, P2)):
        mx, my = cv2.initUndistortRectifyMap(K[view], None, Rr, P[:3, :3], (wr, hr), cv2.CV_32FC1)
        views.append(cv2.remap(images[view], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT))
        inside = ((mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)).astype(np.uint8)  # [hr, wr]
        # the whole matching window inside the source
        valid.append(cv2.erode(inside, np.ones((BLOCK_SIZE, BLOCK_SIZE), np.uint8)) > 0)
    # disparity = (cx1 - cx2) + f B / Z in the rectified pair
    f, baseline, offset = P1[0, 0], -P2[0, 3] / P2[0, 0], P1[0, 2] - P2[0, 2]
    z_ref = depth[left] if np.isfinite(depth[left]) else depth[right]
    d_lo = offset + f * baseline / (DEPTH_RANGE[1] * z_ref)
    d_hi = offset + f * baseline / (DEPTH_RANGE[0] * z_ref)
    min_d = int(np.floor(d_lo))
    num_d = int(max(16, np.ceil((d_hi - min_d) / 16.0) * 16))
    # SGBM leaves the leftmost minDisparity + numDisparities columns (and the rightmost -minDisparity)
    # unmatched: pad them on
    pad_l, pad_r = max(min_d + num_d, 0), max(-min_d, 0)
    padded = [cv2.copyMakeBorder(v, 0, 0, pad_l, pad_r, cv2.BORDER_CONSTANT, value=0) for v in views]
    sgbm = cv2.StereoSGBM_create(minDisparity=min_d, numDisparities=num_d, blockSize=BLOCK_SIZE,
                                 P1=8 * 3 * BLOCK_SIZE**2, P2=32 * 3 * BLOCK_SIZE**2,
                                 disp12MaxDiff=DISP12_MAX_DIFF,
                                 uniquenessRatio=UNIQUENESS_RATIO, speckleWindowSize=SPECKLE_WINDOW,
                                 speckleRange=SPECKLE_RANGE, mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)
    raw = sgbm.compute(padded[0], padded[1])[:, pad_l:pad_l + wr]  # [hr, wr] int16, disparity * 16
    disp = raw.astype(np.float32) / 16.0
    ok = (raw > min_d * 16) & valid[0] & _textured(cv2, views[0])
    ok &= _smooth(cv2, disp, ok)
    vv, uu = np.nonzero(ok)
    ur = np.round(uu - disp[vv, uu]).astype(np.int64)
    keep = (ur >= 0) & (ur < wr)
    keep[keep] = valid[1][vv[keep], ur[keep]]  # the matched right pixel lies inside the right source too
    vv, uu = vv[keep], uu[keep]
    xyz = cv2.reprojectImageTo3D(disp, Q)[vv, uu].astype(np.float64)  # [N, 3] rectified left camera
    cam = xyz @ R1  # R1^T x: rectified -> left camera
    Rl, tl = V[left, :3, :3], V[left, :3, 3]
    R_lr = V[right, :3, :3] @ Rl.T
    cam_r = cam @ R_lr.T + (V[right, :3, 3] - R_lr @ tl)  # [N, 3] in the right camera
    front = np.isfinite(cam).all(1) & (cam[:, 2] > 0) & (cam_r[:, 2] > 0)
    cam, vv, uu = cam[front], vv[front], uu[front]
    world = (cam - tl) @ Rl  # R^T (x - t)
    return left, world, views[0][vv, uu], cam[:, 2]


def _consistent(clouds: list, centres: np.ndarray, Ks: np.ndarray) -> list:
    """Per pair, a mask [N] of its points that a point of another pair not sharing its left view lies
    within CONSISTENCY_PX * z / f of. ``clouds``: [(left, right, points [N, 3], depths [N])]."""
    from point2act._scipy import cKDTree

    trees = [cKDTree(c[2]) if len(c[2]) else None for c in clouds]
    workers = threads.process_threads()  # each point's query is its own: the same masks for any count
    masks = []
    for left, _, pts, z in clouds:
        tol = CONSISTENCY_PX * z / Ks[left, 0, 0]  # [N]
        others = [q for q, c in enumerate(clouds) if left not in c[:2] and trees[q] is not None]
        # nearest left cameras first: they confirm most points, the rest go on to farther pairs
        others.sort(key=lambda q: (float(np.linalg.norm(centres[clouds[q][0]] - centres[left])), q))
        confirmed = np.zeros(len(pts), dtype=bool)
        for q in others:
            todo = np.flatnonzero(~confirmed)
            if len(todo) == 0:
                break
            d, _ = trees[q].query(pts[todo], k=1, distance_upper_bound=float(tol[todo].max()), workers=workers)
            confirmed[todo[d <= tol[todo]]] = True
        masks.append(confirmed)
    return masks


def _voxel_keys(points: np.ndarray, lo: np.ndarray, voxel: float) -> np.ndarray:  # [N] int64
    idx = np.floor((points - lo) / voxel).astype(np.int64)
    dims = idx.max(0) + 1
    return (idx[:, 0] * dims[1] + idx[:, 1]) * dims[2] + idx[:, 2]


def _voxel_cap(points: np.ndarray, colors: np.ndarray, max_points: int):
    """At most ``max_points`` points [M, 3] (and colours): per voxel the point nearest the voxel's centroid
    (a stray point seldom is), the voxel the smallest (bisection on its size) that leaves no more than
    ``max_points`` voxels occupied."""
    if len(points) <= max_points:
        return points, colors
    if max_points <= 0:
        return points[:0], colors[:0]
    lo = points.min(0)
    extent = float(np.max(points.max(0) - lo)) + 1e-9
    small, big = extent * 1e-6, extent * 1.001  # too many voxels at `small`; one voxel at `big`
    for _ in range(30):
        mid = np.sqrt(small * big)
        if len(np.unique(_voxel_keys(points, lo, mid))) > max_points:
            small = mid
        else:
            big = mid
        if big / small < 1.01:
            break
    keys = _voxel_keys(points, lo, big)
    order = np.argsort(keys, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(keys[order]) != 0])  # [V] first of each voxel in `order`
    counts = np.diff(np.r_[starts, len(order)])
    means = np.add.reduceat(points[order], starts, axis=0) / counts[:, None]  # [V, 3]
    off = np.sum((points[order] - np.repeat(means, counts, axis=0)) ** 2, axis=1)
    group = np.repeat(np.arange(len(starts)), counts)
    pick = order[np.lexsort((off, group))[starts]]  # per voxel the point nearest its centroid
    pick = np.sort(pick)
    return points[pick], colors[pick]


def view_at_divisor(image: np.ndarray, K: np.ndarray, d: int) -> tuple:
    """A view (``image`` [H, W(, C)], intrinsics ``K``) read at the whole divisor ``d``: the image cropped to whole
    ``d x d`` blocks and averaged over them (``cv2.INTER_AREA``), ``K`` scaled by ``1 / d`` (pixel ``i`` spans
    ``[i, i + 1)``, the convention of the training views' intrinsics); the view as given at ``d = 1``. How the
    stereo matching and the support plane's comparison (:func:`point2act.startcloud.plane_sweep.plane_depths`) read
    a view of more than :data:`MAX_PIXELS` pixels (``d``: :func:`point2act.splatting.pixel_divisor`)."""
    if d == 1:
        return image, K
    import cv2

    h, w = image.shape[:2]
    crop = np.ascontiguousarray(image[: (h // d) * d, : (w // d) * d])
    return (cv2.resize(crop, (w // d, h // d), interpolation=cv2.INTER_AREA),
            np.diag([1.0 / d, 1.0 / d, 1.0]) @ np.asarray(K, dtype=np.float64))


def stereo_points(
    images: Sequence[np.ndarray],  # C x [H, W, 3] uint8 RGB (or float in [0, 1])
    Ks: np.ndarray,  # [C, 3, 3]
    viewmats: np.ndarray,  # [C, 4, 4] world-to-camera, OpenCV axes
    scene_depth: np.ndarray | None = None,  # [C] e.g. median depth of the SIFT points in each view
    max_points: int = 50000,
    progress: Callable[[str], None] | None = None,
    max_pixels: int | None = MAX_PIXELS,
) -> StereoCloud:
    """Dense coloured points on the surfaces the views see: pairs from :func:`choose_pairs` (``scene_depth``
    defaults to :func:`scene_depths`), SGBM on each rectified pair of views read at most at ``max_pixels`` pixels
    (:data:`MAX_PIXELS`; None: as given), points confirmed by another pair (:data:`CONSISTENCY_PX`),
    voxel-downsampled to at most ``max_points``; each view's depth map at its given size. ``progress``: called
    with a line per stage. Deterministic: the same inputs give the same bits. Empty on a textureless scene."""
    import cv2

    t0 = time.perf_counter()
    say = progress or (lambda line: None)
    Ks = np.asarray(Ks, dtype=np.float64).reshape(-1, 3, 3)
    viewmats = np.asarray(viewmats, dtype=np.float64).reshape(-1, 4, 4)
    if not (len(images) == len(Ks) == len(viewmats)):
        raise ValueError(f"{len(images)} images, {len(Ks)} intrinsics and {len(viewmats)} poses differ in "
                         "number")
    if scene_depth is None:
        depth = scene_depths(viewmats)
    else:
        depth = np.asarray(scene_depth, dtype=np.float64).reshape(-1)
    pairs = choose_pairs(viewmats, depth)
    say(f"stereo on {len(pairs)} view pairs of {len(images)} views")
    rgb = [_as_rgb8(im) for im in images]
    sizes = [im.shape[:2] for im in rgb]
    matched = [view_at_divisor(im, K, pixel_divisor(*im.shape[:2], max_pixels)) for im, K in zip(rgb, Ks)]
    rgb, Km = [m[0] for m in matched], np.stack([m[1] for m in matched]) if matched else Ks
    clouds, colors = [], []
    for pair in pairs:
        threads.update()  # OpenCV's threads follow the cores other programs leave free, where training asked
        out = _match_pair(cv2, rgb, Km, viewmats, pair, depth)
        if out is None:
            continue
        left, pts, col, z = out
        clouds.append((left, pair[0] + pair[1] - left, pts, z))
        colors.append(col)
    say(f"{sum(len(c[2]) for c in clouds)} matched pixels in {len(clouds)} pairs; checking across pairs")
    centres, _ = _centres_axes(viewmats)
    masks = _consistent(clouds, centres, Km)
    if clouds:
        points = np.concatenate([c[2][m] for c, m in zip(clouds, masks)])
        cols = np.concatenate([c[m] for c, m in zip(colors, masks)])
    else:
        points, cols = np.zeros((0, 3)), np.zeros((0, 3), np.uint8)
    say(f"{len(points)} points confirmed by a second pair")
    depths = view_depth_maps(clouds, masks, Ks, viewmats, sizes)
    points, cols = _voxel_cap(points, cols, max_points)
    return StereoCloud(points, cols, len(clouds), time.perf_counter() - t0, tuple(depths))


def view_depth_maps(clouds: list, masks: list, Ks: np.ndarray, viewmats: np.ndarray, sizes) -> list:
    """Per view, the depth map [H, W] float32 (0 where none) of the confirmed points of the pairs it belongs to:
    a pair's match sees each of its points in both its views, so each point goes to the pixel nearest its
    projection in each, the nearest point where two share a pixel (a z-buffer). ``clouds``: [(left, right,
    points [N, 3], depths [N])]; ``masks``: per pair, its confirmed points [N]; ``sizes``: C x (H, W)."""
    flats = [np.full(int(h) * int(w), np.inf, np.float64) for h, w in sizes]
    for (left, right, pts, _z), m in zip(clouds, masks):
        p = pts[m]
        if not len(p):
            continue
        for view in (left, right):
            cam = p @ viewmats[view, :3, :3].T + viewmats[view, :3, 3]
            z = cam[:, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                uv = cam[:, :2] / z[:, None] @ Ks[view, :2, :2].T + Ks[view, :2, 2]
            h, w = (int(v) for v in sizes[view])
            inside = (z > 0) & np.isfinite(uv).all(1)
            u, v = np.round(uv[inside, 0]).astype(np.int64), np.round(uv[inside, 1]).astype(np.int64)
            ok = (u >= 0) & (u < w) & (v >= 0) & (v < h)
            np.minimum.at(flats[view], v[ok] * w + u[ok], z[inside][ok])
    return [np.where(np.isfinite(f), f, 0).astype(np.float32).reshape(int(h), int(w))
            for f, (h, w) in zip(flats, sizes)]
