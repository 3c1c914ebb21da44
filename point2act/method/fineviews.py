"""The training views of the fine stage: full-resolution crops where the answers point, between whole views.

Splatfacto trains its first quarter at half resolution (the coarse stage) and every later step on a whole view
at full resolution. The pixels away from the target cost as much as the target's and matter less to the grasp,
so from the step the model reaches full resolution (:attr:`FineViews.start`) every **odd step** trains a
**crop** of its view: the window :data:`CROP_FRACTION` of the image's width and height centred on the answers'
heatmap cores (wider where the cores span more), at full resolution, its principal point moved to the window's
corner. Even steps, and views without answers, train the whole view, so the whole scene keeps training and the
viewer still shows all of it.

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
        """Whether ``step`` trains view ``idx``'s crop: an odd step of the fine stage, a view with answers."""
        return self.start is not None and step >= self.start and step % 2 == 1 and int(idx) in self.cores

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
