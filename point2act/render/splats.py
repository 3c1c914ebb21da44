"""3D Gaussians as one value: the four tensors the rasterizer takes of every Gaussian.

:class:`Splats` is what the relevancy refit's compositing weights (:mod:`point2act.requery.fit_torch`) and the
re-query's weights (:func:`point2act.requery.weights_torch.build_weights_cache`) render: activated parameters, one row
per Gaussian, as :func:`point2act.render.rasterization` takes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class Splats:
    """N 3D Gaussians in the form :func:`point2act.render.rasterization` takes them (activated, not logits)."""

    means: Tensor  # [N, 3]
    """Centres, world frame."""
    quats: Tensor  # [N, 4]
    """Rotations as wxyz quaternions (any norm: the projection normalises them)."""
    scales: Tensor  # [N, 3]
    """Standard deviations along the rotated axes (linear, not log)."""
    opacities: Tensor  # [N]
    """Opacities in [0, 1] (after the sigmoid)."""
