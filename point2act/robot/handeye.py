"""Metric scale, robot base frame and hand-eye transform of a capture from the robot's own poses.

A robot that takes the photos knows where its flange was for each one. With the capture's
cameras (transforms.json, or a COLMAP model) and those flange poses, :func:`calibrate_from_robot_poses`
solves for

* ``camera_in_flange`` ``X`` (4x4, rigid, metres): the camera's pose in the flange frame, OpenCV
  camera axes (x right, y down, z forward; OpenCV's ``cam2gripper``, ROS's optical frame);
* ``base_from_capture`` ``S`` (4x4 similarity, capture units -> metres, the same matrix the marker
  path writes), with ``metres_per_unit`` its scale;

such that for every view ``i`` with flange pose ``F_i`` (flange in base) and camera-to-capture pose
``C_i`` (OpenCV axes): ``F_i @ X = S @ C_i`` (rotation, and translation in metres). That is the
robot-world / hand-eye problem ``AX = ZB`` with an unknown scale. It is solved in three steps:
a similarity fit of the camera centres (Umeyama) for a first scale, OpenCV's
``calibrateRobotWorldHandEye`` (Shah) on the capture scaled by it, then one least-squares refine of
all 13 unknowns (scale, ``S``'s rotation and translation, ``X``) with a soft-L1 loss (scipy),
translation residuals weighted 1 per millimetre and rotation residuals 1 per 0.3 degree. With a
known ``X`` (``camera_in_flange=``) only ``S`` is fitted.

Each view's residual is the distance (mm) and angle (degrees) between its camera pose from the
robot (``F_i X``) and from the capture (``S C_i``). The fit is refused, naming the views, when the
RMS or a single view is over the limits (a wrong pairing, a bad view); before refusing, the
inverted poses (base-in-flange) are tried and named when they fit. Flange poses that fit with a
camera-in-flange offset below 2 mm and a rotation within 2 degrees of the identity or OpenGL's axes
are the camera's own poses: refused unless ``pose_kind="camera"``.

Plain numpy + OpenCV + scipy; no nerfstudio, no torch.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict

import numpy as np

from point2act.errors import Point2ActError
from point2act.io import write_json_atomic
from point2act.robot.capture_views import capture_cameras
from point2act.robot.frame_file import FRAME_FILE, FRAME_SCHEMA
from point2act.robot.poses import RobotPoses, load_robot_poses, match_poses

__all__ = [
    "HandEyeFit",
    "HandEyeOptions",
    "OPENGL_FROM_OPENCV",
    "calibrate_from_robot_poses",
    "solve_hand_eye",
    "umeyama",
]

OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
"""Right-multiply a camera-to-world pose with OpenCV axes to get OpenGL axes (and back)."""

SIGMA_T_M = 0.001
"""Translation residuals are divided by this (metres) in the fit: 1 per millimetre."""
SIGMA_R_RAD = math.radians(0.3)
"""Rotation residuals are divided by this (radians) in the fit: 1 per 0.3 degree. A COLMAP model's
camera centres are better determined than its orientations (a view's rotation error trades
against the principal point and focal length): on ``real/tools`` the orientations disagree with
the robot's by 0.5 degree RMS at best, and weighting them as 1 per 0.1 degree puts the scale
1.5 % off the centres' fit."""

CONVENTIONS = (
    "camera_in_flange: the camera's pose in the flange frame, metres, OpenCV camera axes (x right, y down, z "
    "forward). flange poses: flange in robot base, metres. base_from_capture: capture points (capture units) -> base "
    "points (metres), its 3x3 block metres_per_unit * (a rotation). For every view: flange_pose @ camera_in_flange "
    "= base_from_capture @ camera_to_capture (OpenCV axes; translations in metres)."
)


# --------------------------------------------------------------------------- solver


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity ``dst ~ s R src + t`` (least squares) of points ``src``, ``dst`` (N, 3), N >= 3.

    Returns ``(s, R (3, 3), t (3,))``."""
    mx, my = src.mean(0), dst.mean(0)
    xc, yc = src - mx, dst - my
    u, sv, vt = np.linalg.svd(yc.T @ xc / len(src))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    r = u @ d @ vt
    var = float((xc ** 2).sum(1).mean())
    s = float(np.trace(np.diag(sv) @ d) / var) if var > 0 else 1.0
    return s, r, my - s * r @ mx


@dataclass
class HandEyeFit:
    """The solution of ``F_i X = S C_i``."""

    metres_per_unit: float
    base_from_capture: np.ndarray
    """(4, 4) similarity, capture units -> metres."""
    camera_in_flange: np.ndarray
    """(4, 4) rigid, metres, OpenCV camera axes."""
    residual_mm: np.ndarray
    """(N,) per view: distance between ``F_i X`` and ``S C_i`` (mm)."""
    residual_deg: np.ndarray
    """(N,) per view: angle between their rotations (degrees)."""
    method: str
    info: Dict[str, Any] = field(default_factory=dict)

    @property
    def rms_mm(self) -> float:
        return float(np.sqrt(np.mean(self.residual_mm ** 2)))

    @property
    def rms_deg(self) -> float:
        return float(np.sqrt(np.mean(self.residual_deg ** 2)))


def _pose(rvec: np.ndarray, t: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rvec).as_matrix()
    T[:3, 3] = t
    return T


def _residuals(cams: np.ndarray, flanges: np.ndarray, s: float, S_r: np.ndarray, S_t: np.ndarray,
               X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per view translation (m, (N, 3)) and rotation (rotvec rad, (N, 3)) of ``(S C_i)^-1``-relative error."""
    from scipy.spatial.transform import Rotation

    robot = flanges @ X  # (N, 4, 4) camera in base from the robot
    r_cap = S_r @ cams[:, :3, :3]
    t_cap = s * cams[:, :3, 3] @ S_r.T + S_t
    dt = robot[:, :3, 3] - t_cap
    dr = Rotation.from_matrix(np.transpose(r_cap, (0, 2, 1)) @ robot[:, :3, :3]).as_rotvec()
    return dt, dr


def _initial(cams: np.ndarray, flanges: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """First guess ``(s, S_r, S_t, X)``: Umeyama on the centres for the scale, then OpenCV's
    robot-world / hand-eye solver (Shah) on the capture in metres."""
    import cv2

    s0, _, _ = umeyama(cams[:, :3, 3], flanges[:, :3, 3])
    w2c = np.linalg.inv(_scaled(cams, s0))
    b2g = np.linalg.inv(flanges)
    R_b2w, t_b2w, R_g2c, t_g2c = cv2.calibrateRobotWorldHandEye(
        [m[:3, :3] for m in w2c], [m[:3, 3:4] for m in w2c], [m[:3, :3] for m in b2g], [m[:3, 3:4] for m in b2g],
        method=cv2.CALIB_ROBOT_WORLD_HAND_EYE_SHAH)
    base2world = np.eye(4)
    base2world[:3, :3], base2world[:3, 3] = R_b2w, np.ravel(t_b2w)
    g2c = np.eye(4)
    g2c[:3, :3], g2c[:3, 3] = R_g2c, np.ravel(t_g2c)
    S = np.linalg.inv(base2world)  # world (capture in metres) -> base
    X = np.linalg.inv(g2c)  # camera in gripper
    return s0, S[:3, :3], S[:3, 3], X


def _scaled(cams: np.ndarray, s: float) -> np.ndarray:
    out = cams.copy()
    out[:, :3, 3] *= s
    return out


def solve_hand_eye(cams: np.ndarray, flanges: np.ndarray, camera_in_flange: np.ndarray | None = None,
                   loss: str = "soft_l1", f_scale: float = 3.0) -> HandEyeFit:
    """Solve ``F_i X = S C_i`` for the similarity ``S`` (and ``X`` unless given).

    Args:
        cams: (N, 4, 4) camera-to-capture poses, OpenCV axes, capture units; N >= 3.
        flanges: (N, 4, 4) flange-in-base poses, metres (rigid).
        camera_in_flange: (4, 4) known ``X`` (metres, OpenCV camera axes), or None to solve it.
        loss, f_scale: scipy ``least_squares``'s robust loss and its scale, in units of the
            weights (1 mm, 0.3 degree).

    Returns:
        The :class:`HandEyeFit`.
    """
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation

    cams = np.asarray(cams, dtype=np.float64)
    flanges = np.asarray(flanges, dtype=np.float64)
    n = len(cams)
    if cams.shape != (n, 4, 4) or flanges.shape != (n, 4, 4):
        raise Point2ActError(f"solve_hand_eye needs (N, 4, 4) cameras and flange poses, got {cams.shape} and "
                             f"{flanges.shape}.")
    if n < 3:
        raise Point2ActError(f"the hand-eye fit needs at least 3 views with poses, got {n}.")
    known = camera_in_flange is not None
    if known:
        X0 = np.asarray(camera_in_flange, dtype=np.float64)
        robot = flanges @ X0
        s0, r0, t0 = umeyama(cams[:, :3, 3], robot[:, :3, 3])
        # the rotation from the orientations too (the centres can be nearly collinear)
        r0 = Rotation.from_matrix(robot[:, :3, :3] @ np.transpose(cams[:, :3, :3], (0, 2, 1))).mean().as_matrix()
        t0 = (robot[:, :3, 3] - s0 * cams[:, :3, 3] @ r0.T).mean(0)
        method = "similarity fit with the given camera_in_flange (scipy least_squares, soft-L1)"
    else:
        s0, r0, t0, X0 = _initial(cams, flanges)
        method = ("OpenCV calibrateRobotWorldHandEye (Shah) on the capture scaled by a similarity fit of the camera "
                  "centres, then a joint least-squares refine of scale, base_from_capture and camera_in_flange (scipy, "
                  "soft-L1)")

    def unpack(x):
        s = math.exp(x[0])
        S_r = Rotation.from_rotvec(x[1:4]).as_matrix()
        X = X0 if known else _pose(x[7:10], x[10:13])
        return s, S_r, x[4:7], X

    def resid(x):
        s, S_r, S_t, X = unpack(x)
        dt, dr = _residuals(cams, flanges, s, S_r, S_t, X)
        return np.concatenate([(dt / SIGMA_T_M).ravel(), (dr / SIGMA_R_RAD).ravel()])

    x0 = np.r_[math.log(max(s0, 1e-12)), Rotation.from_matrix(r0).as_rotvec(), t0]
    if not known:
        x0 = np.r_[x0, Rotation.from_matrix(X0[:3, :3]).as_rotvec(), X0[:3, 3]]
    sol = least_squares(resid, x0, loss=loss, f_scale=f_scale, x_scale="jac")
    s, S_r, S_t, X = unpack(sol.x)
    dt, dr = _residuals(cams, flanges, s, S_r, S_t, X)
    S = np.eye(4)
    S[:3, :3], S[:3, 3] = s * S_r, S_t
    return HandEyeFit(s, S, X, np.linalg.norm(dt, axis=1) * 1000.0, np.degrees(np.linalg.norm(dr, axis=1)),
                      method, {"cost": float(sol.cost), "nfev": int(sol.nfev), "initial_metres_per_unit": float(s0)})


def _angle_deg(r: np.ndarray) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(r) - 1.0) / 2.0))))


# --------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class HandEyeOptions:
    """Where :func:`calibrate_from_robot_poses` takes the capture's cameras from, which views it
    leaves out, and the residuals above which it refuses the fit."""

    colmap_path: str | None = None
    """COLMAP model folder relative to the capture (see
    :func:`~point2act.robot.capture_views.capture_cameras`); None: transforms.json when present, else
    the usual COLMAP folders."""
    ignore_views: tuple[str, ...] = ()
    """Views (keys as in :func:`~point2act.robot.capture_views.capture_cameras`) to leave out."""
    max_rms_mm: float = 10.0
    """Refuse the fit when the RMS translation residual over the views is above this (mm)."""
    max_rms_deg: float = 2.0
    """Refuse the fit when the RMS rotation residual over the views is above this (degrees)."""
    max_view_mm: float = 25.0
    """Refuse the fit when a single view's translation residual is above this (mm)."""
    max_view_deg: float = 5.0
    """Refuse the fit when a single view's rotation residual is above this (degrees)."""


@dataclass(frozen=True)
class _MatchedPoses:
    """The capture's cameras paired with the robot's pose files by view name (:func:`_matched_poses`)."""

    data_dir: Path
    """The capture folder."""
    source: str
    """Where the cameras came from (transforms.json or the COLMAP model folder)."""
    robot_poses: os.PathLike | str
    """The robot's pose files as given (a folder, or one JSON file)."""
    pairs: list[tuple]
    """(view key, pose (4, 4), pose file) per view."""
    cameras: np.ndarray
    """(V, 4, 4) camera-to-capture poses in pair order, OpenCV axes, capture units."""
    poses: np.ndarray
    """(V, 4, 4) the robot's poses in pair order, metres."""

    @property
    def keys(self) -> list[str]:
        """The view keys in pair order."""
        return [k for k, _, _ in self.pairs]


def _matched_poses(
    data: os.PathLike | str,
    robot_poses: os.PathLike | str,
    pose_kind: str,
    options: HandEyeOptions,
) -> _MatchedPoses:
    """The capture's cameras paired with the robot's pose files by view name, less
    ``options.ignore_views``; raise for an unknown ignored view or poses that lie within 1 cm of
    each other (the robot must move to fix the scale)."""
    ignore_views = options.ignore_views
    data_dir, source, cams = capture_cameras(data, options.colmap_path)
    unknown = sorted(set(ignore_views) - set(cams))
    if unknown:
        raise Point2ActError(f"{source}: --ignore-view names {', '.join(unknown)}, not views of the capture (views: "
                             f"{', '.join(list(cams)[:4])}, ...).")
    poses, where = load_robot_poses(robot_poses, "flange pose" if pose_kind == "flange" else "camera pose")
    pairs = match_poses(list(cams), poses, where, robot_poses, ignore_views, what=f"capture {source}")
    keys = [k for k, _, _ in pairs]
    C = np.stack([cams[k] for k in keys])
    F = np.stack([p for _, p, _ in pairs])
    spread = float(np.max(np.linalg.norm(F[:, :3, 3] - F[:, :3, 3].mean(0), axis=1)))
    if spread < 0.01:
        raise Point2ActError(f"{robot_poses}: the {len(F)} poses lie within {spread * 1000:.1f} mm of each other: the "
                             "robot must move between views (a few cm at least) to fix the scale.")
    return _MatchedPoses(data_dir, source, robot_poses, pairs, C, F)


def _fit_poses(C: np.ndarray, F: np.ndarray, pose_kind: str, camera_in_flange: np.ndarray | None) -> HandEyeFit:
    """:func:`solve_hand_eye` of the cameras ``C`` (V, 4, 4) and poses ``F`` (V, 4, 4): for camera
    poses the better of the OpenCV and OpenGL camera axes (``X`` the identity or
    :data:`OPENGL_FROM_OPENCV`), for flange poses with ``camera_in_flange`` (None: solved)."""
    if pose_kind == "camera":
        fits = [solve_hand_eye(C, F, np.eye(4)), solve_hand_eye(C, F, OPENGL_FROM_OPENCV)]
        res = min(fits, key=lambda r: r.rms_mm / 1.0 + r.rms_deg / 0.3)
        res.method = ("similarity fit of the camera poses, " + ("OpenCV" if res is fits[0] else "OpenGL")
                      + " camera axes (scipy least_squares, soft-L1)")
        return res
    return solve_hand_eye(C, F, camera_in_flange)


def _fits_ok(r: HandEyeFit, options: HandEyeOptions) -> bool:
    """Whether the fit's residuals are within the limits of ``options`` (RMS mm, RMS deg, any view's
    mm, any view's deg)."""
    return (r.rms_mm <= options.max_rms_mm and r.rms_deg <= options.max_rms_deg
            and float(r.residual_mm.max()) <= options.max_view_mm
            and float(r.residual_deg.max()) <= options.max_view_deg)


def _misfit_error(
    res: HandEyeFit,
    matched: _MatchedPoses,
    pose_kind: str,
    camera_in_flange: np.ndarray | None,
    options: HandEyeOptions,
) -> Point2ActError:
    """The error for poses that do not fit the capture: the residuals, the worst views, and what the
    poses look like when a refit says so (inverted flange poses, or camera poses that fit as flange
    poses), else what to check."""
    max_rms_mm, max_rms_deg = options.max_rms_mm, options.max_rms_deg
    max_view_mm, max_view_deg = options.max_view_mm, options.max_view_deg
    C, F, pairs = matched.cameras, matched.poses, matched.pairs
    source, robot_poses = matched.source, matched.robot_poses
    keys = matched.keys
    order = np.argsort(-(res.residual_mm / max_view_mm + res.residual_deg / max_view_deg))
    worst = ", ".join(f"{keys[j]} <-> {Path(pairs[j][2]).name} ({res.residual_mm[j]:.0f} mm, "
                      f"{res.residual_deg[j]:.1f} deg)" for j in order[:4])
    hints = []
    if pose_kind == "flange" and camera_in_flange is None:
        inv = solve_hand_eye(C, np.linalg.inv(F), None)
        if _fits_ok(inv, options):
            hints.append(f"inverted, the poses fit ({inv.rms_mm:.1f} mm, {inv.rms_deg:.2f} deg RMS): they are base "
                         "in flange (OpenCV's base2gripper), not flange in base; invert them")
    if pose_kind == "camera":
        fl = solve_hand_eye(C, F, None)
        if _fits_ok(fl, options):
            off = float(np.linalg.norm(fl.camera_in_flange[:3, 3])) * 1000
            hints.append(f"as flange poses they fit ({fl.rms_mm:.1f} mm, {fl.rms_deg:.2f} deg RMS, camera "
                         f"{off:.0f} mm from the flange): drop --robot-poses-are camera")
    if not hints:
        hints.append("check that each pose file belongs to the view of the same name (a wrong pairing or a "
                     "shifted numbering shows as large residuals everywhere), that the poses are the flange's in "
                     "the base frame (metres), and that the robot held still for each photo; leave bad views "
                     "out with --ignore-view")
    return Point2ActError(
        f"{robot_poses}: the poses do not fit the capture's cameras ({source}): residuals {res.rms_mm:.1f} mm, "
        f"{res.rms_deg:.2f} deg RMS over {len(keys)} views (limits {max_rms_mm:g} mm, {max_rms_deg:g} deg; per view "
        f"{max_view_mm:g} mm, {max_view_deg:g} deg); worst views: {worst}. " + "; ".join(hints) + ".")


def _check_not_camera_poses(X: np.ndarray, robot_poses: os.PathLike | str) -> None:
    """Raise if the solved camera-in-flange ``X`` (4, 4) puts the camera within 2 mm and 2 degrees
    (OpenCV or OpenGL axes) of the 'flange': the poses are then the camera's own."""
    off_mm = float(np.linalg.norm(X[:3, 3])) * 1000
    ang = min(_angle_deg(X[:3, :3]), _angle_deg(X[:3, :3] @ OPENGL_FROM_OPENCV[:3, :3]))
    if off_mm < 2.0 and ang < 2.0:
        raise Point2ActError(
            f"{robot_poses}: these look like the camera's own poses, not the flange's: the fitted camera sits "
            f"{off_mm:.1f} mm from the 'flange' and its axes are {ang:.1f} deg from the pose's (a camera lens cannot "
            "sit at the flange). Pass --robot-poses-are camera, or give the flange poses.")


def _hand_eye_document(
    res: HandEyeFit,
    matched: _MatchedPoses,
    pose_kind: str,
    camera_in_flange_given: bool,
) -> dict[str, Any]:
    """The frame document of :func:`calibrate_from_robot_poses` from the fit ``res`` of the views
    ``matched``."""
    data_dir, source, robot_poses, pairs = matched.data_dir, matched.source, matched.robot_poses, matched.pairs
    keys = [k for k, _, _ in pairs]
    return {
        "schema": FRAME_SCHEMA,
        "capture": str(data_dir),
        "metres_per_unit": float(res.metres_per_unit),
        "base_from_capture": res.base_from_capture.tolist(),
        "hand_eye": {
            "camera_in_flange": res.camera_in_flange.tolist(),
            "camera_in_flange_given": camera_in_flange_given,
            "pose_kind": pose_kind,
            "method": res.method,
            "cameras": source,
            "robot_poses": str(robot_poses),
            "views": keys,
            "num_views": len(keys),
            "residual_mm_rms": res.rms_mm,
            "residual_deg_rms": res.rms_deg,
            "residual_mm_max": float(res.residual_mm.max()),
            "residual_deg_max": float(res.residual_deg.max()),
            "residuals_per_view": {k: {"mm": float(a), "deg": float(b), "pose_file": str(p)}
                                   for k, a, b, (_, _, p) in zip(keys, res.residual_mm, res.residual_deg, pairs)},
        },
        "conventions": CONVENTIONS,
    }


def calibrate_from_robot_poses(
    data: os.PathLike | str,
    robot: RobotPoses,
    *,
    pose_kind: str = "flange",
    options: HandEyeOptions = HandEyeOptions(),
    out: os.PathLike | str | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Metric scale, base frame and hand-eye transform of a capture from the robot's flange poses.

    Args:
        data: capture folder (transforms.json or a COLMAP model), or its transforms.json.
        robot: the folder of per-view pose files (or one JSON name -> pose file), flange in base,
            metres (see :mod:`point2act.robot.poses`), and the known hand-eye transform
            ``camera_in_flange`` (metres, OpenCV camera axes; None: solved): :class:`RobotPoses`.
        pose_kind: ``"flange"`` (default) or ``"camera"`` (the poses are the camera's own, camera
            in base: ``X`` is then the identity with OpenCV or OpenGL camera axes, whichever fits).
        options: the COLMAP model folder, the views to leave out and the residual limits of the fit
            (:class:`HandEyeOptions`).
        out: where to write the frame file (default ``CAPTURE/point2act_frame.json``).
        write: write it (atomically) or only return it.

    Returns:
        The frame document (schema ``point2act.frame/1``)::

            {"schema", "capture", "metres_per_unit", "base_from_capture" 4x4, "conventions",
             "hand_eye": {"camera_in_flange" 4x4, "camera_in_flange_given", "pose_kind", "method",
                          "robot_poses", "views", "num_views", "residual_mm_rms", "residual_deg_rms",
                          "residual_mm_max", "residual_deg_max",
                          "residuals_per_view" {view: {"mm", "deg", "pose_file"}}}}

    Raises:
        Point2ActError: bad or unmatched pose files (naming the file), or poses that do not fit
            the capture (naming the views), with what the poses look like when that is known.
    """
    robot_poses, camera_in_flange = robot.path, robot.camera_in_flange
    if pose_kind not in ("flange", "camera"):
        raise Point2ActError(f"pose_kind must be 'flange' or 'camera', got {pose_kind!r}.")
    matched = _matched_poses(data, robot_poses, pose_kind, options)
    res = _fit_poses(matched.cameras, matched.poses, pose_kind, camera_in_flange)
    if not _fits_ok(res, options):
        raise _misfit_error(res, matched, pose_kind, camera_in_flange, options)
    if pose_kind == "flange" and camera_in_flange is None:
        _check_not_camera_poses(res.camera_in_flange, robot_poses)
    doc = _hand_eye_document(res, matched, pose_kind, camera_in_flange is not None)
    if write:
        write_json_atomic(Path(out) if out is not None else matched.data_dir / FRAME_FILE, doc)
    return doc


def read_camera_in_flange(path: os.PathLike | str) -> np.ndarray:
    """``--camera-in-flange T.json``: (4, 4) rigid, metres, OpenCV camera axes. Any file
    :func:`point2act.robot.poses.read_transform_file` reads, including a frame file written by
    ``point2act calibrate --robot-poses`` (its ``hand_eye.camera_in_flange``)."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("hand_eye"), dict) and "camera_in_flange" in doc["hand_eye"]:
            from point2act.robot.poses import check_rigid

            return check_rigid(doc["hand_eye"]["camera_in_flange"], str(p), "camera-in-flange transform")
    from point2act.robot.poses import read_transform_file

    return read_transform_file(p)
