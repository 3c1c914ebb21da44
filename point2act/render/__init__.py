"""Gaussian-splatting rasterization for point2act.

``rasterization`` has gsplat 1.4.0's signature and return values: CUDA inputs
go to ``gsplat.rasterization``; CPU inputs use point2act's pure-torch
projection and a C++/OpenMP tile rasterizer (compiled on first use and cached,
see :mod:`point2act.render._backend`). Importing this package only imports
torch.
"""

from .rasterization import rasterization

__all__ = ["rasterization"]
