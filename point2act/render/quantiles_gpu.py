"""Depth quantiles on the GPU: :func:`point2act.render.depth_quantiles` by torch ops over gsplat's tile lists.

The CPU kernel walks each tile's depth-sorted list pixel by pixel. Here every tile of a chunk is padded to the
chunk's longest list, and the compositing (alpha, the stop at transmittance ``TRANSMITTANCE_MIN``, the weights
``alpha * T`` and their running sum) runs as batched tensor ops on whatever device the inputs are on, so a CUDA
run renders its convergence probes without the CPU rasterizer. The rules are the CPU kernel's (gsplat 1.4.0's
forward pass): same constants, same skip and stop conditions; only the running sums' rounding may differ, so a
pixel whose running sum meets a level to the last bit can take the neighbouring Gaussian's depth.

Check: ``tests/render/test_quantiles_gpu.py`` compares it with the CPU kernel on CPU tensors, and on CUDA
(gsplat's projection and tile lists) with the CPU path of :func:`point2act.fusion.render_median_depth`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from point2act.render._constants import ALPHA_MAX, ALPHA_MIN, PIXEL_CENTER, TRANSMITTANCE_MIN
from point2act.render.splats import Splats
from point2act.render.tiles import TileLists

CHUNK_ELEMENTS = 1 << 24
"""Pixels x list entries composited at once (the temporaries are a few times this many floats)."""


def depth_quantiles_torch(
    means2d: Tensor,  # [C, N, 2]
    conics: Tensor,  # [C, N, 3]
    opacities: Tensor,  # [C, N]
    depths: Tensor,  # [C, N] camera z of each Gaussian
    tiles: TileLists,
    levels: Sequence[float] = (0.25, 0.5, 0.75),
) -> Tensor:  # [C, H, W, L]
    """:func:`point2act.render.depth_quantiles` (same arguments and result) by torch ops, on the inputs' device.

    Args:
        means2d: projected centres, pixels
        conics: inverse 2D covariances (upper triangle)
        opacities: per-camera opacities
        depths: each Gaussian's camera z
        tiles: the depth-sorted tile lists (``flatten_ids`` index the ``C * N`` Gaussians)
        levels: composited-opacity levels, ascending or not

    Returns:
        Per pixel and level, the depth of the Gaussian at which the running sum of the weights first reaches the
        level; 0 where it never does.
    """
    C, N = means2d.shape[:2]
    dev, dt = means2d.device, means2d.dtype
    W, H, ts = int(tiles.width), int(tiles.height), int(tiles.tile_size)
    th, tw = tiles.isect_offsets.shape[1:]
    n_tiles = C * th * tw
    fid = tiles.flatten_ids.to(dev).long()
    starts = tiles.isect_offsets.to(dev).reshape(-1).long()
    ends = torch.cat([starts[1:], torch.tensor([fid.numel()], device=dev, dtype=torch.long)])
    counts = ends - starts
    lv = torch.as_tensor(list(levels), dtype=dt, device=dev)
    out = torch.zeros(C, th * ts, tw * ts, len(lv), dtype=dt, device=dev)
    m_flat, con_flat = means2d.detach().reshape(-1, 2), conics.detach().reshape(-1, 3).to(dt)
    op_flat, z_flat = opacities.detach().reshape(-1).to(dt), depths.detach().reshape(-1).to(dt)
    iy, ix = torch.meshgrid(torch.arange(ts, device=dev), torch.arange(ts, device=dev), indexing="ij")
    local = torch.stack([ix.reshape(-1), iy.reshape(-1)], -1).to(dt) + PIXEL_CENTER  # [P, 2]
    busy = torch.nonzero(counts > 0).reshape(-1)
    if busy.numel() == 0:
        return out[:, :H, :W]
    busy_counts = counts[busy]
    order = torch.argsort(busy_counts)  # similar lengths share a chunk: less padding
    busy, busy_counts = busy[order], busy_counts[order]
    lens = busy_counts.tolist()
    P = ts * ts
    i = 0
    while i < len(lens):
        j = i + 1
        while j < len(lens) and (j - i + 1) * P * lens[j] <= CHUNK_ELEMENTS:
            j += 1
        t = busy[i:j]
        K = int(lens[j - 1])
        k = torch.arange(K, device=dev)
        valid_k = k[None, :] < busy_counts[i:j, None]  # [T, K]
        ids = fid[(starts[t][:, None] + k[None, :]).clamp_max(max(fid.numel() - 1, 0))]
        ids = torch.where(valid_k, ids, torch.zeros_like(ids))
        cam, tile = t // (th * tw), t % (th * tw)
        origin = torch.stack([(tile % tw) * ts, (tile // tw) * ts], -1).to(dt)  # [T, 2] (x0, y0)
        pix = origin[:, None, :] + local[None]  # [T, P, 2]
        m = m_flat[ids]  # [T, K, 2]
        dx = m[:, None, :, 0] - pix[:, :, None, 0]
        dy = m[:, None, :, 1] - pix[:, :, None, 1]
        con = con_flat[ids]
        sigma = (0.5 * (con[:, None, :, 0] * dx * dx + con[:, None, :, 2] * dy * dy)
                 + con[:, None, :, 1] * dx * dy)  # [T, P, K]
        alpha = torch.clamp_max(op_flat[ids][:, None, :] * torch.exp(-sigma), ALPHA_MAX)
        valid = (sigma >= 0) & (alpha >= torch.tensor(ALPHA_MIN, dtype=dt)) & valid_k[:, None, :]
        a_v = torch.where(valid, alpha, torch.zeros_like(alpha))
        next_T = torch.cumprod(1 - a_v, dim=-1)
        stop = valid & (next_T <= TRANSMITTANCE_MIN)
        keep = valid & ~(torch.cumsum(stop.to(torch.int32), dim=-1) > 0)
        a_k = torch.where(keep, alpha, torch.zeros_like(alpha))
        T_incl = torch.cumprod(1 - a_k, dim=-1)
        T_excl = torch.cat([torch.ones_like(T_incl[..., :1]), T_incl[..., :-1]], dim=-1)
        acc = torch.cumsum(a_k * T_excl, dim=-1)  # [T, P, K]
        z = z_flat[ids][:, None, :].expand_as(acc)
        res = []
        for level in lv:
            reach = keep & (acc >= level)
            first = torch.argmax(reach.to(torch.uint8), dim=-1, keepdim=True)  # first True (0 when none)
            hit = torch.gather(reach, -1, first).squeeze(-1)
            res.append(torch.where(hit, torch.gather(z, -1, first).squeeze(-1), torch.zeros((), dtype=dt, device=dev)))
        vals = torch.stack(res, -1)  # [T, P, L]
        ys = (origin[:, 1].long()[:, None] + iy.reshape(-1)[None]).reshape(-1)
        xs = (origin[:, 0].long()[:, None] + ix.reshape(-1)[None]).reshape(-1)
        cs = cam[:, None].expand(-1, P).reshape(-1)
        out[cs, ys, xs] = vals.reshape(-1, len(lv))
        i = j
    return out[:, :H, :W].contiguous()


def median_depth_gsplat(
    splats: Splats,  # N Gaussians on a CUDA device: linear scales, opacities in [0, 1]
    viewmat: Tensor,  # [4, 4] world-to-camera, OpenCV axes
    K: Tensor,  # [3, 3]
    width: int,
    height: int,
    levels: Sequence[float] = (0.5, 0.75),
) -> Tensor:  # [H, W, L]
    """The depth quantiles of one view on a CUDA device: gsplat's projection (classic, no compensation) and tile
    lists, then :func:`depth_quantiles_torch`; the GPU counterpart of :func:`point2act.fusion.render_median_depth`'s
    CPU path."""
    from gsplat import fully_fused_projection, isect_offset_encode, isect_tiles

    dev = splats.means.device
    vm = viewmat.detach().float().to(dev)[None]
    k = K.detach().float().to(dev)[None]
    m, q, s, o = (t.detach().float() for t in (splats.means, splats.quats, splats.scales, splats.opacities))
    radii, means2d, depths, conics, _comp = fully_fused_projection(
        m, None, q, s, vm, k, int(width), int(height), near_plane=0.01, far_plane=1e10)
    ts = 16
    tw, th = -(-int(width) // ts), -(-int(height) // ts)
    _tpg, isect_ids, flatten_ids = isect_tiles(means2d, radii, depths, ts, tw, th)
    offsets = isect_offset_encode(isect_ids, 1, tw, th)
    tiles = TileLists(int(width), int(height), ts, offsets, flatten_ids)
    return depth_quantiles_torch(means2d, conics, o[None], depths, tiles, levels)[0]


__all__ = ["CHUNK_ELEMENTS", "depth_quantiles_torch", "median_depth_gsplat"]
