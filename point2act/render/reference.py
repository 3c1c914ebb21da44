"""Dense pure-torch reference of the CPU rasterizer (tests and benchmarks only).

Evaluates, tile by tile, every (pixel, Gaussian) pair of the Gaussians whose
tile rectangle covers the tile (same coverage rule as gsplat's isect_tiles),
with gsplat's alpha rule (``min(0.999, o * exp(-sigma))``, skipped when
``sigma < 0`` or ``alpha < 1/255``), depth order (stable, ties by index) and
the ``next_T <= 1e-4`` early stop (the stopping Gaussian excluded).
Differentiable by autograd; with ``absgrad=True`` the sum over pixels of the
per-pixel absolute gradient w.r.t. the 2D means is written to
``means2d.absgrad`` (or to ``absgrad_target[0].absgrad``) during backward.
Memory grows like (#intersections x tile_size^2): keep scenes small.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from .rasterization import _rasterization_cpu


class _PairProbe(torch.autograd.Function):
    """Identity broadcast ``[n, 2] -> [P, n, 2]`` that records per-pair |grads|."""

    @staticmethod
    def forward(ctx, m: Tensor, P: int, sink: Tensor, dest: Tensor):
        ctx.sink = sink  # [M, 2], rows addressed by ``dest``
        ctx.save_for_backward(dest)
        return m[None].expand(P, -1, -1).clone()

    @staticmethod
    def backward(ctx, g: Tensor):
        (dest,) = ctx.saved_tensors
        ctx.sink.index_add_(0, dest, g.abs().sum(0).to(ctx.sink.dtype))
        return g.sum(0), None, None, None


def _tile_rects(
    means2d: Tensor, radii: Tensor, tile_size: int, tile_width: int, tile_height: int
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-Gaussian tile rectangles [x0, x1) x [y0, y1), as gsplat's isect_tiles."""
    m = means2d.detach()
    tr = radii.to(m.dtype) / tile_size
    tx = m[..., 0] / tile_size
    ty = m[..., 1] / tile_size
    x0 = torch.floor(tx - tr).clamp(0, tile_width).long()
    y0 = torch.floor(ty - tr).clamp(0, tile_height).long()
    x1 = torch.ceil(tx + tr).clamp(0, tile_width).long()
    y1 = torch.ceil(ty + tr).clamp(0, tile_height).long()
    return x0, x1, y0, y1


def rasterize_to_pixels_reference(
    means2d: Tensor,  # [C, N, 2]
    conics: Tensor,  # [C, N, 3]
    colors: Tensor,  # [C, N, D]
    opacities: Tensor,  # [C, N]
    radii: Tensor,  # [C, N]
    depths: Tensor,  # [C, N]
    image_width: int,
    image_height: int,
    tile_size: int,
    backgrounds: Optional[Tensor] = None,  # [C, D]
    absgrad: bool = False,
    absgrad_target=None,
) -> Tuple[Tensor, Tensor]:
    """Reference rasterization; returns render_colors [C, H, W, D], render_alphas [C, H, W, 1]."""
    C, N = means2d.shape[:2]
    D = colors.shape[-1]
    dtype, device = means2d.dtype, means2d.device
    tile_width = math.ceil(image_width / tile_size)
    tile_height = math.ceil(image_height / tile_size)
    x0, x1, y0, y1 = _tile_rects(means2d, radii, tile_size, tile_width, tile_height)
    alive = radii > 0

    sink, dest_map = None, None
    if absgrad:
        target, index = absgrad_target if absgrad_target is not None else (means2d, None)
        if index is None:  # unpacked: rows of [C * N]
            sink = torch.zeros(C, N, 2, dtype=dtype, device=device)
            dest_map = torch.arange(C * N, device=device).reshape(C, N)
        else:  # packed: rows of [nnz]
            cam_ids, gauss_ids = index
            sink = torch.zeros(cam_ids.numel(), 2, dtype=dtype, device=device)
            dest_map = torch.full((C, N), -1, dtype=torch.long, device=device)
            dest_map[cam_ids, gauss_ids] = torch.arange(cam_ids.numel(), device=device)
        target.absgrad = sink  # filled in place during backward
        sink = sink.view(-1, 2)

    one = torch.ones((), dtype=dtype, device=device)
    amin = one / 255
    rows_c, alphas_c = [], []
    for c in range(C):
        order = torch.sort(depths[c].detach(), stable=True).indices  # [N]
        rows, arows = [], []
        for ty in range(tile_height):
            py0, py1 = ty * tile_size, min((ty + 1) * tile_size, image_height)
            tiles, atiles = [], []
            for tx in range(tile_width):
                px0, px1 = tx * tile_size, min((tx + 1) * tile_size, image_width)
                ph, pw = py1 - py0, px1 - px0
                P = ph * pw
                cover = (
                    alive[c]
                    & (x0[c] <= tx)
                    & (tx < x1[c])
                    & (y0[c] <= ty)
                    & (ty < y1[c])
                )
                sel = order[cover[order]]  # gaussians of this tile, front to back
                n = sel.numel()
                if n == 0:
                    col = torch.zeros(P, D, dtype=dtype, device=device)
                    T_final = torch.ones(P, dtype=dtype, device=device)
                else:
                    yy, xx = torch.meshgrid(
                        torch.arange(py0, py1, device=device, dtype=dtype),
                        torch.arange(px0, px1, device=device, dtype=dtype),
                        indexing="ij",
                    )
                    pix = torch.stack([xx.reshape(-1), yy.reshape(-1)], -1) + 0.5
                    m = means2d[c, sel]  # [n, 2]
                    if absgrad:
                        m = _PairProbe.apply(m, P, sink, dest_map[c, sel])  # [P, n, 2]
                    else:
                        m = m[None].expand(P, n, 2)
                    dx = m[..., 0] - pix[:, None, 0]
                    dy = m[..., 1] - pix[:, None, 1]
                    con = conics[c, sel]  # [n, 3]
                    sigma = (
                        0.5 * (con[:, 0] * dx * dx + con[:, 2] * dy * dy)
                        + con[:, 1] * dx * dy
                    )  # [P, n]
                    alpha = torch.clamp_max(
                        opacities[c, sel] * torch.exp(-sigma), 0.999
                    )
                    with torch.no_grad():
                        valid = (sigma >= 0) & (alpha >= amin)
                        a_v = torch.where(valid, alpha, torch.zeros_like(alpha))
                        next_T = torch.cumprod(1 - a_v, dim=1)
                        stop = valid & (next_T <= 1e-4)
                        stopped = torch.cumsum(stop.to(torch.int64), dim=1) > 0
                        keep = valid & ~stopped
                    a_k = torch.where(keep, alpha, torch.zeros_like(alpha))
                    T_incl = torch.cumprod(1 - a_k, dim=1)
                    T_excl = torch.cat(
                        [torch.ones_like(T_incl[:, :1]), T_incl[:, :-1]], dim=1
                    )
                    w = a_k * T_excl  # [P, n]
                    col = w @ colors[c, sel]  # [P, D]
                    T_final = T_incl[:, -1]
                if backgrounds is not None:
                    col = col + T_final[:, None] * backgrounds[c][None, :]
                tiles.append(col.reshape(ph, pw, D))
                atiles.append((1 - T_final).reshape(ph, pw, 1))
            rows.append(torch.cat(tiles, dim=1))
            arows.append(torch.cat(atiles, dim=1))
        rows_c.append(torch.cat(rows, dim=0))
        alphas_c.append(torch.cat(arows, dim=0))
    return torch.stack(rows_c, 0), torch.stack(alphas_c, 0)


def rasterization_reference(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4]
    scales: Tensor,  # [N, 3]
    opacities: Tensor,  # [N]
    colors: Tensor,  # [(C,) N, D] or [(C,) N, K, 3]
    viewmats: Tensor,  # [C, 4, 4]
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    eps2d: float = 0.3,
    sh_degree: Optional[int] = None,
    packed: bool = False,
    tile_size: int = 16,
    backgrounds: Optional[Tensor] = None,
    render_mode: str = "RGB",
    absgrad: bool = False,
    rasterize_mode: str = "classic",
    camera_model: str = "pinhole",
    covars: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor, Dict]:
    """Same as :func:`point2act.render.rasterization` (CPU path) with the dense
    reference rasterizer instead of the C++ kernel (same projection code).

    ``meta`` lacks the tile-intersection keys (``isect_ids`` etc.).
    """
    args = dict(locals())
    return _rasterization_cpu(**args, sparse_grad=False, distributed=False,
                              rasterize_fn=rasterize_to_pixels_reference, isect_fn=None)
