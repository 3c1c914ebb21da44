"""Projection stage of the CPU pipeline: the C++ fully fused projection and torch SH colours.

:func:`fully_fused_projection` has gsplat 1.4.0's signature (pinhole camera, unpacked ``[C, N]``
layout) and runs ``csrc/projection_fwd.cpp`` / ``projection_bwd.cpp``: world->camera transform,
covariance from (normalised) quaternion and scales (or the upper triangle of ``covars``), EWA
perspective Jacobian with the camera-space x/y clamped to 1.3x the field of view, ``eps2d`` blur,
conic = inverse 2D covariance, optional anti-aliasing compensation
``sqrt(max(0, det_orig / det_blur))``, radius ``ceil(3 * sqrt(b + sqrt(max(b^2 - det, 0.01))))``
and culling (``depth < near``, ``depth > far``, ``det <= 0``, ``radius <= radius_clip``, footprint
fully off-screen) by setting ``radii`` to 0. Values of culled Gaussians are finite but meaningless,
like gsplat's; culled Gaussians get no gradient. Its pure-torch reference is
:func:`point2act.render._torch_impl._fully_fused_projection`.

:func:`spherical_harmonics` (torch, differentiable) evaluates SH colours (degree <= 4).
"""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


class _FullyFusedProjection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means, covars, quats, scales, viewmats, Ks, width, height, eps2d, near_plane, far_plane,
                radius_clip, calc_compensations):
        from ._backend import load_extension

        ext = load_extension()
        nt = torch.get_num_threads()
        radii, means2d, depths, conics, comps = ext.projection_fwd(
            means, covars, quats, scales, viewmats, Ks, int(width), int(height), float(eps2d),
            float(near_plane), float(far_plane), float(radius_clip), bool(calc_compensations), nt,
        )
        ctx.save_for_backward(means, covars, quats, scales, viewmats, Ks, radii)
        ctx.args = (int(width), int(height), float(eps2d), bool(calc_compensations))
        ctx.mark_non_differentiable(radii)
        return radii, means2d, depths, conics, comps if calc_compensations else None

    @staticmethod
    def backward(ctx, v_radii, v_means2d, v_depths, v_conics, v_comps):
        from ._backend import load_extension

        means, covars, quats, scales, viewmats, Ks, radii = ctx.saved_tensors
        width, height, eps2d, calc = ctx.args
        dtype = means.dtype
        v_means, v_covars, v_quats, v_scales, v_viewmats = load_extension().projection_bwd(
            means, covars, quats, scales, viewmats, Ks, width, height, eps2d, radii,
            v_means2d.to(dtype).contiguous(), v_depths.to(dtype).contiguous(),
            v_conics.to(dtype).contiguous(),
            v_comps.to(dtype).contiguous() if (calc and v_comps is not None) else None,
            bool(ctx.needs_input_grad[4]), torch.get_num_threads(),
        )
        g = ctx.needs_input_grad
        return (
            v_means if g[0] else None,
            v_covars if (covars is not None and g[1]) else None,
            v_quats if (quats is not None and g[2]) else None,
            v_scales if (scales is not None and g[3]) else None,
            v_viewmats if g[4] else None,
            None, None, None, None, None, None, None, None,
        )


def fully_fused_projection(
    means: Tensor,  # [N, 3]
    covars: Tensor | None,  # [N, 3, 3] (or None: use quats and scales)
    quats: Tensor | None,  # [N, 4] wxyz, any norm
    scales: Tensor | None,  # [N, 3]
    viewmats: Tensor,  # [C, 4, 4] world -> camera
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
    """Project 3D Gaussians to every camera (gsplat's ``fully_fused_projection``, unpacked, CPU).

    Differentiable w.r.t. ``means``, ``covars`` or ``quats``/``scales``, and ``viewmats``.

    Returns:
        radii [C, N] int32 (0 = culled), means2d [C, N, 2], depths [C, N], conics [C, N, 3] and
        compensations [C, N] (None unless ``calc_compensations``).
    """
    if camera_model != "pinhole":
        raise NotImplementedError(
            f"point2act CPU rasterizer: camera_model={camera_model!r} is not "
            "supported on CPU (only 'pinhole'); use a CUDA device for gsplat."
        )
    dtype = means.dtype
    if covars is not None:
        covars, quats, scales = covars.to(dtype).contiguous(), None, None
    else:
        quats, scales = quats.to(dtype).contiguous(), scales.to(dtype).contiguous()
    return _FullyFusedProjection.apply(
        means.contiguous(), covars, quats, scales, viewmats.to(dtype).contiguous(),
        Ks.detach().to(dtype).contiguous(), width, height, eps2d, near_plane, far_plane, radius_clip,
        calc_compensations,
    )


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


def spherical_harmonics(
    degree: int,
    dirs: Tensor,  # [..., 3]
    coeffs: Tensor,  # [..., K, 3]
) -> Tensor:  # [..., 3]
    """Evaluate SH colours (degree <= 4) along (unnormalised) view directions."""
    if not 0 <= degree <= 4:
        raise ValueError(f"sh_degree must be in [0, 4], got {degree}")
    num_bases = (degree + 1) ** 2
    assert coeffs.shape[-2] >= num_bases, coeffs.shape
    dirs = F.normalize(dirs, p=2, dim=-1)
    bases = _eval_sh_bases(num_bases, dirs)  # [..., B]
    return (bases[..., None] * coeffs[..., :num_bases, :]).sum(dim=-2)
