"""Projection stage of the CPU pipeline: the C++ fully fused projection and SH colours.

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

:func:`sh_colors` runs ``csrc/spherical_harmonics.cpp`` (forward and backward): each camera's
colours ``clamp_min(sum_b Y_b(normalize(dirs)) * coeffs[..., b, :] + 0.5, 0)`` over the
``(degree + 1)^2`` real SH bases ``Y_b`` (degree <= 4, gsplat's order and constants), with gradients
to the coefficients and to the directions (hence to the means). Its pure-torch reference is
:func:`point2act.render._torch_impl._sh_colors` (gsplat's ``spherical_harmonics`` as
:func:`point2act.render._torch_impl._spherical_harmonics`, then the shift and clamp of its
rasterization).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
from torch import Tensor


@dataclass(frozen=True)
class _ProjectionSettings:
    """The non-tensor inputs of one :class:`_FullyFusedProjection` call (:func:`fully_fused_projection`'s)."""

    width: int
    """Image width in pixels."""
    height: int
    """Image height in pixels."""
    eps2d: float
    """Blur added to the 2D covariance's diagonal."""
    near_plane: float
    """Gaussians nearer than this (camera z) are culled."""
    far_plane: float
    """Gaussians farther than this are culled."""
    radius_clip: float
    """Gaussians of a radius at most this (pixels) are culled."""
    calc_compensations: bool
    """Whether the anti-aliasing compensations are computed."""


class _FullyFusedProjection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means, covars, quats, scales, viewmats, Ks, settings: _ProjectionSettings):
        # means [N, 3], covars [N, 3, 3] | None, quats [N, 4] | None, scales [N, 3] | None, viewmats [C, 4, 4],
        # Ks [C, 3, 3] -> radii [C, N], means2d [C, N, 2], depths [C, N], conics [C, N, 3], comps [C, N] | None
        from point2act.render._backend import load_extension

        st = settings
        ext = load_extension()
        nt = torch.get_num_threads()
        radii, means2d, depths, conics, comps = ext.projection_fwd(
            means, covars, quats, scales, viewmats, Ks, int(st.width), int(st.height), float(st.eps2d),
            float(st.near_plane), float(st.far_plane), float(st.radius_clip), bool(st.calc_compensations), nt,
        )
        ctx.save_for_backward(means, covars, quats, scales, viewmats, Ks, radii)
        ctx.args = (int(st.width), int(st.height), float(st.eps2d), bool(st.calc_compensations))
        ctx.mark_non_differentiable(radii)
        return radii, means2d, depths, conics, comps if st.calc_compensations else None

    @staticmethod
    def backward(ctx, v_radii, v_means2d, v_depths, v_conics, v_comps):
        from point2act.render._backend import load_extension

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
            None, None,
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
    settings = _ProjectionSettings(width, height, eps2d, near_plane, far_plane, radius_clip, calc_compensations)
    return _FullyFusedProjection.apply(
        means.contiguous(), covars, quats, scales, viewmats.to(dtype).contiguous(),
        Ks.detach().to(dtype).contiguous(), settings,
    )


class _SphericalHarmonicsColors(torch.autograd.Function):
    """``csrc/spherical_harmonics.cpp``: clamped SH colours; gradients to the coefficients and directions."""

    @staticmethod
    def forward(ctx, degree, dirs, coeffs):
        from point2act.render._backend import load_extension

        colors = load_extension().sh_colors_fwd(int(degree), dirs, coeffs, torch.get_num_threads())
        ctx.save_for_backward(dirs, coeffs, colors)
        ctx.degree = int(degree)
        return colors

    @staticmethod
    def backward(ctx, v_colors):
        from point2act.render._backend import load_extension

        dirs, coeffs, colors = ctx.saved_tensors
        need_v_dirs = bool(ctx.needs_input_grad[1])
        v_coeffs, v_dirs = load_extension().sh_colors_bwd(
            ctx.degree, dirs, coeffs, colors, v_colors.to(colors.dtype).contiguous(), need_v_dirs,
            torch.get_num_threads(),
        )
        return None, v_dirs if need_v_dirs else None, v_coeffs if ctx.needs_input_grad[2] else None


def sh_colors(
    degree: int,
    dirs: Tensor,  # [C, N, 3] any length
    coeffs: Tensor,  # [N, K, 3] (shared by the cameras) or [C, N, K, 3], K >= (degree + 1)^2
) -> Tensor:  # [C, N, 3]
    """Clamped SH colours: ``clamp_min(spherical_harmonics(degree, dirs, coeffs) + 0.5, 0)`` in one C++ op.

    The rule of :func:`point2act.render._torch_impl._sh_colors`: the real SH bases (degree <= 4, gsplat's
    order) at ``F.normalize(dirs)`` weight the first ``(degree + 1)^2`` coefficients. Differentiable
    w.r.t. ``dirs`` and ``coeffs``, with autograd's gradients on that reference (zero where the clamp
    is active, zero for the coefficients beyond the degree). A ``[C, N, K, 3]`` view expanded from
    ``[N, K, 3]`` (stride 0 over C) is evaluated from its ``[N, K, 3]`` base.
    """
    if not 0 <= degree <= 4:
        raise ValueError(f"sh_degree must be in [0, 4], got {degree}")
    dtype = torch.promote_types(dirs.dtype, coeffs.dtype)
    if coeffs.dim() == 4 and coeffs.shape[0] > 1 and coeffs.stride(0) == 0:
        coeffs = coeffs[0]
    return _SphericalHarmonicsColors.apply(degree, dirs.to(dtype).contiguous(), coeffs.to(dtype).contiguous())
