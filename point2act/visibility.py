"""How much each Gaussian is *seen* in each view: its total compositing weight there.

A Gaussian's total compositing weight in a view, ``sum over pixels of alpha_i * T_i``, is the number
of pixels' worth of colour it puts into that view's render: 0 when it lies outside the view or behind
an opaque surface. Rendering a one-channel image whose every Gaussian has colour ``c_i`` gives
``C_p = sum_i w_ip c_i``, so ``d(sum_p C_p) / d c_i = sum_p w_ip``: one forward and backward pass of
the rasterizer per view (with detached geometry) gives every Gaussian's weight in that view. This
works with any rasterizer that has a backward pass, point2act's CPU kernels and gsplat's CUDA ones
alike; its reference is the summed rows of :func:`point2act.requery.fit_torch.compositing_weights`.

The training loop uses it to prune Gaussians that fewer than two views see (:func:`unseen_mask`):
random initialisation without a point cloud scatters Gaussians below the table and inside objects,
where, unseen, nothing constrains their relevancy. That initialisation itself is bounded to the views'
frustums (:func:`frustum_bounded_points`, :func:`views_seeing`: inside the image, not occlusion), and each
random Gaussian starts with the colour the views see at it (:func:`photo_colours`).

Plain torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence, Tuple

import torch
from torch import Tensor

from point2act.splatting import Views

if TYPE_CHECKING:
    from point2act.render.splats import Splats

__all__ = ["view_weights", "views_seeing_count", "unseen_mask", "views_seeing", "FrustumCameras",
           "frustum_bounded_points", "photo_colours"]


def view_weights(
    splats: Splats,  # N Gaussians (activated)
    views: Views,  # C views (tensors), of any sizes
    rasterize_mode: str = "classic",
) -> Tensor:  # [C, N]
    """Total compositing weight (in pixels of each view's resolution) of every Gaussian in every view."""
    from point2act.render import rasterization

    means = splats.means
    n = int(means.shape[0])
    out = means.new_zeros((len(views), n), dtype=torch.float32)
    if n == 0:
        return out
    g = [t.detach().float() for t in (means, splats.quats, splats.scales, splats.opacities)]
    viewmats, Ks = views.viewmats, views.Ks
    with torch.enable_grad():
        for c, (h, w) in enumerate(views.sizes):
            ones = torch.ones((n, 1), device=means.device, dtype=torch.float32, requires_grad=True)
            render, _alpha, _meta = rasterization(
                means=g[0], quats=g[1], scales=g[2], opacities=g[3], colors=ones,
                viewmats=viewmats[c : c + 1].float(), Ks=Ks[c : c + 1].float(), width=int(w), height=int(h),
                packed=False, near_plane=0.01, far_plane=1e10, render_mode="RGB", sh_degree=None,
                rasterize_mode=rasterize_mode,
            )
            (grad,) = torch.autograd.grad(render.sum(), ones, allow_unused=True)
            if grad is not None:
                out[c] = grad[:, 0]
    return out


def views_seeing_count(weights: Tensor, tau: float) -> Tensor:  # [N] int
    """How many views give each Gaussian a total weight above ``tau`` (``weights`` [C, N])."""
    return (weights > float(tau)).sum(0)


def unseen_mask(weights: Tensor, tau: float, min_views: int = 2) -> Tensor:  # [N] bool
    """Gaussians seen (weight > ``tau``) by fewer than ``min_views`` views, capped at the number of views."""
    k = max(1, min(int(min_views), int(weights.shape[0])))
    return views_seeing_count(weights, tau) < k


@dataclass(frozen=True)
class FrustumCameras:
    """C cameras as the frustum tests read them (:func:`views_seeing`): a point is in a camera's frustum when it lies
    in front of it and projects inside its image, which takes the pose, the intrinsics and the image size together.
    nerfstudio's conventions (camera-to-world, OpenGL axes: looking along -z)."""

    c2w: Tensor  # [C, 3, 4]
    """Camera-to-world poses (OpenGL axes)."""
    K: Tensor  # [C, 3, 3]
    """Pinhole intrinsics."""
    wh: Tensor  # [C, 2]
    """Image ``(width, height)``, pixels."""


def views_seeing(points: Tensor, cams: FrustumCameras, near: float = 0.01) -> Tensor:  # [M] int
    """How many cameras see each point in front of them, inside the image."""
    c2w, K, wh = cams.c2w, cams.K, cams.wh
    R, t = c2w[:, :3, :3], c2w[:, :3, 3]
    count = torch.zeros(points.shape[0], dtype=torch.long)
    for c in range(c2w.shape[0]):
        p = (points - t[c]) @ R[c]  # camera coordinates, OpenGL: looking along -z
        z = -p[:, 2]
        zs = z.clamp_min(1e-9)
        u = K[c, 0, 0] * p[:, 0] / zs + K[c, 0, 2]
        v = -K[c, 1, 1] * p[:, 1] / zs + K[c, 1, 2]
        count += ((z > near) & (u >= 0) & (u <= wh[c, 0]) & (v >= 0) & (v <= wh[c, 1])).long()
    return count


def frustum_bounded_points(cams: FrustumCameras, n: int, random_scale: float, min_views: int = 3, seed: int = 0,
                           around: Tensor | None = None) -> Tensor:  # [n, 3]
    """``n`` random points in the box of the camera centres grown by half its size on every side (and
    inside splatfacto's random cube of side ``random_scale``), each seen by at least ``min_views``
    cameras (all of them when there are fewer). Falls back to the best-seen candidates if too few pass.

    ``around`` [M, 3]: points already known on the scene (a triangulated cloud); the box is then, within
    the one above, theirs (2nd to 98th percentile per axis, robust to stray points) grown by a quarter of its
    largest side on every side, so that the random points fill the space the scene takes (a plain part
    beside the textured ones) rather than the air between it and the cameras."""
    gen = torch.Generator().manual_seed(int(seed))
    c2w = cams.c2w
    centers = c2w[:, :3, 3]
    lo, hi = centers.min(0).values, centers.max(0).values
    pad = 0.5 * (hi - lo).max().clamp_min(1e-3)
    half = 0.5 * float(random_scale)
    lo, hi = (lo - pad).clamp(-half, half), (hi + pad).clamp(-half, half)
    if around is not None and len(around) >= 2:
        q = torch.quantile(around.float(), torch.tensor([0.02, 0.98]), dim=0)
        grow = 0.25 * (q[1] - q[0]).max().clamp_min(1e-3)
        lo, hi = torch.maximum(lo, q[0] - grow), torch.minimum(hi, q[1] + grow)
        if not bool((hi > lo).all()):  # the known points lie outside the cameras' box: theirs alone
            lo, hi = q[0] - grow, q[1] + grow
    k = max(1, min(int(min_views), c2w.shape[0]))
    kept, best, best_count = [], [], []
    have = 0
    for _ in range(32):
        cand = lo + (hi - lo) * torch.rand((max(4 * n, 1024), 3), generator=gen)
        cnt = views_seeing(cand, cams)
        ok = cnt >= k
        kept.append(cand[ok])
        have += int(ok.sum())
        best.append(cand[~ok])
        best_count.append(cnt[~ok])
        if have >= n:
            break
    pts = torch.cat(kept)[:n]
    if pts.shape[0] < n:  # a capture whose views barely overlap: the most-seen of the rest
        rest, rc = torch.cat(best), torch.cat(best_count)
        pts = torch.cat([pts, rest[torch.argsort(rc, descending=True)[: n - pts.shape[0]]]])
    return pts.float()


def photo_colours(points: Tensor, images: Sequence[Tensor], Ks: Tensor, viewmats: Tensor,
                  min_views: int = 2) -> Tuple[Tensor, Tensor]:
    """The colour the photos show at each point: the per-channel median, over the views that see it (in front
    of the camera, inside the image; occlusion is not modelled), of the pixel it projects into.

    A random Gaussian started with a random colour is wrong in every view, so the photometric loss first fades
    it (its opacity learns faster than its colour), and one on a thin part fades as fast as one in the air:
    a short run then paints the part onto what lies behind it. Started with the photos' colour, a Gaussian on
    a surface matches every view that sees that surface, while one in free space is the median of what its
    views see through it and matches few; the loss keeps the first and fades the second, as voxel colouring
    (Seitz and Dyer 1997) keeps the photo-consistent voxels.

    Args:
        points: [N, 3] world points
        images: C images [H, W, 3+] (uint8 or float in [0, 1])
        Ks: [C, 3, 3] pinhole intrinsics of the images (pixel (i, j)'s centre at (j + 0.5, i + 0.5))
        viewmats: [C, 4, 4] world-to-camera (OpenCV axes: +z forward)
        min_views: views that must see a point for it to get a colour

    Returns:
        ``(colours [N, 3] in [0, 1], seen [N] bool)``: ``seen`` marks the points at least ``min_views`` views
        see; the others' colours are 0.
    """
    pts = points.detach().double().cpu()
    n, C = pts.shape[0], len(images)
    samples = torch.full((C, n, 3), float("nan"), dtype=torch.float64)
    for c, img in enumerate(images):
        img = torch.as_tensor(img)[..., :3]
        scale = 255.0 if not img.dtype.is_floating_point else 1.0
        h, w = img.shape[:2]
        vm = torch.as_tensor(viewmats[c]).double().cpu()
        K = torch.as_tensor(Ks[c]).double().cpu()
        p = pts @ vm[:3, :3].T + vm[:3, 3]
        z = p[:, 2]
        uv = (p[:, :2] / z.clamp_min(1e-9)[:, None]) @ K[:2, :2].T + K[:2, 2]
        col, row = torch.floor(uv[:, 0]).long(), torch.floor(uv[:, 1]).long()
        ok = (z > 1e-6) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        samples[c, ok] = img[row[ok], col[ok]].double() / scale
    count = (~torch.isnan(samples[..., 0])).sum(0)
    seen = count >= max(1, int(min_views))
    colours = torch.zeros((n, 3), dtype=torch.float64)
    if seen.any():
        colours[seen] = torch.nanmedian(samples[:, seen], dim=0).values
    return colours.float(), seen
