"""``rasterization``: gsplat 1.4.0's API, on CPU via point2act's C++ kernels.

CUDA inputs are forwarded untouched to ``gsplat.rasterization``; CPU inputs go through the
stages of :mod:`point2act.render` (C++ projection, SH colours, tile intersection, rasterization;
torch render-mode bookkeeping), like gsplat's pipeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Tuple

import torch
from torch import Tensor

from point2act.render.projection import fully_fused_projection, sh_colors

RENDER_MODES = ("RGB", "D", "ED", "RGB+D", "RGB+ED")


def rasterization(
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
    packed: bool = True,
    tile_size: int = 16,
    backgrounds: Tensor | None = None,  # [C, D]
    render_mode: str = "RGB",
    sparse_grad: bool = False,
    absgrad: bool = False,
    rasterize_mode: str = "classic",
    channel_chunk: int = 32,
    distributed: bool = False,
    camera_model: str = "pinhole",
    covars: Tensor | None = None,  # [N, 3, 3]
    extra_colors: Tensor | None = None,  # [(C,) N, E]
) -> Tuple[Tensor, Tensor, Dict]:
    """Rasterize 3D Gaussians to C images; drop-in for ``gsplat.rasterization``.

    On CUDA tensors this calls ``gsplat.rasterization`` with all arguments.
    On CPU it reproduces gsplat 1.4.0's semantics (projection, SH colours,
    compensation for ``rasterize_mode="antialiased"``, tile binning, alpha
    compositing, depth render modes, backgrounds, ``absgrad``) with a
    C++/OpenMP kernel. CPU limitations (``NotImplementedError``):
    ``distributed=True``, ``camera_model`` other than ``"pinhole"`` and
    ``sparse_grad=True`` with ``packed=True``. ``packed=True`` is computed
    unpacked internally and returned in gsplat's packed layout.

    ``extra_colors`` (point2act's extension, CPU only): E more channels rendered in the same pass
    (no background, no depth normalisation) whose gradient reaches ``extra_colors`` only, never the
    geometry, as a second pass with detached geometry would; returned in ``meta["extra_render"]``
    [C, H, W, E], not in ``render_colors``. ``meta["render_all"]`` is then the kernel's render of
    every channel [C, H, W, X + E], which the two are views of (for a caller that takes both
    through one autograd node: :func:`point2act.render.composite.training_composite`).

    Returns:
        render_colors [C, H, W, X], render_alphas [C, H, W, 1] and ``meta``
        (``radii``, ``means2d`` (call ``retain_grad()``; ``.absgrad`` is set in
        backward when ``absgrad=True``), ``depths``, ``conics``, ``opacities``,
        ``camera_ids``, ``gaussian_ids``, ``tiles_per_gauss``, ``isect_ids``,
        ``flatten_ids``, ``isect_offsets``, ``width``, ``height``,
        ``tile_size``, ``tile_width``, ``tile_height``, ``n_cameras``).
    """
    args = dict(locals())  # every argument, by name: forwarded unchanged to either backend
    # except the cameras, which go where the Gaussians are (nerfstudio keeps its cameras on the CPU; the backend
    # is the one of means' device)
    args["viewmats"], args["Ks"] = viewmats.to(means.device), Ks.to(means.device)
    if means.is_cuda:
        import gsplat  # lazy: never needed on CPU

        if args.pop("extra_colors") is not None:
            raise NotImplementedError("extra_colors is a CPU-rasterizer extension: render a second pass on CUDA")
        return gsplat.rasterization(**args)
    del args["channel_chunk"]  # the CPU kernel renders all channels at once
    return _rasterization_cpu(**args)


def _check_cpu_options(
    *,
    packed: bool,
    render_mode: str,
    sparse_grad: bool,
    rasterize_mode: str,
    distributed: bool,
    camera_model: str,
) -> None:
    """Raise for the options the CPU pipeline does not support (``NotImplementedError``, or ``ValueError``
    for an unknown ``rasterize_mode``) and assert the render mode."""
    if distributed:
        raise NotImplementedError(
            "point2act CPU rasterizer: distributed=True is not supported on CPU"
        )
    if packed and sparse_grad:
        raise NotImplementedError(
            "point2act CPU rasterizer: sparse_grad=True is not supported on CPU"
        )
    if camera_model != "pinhole":
        raise NotImplementedError(
            f"point2act CPU rasterizer: camera_model={camera_model!r} is not "
            "supported on CPU (only 'pinhole')"
        )
    if rasterize_mode not in ("classic", "antialiased"):
        raise ValueError(f"unknown rasterize_mode {rasterize_mode!r}")
    assert render_mode in RENDER_MODES, render_mode


def _check_cpu_shapes(
    means: Tensor,  # [N, 3]
    quats: Tensor | None,  # [N, 4]
    scales: Tensor | None,  # [N, 3]
    opacities: Tensor,  # [N]
    viewmats: Tensor,  # [C, 4, 4]
    Ks: Tensor,  # [C, 3, 3]
    covars: Tensor | None,  # [N, 3, 3]
) -> None:
    """Assert the shapes of the Gaussians and cameras (``quats`` and ``scales`` only without ``covars``)."""
    N = means.shape[0]
    C = viewmats.shape[0]
    assert means.shape == (N, 3), means.shape
    if covars is None:
        assert quats.shape == (N, 4), quats.shape
        assert scales.shape == (N, 3), scales.shape
    else:
        assert covars.shape == (N, 3, 3), covars.shape
    assert opacities.shape == (N,), opacities.shape
    assert viewmats.shape == (C, 4, 4), viewmats.shape
    assert Ks.shape == (C, 3, 3), Ks.shape


def _check_cpu_colors(
    colors: Tensor,  # [(C,) N, D] or [(C,) N, K, 3]
    N: int,
    C: int,
    sh_degree: int | None,
) -> None:
    """Assert the shape of the colours of ``N`` Gaussians and ``C`` cameras: per-Gaussian channels without
    ``sh_degree``, else RGB SH coefficients of at least ``(sh_degree + 1)^2`` bases."""
    if sh_degree is None:
        assert (colors.dim() == 2 and colors.shape[0] == N) or (
            colors.dim() == 3 and colors.shape[:2] == (C, N)
        ), colors.shape
    else:
        assert (
            colors.dim() == 3 and colors.shape[0] == N and colors.shape[2] == 3
        ) or (
            colors.dim() == 4 and colors.shape[:2] == (C, N) and colors.shape[3] == 3
        ), colors.shape
        assert (sh_degree + 1) ** 2 <= colors.shape[-2], colors.shape


def _camera_colors(
    means: Tensor,  # [N, 3]
    colors: Tensor,  # [(C,) N, D] or [(C,) N, K, 3]
    viewmats: Tensor,  # [C, 4, 4]
    sh_degree: int | None,
    sh_fn: Callable,
) -> Tensor:  # [C, N, D]
    """Each camera's colours of the Gaussians: ``colors`` expanded over the C cameras, or with
    ``sh_degree`` ``sh_fn(sh_degree, dirs, colors)``: the spherical harmonics evaluated along the
    camera-to-Gaussian directions, plus 0.5 and clamped at 0."""
    C = viewmats.shape[0]
    if sh_degree is None:
        return colors.expand(C, -1, -1) if colors.dim() == 2 else colors
    camtoworlds = torch.inverse(viewmats)  # [C, 4, 4]
    dirs = means[None, :, :] - camtoworlds[:, None, :3, 3]  # [C, N, 3]
    return sh_fn(sh_degree, dirs, colors)  # colors [N, K, 3] (shared by the cameras) or [C, N, K, 3]


@dataclass(frozen=True)
class _Projected:
    """C cameras' projected Gaussians, unpacked: what the projection gives, and what ``meta`` and the tile lists
    are made from."""

    radii: Tensor  # [C, N]
    """Each Gaussian's 3-sigma radius in pixels, 0 where culled."""
    means2d: Tensor  # [C, N, 2]
    """Projected centres."""
    depths: Tensor  # [C, N]
    """Camera z."""
    conics: Tensor  # [C, N, 3]
    """Inverse 2D covariances."""
    opacities: Tensor  # [C, N]
    """The opacities the rasterizer composites (times the compensations in antialiased mode)."""


def _projection_meta(proj: _Projected, packed: bool) -> Tuple[Tensor, Tuple, Dict]:
    """The projection's entries of ``meta`` and the rasterizer's means2d and absgrad target.

    Unpacked, ``meta`` holds the [C, N] tensors and ``camera_ids``/``gaussian_ids`` are None.
    Packed, it holds the visible (``radii > 0``) entries [nnz] with their ids, and the rasterizer's
    means2d [C, N, 2] is scattered from the packed one, so that ``meta["means2d"].grad`` and
    ``.absgrad`` are the packed gradients. Returns (means2d for the kernel, absgrad target, meta).
    """
    radii, means2d, depths, conics, opacities_c = proj.radii, proj.means2d, proj.depths, proj.conics, proj.opacities
    camera_ids, gaussian_ids = None, None
    means2d_kernel = means2d
    meta_means2d, meta_radii, meta_depths = means2d, radii, depths
    meta_conics, meta_opacities = conics, opacities_c
    absgrad_target = (means2d, None)
    if packed:
        camera_ids, gaussian_ids = torch.nonzero(radii > 0, as_tuple=True)
        meta_means2d = means2d[camera_ids, gaussian_ids]  # [nnz, 2]
        # route the rasterizer's means2d through the packed tensor so that
        # meta["means2d"].grad / .absgrad are the packed gradients
        means2d_kernel = torch.zeros_like(means2d).index_put(
            (camera_ids, gaussian_ids), meta_means2d
        )
        meta_radii = radii[camera_ids, gaussian_ids]
        meta_depths = depths[camera_ids, gaussian_ids]
        meta_conics = conics[camera_ids, gaussian_ids]
        meta_opacities = opacities_c[camera_ids, gaussian_ids]
        absgrad_target = (meta_means2d, (camera_ids, gaussian_ids))

    meta: Dict = {
        "camera_ids": camera_ids,
        "gaussian_ids": gaussian_ids,
        "radii": meta_radii,
        "means2d": meta_means2d,
        "depths": meta_depths,
        "conics": meta_conics,
        "opacities": meta_opacities,
    }
    return means2d_kernel, absgrad_target, meta


def _render_channels(
    colors_c: Tensor,  # [C, N, D]
    depths: Tensor,  # [C, N]
    backgrounds: Tensor | None,  # [C, D]
    render_mode: str,
    extra_colors: Tensor | None,  # [(C,) N, E]
) -> Tuple[Tensor, Tensor | None, int | None]:
    """The channels the kernel composites and their backgrounds.

    Depth render modes append the depth channel to the colours (``"RGB+D"``, ``"RGB+ED"``) or
    replace them with it (``"D"``, ``"ED"``), with a zero background. ``extra_colors`` are appended
    last, with a zero background. Returns (channels [C, N, X], backgrounds [C, X] or None, the
    number of geometry channels before the extra ones, or None without ``extra_colors``).
    """
    C, N = depths.shape
    if render_mode in ("RGB+D", "RGB+ED"):
        colors_c = torch.cat((colors_c, depths[..., None]), dim=-1)
        if backgrounds is not None:
            backgrounds = torch.cat(
                [backgrounds, backgrounds.new_zeros(C, 1)], dim=-1
            )
    elif render_mode in ("D", "ED"):
        colors_c = depths[..., None]
        if backgrounds is not None:
            backgrounds = backgrounds.new_zeros(C, 1)

    geometry_channels = None
    if extra_colors is not None:  # appended last, after any depth channel; their gradient skips the geometry
        ex = extra_colors if extra_colors.dim() == 3 else extra_colors.unsqueeze(0).expand(C, -1, -1)
        if ex.shape[:2] != (C, N):
            raise ValueError(f"extra_colors must be [N, E] or [C, N, E] for N={N}, C={C}; got {tuple(extra_colors.shape)}")
        geometry_channels = int(colors_c.shape[-1])
        colors_c = torch.cat((colors_c, ex.to(colors_c.dtype)), dim=-1)
        if backgrounds is not None:
            backgrounds = torch.cat([backgrounds, backgrounds.new_zeros(C, ex.shape[-1])], dim=-1)
    return colors_c, backgrounds, geometry_channels


class _SplitChannels(torch.autograd.Function):
    """``x[..., :G]`` and ``x[..., G:]`` (views of ``x``) as one autograd node, whose backward concatenates the two
    gradients (zeros for one that is not there). Two slices would each fill a zero tensor of ``x``'s size with
    their gradient and autograd would add the two: three passes over an image-sized tensor, a concatenation
    is one. The gradient is the same but for the sign of zeros (the sum of the two makes a -0 +0),
    which the rasterizer's backward, whose every use of it is a product added to a sum, cannot tell apart."""

    @staticmethod
    def forward(ctx, x: Tensor, G: int):  # [..., D] -> [..., G], [..., D - G]
        ctx.G, ctx.D = int(G), int(x.shape[-1])
        return x[..., :G], x[..., G:]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_head: Tensor | None, g_tail: Tensor | None):
        if g_head is None and g_tail is None:
            return None, None
        ref = g_head if g_head is not None else g_tail
        shape = tuple(ref.shape[:-1])
        if g_head is None:
            g_head = ref.new_zeros(shape + (ctx.G,))
        if g_tail is None:
            g_tail = ref.new_zeros(shape + (ctx.D - ctx.G,))
        return torch.cat([g_head, g_tail], dim=-1), None


def _tile_lists(
    isect_fn: Callable,
    proj: _Projected,
    width: int,
    height: int,
    tile_size: int,
    packed_ids: Tuple[Tensor, Tensor] | None,  # camera_ids [nnz], gaussian_ids [nnz]
) -> Tuple[Tensor, Tensor, Dict]:
    """Intersect the projected Gaussians with the image's tiles, each one's narrowed to the tiles where its
    conic and opacity (those the kernel composites) let some pixel use it (:func:`point2act.render.isect_tiles`).

    Returns the kernel's ``isect_offsets`` [C, th, tw] and ``flatten_ids`` [n_isects] (into
    ``C * N``), and the tiling's entries of ``meta`` (image and tile sizes, ``tiles_per_gauss``,
    ``isect_ids``, ``flatten_ids``, ``isect_offsets``). Packed (``packed_ids``: the camera and Gaussian
    of each visible entry), ``meta``'s ``flatten_ids`` index the [nnz] layout and its ``tiles_per_gauss``
    are the visible entries.
    """
    radii = proj.radii
    C = radii.shape[0]
    tile_width = math.ceil(width / float(tile_size))
    tile_height = math.ceil(height / float(tile_size))
    meta: Dict = {
        "width": width,
        "height": height,
        "tile_size": tile_size,
        "tile_width": tile_width,
        "tile_height": tile_height,
        "n_cameras": C,
    }
    tiles_per_gauss, isect_ids, flatten_ids, isect_offsets = isect_fn(
        proj.means2d.detach(), radii, proj.depths.detach(), tile_size, tile_width, tile_height,
        conics=proj.conics.detach(), opacities=proj.opacities.detach(),
    )
    if packed_ids is not None:
        # indices into [nnz] instead of [C * N]
        pos = torch.cumsum((radii > 0).flatten().to(torch.int64), 0) - 1
        flatten_ids_meta = pos[flatten_ids.long()].to(torch.int32)
        camera_ids, gaussian_ids = packed_ids
        tiles_per_gauss_meta = tiles_per_gauss[camera_ids, gaussian_ids]
    else:
        flatten_ids_meta, tiles_per_gauss_meta = flatten_ids, tiles_per_gauss
    meta.update(
        {
            "tiles_per_gauss": tiles_per_gauss_meta,
            "isect_ids": isect_ids,
            "flatten_ids": flatten_ids_meta,
            "isect_offsets": isect_offsets,
        }
    )
    return isect_offsets, flatten_ids, meta


def _rasterization_cpu(
    means: Tensor,  # [N, 3]
    quats: Tensor | None,  # [N, 4]
    scales: Tensor | None,  # [N, 3]
    opacities: Tensor,  # [N]
    colors: Tensor,  # [(C,) N, D] or [(C,) N, K, 3]
    viewmats: Tensor,  # [C, 4, 4]
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    *,
    near_plane: float,
    far_plane: float,
    radius_clip: float,
    eps2d: float,
    sh_degree: int | None,
    packed: bool,
    tile_size: int,
    backgrounds: Tensor | None,
    render_mode: str,
    sparse_grad: bool,
    absgrad: bool,
    rasterize_mode: str,
    distributed: bool,
    camera_model: str,
    covars: Tensor | None,
    extra_colors: Tensor | None = None,  # [(C,) N, E]
    project_fn: Callable | None = None,
    sh_fn: Callable | None = None,
    isect_fn: Callable | None = None,
    rasterize_fn: Callable | None = None,
) -> Tuple[Tensor, Tensor, Dict]:
    """The CPU pipeline of :func:`rasterization`: argument checks, projection, each camera's
    colours, the projection's ``meta``, the composited channels, tile lists, rasterization, and the
    expected depth divided by the alpha for ``"ED"``/``"RGB+ED"``.

    The stage functions default to the C++ kernels (:func:`point2act.render.fully_fused_projection`,
    :func:`point2act.render.sh_colors`, :func:`point2act.render.isect_tiles`,
    :func:`point2act.render.rasterize_to_pixels`); callers may
    pass others with the same signatures: :func:`point2act.render._torch_impl._rasterization` passes
    the torch references, :mod:`point2act.requery.fit_torch` a last stage that captures its inputs.
    """
    from point2act.render import _backend

    project_fn = fully_fused_projection if project_fn is None else project_fn
    sh_fn = sh_colors if sh_fn is None else sh_fn
    isect_fn = _backend.isect_tiles if isect_fn is None else isect_fn
    rasterize_fn = _backend.rasterize_to_pixels if rasterize_fn is None else rasterize_fn
    _check_cpu_options(
        packed=packed, render_mode=render_mode, sparse_grad=sparse_grad, rasterize_mode=rasterize_mode,
        distributed=distributed, camera_model=camera_model,
    )
    _check_cpu_shapes(means, quats, scales, opacities, viewmats, Ks, covars)
    N = means.shape[0]
    C = viewmats.shape[0]
    _check_cpu_colors(colors, N, C, sh_degree)
    if covars is not None:
        quats = scales = None

    radii, means2d, depths, conics, compensations = project_fn(
        means, covars, quats, scales, viewmats, Ks, width, height, eps2d=eps2d, near_plane=near_plane,
        far_plane=far_plane, radius_clip=radius_clip, calc_compensations=(rasterize_mode == "antialiased"),
        camera_model=camera_model,
    )
    opacities_c = opacities.unsqueeze(0).expand(C, N)  # [C, N]
    if compensations is not None:
        opacities_c = opacities_c * compensations
    colors_c = _camera_colors(means, colors, viewmats, sh_degree, sh_fn)  # [C, N, D]

    proj = _Projected(radii, means2d, depths, conics, opacities_c)
    means2d_kernel, absgrad_target, meta = _projection_meta(proj, packed)
    colors_c, backgrounds, geometry_channels = _render_channels(
        colors_c, depths, backgrounds, render_mode, extra_colors
    )
    isect_offsets, flatten_ids, tile_meta = _tile_lists(
        isect_fn, proj, width, height, tile_size,
        (meta["camera_ids"], meta["gaussian_ids"]) if packed else None,
    )
    meta.update(tile_meta)
    dtype = means2d.dtype
    if backgrounds is not None:
        backgrounds = backgrounds.to(dtype)
    render_colors, render_alphas = rasterize_fn(
        means2d_kernel, conics, colors_c.to(dtype), opacities_c.to(dtype), width, height, tile_size,
        isect_offsets, flatten_ids, backgrounds=backgrounds, absgrad=absgrad, absgrad_target=absgrad_target,
        **({"geometry_channels": geometry_channels} if geometry_channels is not None else {}),
    )
    if geometry_channels is not None:
        meta["render_all"] = render_colors
        render_colors, meta["extra_render"] = _SplitChannels.apply(render_colors, geometry_channels)

    if render_mode in ("ED", "RGB+ED"):
        render_colors = torch.cat(
            [render_colors[..., :-1], render_colors[..., -1:] / render_alphas.clamp(min=1e-10)], dim=-1
        )
    return render_colors, render_alphas, meta
