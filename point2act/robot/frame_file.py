"""The frame file ``CAPTURE/point2act_frame.json`` (metric scale and robot base frame of a capture)
and the marker pose file: reading and checking them.

:func:`point2act.robot.calibrate.calibrate_capture` and
:func:`point2act.robot.handeye.calibrate_from_robot_poses` write the frame file; ``point2act export``
reads it (:func:`resolve_frame_file`). Matrices and frames: see :mod:`point2act.robot.calibrate`.

Plain numpy + scipy; no nerfstudio, no torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from point2act.errors import Point2ActError
from point2act.robot.capture_views import _locate, _num
from point2act.robot.poses import pose_from_position_quaternion

__all__ = [
    "FRAME_FILE",
    "FRAME_SCHEMA",
    "compose_base_from_capture",
    "load_frame_file",
    "read_marker_pose",
    "resolve_frame_file",
]

FRAME_SCHEMA = "point2act.frame/1"
"""Schema id of ``point2act_frame.json``."""
FRAME_FILE = "point2act_frame.json"
"""Name of the frame file the calibrations write in the capture folder."""


def compose_base_from_capture(base_from_marker: np.ndarray, metres_per_unit: float,
                              capture_from_marker: np.ndarray) -> np.ndarray:
    """``base_from_marker @ diag(m, m, m, 1) @ inv(capture_from_marker)`` (4, 4): capture points
    (capture units) -> base points (metres)."""
    S = np.diag([metres_per_unit] * 3 + [1.0])
    return np.asarray(base_from_marker, dtype=np.float64) @ S @ np.linalg.inv(np.asarray(capture_from_marker, float))


def _check_matrix(value: Any, what: str, src: str, rigid: bool = False, similarity: bool = False) -> np.ndarray:
    """A 4x4 finite matrix with last row 0 0 0 1; ``rigid``: rotation block orthonormal, det +1;
    ``similarity``: rotation block = s * rotation with s > 0."""
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        m = np.zeros(0)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise Point2ActError(f"{src}: {what!r} must be a 4x4 matrix of finite numbers (a list of 4 rows).")
    if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
        raise Point2ActError(f"{src}: {what!r}: the last row is {m[3].tolist()}, expected [0, 0, 0, 1].")
    block = m[:3, :3]
    det = float(np.linalg.det(block))
    if rigid:
        if not np.allclose(block.T @ block, np.eye(3), atol=1e-4) or det <= 0:
            raise Point2ActError(f"{src}: {what!r}: the 3x3 rotation block is not a rotation (orthonormal, "
                                 f"determinant +1; got determinant {det:.6g}). Give a rigid pose: rotation and "
                                 "translation only.")
    if similarity:
        s = abs(det) ** (1.0 / 3.0)
        if det <= 0 or s <= 0 or not np.allclose(block.T @ block / (s * s), np.eye(3), atol=1e-4):
            raise Point2ActError(f"{src}: {what!r}: the 3x3 block is not a positive scale times a rotation "
                                 f"(determinant {det:.6g}): it must map capture units to metres without shear or "
                                 "mirroring.")
    return m


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Point2ActError(f"{path}: {what} not found.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise Point2ActError(f"{path}: {what} cannot be read ({type(e).__name__}: {e}).") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise Point2ActError(f"{path}: {what} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).") from None


def load_frame_file(path: os.PathLike | str) -> dict[str, Any]:
    """Read and check a frame file (``point2act_frame.json`` from
    :func:`point2act.robot.calibrate.calibrate_capture`, or a hand-written one).

    Accepted: a JSON object with ``metres_per_unit`` (> 0) and/or ``base_from_capture`` (4x4, a
    positive scale times a rotation, last row 0 0 0 1; its scale must equal ``metres_per_unit``
    when both are given), optionally ``capture_from_marker`` and ``base_from_marker`` (rigid 4x4)
    and ``schema`` (``"point2act.frame/1"`` when present). A file with only ``base_from_capture``
    gets ``metres_per_unit`` = its scale.

    Returns the document with the matrices as (4, 4) float64 numpy arrays, ``metres_per_unit`` a
    float and ``"path"`` (str) added.

    Raises:
        Point2ActError: naming the file and the entry.
    """
    path = Path(path)
    doc = _read_json(path, "frame file")
    src = str(path)
    if not isinstance(doc, dict):
        raise Point2ActError(f"{src}: a frame file must be a JSON object, got {type(doc).__name__}.")
    if "schema" in doc and doc["schema"] != FRAME_SCHEMA:
        raise Point2ActError(f"{src}: 'schema' is {doc['schema']!r}, expected {FRAME_SCHEMA!r}.")
    if "metres_per_unit" not in doc and "base_from_capture" not in doc:
        raise Point2ActError(f"{src}: no 'metres_per_unit' and no 'base_from_capture': nothing to use. Run "
                             "`point2act calibrate --data CAPTURE --marker-size SIDE_M` to write one.")
    out = dict(doc)
    if "metres_per_unit" in doc:
        m = doc["metres_per_unit"]
        if not _num(m) or m <= 0:
            raise Point2ActError(f"{src}: 'metres_per_unit' must be a positive number, got {m!r}.")
        out["metres_per_unit"] = float(m)
    for k in ("capture_from_marker", "base_from_marker"):
        if k in doc:
            out[k] = _check_matrix(doc[k], k, src, rigid=True)
    if "base_from_capture" in doc:
        bfc = _check_matrix(doc["base_from_capture"], "base_from_capture", src, similarity=True)
        s = float(abs(np.linalg.det(bfc[:3, :3])) ** (1.0 / 3.0))
        if "metres_per_unit" in out and abs(s / out["metres_per_unit"] - 1.0) > 1e-4:
            raise Point2ActError(f"{src}: 'base_from_capture' scales by {s:.6g} but 'metres_per_unit' is "
                                 f"{out['metres_per_unit']:.6g}; they must agree (the matrix maps capture units to "
                                 "metres).")
        out["base_from_capture"] = bfc
        out.setdefault("metres_per_unit", s)
    out["path"] = src
    return out


def resolve_frame_file(data: os.PathLike | str | None, override: os.PathLike | str | None = None
                       ) -> dict[str, Any] | None:
    """The frame export should use: ``override`` (``--base-from-capture FILE``) if given, else
    ``CAPTURE/point2act_frame.json`` if it exists, else None. Loaded with :func:`load_frame_file`."""
    if override is not None:
        return load_frame_file(override)
    if data is None:
        return None
    p = _locate(data)[0] / FRAME_FILE
    return load_frame_file(p) if p.is_file() else None


def read_marker_pose(path: os.PathLike | str) -> np.ndarray:
    """The marker's pose in the robot base frame (``--marker-pose-in-base``), (4, 4) rigid, metres.

    The JSON file holds ``{"base_from_marker": 4x4}``, or ``{"position": [x, y, z] (metres),
    "quaternion_wxyz": [w, x, y, z]}`` (normalised here), or a bare 4x4 list. The marker frame:
    origin at its centre, x along its first edge (top-left -> top-right corner), z out of the
    printed face (OpenCV's ArUco frame).
    """
    path = Path(path)
    doc = _read_json(path, "marker pose file")
    src = str(path)
    if isinstance(doc, list):
        return _check_matrix(doc, "base_from_marker", src, rigid=True)
    if not isinstance(doc, dict):
        raise Point2ActError(f"{src}: the marker pose must be a JSON object, got {type(doc).__name__}.")
    if "base_from_marker" in doc:
        return _check_matrix(doc["base_from_marker"], "base_from_marker", src, rigid=True)
    if "position" in doc or "quaternion_wxyz" in doc:
        return pose_from_position_quaternion(doc, src, unit=False)
    raise Point2ActError(f"{src}: no marker pose: give {{\"base_from_marker\": 4x4}} or {{\"position\": [3], "
                         "\"quaternion_wxyz\": [4]}} (metres, the marker's pose in the robot base frame).")
