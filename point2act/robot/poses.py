"""Robot poses on disk: one 4x4 pose per view, matched to the views by file name, checked.

A pose folder holds one file per view, named after the view's image (``images/9.png`` ->
``9.npy``, ``9.json``, ``9.csv`` or ``9.txt``):

* ``.npy``: a (4, 4) array;
* ``.json``: a 4x4 list of rows, or ``{"pose": 4x4}`` (also ``"flange_in_base"``, ``"base_from_flange"``,
  ``"matrix"``), or ``{"position": [x, y, z], "quaternion_wxyz": [w, x, y, z]}``;
* ``.csv`` / ``.txt``: 16 numbers (4 rows of 4, or one row of 16, row-major; commas or spaces).

A single JSON file instead of a folder maps names to poses: ``{"9": 4x4, "10": 4x4, ...}`` (keys:
image names with or without extension).

Translations are in metres. Every pose is checked: finite, last row ``0 0 0 1``, rotation block
orthonormal (within :data:`RIGID_TOLERANCE`) with determinant +1, translation no farther than
:data:`MAX_REACH_M` from the base (a pose in millimetres is refused as such). Plain numpy.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Sequence

import numpy as np

from point2act.errors import Point2ActError

__all__ = [
    "MAX_REACH_M",
    "POSE_SUFFIXES",
    "RIGID_TOLERANCE",
    "RobotPoses",
    "check_rigid",
    "load_robot_poses",
    "match_poses",
    "pose_from_position_quaternion",
    "read_pose_file",
    "read_transform_file",
]


@dataclass(frozen=True)
class RobotPoses:
    """The robot's poses of a capture's views: where the per-view flange poses are on disk and, when known, the
    camera's pose in the flange (the hand-eye transform). They travel together: a flange pose places the camera
    only through the camera-in-flange transform."""

    path: os.PathLike | str
    """Folder of per-view pose files (or one JSON name -> pose file), flange in base, metres (see the module
    docstring)."""
    camera_in_flange: np.ndarray | None = None  # (4, 4)
    """Rigid, metres, OpenCV camera axes (x right, y down, z forward); None: not known (the hand-eye
    calibration solves it)."""

POSE_SUFFIXES = (".npy", ".json", ".csv", ".txt")
RIGID_TOLERANCE = 1e-3
"""Largest entry of ``|R^T R - I|`` accepted for a pose's rotation block (poses stored as float32,
or printed with 6 digits, are a few 1e-5 off); the rotation used is the nearest exact one."""
MAX_REACH_M = 5.0
"""A flange or camera farther than this from the robot base (metres) is refused as a unit error."""


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_rigid(m: Any, src: str, what: str = "pose", max_reach_m: float | None = MAX_REACH_M) -> np.ndarray:
    """A checked rigid transform (4, 4) float64 (rotation block replaced by the nearest rotation).

    Raises:
        Point2ActError: naming ``src``: not 4x4 and finite, last row not ``0 0 0 1``, rotation block
            not orthonormal or mirrored, or (``max_reach_m``) a translation that looks like millimetres.
    """
    try:
        a = np.asarray(m, dtype=np.float64)
    except (TypeError, ValueError):
        raise Point2ActError(f"{src}: the {what} must be a 4x4 matrix of numbers.") from None
    if a.shape == (3, 4):
        a = np.concatenate([a, [[0.0, 0.0, 0.0, 1.0]]], axis=0)
    if a.shape != (4, 4):
        raise Point2ActError(f"{src}: the {what} must be a 4x4 matrix, got shape {list(a.shape)}.")
    if not np.all(np.isfinite(a)):
        raise Point2ActError(f"{src}: the {what} has non-finite entries (NaN or inf).")
    if not np.allclose(a[3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise Point2ActError(f"{src}: the {what}'s last row is {np.round(a[3], 6).tolist()}, expected [0, 0, 0, 1] "
                             "(a 4x4 homogeneous transform, row-major).")
    r = a[:3, :3]
    err = float(np.max(np.abs(r.T @ r - np.eye(3))))
    det = float(np.linalg.det(r))
    if err > RIGID_TOLERANCE or det <= 0:
        raise Point2ActError(
            f"{src}: the {what} is not rigid: its 3x3 rotation block is "
            + (f"mirrored (determinant {det:.4g})" if det <= 0 else
               f"not orthonormal (|R^T R - I| up to {err:.2g}, limit {RIGID_TOLERANCE:g}; determinant {det:.4g})")
            + ". Give rotation and translation only (no scale, shear or mirroring).")
    if max_reach_m is not None:
        d = float(np.linalg.norm(a[:3, 3]))
        if d > max_reach_m:
            hint = (" It looks like millimetres: give metres (divide the translation by 1000)."
                    if d / 1000.0 <= max_reach_m else "")
            raise Point2ActError(f"{src}: the {what}'s translation is {d:.4g} from the robot base; translations must be "
                                 f"in metres (limit {max_reach_m:g} m).{hint}")
    u, _, vt = np.linalg.svd(r)
    out = a.copy()
    out[:3, :3] = u @ vt
    return out


def pose_from_position_quaternion(doc: Dict[str, Any], src: str, unit: bool) -> np.ndarray:  # [4, 4]
    """The rigid transform of ``{"position": [x, y, z], "quaternion_wxyz": [w, x, y, z]}`` (metres), a
    :class:`Point2ActError` naming ``src`` for anything else. ``unit``: the quaternion must have norm 1 (to 1e-3;
    a robot's pose), else any non-zero quaternion is normalised (a pose typed in by hand)."""
    pos, q = doc.get("position"), doc.get("quaternion_wxyz")
    if not (isinstance(pos, list) and len(pos) == 3 and all(_num(v) for v in pos)):
        raise Point2ActError(f"{src}: 'position' must be 3 finite numbers (metres), got {pos!r}.")
    if not (isinstance(q, list) and len(q) == 4 and all(_num(v) for v in q)):
        raise Point2ActError(f"{src}: 'quaternion_wxyz' must be 4 finite numbers [w, x, y, z], got {q!r}.")
    n = math.sqrt(sum(v * v for v in q))
    if unit and abs(n - 1.0) > 1e-3:
        raise Point2ActError(f"{src}: 'quaternion_wxyz' has norm {n:.6g}; a rotation needs a unit quaternion.")
    if n < 1e-9:
        raise Point2ActError(f"{src}: 'quaternion_wxyz' is zero; it must be a rotation [w, x, y, z].")
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat([q[1], q[2], q[3], q[0]]).as_matrix()
    T[:3, 3] = pos
    return T


def _pose_from_json(doc: Any, src: str) -> Any:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for k in ("pose", "flange_in_base", "base_from_flange", "camera_in_flange", "flange_from_camera", "matrix",
                  "transform"):
            if k in doc:
                return doc[k]
        if "position" in doc or "quaternion_wxyz" in doc:
            return pose_from_position_quaternion(doc, src, unit=True)
    raise Point2ActError(f"{src}: no pose in this JSON: give a 4x4 list of rows, {{\"pose\": 4x4}} or "
                         "{\"position\": [x, y, z], \"quaternion_wxyz\": [w, x, y, z]} (metres).")


def _read_raw(path: Path) -> Any:
    src = str(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Point2ActError(f"{src}: pose file not found.") from None
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise Point2ActError(f"{src}: the pose file cannot be read ({type(e).__name__}: {e}).") from None
    if suffix == ".json":
        try:
            return _pose_from_json(json.loads(text), src)
        except json.JSONDecodeError as e:
            raise Point2ActError(f"{src}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).") from None
    vals = text.replace(",", " ").replace(";", " ").split()
    try:
        nums = [float(v) for v in vals]
    except ValueError:
        raise Point2ActError(f"{src}: a CSV/text pose must hold 16 numbers (4 rows of 4), found non-numbers.") from None
    if len(nums) != 16:
        raise Point2ActError(f"{src}: a CSV/text pose must hold 16 numbers (4 rows of 4, row-major), found {len(nums)}.")
    return np.asarray(nums).reshape(4, 4)


def read_pose_file(path: os.PathLike | str, what: str = "pose", max_reach_m: float | None = MAX_REACH_M
                   ) -> np.ndarray:
    """One pose file (``.npy``, ``.json``, ``.csv``, ``.txt``) -> checked rigid (4, 4), metres."""
    path = Path(path)
    return check_rigid(_read_raw(path), str(path), what, max_reach_m)


def read_transform_file(path: os.PathLike | str, what: str = "camera-in-flange transform") -> np.ndarray:
    """A rigid transform file (e.g. ``--camera-in-flange T.json``): any format :func:`read_pose_file`
    reads, with JSON keys ``camera_in_flange`` / ``flange_from_camera`` too. (4, 4), metres."""
    return read_pose_file(path, what)


def load_robot_poses(source: os.PathLike | str, what: str = "flange pose") -> tuple[Dict[str, np.ndarray],
                                                                                    Dict[str, str]]:
    """All poses of a pose folder (or a single JSON name -> pose file).

    Returns:
        ``(poses, sources)``: file stem -> checked (4, 4) pose (metres), and file stem -> the file
        (or ``FILE[key]``) it came from.

    Raises:
        Point2ActError: no such folder or file, no pose files, two files for one view, a bad pose
            (naming the file).
    """
    source = Path(source).expanduser()
    poses: Dict[str, np.ndarray] = {}
    where: Dict[str, str] = {}
    if source.is_file():
        if source.suffix.lower() != ".json":
            raise Point2ActError(f"{source}: --robot-poses must be a folder of pose files (one per view) or one JSON "
                                 "file mapping image names to 4x4 poses.")
        try:
            doc = json.loads(source.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise Point2ActError(f"{source}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).") from None
        if isinstance(doc, dict) and isinstance(doc.get("poses"), dict):
            doc = doc["poses"]
        if not isinstance(doc, dict) or not doc:
            raise Point2ActError(f"{source}: a poses JSON file must map image names to 4x4 poses, e.g. "
                                 "{\"0\": [[...], [...], [...], [0, 0, 0, 1]], ...}.")
        for k, v in doc.items():
            stem = Path(str(k)).stem
            src = f"{source}[{k!r}]"
            if stem in poses:
                raise Point2ActError(f"{source}: two poses for view {stem!r} ({where[stem]} and {src}).")
            poses[stem] = check_rigid(_pose_from_json(v, src), src, what)
            where[stem] = src
        return poses, where
    if not source.is_dir():
        raise Point2ActError(f"{source}: no such folder of robot poses (one pose file per view: N.npy, N.json, "
                             "N.csv).")
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in POSE_SUFFIXES)
    if not files:
        raise Point2ActError(f"{source}: no pose files ({', '.join(POSE_SUFFIXES)}) in this folder.")
    seen: Dict[str, Path] = {}
    for p in files:
        if p.stem in seen:
            raise Point2ActError(f"{source}: two pose files for view {p.stem!r}: {seen[p.stem].name} and {p.name}; "
                                 "keep one.")
        seen[p.stem] = p
    for p in files:
        poses[p.stem] = read_pose_file(p, what)
        where[p.stem] = str(p)
    return poses, where


def match_poses(view_keys: Sequence[str], poses: Dict[str, np.ndarray], sources: Dict[str, str],
                pose_dir: os.PathLike | str, ignore: Sequence[str] = (), what: str = "capture"
                ) -> list[tuple[str, np.ndarray, str]]:
    """Pair views with poses by file name (the image's stem = the pose file's stem).

    Args:
        view_keys: the views (``images/9.png``, ...).
        poses, sources: from :func:`load_robot_poses`.
        pose_dir: named in the messages.
        ignore: views left out (their poses may be present or not).

    Returns:
        ``[(view key, pose (4, 4), pose file)]`` in the order of ``view_keys``.

    Raises:
        Point2ActError: a view without a pose (naming the view and the file expected), poses for no
            view, or two views with the same file name.
    """
    ignore_stems = {Path(k).stem for k in ignore}
    stems: Dict[str, str] = {}
    for k in view_keys:
        s = Path(k).stem
        if s in stems:
            raise Point2ActError(f"{what}: views {stems[s]!r} and {k!r} have the same file name {s!r}: poses are matched "
                                 "by file name, so each view needs its own.")
        stems[s] = k
    used = [k for k in view_keys if Path(k).stem not in ignore_stems]
    missing = [k for k in used if Path(k).stem not in poses]
    extra = sorted(s for s in poses if s not in stems and s not in ignore_stems)
    n_files = len([s for s in poses if s not in ignore_stems])
    if missing or extra:
        parts = []
        if missing:
            shown = ", ".join(f"{k} (expected {Path(pose_dir) / (Path(k).stem + '.npy')} or .json/.csv)"
                              for k in missing[:5])
            parts.append(f"{len(missing)} view(s) have no pose: {shown}" + (f", and {len(missing) - 5} more"
                                                                             if len(missing) > 5 else ""))
        if extra:
            shown = ", ".join(Path(sources[s]).name if os.sep in sources[s] else sources[s] for s in extra[:5])
            parts.append(f"{len(extra)} pose(s) match no view: {shown}" + (f", and {len(extra) - 5} more"
                                                                           if len(extra) > 5 else ""))
        raise Point2ActError(
            f"{pose_dir}: {n_files} poses for {len(used)} views of the {what}: " + "; ".join(parts)
            + ". Poses are matched to views by file name (images/9.png <-> 9.npy); give exactly one pose per view, "
            "or leave views out with --ignore-view.")
    return [(k, poses[Path(k).stem], sources[Path(k).stem]) for k in used]
