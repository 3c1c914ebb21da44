"""Answers in a run's training images without torch: a points file matched to the capture's views
(:func:`match_points_to_views`, :func:`eval_points`), mapped into the images nerfstudio trains on from the
cameras' arrays (:func:`points_in_images`), and each view's points drawn as a heatmap (:class:`PointHeatmaps`).
The datamanager and the run layer use them through :mod:`point2act.method.answers`; the torch-free
``point2act query`` (:mod:`point2act.requery.from_cache`) directly. Plain numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import numpy as np

from point2act.heatmap import heatmap_array, map_points_to_training_image, sigma_px
from point2act.points import PointsFile, PointsFileError


class PointHeatmaps(Mapping):
    """View index -> target heatmap [H, W] float32 (:func:`point2act.heatmap.heatmap_array`), drawn from the view's
    points when asked; only the points are kept."""

    def __init__(self, points: Dict[int, np.ndarray], sizes: Dict[int, Tuple[int, int]], sigma_frac: float):
        self.points = {int(k): np.asarray(v, dtype=np.float32).reshape(-1, 2) for k, v in points.items()}
        """Points [P, 2] in pixels of each training image (P = 0: "not in this view")."""
        self.sizes = {int(k): (int(h), int(w)) for k, (h, w) in sizes.items()}
        """(height, width) of each training image."""
        self.sigma_frac = float(sigma_frac)
        """Blob sigma as a fraction of the image diagonal."""

    def array(self, idx: int) -> np.ndarray:  # [H, W] float32 in [0, 1]
        """The view's heatmap in numpy."""
        h, w = self.sizes[int(idx)]
        return heatmap_array(self.points[int(idx)], h, w, sigma_px(h, w, self.sigma_frac))

    def __getitem__(self, idx: int):
        return self.array(idx)

    def __iter__(self):
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)

    def keeping(self, answers: Dict[int, Sequence[int]]):
        """The store with each view's answers cut to ``answers`` (view index -> positions in its answers: a
        consensus place's training-split answers, :attr:`point2act.where.consensus.Place.answers`). A view
        that answered "not in view" keeps its empty answer (where the target is not); a view none of whose
        answers is kept is left out (it pointed elsewhere)."""
        pts = {v: (p if not len(p) else p[sorted(int(i) for i in answers[v])])
               for v, p in self.points.items() if not len(p) or v in answers}
        return type(self)(pts, {v: self.sizes[v] for v in pts}, self.sigma_frac)

    @property
    def nbytes(self) -> int:
        """Bytes held (the points), not counting the heatmaps handed out."""
        return sum(p.nbytes for p in self.points.values())


def match_points_to_views(pf: PointsFile, train_keys: Sequence[str], train_sizes: Sequence[Tuple[int, int]],
                          eval_keys: Sequence[str], eval_sizes: Sequence[Tuple[int, int]],
                          factor: int) -> Dict[int, np.ndarray]:
    """Validate the points against the capture (stored sizes ``(w, h)`` of every train and eval image)
    and return each training view's points in pixels of its stored image."""
    sizes = dict(zip(train_keys, train_sizes))
    sizes.update(dict(zip(eval_keys, eval_sizes)))
    pf.validate_against(sizes, tolerance_px=float(factor))
    pixels = pf.in_pixels(sizes)
    index = {k: i for i, k in enumerate(train_keys)}
    out: Dict[int, np.ndarray] = {}
    for key, pts in pixels.items():
        if key in index:
            out[index[key]] = np.asarray(pts, dtype=np.float32).reshape(-1, 2)
    if not out:
        raise PointsFileError(
            f"{pf.source}: none of its {len(pf.points)} views is a training view "
            f"(they are all in the eval split). Nothing to supervise."
        )
    return out


def eval_points(pf: PointsFile, eval_keys: Sequence[str], eval_sizes: Sequence[Tuple[int, int]]) -> Dict[int, np.ndarray]:
    """Each answered eval view's points (nerfstudio's held-out split) in pixels of its stored image, by eval
    index: their cameras are known, so the views' consensus reads them as any other answer
    (:func:`point2act.method.supervision.eval_views`). Views answering ``[]`` are kept (they see and do not agree)."""
    out: Dict[int, np.ndarray] = {}
    for i, (key, (w, h)) in enumerate(zip(eval_keys, eval_sizes)):
        if key in pf.points:
            pts = np.asarray(pf.points[key], dtype=np.float64).reshape(-1, 2)
            out[i] = (pts if pf.coordinates == "pixels" else pts * [w, h]).astype(np.float32)
    return out


@dataclass(frozen=True)
class ImageCameras:
    """What mapping points into a split's training images reads of its cameras, as arrays (one row a view)."""

    K_raw: np.ndarray  # [C, 3, 3] float32
    """Intrinsics of the parser's (distorted) cameras."""
    distortion: np.ndarray | None  # [C, 6] float32
    """Their distortion coefficients (nerfstudio's order), None when the cameras have none."""
    fisheye: np.ndarray  # [C] bool
    """Fisheye cameras."""
    K_final: np.ndarray  # [C, 3, 3] float32
    """Intrinsics of the images nerfstudio trains on (downscaled, undistorted)."""
    sizes: np.ndarray  # [C, 2] int64
    """``(H, W)`` of those images."""


def points_in_images(points: Dict[int, np.ndarray], cams: ImageCameras, factor: int) -> Dict[int, np.ndarray]:
    """:func:`point2act.method.answers.points_in_training_images` on the cameras' arrays: each view's points in
    pixels of the image nerfstudio trains on (downscaled by ``factor``, then undistorted)."""
    return {idx: map_points_to_training_image(
        pts, scale=1.0 / factor, K_raw=cams.K_raw[idx],
        distortion=cams.distortion[idx] if cams.distortion is not None else None,
        K_final=cams.K_final[idx], fisheye=bool(cams.fisheye[idx])) for idx, pts in points.items()}


def heatmaps_of(points: Dict[int, np.ndarray], cams: ImageCameras, sigma_frac: float) -> PointHeatmaps:
    """The heatmaps of each view's ``points`` (pixels of its training image) at that image's size."""
    return PointHeatmaps(points, {i: tuple(int(v) for v in cams.sizes[i]) for i in points}, sigma_frac)
