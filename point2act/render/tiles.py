"""The tile lists of projected Gaussians, as the kernels that composite them take them.

:class:`TileLists` groups the image size, the tile size and :func:`point2act.render.isect_tiles`' offsets and
ids: what :func:`point2act.render.compositing_weights` and :func:`point2act.render.depth_quantiles` (and their
torch references) read to walk each tile's Gaussians front to back.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class TileLists:
    """Which Gaussians each tile of C images of one size composites, front to back."""

    width: int
    """Image width W in pixels."""
    height: int
    """Image height H in pixels."""
    tile_size: int
    """Tile side in pixels; the images have ``ceil(H / tile_size)`` x ``ceil(W / tile_size)`` tiles."""
    isect_offsets: Tensor  # [C, tile_height, tile_width] int32
    """Start of each tile's list in ``flatten_ids`` (a tile's list ends where the next one starts)."""
    flatten_ids: Tensor  # [n_isects] int32
    """Each intersection's Gaussian, an index into the ``C * N`` projected Gaussians, depth-sorted per tile."""
