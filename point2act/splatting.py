"""The two values every compositing kernel takes: the Gaussians it composites and the views it composites them into.

:class:`Views` is a stack of pinhole views, numpy arrays or torch tensors alike: the kernels of
:mod:`point2act.requery.fit_numpy` (numpy) and :mod:`point2act.requery.fit_torch`, :mod:`point2act.visibility` and
:mod:`point2act.requery.weights_torch` (torch) take it. :class:`SplatArrays` is the numpy side's Gaussians, the arrays of
:class:`point2act.render.Splats` (the torch side's). :func:`pixel_divisor` is the one rule by which a stage reads a
view at a pixel budget. Imports the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, Tuple


@dataclass(frozen=True)
class SplatArrays:
    """N 3D Gaussians as numpy arrays, activated, as the refit extension's kernels take them: the four arrays
    of :class:`point2act.render.Splats`, which the rasterizer reads of every Gaussian together."""

    means: Any  # [N, 3] np.ndarray
    """Centres, world frame."""
    quats: Any  # [N, 4] np.ndarray
    """Rotations as wxyz quaternions (any norm: the projection normalises them)."""
    scales: Any  # [N, 3] np.ndarray
    """Standard deviations along the rotated axes (linear, not log)."""
    opacities: Any  # [N] np.ndarray
    """Opacities in [0, 1] (after the sigmoid)."""


@dataclass(frozen=True)
class Views:
    """C pinhole views, numpy arrays or torch tensors: each view's world-to-camera matrix, intrinsics and image
    size travel together (intrinsics only mean something at their image's size)."""

    viewmats: Any  # [C, 4, 4]
    """World -> camera (OpenCV axes: +z forward) of each view."""
    Ks: Any  # [C, 3, 3]
    """Pinhole intrinsics of each view, at its image size."""
    sizes: Tuple[Tuple[int, int], ...]  # C x (height, width)
    """``(height, width)`` of each view, pixels."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple((int(h), int(w)) for h, w in self.sizes))

    @classmethod
    def one_size(cls, viewmats: Any, Ks: Any, width: int, height: int) -> "Views":
        """Views that are all ``width`` x ``height`` pixels."""
        return cls(viewmats, Ks, ((int(height), int(width)),) * len(viewmats))

    def __len__(self) -> int:
        return len(self.sizes)

    def take(self, positions: Sequence[int]) -> "Views":
        """The views at ``positions``, in that order."""
        idx = [int(i) for i in positions]
        return Views(self.viewmats[idx], self.Ks[idx], tuple(self.sizes[i] for i in idx))

    def size(self) -> Tuple[int, int]:
        """The one ``(height, width)`` of the views; ValueError when they differ or there are none."""
        distinct = set(self.sizes)
        if len(distinct) != 1:
            raise ValueError(f"views of one size expected, got {sorted(distinct)}")
        return self.sizes[0]

    @property
    def width(self) -> int:
        """The views' one width (:meth:`size`)."""
        return self.size()[1]

    @property
    def height(self) -> int:
        """The views' one height (:meth:`size`)."""
        return self.size()[0]


def pixel_divisor(height: int, width: int, max_pixels: int | None) -> int:
    """The smallest whole divisor ``d`` that brings a ``height x width`` view to at most ``max_pixels`` pixels
    (``height * width <= max_pixels * d * d``; ``max_pixels`` None: 1, as is). Integer arithmetic,
    so every stage that reads a view at a pixel budget reads it at the same resolution: the fusion views
    (:func:`point2act.fusion.fusion_views`), the views' consensus and the refit
    (:func:`point2act.requery.fit_numpy.support_divisor`), the start cloud's stereo
    (:mod:`point2act.startcloud.stereo`)."""
    if max_pixels is None:
        return 1
    hw, cap, d = int(height) * int(width), max(1, int(max_pixels)), 1
    while hw > cap * d * d:
        d += 1
    return d


__all__ = ["SplatArrays", "Views", "pixel_divisor"]
