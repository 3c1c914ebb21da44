"""Load the C++/OpenMP CPU rasterizer and wrap its ops (autograd Functions where differentiable).

The extension is every ``csrc/*.cpp`` (one file per op and direction, gsplat-style; ``common.h``
holds the shared compositing loop and constants, without torch, ``common_aten.h`` the ATen wrappers' helpers),
compiled on first use for the machine it runs on
and cached by :mod:`point2act._cpp` (compiler flags, cache folder and key are described there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Sequence, Tuple

import torch
from torch import Tensor

from point2act import _cpp
from point2act._cpp import arch_flags, cflags, cpu_features  # noqa: F401  (this machine's build, re-exported)

from point2act.render.tiles import TileLists

CSRC = Path(__file__).resolve().parent / "csrc"
EXTENSION = _cpp.Extension("rasterize", CSRC, "point2act CPU rasterizer")


def sources() -> List[Path]:
    """The extension's translation units (``csrc/*.cpp``), sorted."""
    return EXTENSION.sources()


def build_key(features: str | None = None, flags: List[str] | None = None) -> str:
    """``<cpu>-<hash>``: the cache key of the extension for a CPU feature set and compiler flags
    (defaults: this machine's)."""
    return EXTENSION.build_key(features, flags)


def extension_build_dir(features: str | None = None, flags: List[str] | None = None) -> Path:
    """Directory where the compiled extension is cached (for this machine unless told otherwise)."""
    return EXTENSION.build_dir(features, flags)


def load_extension(verbose: bool = False):
    """Compile (first use on a machine only) and import the CPU rasterizer extension."""
    return EXTENSION.load(verbose)


def isect_tiles(
    means2d: Tensor,  # [C, N, 2]
    radii: Tensor,  # [C, N]
    depths: Tensor,  # [C, N]
    tile_size: int,
    tile_width: int,
    tile_height: int,
    conics: Tensor | None = None,  # [C, N, 3]
    opacities: Tensor | None = None,  # [C, N]
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Tile/Gaussian intersections, like gsplat's ``isect_tiles`` + ``isect_offset_encode``.

    Every Gaussian with ``radii > 0`` is listed in all tiles of its rectangle
    ``[floor(mean/ts - r/ts), ceil(mean/ts + r/ts))`` (clamped to the image);
    each tile's list is sorted by depth, ties broken by the flattened index.

    Given the ``conics`` and ``opacities`` the lists will be composited with (both or neither), each
    rectangle is narrowed to the tiles holding a pixel where the Gaussian's alpha can reach 1/255 (the
    box of the ellipse ``sigma <= log(255 opacity)``), and a Gaussian of opacity below 1/255 gets no
    tile. The compositing kernels skip a Gaussian at every pixel outside that box, so the narrowed lists
    composite the same images, gradients and weights, bit for bit, with fewer entries (gsplat's 3-sigma
    radius does not shrink with the opacity). ``radii`` keep their meaning either way.

    Returns:
        tiles_per_gauss [C, N] int32, isect_ids [n_isects] int64 (gsplat's
        ``camera | tile | float32 depth bits`` encoding), flatten_ids
        [n_isects] int32 (index into ``C * N``) and isect_offsets
        [C, tile_height, tile_width] int32 (start of each tile's list).
    """
    ext = load_extension()
    return tuple(
        ext.isect_tiles(
            means2d.detach().contiguous(),
            radii.to(torch.int32).contiguous(),
            depths.detach().to(means2d.dtype).contiguous(),
            None if conics is None else conics.detach().to(means2d.dtype).contiguous(),
            None if opacities is None else opacities.detach().to(means2d.dtype).contiguous(),
            int(tile_size),
            int(tile_width),
            int(tile_height),
            torch.get_num_threads(),
        )
    )


@dataclass(frozen=True)
class _RasterizeCall:
    """The non-differentiable inputs of one :class:`_RasterizeToPixelsCPU` call."""

    ext: Any
    """The compiled extension (:func:`load_extension`)."""
    tiles: TileLists
    """The image and tile sizes and the tile lists the kernel walks."""
    absgrad: bool
    """Whether the backward pass computes ``sum over pixels |d loss / d means2d|``."""
    absgrad_target: Any
    """``(tensor, index)`` whose tensor receives that sum as ``.absgrad`` (``index`` None: all of it), or None."""
    geometry_channels: int
    """Colour channels ``[0, G)`` send gradient to the geometry, the others to their colours only (-1: all)."""


class _RasterizeToPixelsCPU(torch.autograd.Function):
    """Differentiable CPU rasterization of projected Gaussians (unpacked layout)."""

    @staticmethod
    def forward(
        ctx,
        means2d: Tensor,  # [C, N, 2]
        conics: Tensor,  # [C, N, 3]
        colors: Tensor,  # [C, N, D]
        opacities: Tensor,  # [C, N]
        backgrounds: Tensor | None,  # [C, D]
        call: _RasterizeCall,
    ) -> Tuple[Tensor, Tensor]:  # render_colors [C, H, W, D], render_alphas [C, H, W, 1]
        tiles = call.tiles
        means2d_c = means2d.contiguous()
        conics_c = conics.contiguous()
        colors_c = colors.contiguous()
        opacities_c = opacities.contiguous()
        bg = backgrounds.contiguous() if backgrounds is not None else None
        render_colors, render_alphas, T_final, last_ids, row_masks, packs = call.ext.rasterize_fwd(
            means2d_c,
            conics_c,
            colors_c,
            opacities_c,
            bg,
            int(tiles.width),
            int(tiles.height),
            int(tiles.tile_size),
            tiles.isect_offsets.contiguous(),
            tiles.flatten_ids.contiguous(),
            torch.get_num_threads(),
        )
        ctx.save_for_backward(
            means2d_c,
            conics_c,
            colors_c,
            opacities_c,
            bg,
            tiles.isect_offsets,
            tiles.flatten_ids,
            T_final,
            last_ids,
            row_masks,
            packs,
        )
        ctx.width = int(tiles.width)
        ctx.height = int(tiles.height)
        ctx.tile_size = int(tiles.tile_size)
        ctx.absgrad = bool(call.absgrad)
        ctx.absgrad_target = call.absgrad_target
        ctx.has_bg = backgrounds is not None
        ctx.ext = call.ext
        ctx.geometry_channels = int(call.geometry_channels)
        return render_colors, render_alphas

    @staticmethod
    def backward(ctx, v_render_colors: Tensor, v_render_alphas: Tensor):
        (
            means2d,
            conics,
            colors,
            opacities,
            bg,
            isect_offsets,
            flatten_ids,
            T_final,
            last_ids,
            row_masks,
            packs,
        ) = ctx.saved_tensors
        ext = ctx.ext
        dtype = means2d.dtype
        v_abs, v_means2d, v_conics, v_colors, v_opacities = ext.rasterize_bwd(
            means2d,
            conics,
            colors,
            opacities,
            bg if ctx.has_bg else None,
            ctx.width,
            ctx.height,
            ctx.tile_size,
            isect_offsets,
            flatten_ids,
            T_final,
            last_ids,
            row_masks,
            v_render_colors.to(dtype).contiguous(),
            v_render_alphas.to(dtype).contiguous(),
            ctx.absgrad,
            torch.get_num_threads(),
            ctx.geometry_channels,
            packs,  # the forward's per-Gaussian data (the same values as computed again)
            True,  # half chunks: narrow Gaussians on 8 lanes (the same bits)
        )
        if ctx.absgrad and ctx.absgrad_target is not None:
            target, index = ctx.absgrad_target
            target.absgrad = v_abs if index is None else v_abs[index]
        v_bg = None
        if ctx.has_bg and ctx.needs_input_grad[4]:
            v_bg = (v_render_colors * T_final[..., None]).sum(dim=(1, 2))
        return v_means2d, v_conics, v_colors, v_opacities, v_bg, None


def rasterize_to_pixels(
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
    geometry_channels: int | None = None,
) -> Tuple[Tensor, Tensor]:
    """CPU counterpart of ``gsplat.rasterize_to_pixels`` (unpacked inputs only).

    Differentiable w.r.t. ``means2d``, ``conics``, ``colors``, ``opacities`` and
    ``backgrounds``. With ``geometry_channels = G`` only colour channels ``[0, G)`` send gradient to
    the geometry (``means2d``, ``conics``, ``opacities``); channels ``G..D-1`` reach their colours only,
    as if they were rendered in a second pass with detached geometry (point2act's relevancy channel). With ``absgrad=True`` the backward pass stores
    ``sum over pixels |d loss / d means2d|`` (per-pixel absolute values, as
    gsplat) in ``means2d.absgrad`` (or in ``absgrad_target[0].absgrad``,
    indexed by ``absgrad_target[1]`` when given).

    Returns:
        render_colors [C, H, W, D] and render_alphas [C, H, W, 1].
    """
    C, N = means2d.shape[:2]
    assert means2d.shape == (C, N, 2), means2d.shape
    assert conics.shape == (C, N, 3), conics.shape
    assert colors.shape[:2] == (C, N), colors.shape
    assert opacities.shape == (C, N), opacities.shape
    if backgrounds is not None:
        assert backgrounds.shape == (C, colors.shape[-1]), backgrounds.shape
    if absgrad_target is None:
        absgrad_target = (means2d, None)
    call = _RasterizeCall(
        load_extension(),
        TileLists(image_width, image_height, tile_size, isect_offsets, flatten_ids),
        absgrad,
        absgrad_target,
        -1 if geometry_channels is None else int(geometry_channels),
    )
    return _RasterizeToPixelsCPU.apply(means2d, conics, colors, opacities, backgrounds, call)


def compositing_weights(
    means2d: Tensor,  # [C, N, 2]
    conics: Tensor,  # [C, N, 3]
    opacities: Tensor,  # [C, N]
    tiles: TileLists,
    min_weight: float = 0.0,
) -> Tuple[Tensor, Tensor, Tensor]:
    """Sparse compositing weights ``alpha * T`` of projected Gaussians, as the forward pass composites.

    Rows are pixels ``(camera * H + y) * W + x`` of the images ``tiles`` lists, columns Gaussians ``0..N-1``;
    within a row the entries are in compositing (depth) order. Weights ``<= min_weight`` are dropped (they
    still attenuate the transmittance of the Gaussians behind them).

    Returns:
        crow [C * H * W + 1] int64, col [nnz] int32, val [nnz] float32 (CSR).
    """
    ext = load_extension()
    return tuple(
        ext.compositing_weights(
            means2d.detach().contiguous(),
            conics.detach().to(means2d.dtype).contiguous(),
            opacities.detach().to(means2d.dtype).contiguous(),
            int(tiles.width),
            int(tiles.height),
            int(tiles.tile_size),
            tiles.isect_offsets.to(torch.int32).contiguous(),
            tiles.flatten_ids.to(torch.int32).contiguous(),
            float(min_weight),
            torch.get_num_threads(),
        )
    )


def depth_quantiles(
    means2d: Tensor,  # [C, N, 2]
    conics: Tensor,  # [C, N, 3]
    opacities: Tensor,  # [C, N]
    depths: Tensor,  # [C, N] camera z of each Gaussian
    tiles: TileLists,
    levels: Sequence[float] = (0.25, 0.5, 0.75),
) -> Tensor:  # [C, H, W, L]
    """Per pixel and level, the depth (``depths``) of the Gaussian at which the composited opacity, the running
    sum of the compositing weights ``alpha * T`` in compositing order, first reaches the level; 0 where it never
    does. The first entry of :func:`compositing_weights`'s row whose running sum reaches the level, computed in
    the forward pass's loop (no weights are stored). Level 0.5 is the median depth, the surface a ray meets;
    the quartiles say how sharply it is placed. At most 8 levels. Not differentiable."""
    ext = load_extension()
    return ext.depth_quantiles(
        means2d.detach().contiguous(),
        conics.detach().to(means2d.dtype).contiguous(),
        opacities.detach().to(means2d.dtype).contiguous(),
        depths.detach().to(means2d.dtype).contiguous(),
        torch.as_tensor(list(levels), dtype=means2d.dtype),
        int(tiles.width),
        int(tiles.height),
        int(tiles.tile_size),
        tiles.isect_offsets.to(torch.int32).contiguous(),
        tiles.flatten_ids.to(torch.int32).contiguous(),
        torch.get_num_threads(),
    )
