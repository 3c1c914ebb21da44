"""The photo-consistency loss of a random start: the training photos' depth evidence where no start cloud and no
depth map gives any (:mod:`point2act.photo_consistency`). A mixin of :class:`point2act.method.model.Point2ActModel`,
whose ``config``, ``device`` and ``get_gt_img`` it uses.

The pipeline hands the model the training photos and cameras once, before training
(:meth:`PhotoDepth.set_photo_views`, only for a random start: a start cloud, given or triangulated, places the
surfaces where the photos' texture matches, and the stereo step's depth maps supervise a triangulated start). Each
training step then warps its view's photo, by the rendered expected depth, into the view's
:data:`PHOTO_NEIGHBOURS` neighbours (:func:`point2act.stereo.neighbour_views`) and adds
``photo_consistency_weight`` times the mean matching cost to the loss. A crop of the fine stage warps as its whole
view would (its camera's intrinsics are the crop's)."""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import torch

PHOTO_NEIGHBOURS = 2
"""Neighbouring views each view's photo is matched against: a point occluded in one is usually seen by the other."""


class PhotoDepth:
    """The model's photo-consistency loss (see the module docstring)."""

    photo_views: Dict[str, object] | None = None
    """What the loss matches against: ``grey`` (each training photo, [H, W] in [0, 1]), ``Ks`` [C, 3, 3],
    ``viewmats`` [C, 4, 4] (OpenCV axes) and ``neighbours`` (per view, its neighbours' indices); None: off."""

    def set_photo_views(self, images: Sequence[np.ndarray], Ks: np.ndarray, viewmats: np.ndarray) -> int:
        """Keep the training photos (uint8 [H, W, 3]) and cameras (:meth:`Point2ActDataManager.training_views`) for
        the loss, and have splatfacto render expected depth in training. Returns the number of views that have a
        neighbour (0: nothing kept, the loss stays off)."""
        from point2act.stereo import neighbour_views

        if self.config.photo_consistency_weight <= 0:
            return 0
        neighbours = neighbour_views(np.asarray(viewmats), PHOTO_NEIGHBOURS)
        if not any(neighbours):
            return 0
        dev = torch.device(self.device)
        grey: List[torch.Tensor] = [torch.from_numpy(np.asarray(im, dtype=np.float32)[..., :3].mean(-1) / 255.0).to(dev)
                                    for im in images]
        self.photo_views = {"grey": grey, "Ks": torch.as_tensor(np.asarray(Ks), dtype=torch.float32, device=dev),
                            "viewmats": torch.as_tensor(np.asarray(viewmats), dtype=torch.float32, device=dev),
                            "neighbours": neighbours}
        self.config.output_depth_during_training = True
        return sum(1 for n in neighbours if n)

    def photo_consistency_term(self, outputs, batch, camera) -> torch.Tensor | None:
        """``photo_consistency_weight`` times :func:`point2act.photo_consistency.photo_consistency_loss` of this
        step's view (``camera``, its ``cam_idx``), or None (off, no depth rendered, a view without neighbours, or no
        textured pixel)."""
        from point2act.photo_consistency import photo_consistency_loss

        pv = self.photo_views
        depth = outputs.get("depth")
        meta = getattr(camera, "metadata", None) or {}
        if pv is None or depth is None or "cam_idx" not in meta:
            return None
        idx = int(meta["cam_idx"])
        nbrs = pv["neighbours"][idx]
        if not nbrs:
            return None
        depth = depth[..., 0]
        h, w = depth.shape
        K = camera.get_intrinsics_matrices()[0].to(depth)  # the camera as given (a crop's own); depth may be smaller
        K = torch.cat([K[:1] * (w / float(camera.width.item())), K[1:2] * (h / float(camera.height.item())), K[2:]])
        grey = self.get_gt_img(batch["image"])[..., :3].mean(-1)
        if tuple(grey.shape) != (h, w):
            return None
        loss = photo_consistency_loss(depth, grey.to(depth), K, pv["viewmats"][idx],
                                      [(pv["grey"][j], pv["Ks"][j], pv["viewmats"][j]) for j in nbrs])
        return None if loss is None else self.config.photo_consistency_weight * loss
