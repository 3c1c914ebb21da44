"""The gripper against the support plane (the table): how far above it its fingers and palm stay, and how deep
along an approach the table lets a grasp go. Plain numpy."""

from __future__ import annotations

from typing import Dict

import numpy as np

__all__ = ["plane_min", "support_room"]


def plane_min(plane: np.ndarray, tcp: np.ndarray, R: np.ndarray, h: np.ndarray,
              dims: Dict[str, float]) -> np.ndarray:
    """Lowest signed distance to the ``plane`` [4] of the fingers and the palm, for TCPs ``tcp`` [K, T, 3],
    rotations ``R`` [K, T, 3, 3] and half-openings ``h`` [K, T]: ``[K, T]`` (``dims``: the gripper's boxes in
    capture units, :meth:`~point2act.grasp.config.GripperConfig.scaled`)."""
    L, t, fw = dims["finger_length"], dims["finger_thickness"], dims["finger_width"]
    Dp, pw, pt = dims["palm_depth"], dims["palm_width"], dims["palm_thickness"]
    n, off = plane[:3], plane[3]
    nR = np.einsum("i,ktij->ktj", n, R)  # n . (x, y, z)
    s0 = tcp @ n + off
    ax, ay, az = np.abs(nR[..., 0]), np.abs(nR[..., 1]), nR[..., 2]
    finger = s0 - ax * (h + t / 2) - az * L / 2 - (ax * t / 2 + ay * fw / 2 + np.abs(az) * L / 2)
    palm = s0 - az * (L + Dp / 2) - (ax * pw / 2 + ay * pt / 2 + np.abs(az) * Dp / 2)
    return np.minimum(finger, palm)


def support_room(plane: np.ndarray, c: np.ndarray, R: np.ndarray, half_open: float, dims: Dict[str, float],
                 clearance: float) -> np.ndarray:
    """The deepest TCP [K, T] (along the approach from the contacts' centres ``c`` [K, 3], rotations ``R``
    [K, T, 3, 3]) with the fingertips ``clearance`` above the support ``plane`` (``inf``: an approach that
    does not go down): a part that rests on it (a tool handle, a bar lying on the table) is held as deep
    as the table allows instead of past its underside, where the pads still reach the contacts and hold
    ``MIN_GRASP_DEPTH`` of the part from its top (:mod:`point2act.grasp.part_scans`; else the plane test rejects
    the grasp). The fingers are taken at the widest opening (their lowest point, for any opening up to
    ``2 half_open``)."""
    K, T = R.shape[:2]
    nz = np.einsum("i,kti->kt", plane[:3], R[..., 2])  # the approach's component along the plane's normal
    s0 = plane_min(plane, np.broadcast_to(c[:, None, :], (K, T, 3)), R, np.full((K, T), half_open), dims)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(nz < -1e-12, (s0 - clearance) / -nz, np.inf)
