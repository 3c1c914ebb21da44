"""What the grasp planner plans on: :class:`PlanningScene`, one typed object in the capture frame.

:func:`point2act.export.stages.planning_scene` builds it from a run's export inputs and its answer (the fused
surface, the occupancy, the target); tests and benchmarks build it from arrays. Plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Tuple

import numpy as np

if TYPE_CHECKING:
    from point2act.grasp.occupancy import OccupancyGrid
    from point2act.grasp.result import Region


@dataclass(frozen=True)
class PlanningScene:
    """The scene around the target as the planner reads it: the Gaussians, and what the views add (capture
    frame and units; activated opacities, linear scales)."""

    means: np.ndarray  # [N, 3]
    """The Gaussians' centres."""
    opacities: np.ndarray  # [N]
    """The Gaussians' opacities, in [0, 1]."""
    relevancy: np.ndarray  # [N]
    """The field's relevancy per Gaussian, in [0, 1]."""
    region: "Region | None" = None
    """The relevant region to grasp at (None: :func:`point2act.grasp.region.relevant_region` of the field)."""
    scales: np.ndarray | None = None  # [N, 3]
    """The Gaussians' linear scales (None: not used to size the surface's points)."""
    camera_centers: np.ndarray | None = None  # [C, 3]
    """The training cameras' centres: surface normals are turned towards them."""
    surface_points: np.ndarray | None = None  # [K, 3]
    """More surface points (the fused depth, the surface the views see); None: the Gaussian centres alone."""
    fused_center: np.ndarray | None = None  # [3]
    """Centre of the ball where ``surface_points`` is a fused depth surface that replaces the Gaussian centres."""
    fused_radius: float = 0.0
    """Radius of that ball (0: no ball; the Gaussian centres are kept everywhere)."""
    occupancy: "OccupancyGrid | None" = None
    """Free, occupied and unknown cells around the region (:mod:`point2act.grasp.occupancy`)."""
    plane_points: np.ndarray | None = None  # [P, 3]
    """What the views see, for the support plane (None: the surface points)."""
    target_surface: Tuple[np.ndarray, np.ndarray] | None = None  # ([F, 3], [F] bool)
    """Fused surface points and which of them are the target (:func:`point2act.grasp.target.surface_region`):
    the seeds and the target's labels come from it. None: the region's Gaussians label the target."""
    avoid: np.ndarray | None = None  # [N]
    """An avoid channel's relevancy per Gaussian: grasps through it are penalised."""
    handover_direction: np.ndarray | None = None  # [3]
    """Towards a handover recipient: each grasp also gets the rotation that turns the avoid region away."""
