"""Judge a grasp against known geometry: does it close on the target part, and is it collision-free?

Used by the tests, the demo and the accuracy benchmark, with ground-truth surface samples of a
synthetic scene (``points`` [M, 3] with a part label each). Plain numpy.

* **Closes on the target**: the closing region (the box swept between the fingers' inner faces,
  ``finger_width`` deep along y, ``finger_length`` long behind the TCP) holds at least
  ``min_points`` surface points, and at least ``min_fraction`` of them belong to the target part.
* **Collision-free**: no surface point lies inside a finger or the palm box shrunk by ``tol``
  (the true geometry, not the reconstruction the planner saw), and no box reaches below the
  support plane ``z = table_z`` by more than ``tol``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Tuple

import numpy as np

from .config import GripperConfig
from .geometry import Box, grasp_pose, grasp_to_gripper_boxes, points_in_box

__all__ = ["GraspVerdict", "judge_grasp", "closing_box", "gripper_contacts"]


@dataclass
class GraspVerdict:
    on_target: bool
    """The closing region holds enough points and mostly the target's."""
    collision_free: bool
    """No true surface point inside the fingers or palm, nothing below the table."""
    target_fraction: float
    """Fraction of the closing region's points that belong to the target (0 when empty)."""
    closing_points: int
    """Surface points inside the closing region."""
    colliding_points: Dict[str, int]
    """Per box (finger_neg_x, finger_pos_x, palm): surface points inside it."""

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


def closing_box(grasp: Any, gripper: GripperConfig) -> Box:
    """The region between the fingers of a grasp (a :class:`Grasp` or a grasps.json dict)."""
    pos, R, opening = grasp_pose(grasp, gripper)
    L, fw = gripper.units(gripper.finger_length), gripper.units(gripper.finger_width)
    return Box(center=pos - R[:, 2] * L / 2, half_extents=np.array([opening / 2, fw / 2, L / 2]), rotation=R)


def gripper_contacts(
    grasp: Any,
    gripper: GripperConfig,
    points: np.ndarray,  # [M, 3] true surface samples, capture frame
    tol: float = 0.001,
    table_z: float | None = None,
) -> Tuple[Dict[str, int], bool]:
    """Per box (finger_neg_x, finger_pos_x, palm): surface points inside it shrunk by ``tol``; and
    whether a box reaches below the support plane ``z = table_z`` by more than ``tol``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    hits: Dict[str, int] = {}
    below = False
    for name, box in grasp_to_gripper_boxes(grasp, gripper).items():
        hits[name] = int(points_in_box(points, box, tol=tol).sum())
        if table_z is not None and box.corners()[:, 2].min() < table_z - tol:
            below = True
    return hits, below


def judge_grasp(
    grasp: Any,
    gripper: GripperConfig,
    points: np.ndarray,  # [M, 3] true surface samples, capture frame
    labels: np.ndarray,  # [M] part label per point
    target: Any,
    tol: float = 0.001,
    table_z: float | None = None,
    min_points: int = 5,
    min_fraction: float = 0.5,
) -> GraspVerdict:
    """Verdict for one grasp; ``target`` is a label (or a collection of labels) of the target part;
    ``tol`` in capture units; ``table_z``: the support plane ``z = table_z`` (capture frame, z up)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    labels = np.asarray(labels).reshape(-1)
    targets = set(np.atleast_1d(np.asarray(target, dtype=object)).tolist())
    inside = points_in_box(points, closing_box(grasp, gripper))
    n_in = int(inside.sum())
    frac = float(np.mean([lab in targets for lab in labels[inside]])) if n_in else 0.0
    hits, below = gripper_contacts(grasp, gripper, points, tol, table_z)
    return GraspVerdict(
        on_target=n_in >= min_points and frac >= min_fraction,
        collision_free=not below and sum(hits.values()) == 0,
        target_fraction=frac,
        closing_points=n_in,
        colliding_points=hits,
    )
