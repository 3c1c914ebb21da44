"""The training views of the fine stage: full-resolution crops where the answers point, between whole views.

Splatfacto trains its first quarter at half resolution (the coarse stage) and every later step on a whole view
at full resolution. The pixels away from the target cost as much as the target's and matter less to the grasp,
so from the step the model reaches full resolution (:attr:`FineViews.start`) three steps of every four (every
step not a multiple of :data:`WHOLE_VIEW_EVERY`) train a **crop** of their view: the window :data:`CROP_FRACTION`
of the image's width and height, at full resolution, its principal point moved to the window's corner. A view with answers centres it on their heatmap cores (wider where
the cores span more); every other view that sees the place where the views' answers meet (:func:`answers_place`,
from the cameras and the answers alone) centres it on the place's projection (:func:`fine_cores`). Every fourth
step, and views that do not see the place, train the whole view, so the whole scene keeps training and the viewer
still shows all of it.

The model normalises a crop's screen-space gradients by the whole view's size
(:data:`point2act.method.keys.FULL_SIZE_KEY`), so the densification threshold means on a crop what it means on a
whole view. Check it: ``tests/method/test_fineviews.py`` renders a crop against the window of the whole view's
render.
"""

from __future__ import annotations

import copy
from typing import Dict, Tuple

import numpy as np
import torch

from point2act.method.keys import FULL_SIZE_KEY

CROP_FRACTION = 0.5
"""A crop's width and height as a fraction of its view's (a quarter of the pixels): room around the target for
the neighbours a gripper must clear."""


WHOLE_VIEW_EVERY = 4
"""In the fine stage, the steps that are multiples of this train whole views; the others train crops. A crop costs
a third of a whole view's step (`real/tools` at 640x360: 25 against 67 ms); with crops at three steps of four the
target's geometry is as complete and less often painted behind as with crops at every other step
(benchmarks/results/fine_stage.md, three gate seeds)."""


def crop_window(core: Tuple[int, int, int, int], size: Tuple[int, int], fraction: float = CROP_FRACTION
                ) -> Tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``, even pixel edges: the window of ``fraction`` of the image's ``size`` ``(H, W)``
    centred on ``core`` (the answers' cores), grown to hold the whole core, kept inside the image."""
    h, w = (int(s) for s in size)
    x0, y0, x1, y1 = core
    cw = min(w, max(int(round(fraction * w)), x1 - x0))
    ch = min(h, max(int(round(fraction * h)), y1 - y0))
    cw, ch = cw - cw % 2, ch - ch % 2
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    left = int(min(max(0, round(cx - cw / 2.0)), w - cw))
    top = int(min(max(0, round(cy - ch / 2.0)), h - ch))
    left, top = left - left % 2, top - top % 2
    return left, top, left + cw, top + ch


def full_resolution_step(model_config) -> int:
    """The first step splatfacto trains at full resolution, where the fine stage starts: ``num_downscales`` halvings
    of ``resolution_schedule`` steps each (0 without downscales)."""
    c = model_config
    return int(c.num_downscales) * int(c.resolution_schedule) if c.num_downscales else 0


class FineViews:
    """Each training view's full-resolution crop, made on first use and kept.

    ``start``: the first step of the fine stage (None: no fine stage); ``cores``: view index -> the answers'
    heatmap cores ``(x0, y0, x1, y1)`` (:func:`point2act.convergence.probes_of`); views without one have no
    crop."""

    def __init__(self, start: int | None, cores: Dict[int, Tuple[int, int, int, int]]):
        self.start = None if start is None else int(start)
        self.cores = dict(cores)
        self._kept: Dict[int, Tuple[object, dict]] = {}

    def crop_due(self, step: int, idx: int) -> bool:
        """Whether ``step`` trains view ``idx``'s crop: a step of the fine stage that is not a multiple of
        :data:`WHOLE_VIEW_EVERY`, a view with a core."""
        return (self.start is not None and step >= self.start and step % WHOLE_VIEW_EVERY != 0
                and int(idx) in self.cores)

    def crop(self, idx: int, camera, data: dict) -> Tuple[object, dict]:
        """The crop of view ``idx`` given its whole ``camera`` and batch ``data`` (image, and where present the
        target heatmap, depth and mask): a camera with its own metadata dict and a new batch dict; the tensors
        are made on the view's first crop and kept."""
        kept = self._kept.get(int(idx))
        if kept is None:
            kept = self._kept[int(idx)] = self._crop(int(idx), camera, data)
        cam, batch = kept
        out = copy.copy(cam)
        out.metadata = dict(cam.metadata)
        return out, dict(batch)

    def _crop(self, idx: int, camera, data: dict):
        H, W = int(camera.height.item()), int(camera.width.item())
        x0, y0, x1, y1 = crop_window(self.cores[idx], (H, W))
        cam = copy.copy(camera)
        cam.cx = camera.cx - x0
        cam.cy = camera.cy - y0
        cam.width = torch.full_like(camera.width, x1 - x0)
        cam.height = torch.full_like(camera.height, y1 - y0)
        cam.metadata = dict(camera.metadata or {})
        cam.metadata[FULL_SIZE_KEY] = (H, W)
        out = {k: (v[y0:y1, x0:x1].contiguous() if isinstance(v, torch.Tensor) and v.dim() == 3
                   and v.shape[:2] == (H, W) else v) for k, v in data.items()}
        return cam, out


def cores_of(points: Dict[int, np.ndarray], sizes: Dict[int, Tuple[int, int]], sigma_frac: float
             ) -> Dict[int, Tuple[int, int, int, int]]:
    """View index -> the window of its answers' heatmap cores (views without answers left out)."""
    from point2act.convergence import probes_of

    return {p.view: p.window for p in probes_of(points, sizes, sigma_frac)}


MIN_PLACE_VIEWS = 2
"""Views whose answers must meet at a point for it to count as the place (:func:`answers_place`)."""

MAX_PROPOSALS = 4096
"""Pairs of answer rays :func:`answers_place` scores at most; beyond (a capture of 200 views with 5 answers each
has half a million pairs) a fixed random sample of this many."""


def _rays(points: Dict[int, np.ndarray], viewmats: np.ndarray, Ks: np.ndarray):
    """Each answer's ray in the world: ``(view [R], origin [R, 3], unit direction [R, 3])``."""
    views, origins, dirs = [], [], []
    for v in sorted(points):
        pts = np.asarray(points[v], dtype=np.float64).reshape(-1, 2)
        if not len(pts):
            continue
        R, t = viewmats[v, :3, :3], viewmats[v, :3, 3]
        pix = np.concatenate([pts, np.ones((len(pts), 1))], axis=1)
        d = (np.linalg.inv(Ks[v]) @ pix.T).T @ R  # camera to world: R^T d
        views += [v] * len(pts)
        origins.append(np.repeat((-R.T @ t)[None], len(pts), axis=0))
        dirs.append(d / np.linalg.norm(d, axis=1, keepdims=True))
    if not views:
        return np.zeros(0, int), np.zeros((0, 3)), np.zeros((0, 3))
    return np.asarray(views), np.concatenate(origins), np.concatenate(dirs)


def _pixels(X: np.ndarray, viewmat: np.ndarray, K: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates [M, 2] and camera depths [M] of the world points ``X`` [M, 3] in one view (``viewmat``
    [4, 4], ``K`` [3, 3]); points at or behind the camera get a depth <= 0 and meaningless pixels."""
    cam = X @ viewmat[:3, :3].T + viewmat[:3, 3]
    z = cam[:, 2]
    return (cam @ K.T)[:, :2] / np.where(z > 1e-12, z, 1e-12)[:, None], z


def answers_place(points: Dict[int, np.ndarray], viewmats: np.ndarray, Ks: np.ndarray, radius: np.ndarray
                  ) -> np.ndarray | None:
    """The world point where the most views' answers meet, from the cameras and the answers alone (no surface).

    Each pair of answer rays from two views proposes the midpoint of their closest approach (in front of both);
    a proposal's inliers are the views where it lies in front of the camera and projects within ``radius`` of an
    answer; the proposal with the most inlier views wins (then the smaller summed reprojection error), and the
    place is the point nearest to its inliers' rays in least squares. None when no point gathers
    :data:`MIN_PLACE_VIEWS` views.

    Args:
        points: view -> its answers [P, 2] in pixels (P = 0: none).
        viewmats: world-to-camera matrices [C, 4, 4] (OpenCV axes).
        Ks: intrinsics [C, 3, 3].
        radius: per view, the pixels an answer may miss the place by [C] (its heatmap core's radius).

    Returns:
        The place [3], or None.
    """
    viewmats, Ks, radius = (np.asarray(a, dtype=np.float64) for a in (viewmats, Ks, radius))
    views, o, d = _rays(points, viewmats, Ks)
    R = len(views)
    if R * (R - 1) // 2 <= MAX_PROPOSALS:
        i, j = np.triu_indices(R, k=1)
    else:  # a fixed sample of the pairs, the same at every run
        i, j = np.random.default_rng(0).integers(0, R, (2, MAX_PROPOSALS))
    keep = views[i] != views[j]
    i, j = i[keep], j[keep]
    if not len(i):
        return None
    # closest approach of rays o_i + s d_i and o_j + u d_j
    w = o[i] - o[j]
    b = np.einsum("ij,ij->i", d[i], d[j])
    den = 1.0 - b * b
    ok = den > 1e-6
    i, j, w, b, den = i[ok], j[ok], w[ok], b[ok], den[ok]
    dw_i, dw_j = np.einsum("ij,ij->i", d[i], w), np.einsum("ij,ij->i", d[j], w)
    s = (b * dw_j - dw_i) / den
    u = (dw_j - b * dw_i) / den
    front = (s > 0) & (u > 0)
    cands = 0.5 * ((o[i] + s[:, None] * d[i]) + (o[j] + u[:, None] * d[j]))[front]
    if not len(cands):
        return None
    count, err = np.zeros(len(cands), int), np.zeros(len(cands))
    nearest = {}
    for v in sorted(set(views.tolist())):
        rs = np.nonzero(views == v)[0]
        uv, z = _pixels(cands, viewmats[v], Ks[v])
        e = np.linalg.norm(uv[:, None, :] - np.asarray(points[v], dtype=np.float64).reshape(1, -1, 2), axis=2)
        k = e.argmin(axis=1)
        e = e[np.arange(len(cands)), k]
        hit = (z > 0) & (e <= radius[v])
        count += hit
        err += np.where(hit, e, 0.0)
        nearest[v] = np.where(hit, rs[k], -1)  # the view's answer nearest each proposal, where it is an inlier
    w = int(np.lexsort((err, -count))[0])  # the most inlier views, then the least error
    best = [int(r[w]) for r in nearest.values() if r[w] >= 0]
    if len(best) < MIN_PLACE_VIEWS:
        return None
    # the point nearest the chosen rays: sum_r |(I - d_r d_r^T)(X - o_r)|^2 is least
    P = np.eye(3)[None] - d[best][:, :, None] * d[best][:, None, :]
    return np.linalg.solve(P.sum(axis=0), np.einsum("rij,rj->i", P, o[best]))


def place_cores(place: np.ndarray, viewmats: np.ndarray, Ks: np.ndarray, sizes, sigma_frac: float
                ) -> Dict[int, Tuple[int, int, int, int]]:
    """View index -> the core an answer at the place's projection would have (:func:`cores_of`), for every view
    the place [3] lies in front of and inside of. ``viewmats`` [C, 4, 4], ``Ks`` [C, 3, 3], ``sizes`` ``(H, W)``
    per view."""
    X = np.asarray(place, dtype=np.float64).reshape(1, 3)
    seen = {}
    for v, (h, w) in enumerate(sizes):
        uv, z = _pixels(X, np.asarray(viewmats[v], dtype=np.float64), np.asarray(Ks[v], dtype=np.float64))
        if z[0] > 0 and 0.0 <= uv[0, 0] < w and 0.0 <= uv[0, 1] < h:
            seen[v] = uv
    return cores_of(seen, dict(enumerate(sizes)), sigma_frac)


def _place_of(points: Dict[int, np.ndarray], cameras, sigma_frac: float):
    """The training cameras as :func:`answers_place` reads them and the place itself: ``(viewmats [C, 4, 4], Ks
    [C, 3, 3], sizes (H, W) per view, the cores' pixel radius per view [C], the place [3] or None)``."""
    from point2act.convergence import core_radius
    from point2act.method.run_layer import camera_views

    vms, Ks, sizes = camera_views(cameras)
    vms, Ks = vms.double().numpy(), Ks.double().numpy()
    radius = np.asarray([core_radius(h, w, sigma_frac) for h, w in sizes])
    return vms, Ks, sizes, radius, answers_place(points, vms, Ks, radius)


def fine_cores(points: Dict[int, np.ndarray], cameras, sigma_frac: float) -> Dict[int, Tuple[int, int, int, int]]:
    """The fine stage's cores: each view's answers' cores (:func:`cores_of`), and for every other view that sees
    the place where the views' answers meet (:func:`answers_place`), a core around its projection.

    ``points``: view -> answers [P, 2] in the training images' pixels; ``cameras``: the training cameras
    (nerfstudio ``Cameras``, their final intrinsics)."""
    vms, Ks, sizes, radius, place = _place_of(points, cameras, sigma_frac)
    cores = cores_of(points, dict(enumerate(sizes)), sigma_frac)
    if place is None:
        return cores
    return {**place_cores(place, vms, Ks, sizes, sigma_frac), **cores}


def answers_ball(points: Dict[int, np.ndarray], cameras, sigma_frac: float) -> Tuple[np.ndarray, float, float] | None:
    """The place where the views' answers meet (:func:`answers_place`) and the ball their heatmap cores cover
    there: ``(place [3], radius in world units, radius in pixels)``, the radius being the median over the
    answered views of the core's pixel radius at the place's depth; None without a place."""
    vms, Ks, _, radius, place = _place_of(points, cameras, sigma_frac)
    if place is None:
        return None
    answered = [v for v in sorted(points) if len(np.asarray(points[v]).reshape(-1, 2))]
    world = []
    for v in answered:
        _, z = _pixels(place[None], vms[v], Ks[v])
        if z[0] > 0:
            world.append(radius[v] * z[0] / Ks[v, 0, 0])
    if not world:
        return None
    return place, float(np.median(world)), float(np.median(radius[answered]))
