"""Gaussian-splatting rasterization for point2act.

``rasterization`` has gsplat 1.4.0's signature and return values: CUDA inputs go to
``gsplat.rasterization``; CPU inputs run point2act's C++/OpenMP kernels (compiled for the machine
on first use and cached, see :mod:`point2act.render._backend`). The pipeline's stages are public
too, gsplat-style:

* :func:`fully_fused_projection` - 3D Gaussians -> radii, means2d, depths, conics (C++)
* :func:`sh_colors` - spherical harmonics -> each camera's colours, plus 0.5, clamped at 0 (C++)
* :func:`isect_tiles` - tile/Gaussian intersection lists sorted by depth (C++)
* :func:`rasterize_to_pixels` - alpha compositing, differentiable (C++)
* :func:`compositing_weights` - sparse ``alpha * T`` per (pixel, Gaussian) (C++)
* :func:`depth_quantiles` - per pixel, the depths where the composited opacity reaches given levels (C++)

The stages' pure-torch references are in :mod:`point2act.render._torch_impl` (tests only). Importing
this package only imports torch.

:func:`compositing_weights` and :func:`depth_quantiles` read the tile lists as one :class:`TileLists`
(image and tile sizes, offsets and ids); :class:`Splats` holds the four per-Gaussian tensors the
rasterizer takes, for point2act's callers that pass them as one value.
"""

from point2act.render._backend import compositing_weights, depth_quantiles, isect_tiles, rasterize_to_pixels
from point2act.render.projection import fully_fused_projection, sh_colors
from point2act.render.rasterization import rasterization
from point2act.render.splats import Splats
from point2act.render.tiles import TileLists

__all__ = [
    "compositing_weights",
    "depth_quantiles",
    "fully_fused_projection",
    "isect_tiles",
    "rasterization",
    "rasterize_to_pixels",
    "sh_colors",
    "Splats",
    "TileLists",
]
