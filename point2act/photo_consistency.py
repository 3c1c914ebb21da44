"""Multi-view photo-consistency of a rendered depth map: the depth evidence of the posed photos, as a loss.

Why: a random start (no start cloud: no SIFT or stereo points, no depth maps) learns depth from the photometric
loss of each Gaussian's colour alone. Over a faintly textured table that loss barely depends on a Gaussian's
height: a disc a centimetre above the table, coloured like the table, renders nearly the same in every view, and
the table near the target comes out as a layer of opaque discs 1-3 cm thick, where no finger fits. The photos
themselves fix the depth better than the colours do: warped into a neighbouring view by the rendered depth, a
3 x 3 patch of this view's photo matches the neighbour's photo only at the right depth (the matching cost of
multi-view stereo, here on the field's own depth, so that its gradient moves the surface).

The cost of pixel ``p`` of view ``i`` with rendered depth ``d(p)``: each neighbour ``j`` samples its photo at the
projection of ``p``'s back-projected point (bilinear), and the zero-normalised cross-correlation (ZNCC) of this
view's grey patch around ``p`` with the warped patch gives ``(1 - ZNCC) / 2`` in [0, 1]. A point that leaves the
neighbour's image or falls behind it costs 1 (no gradient). The pixel's cost is the smallest over the neighbours
(a point occluded in one neighbour is usually seen by another: the minimum reprojection of monodepth2), and the
loss is the mean over the pixels whose own patch has texture (grey-level standard deviation at least
:data:`MIN_TEXTURE_STD`): ZNCC of a flat patch is noise.

Plain torch. Cameras follow gsplat: ``viewmats`` world-to-camera with OpenCV axes (x right, y down, z forward),
``Ks`` pinhole intrinsics with pixel (i, j)'s centre at (j + 0.5, i + 0.5), ``depth`` z-depth.
Check: ``tests/test_photo_consistency.py`` (a textured plane seen by two cameras: the cost is lowest at the true
depth, its gradient points there, and the warp lands where the plane's point projects).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["MIN_TEXTURE_STD", "WINDOW", "photo_consistency_cost", "photo_consistency_loss", "window_zncc"]

WINDOW = 3
"""Side of the matching patch (pixels, odd). A window that straddles an object's silhouette matches at the
object's depth (its edge is the strongest texture in it): the table's pixels next to an object are pulled up
to the object, in a halo half a window wide, where a finger goes. 3 x 3 keeps that halo to one pixel."""
MIN_TEXTURE_STD = 0.01
"""Smallest grey-level standard deviation (0..1; 2.55 of 255 levels) of a pixel's patch for its cost to count."""


def window_zncc(a: torch.Tensor, b: torch.Tensor, window: int = WINDOW) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-normalised cross-correlation of the ``window`` x ``window`` patches of two grey images around each pixel
    (patches clipped at the border).

    Args:
        a: torch.Tensor  # [H, W]
        b: torch.Tensor  # [H, W]

    Returns:
        zncc: torch.Tensor  # [H, W] in [-1, 1] (0 where either patch is flat)
        std_a: torch.Tensor  # [H, W] standard deviation of ``a``'s patch
    """
    x = torch.stack([a, b, a * a, b * b, a * b])[:, None]  # [5, 1, H, W]
    m = F.avg_pool2d(x, window, 1, window // 2, count_include_pad=False)[:, 0]
    mu_a, mu_b = m[0], m[1]
    var_a = (m[2] - mu_a * mu_a).clamp(min=0.0)
    var_b = (m[3] - mu_b * mu_b).clamp(min=0.0)
    cov = m[4] - mu_a * mu_b
    zncc = (cov / torch.sqrt(var_a * var_b + 1e-12)).clamp(-1.0, 1.0)
    return zncc, torch.sqrt(var_a)


def photo_consistency_cost(
    depth: torch.Tensor,  # [H, W]
    grey: torch.Tensor,  # [H, W]
    K: torch.Tensor,  # [3, 3]
    viewmat: torch.Tensor,  # [4, 4]
    neighbours: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    window: int = WINDOW,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pixel's matching cost against the neighbouring views (see the module doc).

    Args:
        depth: the rendered z-depth of the view (differentiable).
        grey: the view's photo in grey levels in [0, 1], at the depth's resolution.
        K, viewmat: the view's intrinsics (of ``depth``'s pixel grid) and world-to-camera matrix.
        neighbours: per neighbouring view ``(grey [H', W'], K [3, 3], viewmat [4, 4])``, its photo at any resolution
            with the intrinsics of that resolution.

    Returns:
        cost: torch.Tensor  # [H, W] in [0, 1], the smallest over the neighbours (1 without any)
        textured: torch.Tensor  # [H, W] bool, where this view's patch has texture
    """
    H, W = depth.shape
    dt = depth.dtype
    v, u = torch.meshgrid(torch.arange(H, dtype=dt, device=depth.device) + 0.5,
                          torch.arange(W, dtype=dt, device=depth.device) + 0.5, indexing="ij")
    K, viewmat = K.to(depth), viewmat.to(depth)
    cam = torch.stack([(u - K[0, 2]) / K[0, 0] * depth, (v - K[1, 2]) / K[1, 1] * depth, depth], -1)  # [H, W, 3]
    world = (cam - viewmat[:3, 3]) @ viewmat[:3, :3]  # R^T (x - t)
    best = torch.ones_like(depth)
    std = None
    for g_j, K_j, vm_j in neighbours:
        K_j, vm_j, g_j = K_j.to(depth), vm_j.to(depth), g_j.to(depth)
        q = world @ vm_j[:3, :3].T + vm_j[:3, 3]  # [H, W, 3]
        z = q[..., 2]
        zs = torch.where(z > 1e-9, z, torch.ones_like(z))
        x = (K_j[0, 0] * q[..., 0] / zs + K_j[0, 2]) / g_j.shape[1] * 2.0 - 1.0
        y = (K_j[1, 1] * q[..., 1] / zs + K_j[1, 2]) / g_j.shape[0] * 2.0 - 1.0
        warped = F.grid_sample(g_j[None, None], torch.stack([x, y], -1)[None], mode="bilinear",
                               padding_mode="border", align_corners=False)[0, 0]
        zncc, std = window_zncc(grey, warped, window)
        inside = (z > 1e-9) & (x.abs() < 1.0) & (y.abs() < 1.0)
        cost = torch.where(inside, (1.0 - zncc) * 0.5, torch.ones_like(zncc))
        best = torch.minimum(best, cost)
    if std is None:
        std = window_zncc(grey, grey, window)[1]
    return best, std >= MIN_TEXTURE_STD


def photo_consistency_loss(
    depth: torch.Tensor,  # [H, W]
    grey: torch.Tensor,  # [H, W]
    K: torch.Tensor,  # [3, 3]
    viewmat: torch.Tensor,  # [4, 4]
    neighbours: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    window: int = WINDOW,
) -> torch.Tensor | None:
    """The mean of :func:`photo_consistency_cost` over the textured pixels with a rendered depth (> 0); None where
    there are none, or no neighbours.

    Returns:
        loss: torch.Tensor  # [] in [0, 1]
    """
    if not len(neighbours):
        return None
    cost, textured = photo_consistency_cost(depth, grey, K, viewmat, neighbours, window)
    keep = textured & (depth.detach() > 0)
    if not bool(keep.any()):
        return None
    return cost[keep].mean()
