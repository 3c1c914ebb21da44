"""grasps.json in the robot's base frame.

:func:`add_base_frame` takes a ``point2act.grasps/1`` document (capture frame, capture units) and a
``base_from_capture`` similarity (from ``point2act calibrate``'s frame file, or your own hand-eye
calibration) and returns a copy with every pose also in the robot base frame, in metres:

* top level: ``"base_from_capture"`` (the 4x4 applied), ``"frame_file"`` (where it came from, or
  null) and ``"base": {"units": "metres", "metres_per_unit", "action_point": [3],
  "region_center": [3]}``;
* each grasp: ``"base": {"position", "rotation", "quaternion_wxyz", "pregrasp_position",
  "approach"}`` (and ``"handover_rotation"``, ``"handover_quaternion_wxyz"`` when the grasp has
  them);
* each keypoint (when present): ``"base": {"action_point", "region_center"}``.

A capture point ``p`` (capture units) maps to ``base_from_capture @ [p, 1]`` (metres); a rotation
``R`` (columns: the gripper's axes in the capture frame) maps to ``R_bc @ R`` with ``R_bc`` the
matrix's 3x3 block divided by its scale. The base pre-grasp is ``position - pregrasp_distance *
approach`` with the gripper's ``pregrasp_distance`` in metres (0.10 for files written before it
existed). Plain numpy + scipy.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from point2act.errors import Point2ActError

__all__ = ["add_base_frame", "split_similarity", "DEFAULT_PREGRASP_DISTANCE"]

DEFAULT_PREGRASP_DISTANCE = 0.10
"""Metres; ``GripperConfig.pregrasp_distance``'s default, used for files without it."""

SCALE_TOLERANCE = 0.02
"""Largest relative difference between the document's ``metres_per_unit`` (what the grasps were
planned with) and ``base_from_capture``'s scale."""


def split_similarity(m: np.ndarray, what: str = "base_from_capture") -> tuple:
    """``(scale, rotation (3, 3), translation (3,))`` of a 4x4 similarity ``[s R | t; 0 0 0 1]``.

    Raises:
        Point2ActError: not 4x4 and finite, last row not 0 0 0 1, or the block not s * rotation
            (s > 0, det R = +1).
    """
    try:
        m = np.asarray(m, dtype=np.float64)
    except (TypeError, ValueError):
        raise Point2ActError(f"{what} must be a 4x4 matrix of numbers.") from None
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise Point2ActError(f"{what} must be a 4x4 matrix of finite numbers, got shape {list(m.shape)}.")
    if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
        raise Point2ActError(f"{what}: the last row is {m[3].tolist()}, expected [0, 0, 0, 1].")
    det = float(np.linalg.det(m[:3, :3]))
    if det <= 0:
        raise Point2ActError(f"{what}: the 3x3 block has determinant {det:.6g}; it must be a positive scale times a "
                             "rotation (no mirroring).")
    s = det ** (1.0 / 3.0)
    r = m[:3, :3] / s
    if not np.allclose(r.T @ r, np.eye(3), atol=1e-4):
        raise Point2ActError(f"{what}: the 3x3 block is not a scale times a rotation (it shears or scales the axes "
                             "differently).")
    u, _, vt = np.linalg.svd(r)  # the nearest exact rotation
    return s, u @ vt, m[:3, 3].copy()


def _quat_wxyz(r: np.ndarray) -> list[float]:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(r).as_quat()
    q = np.array([w, x, y, z])
    return [float(v) for v in (-q if w < 0 else q)]


def _vec(a) -> list[float]:
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def add_base_frame(
    grasps: dict[str, Any],
    base_from_capture: np.ndarray,
    metres_per_unit: float | None = None,
    frame_file: str | None = None,
    check_scale: bool = True,
) -> dict[str, Any]:
    """A copy of a grasps.json document with robot-base-frame poses added (see the module docstring).

    Args:
        grasps: a ``point2act.grasps/1`` document (capture frame).
        base_from_capture: (4, 4) capture points (capture units) -> base points (metres): a
            positive scale (metres per capture unit) times a rotation, plus a translation. This is
            ``point2act_frame.json``'s ``base_from_capture``.
        metres_per_unit: None (default): the scale is read from ``base_from_capture``. Given with
            a *rigid* ``base_from_capture`` (3x3 block a rotation, i.e. it maps metres to metres),
            the transform applied is ``base_from_capture @ diag(m, m, m, 1)``; a value equal to
            the matrix's own scale is accepted too; anything else is an error.
        frame_file: recorded as ``"frame_file"`` (the file the matrix came from).
        check_scale: refuse (Point2ActError) a document planned with a ``metres_per_unit`` more than
            2% off the transform's scale: its gripper was sized wrongly for the scene.

    Returns:
        The new document; ``grasps`` is not modified.
    """
    if not isinstance(grasps, dict) or "grasps" not in grasps:
        raise Point2ActError("add_base_frame needs a point2act.grasps/1 document (a dict with 'grasps').")
    s, r_bc, t = split_similarity(base_from_capture)
    m_eff = np.asarray(base_from_capture, dtype=np.float64).copy()
    if metres_per_unit is not None:
        if not (isinstance(metres_per_unit, (int, float)) and math.isfinite(metres_per_unit) and metres_per_unit > 0):
            raise Point2ActError(f"metres_per_unit must be a positive number, got {metres_per_unit!r}.")
        if abs(s / metres_per_unit - 1.0) <= 1e-3:
            pass
        elif abs(s - 1.0) <= 1e-6:
            m_eff = m_eff @ np.diag([metres_per_unit] * 3 + [1.0])
            s = float(metres_per_unit)
        else:
            raise Point2ActError(
                f"base_from_capture scales by {s:.6g} (metres per capture unit) but metres_per_unit is "
                f"{metres_per_unit:.6g}: give a matrix that includes the scale (metres_per_unit=None) or a rigid one.")
    doc_mpu = grasps.get("metres_per_unit", 1.0)
    if check_scale and isinstance(doc_mpu, (int, float)) and doc_mpu > 0 and abs(doc_mpu / s - 1.0) > SCALE_TOLERANCE:
        raise Point2ActError(
            f"the grasps were planned with metres_per_unit {doc_mpu:.6g} but base_from_capture scales by {s:.6g} "
            "metres per capture unit: the gripper was sized wrongly for the scene. Export again with "
            f"--metres-per-unit {s:.6g} (export reads CAPTURE/point2act_frame.json by default).")

    def point(p) -> list[float]:
        return _vec(m_eff[:3, :3] @ np.asarray(p, dtype=np.float64) + m_eff[:3, 3])

    grip = grasps.get("gripper") if isinstance(grasps.get("gripper"), dict) else {}
    pre = float(grip.get("pregrasp_distance", DEFAULT_PREGRASP_DISTANCE))
    out = copy.deepcopy(grasps)
    out["base_from_capture"] = [[float(v) for v in row] for row in m_eff]
    out["frame_file"] = None if frame_file is None else str(frame_file)
    out["base"] = {
        "units": "metres",
        "metres_per_unit": float(s),
        "action_point": point(grasps["action_point"]),
        "region_center": point(grasps["region"]["center"]),
    }
    for g in out["grasps"]:
        rb = r_bc @ np.asarray(g["rotation"], dtype=np.float64)
        pos = np.asarray(point(g["position"]))
        approach = rb[:, 2] / np.linalg.norm(rb[:, 2])
        b: dict[str, Any] = {
            "position": _vec(pos),
            "rotation": [_vec(row) for row in rb],
            "quaternion_wxyz": _quat_wxyz(rb),
            "pregrasp_position": _vec(pos - pre * approach),
            "approach": _vec(approach),
        }
        if "handover_rotation" in g:
            hb = r_bc @ np.asarray(g["handover_rotation"], dtype=np.float64)
            b["handover_rotation"] = [_vec(row) for row in hb]
            b["handover_quaternion_wxyz"] = _quat_wxyz(hb)
        g["base"] = b
    for kp in (out.get("keypoints") or {}).values():
        kp["base"] = {"action_point": point(kp["action_point"]), "region_center": point(kp["region"]["center"])}
    return out
