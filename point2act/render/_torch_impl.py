"""Pure-torch references of the CPU kernels (tests and benchmarks only; never on the production path).

gsplat-style: one leading-underscore function per kernel, each with the kernel's signature and
returns, differentiable by autograd:

* :func:`_fully_fused_projection` - :func:`point2act.render.fully_fused_projection`
* :func:`_sh_colors` - :func:`point2act.render.sh_colors` (with gsplat's :func:`_spherical_harmonics`)
* :func:`_isect_tiles` - :func:`point2act.render.isect_tiles`
* :func:`_rasterize_to_pixels` - :func:`point2act.render.rasterize_to_pixels`
* :func:`_compositing_weights` - :func:`point2act.render.compositing_weights`
* :func:`_rasterization` - :func:`point2act.render.rasterization` (CPU path) with the four above
  but the compositing weights.

The rasterizer reference evaluates, tile by tile, every (pixel, Gaussian) pair of the tile's list
densely, with the constants of :mod:`point2act.render._constants`: alpha =
``min(ALPHA_MAX, o * exp(-sigma))``, skipped when ``sigma < 0`` or ``alpha < ALPHA_MIN``, the
``next_T <= TRANSMITTANCE_MIN`` early stop (the stopping Gaussian excluded). Memory grows like
(#intersections x tile_size^2): keep scenes small.
"""

from __future__ import annotations

from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from point2act.render._constants import ALPHA_MAX, ALPHA_MIN, PIXEL_CENTER, TRANSMITTANCE_MIN
from point2act.render.tiles import TileLists


# ------------------------------------------------------------------------------------------------
# projection
# ------------------------------------------------------------------------------------------------
def _quat_to_rotmat(quats: Tensor) -> Tensor:  # [..., 4] (wxyz) -> [..., 3, 3]
    """Rotation matrices from (unnormalised) wxyz quaternions."""
    quats = F.normalize(quats, p=2, dim=-1)
    w, x, y, z = torch.unbind(quats, dim=-1)
    R = torch.stack(
        [
            1 - 2 * (y**2 + z**2),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x**2 + z**2),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x**2 + y**2),
        ],
        dim=-1,
    )
    return R.reshape(quats.shape[:-1] + (3, 3))


def _quat_scale_to_covar(
    quats: Tensor,  # [N, 4]
    scales: Tensor,  # [N, 3]
) -> Tensor:  # [N, 3, 3]
    """3D covariances ``R S S^T R^T`` from quaternions and scales."""
    R = _quat_to_rotmat(quats)
    M = R * scales[..., None, :]
    return M @ M.transpose(-1, -2)


def _symmetrize_covars(covars: Tensor) -> Tensor:  # [N, 3, 3] -> [N, 3, 3]
    """Use the upper triangle of user covariances, as gsplat does."""
    triu = torch.triu(covars)
    return triu + triu.transpose(-1, -2) - torch.diag_embed(
        torch.diagonal(covars, dim1=-2, dim2=-1)
    )


def _fully_fused_projection(
    means: Tensor,  # [N, 3]
    covars: Tensor | None,  # [N, 3, 3] (or None: use quats and scales)
    quats: Tensor | None,  # [N, 4]
    scales: Tensor | None,  # [N, 3]
    viewmats: Tensor,  # [C, 4, 4]
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    radius_clip: float = 0.0,
    calc_compensations: bool = False,
    camera_model: str = "pinhole",
) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
    """Reference of :func:`point2act.render.fully_fused_projection` (same signature and returns).

    Autograd through torch ops; unlike the kernel it also differentiates w.r.t. ``Ks`` and gives
    culled Gaussians (finite, meaningless) gradients of their own outputs.

    Returns:
        radii [C, N] int32 (0 = culled), means2d [C, N, 2], depths [C, N],
        conics [C, N, 3] and compensations [C, N] (None unless
        ``calc_compensations``).
    """
    if camera_model != "pinhole":
        raise NotImplementedError(
            f"point2act CPU rasterizer: camera_model={camera_model!r} is not "
            "supported on CPU (only 'pinhole'); use a CUDA device for gsplat."
        )
    covars = _quat_scale_to_covar(quats, scales) if covars is None else _symmetrize_covars(covars)
    C = viewmats.shape[0]
    R = viewmats[:, :3, :3]  # [C, 3, 3]
    t = viewmats[:, :3, 3]  # [C, 3]
    means_c = torch.einsum("cij,nj->cni", R, means) + t[:, None, :]  # [C, N, 3]
    covars_c = torch.einsum("cij,njk,clk->cnil", R, covars, R)  # [C, N, 3, 3]

    x, y, z = torch.unbind(means_c, dim=-1)  # [C, N]
    depths = z
    with torch.no_grad():
        valid = (z >= near_plane) & (z <= far_plane)
    # avoid inf/nan (and nan gradients) for culled Gaussians behind the camera
    z_safe = torch.where(valid, z, torch.ones_like(z))
    rz = 1.0 / z_safe
    rz2 = rz * rz

    fx = Ks[:, 0, 0, None]  # [C, 1]
    fy = Ks[:, 1, 1, None]
    cx = Ks[:, 0, 2, None]
    cy = Ks[:, 1, 2, None]
    tan_fovx = 0.5 * width / fx
    tan_fovy = 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + 0.3 * tan_fovx
    lim_x_neg = cx / fx + 0.3 * tan_fovx
    lim_y_pos = (height - cy) / fy + 0.3 * tan_fovy
    lim_y_neg = cy / fy + 0.3 * tan_fovy
    tx = z_safe * torch.minimum(lim_x_pos, torch.maximum(-lim_x_neg, x * rz))
    ty = z_safe * torch.minimum(lim_y_pos, torch.maximum(-lim_y_neg, y * rz))

    zeros = torch.zeros_like(z)
    J = torch.stack(
        [fx * rz, zeros, -fx * tx * rz2, zeros, fy * rz, -fy * ty * rz2], dim=-1
    ).reshape(C, -1, 2, 3)
    cov2d = J @ covars_c @ J.transpose(-1, -2)  # [C, N, 2, 2]
    means2d = torch.stack([fx * x * rz + cx, fy * y * rz + cy], dim=-1)  # [C, N, 2]

    a = cov2d[..., 0, 0]
    b = 0.5 * (cov2d[..., 0, 1] + cov2d[..., 1, 0])
    c = cov2d[..., 1, 1]
    det_orig = a * c - b * b
    a = a + eps2d
    c = c + eps2d
    det = a * c - b * b
    with torch.no_grad():
        valid = valid & (det > 0)
    det_safe = torch.where(valid, det, torch.ones_like(det))

    compensations = None
    if calc_compensations:
        ratio = det_orig / det_safe
        with torch.no_grad():
            comp_val = torch.sqrt(torch.clamp(ratio, min=0.0))
            # gsplat's add_blur_vjp: d comp = 0.5 / (comp + 1e-6) d ratio
            scale = 0.5 / (comp_val + 1e-6)
        compensations = comp_val + (ratio - ratio.detach()) * scale

    conics = torch.stack([c / det_safe, -b / det_safe, a / det_safe], dim=-1)

    with torch.no_grad():
        bb = 0.5 * (a + c)
        v1 = bb + torch.sqrt(torch.clamp(bb * bb - det_safe, min=0.01))
        radius = torch.ceil(3.0 * torch.sqrt(v1))
        valid = valid & (radius > radius_clip)
        mx, my = means2d[..., 0], means2d[..., 1]
        inside = (
            (mx + radius > 0)
            & (mx - radius < width)
            & (my + radius > 0)
            & (my - radius < height)
        )
        radii = torch.where(valid & inside, radius, torch.zeros_like(radius)).to(
            torch.int32
        )
    return radii, means2d, depths, conics, compensations


# ------------------------------------------------------------------------------------------------
# spherical harmonics
# ------------------------------------------------------------------------------------------------
def _eval_sh_bases(basis_dim: int, dirs: Tensor) -> Tensor:  # [..., 3] -> [..., B]
    """Real SH bases at unit directions (Sloan 2013), ordering as gsplat."""
    x, y, z = dirs.unbind(-1)
    out = [None] * basis_dim
    out[0] = torch.full_like(x, 0.2820947917738781)
    if basis_dim > 1:
        fTmpA = -0.48860251190292
        out[2] = -fTmpA * z
        out[3] = fTmpA * x
        out[1] = fTmpA * y
    if basis_dim > 4:
        z2 = z * z
        fTmpB = -1.092548430592079 * z
        fTmpA = 0.5462742152960395
        fC1 = x * x - y * y
        fS1 = 2 * x * y
        out[6] = 0.9461746957575601 * z2 - 0.3153915652525201
        out[7] = fTmpB * x
        out[5] = fTmpB * y
        out[8] = fTmpA * fC1
        out[4] = fTmpA * fS1
    if basis_dim > 9:
        fTmpC = -2.285228997322329 * z2 + 0.4570457994644658
        fTmpB = 1.445305721320277 * z
        fTmpA = -0.5900435899266435
        fC2 = x * fC1 - y * fS1
        fS2 = x * fS1 + y * fC1
        out[12] = z * (1.865881662950577 * z2 - 1.119528997770346)
        out[13] = fTmpC * x
        out[11] = fTmpC * y
        out[14] = fTmpB * fC1
        out[10] = fTmpB * fS1
        out[15] = fTmpA * fC2
        out[9] = fTmpA * fS2
    if basis_dim > 16:
        fTmpD = z * (-4.683325804901025 * z2 + 2.007139630671868)
        fTmpC = 3.31161143515146 * z2 - 0.47308734787878
        fTmpB = -1.770130769779931 * z
        fTmpA = 0.6258357354491763
        fC3 = x * fC2 - y * fS2
        fS3 = x * fS2 + y * fC2
        out[20] = 1.984313483298443 * z2 * (
            1.865881662950577 * z2 - 1.119528997770346
        ) + -1.006230589874905 * (0.9461746957575601 * z2 - 0.3153915652525201)
        out[21] = fTmpD * x
        out[19] = fTmpD * y
        out[22] = fTmpC * fC1
        out[18] = fTmpC * fS1
        out[23] = fTmpB * fC2
        out[17] = fTmpB * fS2
        out[24] = fTmpA * fC3
        out[16] = fTmpA * fS3
    return torch.stack(out, dim=-1)


def _spherical_harmonics(
    degree: int,
    dirs: Tensor,  # [..., 3]
    coeffs: Tensor,  # [..., K, 3]
) -> Tensor:  # [..., 3]
    """gsplat's ``spherical_harmonics``: ``sum_b Y_b(normalize(dirs)) * coeffs[..., b, :]`` over the
    ``(degree + 1)^2`` bases (degree <= 4) along unnormalised directions."""
    if not 0 <= degree <= 4:
        raise ValueError(f"sh_degree must be in [0, 4], got {degree}")
    num_bases = (degree + 1) ** 2
    assert coeffs.shape[-2] >= num_bases, coeffs.shape
    dirs = F.normalize(dirs, p=2, dim=-1)
    bases = _eval_sh_bases(num_bases, dirs)  # [..., B]
    return (bases[..., None] * coeffs[..., :num_bases, :]).sum(dim=-2)


def _sh_colors(
    degree: int,
    dirs: Tensor,  # [C, N, 3]
    coeffs: Tensor,  # [N, K, 3] or [C, N, K, 3]
) -> Tensor:  # [C, N, 3]
    """Reference of :func:`point2act.render.sh_colors`: the SH colours plus 0.5, clamped at 0."""
    if coeffs.dim() == 3:
        coeffs = coeffs.expand(dirs.shape[0], -1, -1, -1)
    return torch.clamp_min(_spherical_harmonics(degree, dirs, coeffs) + 0.5, 0.0)


# ------------------------------------------------------------------------------------------------
# tile intersection
# ------------------------------------------------------------------------------------------------
def _tile_rects(
    means2d: Tensor,  # [C, N, 2]
    radii: Tensor,  # [C, N]
    tile_size: int,
    tile_width: int,
    tile_height: int,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-Gaussian tile rectangles [x0, x1) x [y0, y1) ([C, N] int64 each), as gsplat's isect_tiles."""
    m = means2d.detach()
    tr = radii.to(m.dtype) / tile_size
    tx = m[..., 0] / tile_size
    ty = m[..., 1] / tile_size
    x0 = torch.floor(tx - tr).clamp(0, tile_width).long()
    y0 = torch.floor(ty - tr).clamp(0, tile_height).long()
    x1 = torch.ceil(tx + tr).clamp(0, tile_width).long()
    y1 = torch.ceil(ty + tr).clamp(0, tile_height).long()
    return x0, x1, y0, y1


def _narrow_to_extent(
    rects: Tuple[Tensor, Tensor, Tensor, Tensor],  # x0, x1, y0, y1 [C, N] int64
    means2d: Tensor,  # [C, N, 2]
    conics: Tensor,  # [C, N, 3]
    opacities: Tensor,  # [C, N]
    tile_size: int,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """The tile rectangles narrowed to the tiles holding a pixel where alpha can reach ``ALPHA_MIN``
    (``narrow_to_extent`` in ``csrc/isect_tiles.h``): the half-widths of the ellipse ``sigma <= log(opacity /
    ALPHA_MIN) + 1e-3``, enlarged as the kernel's ``make_extent`` enlarges them, a micropixel of slack (a partial
    last tile may keep a Gaussian whose pixels lie beyond the image's edge). No tile
    where that bound is negative; the rectangle unchanged where the conic is not positive definite."""
    x0, x1, y0, y1 = rects
    m = means2d.detach().double()
    a, b, c = conics.detach().double().unbind(-1)
    smax = torch.log(opacities.detach().double() / ALPHA_MIN) + 1e-3
    det = a * c - b * b
    ex = torch.sqrt(2.0 * smax * c / det) * (1.0 + 1e-4) + 1e-3
    ey = torch.sqrt(2.0 * smax * a / det) * (1.0 + 1e-4) + 1e-3
    bounded = (a > 0) & (c > 0) & (det > 0) & torch.isfinite(ex) & torch.isfinite(ey) & (smax >= 0)
    never = (smax < 0) | (opacities.detach() <= 0)  # the kernel's kind 0: no pixel can use it
    slack = 1e-6

    def narrow(lo_t, hi_t, centre, half):
        lo = torch.floor(torch.ceil(centre - half - 0.5 - slack) / tile_size)
        hi = torch.floor(torch.floor(centre + half - 0.5 + slack) / tile_size) + 1.0
        lo_n = torch.maximum(lo_t.double(), torch.minimum(lo, hi_t.double()))
        hi_n = torch.minimum(hi_t.double(), torch.maximum(hi, lo_n))
        return (torch.where(bounded, lo_n, lo_t.double()).long(), torch.where(bounded, hi_n, hi_t.double()).long())

    x0, x1 = narrow(x0, x1, m[..., 0], ex)
    y0, y1 = narrow(y0, y1, m[..., 1], ey)
    return x0, torch.where(never, x0, x1), y0, torch.where(never, y0, y1)


def _isect_tiles(
    means2d: Tensor,  # [C, N, 2]
    radii: Tensor,  # [C, N] int32
    depths: Tensor,  # [C, N]
    tile_size: int,
    tile_width: int,
    tile_height: int,
    conics: Tensor | None = None,  # [C, N, 3]
    opacities: Tensor | None = None,  # [C, N]
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Reference of :func:`point2act.render.isect_tiles` (``conics`` and ``opacities``: the rectangles
    narrowed by :func:`_narrow_to_extent`).

    Returns:
        tiles_per_gauss [C, N] int32, isect_ids [n_isects] int64, flatten_ids [n_isects] int32,
        isect_offsets [C, tile_height, tile_width] int32.
    """
    C, N = means2d.shape[:2]
    n_tiles = tile_width * tile_height
    x0, x1, y0, y1 = _tile_rects(means2d, radii, tile_size, tile_width, tile_height)
    if conics is not None:
        x0, x1, y0, y1 = _narrow_to_extent((x0, x1, y0, y1), means2d, conics, opacities, tile_size)
    w = (x1 - x0).clamp(min=0)
    h = (y1 - y0).clamp(min=0)
    tiles_per_gauss = torch.where(radii > 0, w * h, torch.zeros_like(w))
    cnt = tiles_per_gauss.flatten()
    gidx = torch.repeat_interleave(torch.arange(C * N), cnt)  # [n_isects], flattened ids
    j = torch.arange(gidx.numel()) - (torch.cumsum(cnt, 0) - cnt)[gidx]
    wg = w.flatten()[gidx]
    tx = x0.flatten()[gidx] + j % wg.clamp(min=1)
    ty = y0.flatten()[gidx] + j // wg.clamp(min=1)
    key = (gidx // N) * n_tiles + ty * tile_width + tx  # camera, tile
    d = depths.detach().flatten()[gidx]
    o1 = torch.sort(d, stable=True).indices  # by depth, ties: flattened index
    order = o1[torch.sort(key[o1], stable=True).indices]  # then by (camera, tile)
    flatten_ids = gidx[order].to(torch.int32)
    key = key[order]
    counts = torch.bincount(key, minlength=C * n_tiles)
    offsets = (torch.cumsum(counts, 0) - counts).to(torch.int32).reshape(C, tile_height, tile_width)
    tile_bits = int(n_tiles).bit_length()
    dbits = d[order].float().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    isect_ids = ((key // n_tiles) << (32 + tile_bits)) | ((key % n_tiles) << 32) | dbits
    return tiles_per_gauss.to(torch.int32), isect_ids, flatten_ids, offsets


# ------------------------------------------------------------------------------------------------
# rasterization
# ------------------------------------------------------------------------------------------------
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


def _tile_lists(isect_offsets: Tensor, n_isects: int):
    """(start, end) of every tile's list, flattened over (camera, tile)."""
    starts = isect_offsets.reshape(-1).long()
    ends = torch.cat([starts[1:], torch.tensor([n_isects], dtype=torch.long)])
    return starts.tolist(), ends.tolist()


def _tile_weights(
    m: Tensor,  # [P, n, 2] or [n, 2]: 2D means of the tile's Gaussians
    conics: Tensor,  # [n, 3]
    opacities: Tensor,  # [n]
    pix: Tensor,  # [P, 2] pixel centres
) -> Tuple[Tensor, Tensor]:
    """Compositing weights ``alpha * T`` [P, n] (front to back) and the final transmittance [P]."""
    if m.dim() == 2:
        m = m[None].expand(pix.shape[0], -1, -1)
    dx = m[..., 0] - pix[:, None, 0]
    dy = m[..., 1] - pix[:, None, 1]
    sigma = 0.5 * (conics[:, 0] * dx * dx + conics[:, 2] * dy * dy) + conics[:, 1] * dx * dy  # [P, n]
    alpha = torch.clamp_max(opacities * torch.exp(-sigma), ALPHA_MAX)
    amin = torch.tensor(ALPHA_MIN, dtype=alpha.dtype)  # float32(1 / 255) == 1f / 255f
    with torch.no_grad():
        valid = (sigma >= 0) & (alpha >= amin)
        a_v = torch.where(valid, alpha, torch.zeros_like(alpha))
        next_T = torch.cumprod(1 - a_v, dim=1)
        stop = valid & (next_T <= TRANSMITTANCE_MIN)
        stopped = torch.cumsum(stop.to(torch.int64), dim=1) > 0
        keep = valid & ~stopped
    a_k = torch.where(keep, alpha, torch.zeros_like(alpha))
    T_incl = torch.cumprod(1 - a_k, dim=1)
    T_excl = torch.cat([torch.ones_like(T_incl[:, :1]), T_incl[:, :-1]], dim=1)
    return a_k * T_excl, T_incl[:, -1]


def _pixel_grid(px0, px1, py0, py1, dtype) -> Tensor:  # -> [P, 2] pixel centres, row-major
    yy, xx = torch.meshgrid(
        torch.arange(py0, py1, dtype=dtype), torch.arange(px0, px1, dtype=dtype), indexing="ij"
    )
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], -1) + PIXEL_CENTER


def _rasterize_to_pixels(
    means2d: Tensor,  # [C, N, 2]
    conics: Tensor,  # [C, N, 3]
    colors: Tensor,  # [C, N, D]
    opacities: Tensor,  # [C, N]
    image_width: int,
    image_height: int,
    tile_size: int,
    isect_offsets: Tensor,  # [C, tile_height, tile_width]
    flatten_ids: Tensor,  # [n_isects]
    backgrounds: Tensor | None = None,  # [C, D]
    absgrad: bool = False,
    absgrad_target=None,
) -> Tuple[Tensor, Tensor]:
    """Reference of :func:`point2act.render.rasterize_to_pixels` (same signature and returns).

    With ``absgrad=True`` the sum over pixels of the per-pixel |d loss / d means2d| is written to
    ``means2d.absgrad`` (or ``absgrad_target[0].absgrad``, indexed by ``absgrad_target[1]``) in
    backward.

    Returns:
        render_colors [C, H, W, D] and render_alphas [C, H, W, 1].
    """
    C, N = means2d.shape[:2]
    D = colors.shape[-1]
    dtype = means2d.dtype
    th, tw = isect_offsets.shape[1:]
    fid = flatten_ids.long()
    starts, ends = _tile_lists(isect_offsets, fid.numel())

    sink, dest_map = None, None
    if absgrad:
        target, index = absgrad_target if absgrad_target is not None else (means2d, None)
        if index is None:  # unpacked: rows of [C * N]
            sink = torch.zeros(C, N, 2, dtype=dtype)
            dest_map = torch.arange(C * N)
        else:  # packed: rows of [nnz]
            cam_ids, gauss_ids = index
            sink = torch.zeros(cam_ids.numel(), 2, dtype=dtype)
            dest_map = torch.full((C * N,), -1, dtype=torch.long)
            dest_map[cam_ids * N + gauss_ids] = torch.arange(cam_ids.numel())
        target.absgrad = sink  # filled in place during backward
        sink = sink.view(-1, 2)

    m_flat, con_flat = means2d.reshape(C * N, 2), conics.reshape(C * N, 3)
    col_flat, op_flat = colors.reshape(C * N, D), opacities.reshape(C * N)
    rows_c, alphas_c = [], []
    for c in range(C):
        rows, arows = [], []
        for ty in range(th):
            py0, py1 = ty * tile_size, min((ty + 1) * tile_size, image_height)
            tiles, atiles = [], []
            for tx in range(tw):
                px0, px1 = tx * tile_size, min((tx + 1) * tile_size, image_width)
                ph, pw = py1 - py0, px1 - px0
                P = ph * pw
                t = (c * th + ty) * tw + tx
                sel = fid[starts[t] : ends[t]]  # this tile's Gaussians, front to back
                if sel.numel() == 0:
                    col = torch.zeros(P, D, dtype=dtype)
                    T_final = torch.ones(P, dtype=dtype)
                else:
                    m = m_flat[sel]
                    if absgrad:
                        m = _PairProbe.apply(m, P, sink, dest_map[sel])  # [P, n, 2]
                    pix = _pixel_grid(px0, px1, py0, py1, dtype)
                    w, T_final = _tile_weights(m, con_flat[sel], op_flat[sel], pix)
                    col = w @ col_flat[sel]  # [P, D]
                if backgrounds is not None:
                    col = col + T_final[:, None] * backgrounds[c][None, :]
                tiles.append(col.reshape(ph, pw, D))
                atiles.append((1 - T_final).reshape(ph, pw, 1))
            rows.append(torch.cat(tiles, dim=1))
            arows.append(torch.cat(atiles, dim=1))
        rows_c.append(torch.cat(rows, dim=0))
        alphas_c.append(torch.cat(arows, dim=0))
    return torch.stack(rows_c, 0), torch.stack(alphas_c, 0)


def _compositing_weights(
    means2d: Tensor,  # [C, N, 2]
    conics: Tensor,  # [C, N, 3]
    opacities: Tensor,  # [C, N]
    tiles: TileLists,
    min_weight: float = 0.0,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Reference of :func:`point2act.render.compositing_weights`.

    Returns:
        crow [C * H * W + 1] int64, col [nnz] int32, val [nnz] float32 (CSR; rows are pixels
        ``(camera * H + y) * W + x``, entries of a row in compositing order).
    """
    C, N = means2d.shape[:2]
    H, W, tile_size = tiles.height, tiles.width, tiles.tile_size
    isect_offsets = tiles.isect_offsets
    th, tw = isect_offsets.shape[1:]
    fid = tiles.flatten_ids.long()
    starts, ends = _tile_lists(isect_offsets, fid.numel())
    m_flat, con_flat, op_flat = means2d.reshape(-1, 2), conics.reshape(-1, 3), opacities.reshape(-1)
    rows_out, cols_out, vals_out = [], [], []
    with torch.no_grad():
        for t in range(C * th * tw):
            sel = fid[starts[t] : ends[t]]
            if sel.numel() == 0:
                continue
            c, tile = divmod(t, th * tw)
            ty, tx = divmod(tile, tw)
            px0, px1 = tx * tile_size, min((tx + 1) * tile_size, W)
            py0, py1 = ty * tile_size, min((ty + 1) * tile_size, H)
            pix = _pixel_grid(px0, px1, py0, py1, means2d.dtype)
            w, _ = _tile_weights(m_flat[sel], con_flat[sel], op_flat[sel], pix)
            p, k = torch.nonzero(w > min_weight, as_tuple=True)  # row-major: pixels, then depth order
            x = pix[p, 0].long()
            y = pix[p, 1].long()
            rows_out.append((c * H + y) * W + x)
            cols_out.append(sel[k] - c * N)
            vals_out.append(w[p, k])
    if rows_out:
        rows, cols, vals = torch.cat(rows_out), torch.cat(cols_out), torch.cat(vals_out)
    else:
        rows = cols = torch.zeros(0, dtype=torch.long)
        vals = torch.zeros(0)
    order = torch.sort(rows, stable=True).indices
    counts = torch.bincount(rows, minlength=C * H * W)
    crow = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])
    return crow, cols[order].to(torch.int32), vals[order].float()


# ------------------------------------------------------------------------------------------------
# the whole pipeline
# ------------------------------------------------------------------------------------------------
def _rasterization(
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
    sh_degree: int | None = None,
    packed: bool = False,
    tile_size: int = 16,
    backgrounds: Tensor | None = None,  # [C, D]
    render_mode: str = "RGB",
    absgrad: bool = False,
    rasterize_mode: str = "classic",
    camera_model: str = "pinhole",
    covars: Tensor | None = None,  # [N, 3, 3]
) -> Tuple[Tensor, Tensor, Dict]:
    """Reference of :func:`point2act.render.rasterization` (CPU path): the same pipeline with the
    torch projection, SH colours, tile intersection and rasterizer above."""
    from point2act.render.rasterization import _rasterization_cpu

    args = dict(locals())
    del args["_rasterization_cpu"]
    return _rasterization_cpu(**args, sparse_grad=False, distributed=False,
                              project_fn=_fully_fused_projection, sh_fn=_sh_colors, isect_fn=_isect_tiles,
                              rasterize_fn=_rasterize_to_pixels)


# ------------------------------------------------------------------------------------------------
# the relevancy refit's fused step
# ------------------------------------------------------------------------------------------------
def _relevancy_loss_grad(
    W: Tuple[Tensor, Tensor, Tensor],  # point2act.requery.fit_numpy.Csr of tensors: crow [R + 1] int64, col, val [nnz]
    s: Tensor,  # [N] relevancy (sigmoid of the logits)
    flat_t: Tensor,  # [R] targets
    row_w: Tensor,  # [R] per-row loss weights
    form: str,  # "bce" | "mse" | "l1"
) -> Tuple[float, Tensor]:  # loss, d loss / d s [N]
    """Reference of ``point2act.requery.fit_torch.relevancy_loss_grad`` (the refit's one fused pass):
    the loss ``sum_r row_w[r] * l(p_r, t_r)`` of ``p = clamp(W @ s, 0, 1)`` and its gradient, with two
    torch sparse mat-vecs."""
    N = s.numel()
    crow, col, val = W
    A = torch.sparse_csr_tensor(crow.long(), col.long(), val.float(), size=(crow.numel() - 1, N))
    At = A.to_sparse_coo().t().to_sparse_csr()
    t = flat_t.reshape(-1, 1)
    w = row_w.reshape(-1, 1)
    p = (A @ s.float().reshape(-1, 1)).clamp_(0.0, 1.0)
    if form == "bce":
        pc = p.clamp(1e-6, 1 - 1e-6)
        per = -(t * torch.log(pc) + (1 - t) * torch.log1p(-pc))
        dp = (pc - t) / (pc * (1 - pc))
        dp *= ((p > 1e-6) & (p < 1 - 1e-6)).float()
    elif form == "mse":
        per = (p - t) ** 2
        dp = 2 * (p - t)
    else:
        per = (p - t).abs()
        dp = torch.sign(p - t)
    return float((per * w).sum()), (At @ (dp * w)).reshape(-1)
