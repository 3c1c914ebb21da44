"""Metric scale and robot base frame of a capture from one ArUco marker.

Print an ArUco marker (e.g. ``DICT_4X4_50`` id 0) with a known side, lay it flat in the scene and
capture as usual. :func:`calibrate_capture` detects it in every image (OpenCV, AprilTag corner
refinement), triangulates its four corners from all views where it was found (linear DLT, then a
Levenberg-Marquardt refine of the reprojection error, per corner), checks them (a square: the 4
sides agree), then fits a square of unknown pose and side to all the detections at once (7
parameters, soft-L1 loss on the reprojection error) and checks every view's reprojection error.
It writes ``CAPTURE/point2act_frame.json``.

Conventions
    *Capture frame*: the world frame of transforms.json (``transform_matrix`` = camera-to-world,
    OpenGL axes: the camera looks along its -z, y up), in capture units.

    *Pixels*: transforms.json's ``cx``/``cy`` put the centre of pixel (row i, col j) at
    (j + 0.5, i + 0.5) (nerfstudio, COLMAP); detections are put in that convention (see
    :func:`detect_markers`). Images stored at another size than ``w`` x ``h`` are
    rescaled. Distortion: ``PINHOLE``/``SIMPLE_PINHOLE`` (none), ``OPENCV`` (and the radial
    models: nerfstudio's k1..k4, p1, p2) and ``OPENCV_FISHEYE`` (k1..k4).

    *Marker frame* (OpenCV's ArUco frame): origin at the marker's centre, x along its first edge
    (corner 0 -> corner 1: the top-left to the top-right corner of the marker image), z the
    normal out of the printed face, y = z x x (towards the marker's top edge). Corners in
    OpenCV's order: top-left, top-right, bottom-right, bottom-left, i.e. (-s/2, s/2, 0),
    (s/2, s/2, 0), (s/2, -s/2, 0), (-s/2, -s/2, 0) for side s.

    ``metres_per_unit`` = ``marker_size`` / (the fitted square's side, capture units).

    ``capture_from_marker`` (4x4, rigid, translation in capture units) maps marker-frame points
    in capture units to capture points: ``p_capture = R @ p_marker + t``; the fitted square's pose.

    ``base_from_capture`` (4x4) maps a capture point (capture units) to the robot base frame
    (metres)::

        base_from_capture = base_from_marker @ diag(m, m, m, 1) @ inv(capture_from_marker)

    with ``m`` = metres_per_unit and ``base_from_marker`` the marker's pose in the base frame
    (rigid, metres). Its 3x3 block is ``m * R_bc`` with ``R_bc`` a rotation: points map with the
    full matrix, directions and orientations with ``R_bc = block / m``.

Plain numpy + OpenCV + scipy; no nerfstudio, no torch.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from point2act.errors import Point2ActError
from point2act.io import write_json_atomic

__all__ = [
    "FRAME_FILE",
    "FRAME_SCHEMA",
    "calibrate_capture",
    "compose_base_from_capture",
    "detect_markers",
    "load_frame_file",
    "read_marker_pose",
    "resolve_frame_file",
]

FRAME_SCHEMA = "point2act.frame/1"
"""Schema id of ``point2act_frame.json``."""
FRAME_FILE = "point2act_frame.json"
"""Name of the frame file :func:`calibrate_capture` writes in the capture folder."""

_CORNER_MODEL = np.array([[-1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [1.0, -1.0, 0.0], [-1.0, -1.0, 0.0]]) / 2.0
"""The marker's corners for side 1, marker frame, OpenCV order (TL, TR, BR, BL)."""

_RADIAL_MODELS = ("OPENCV", "RADIAL", "SIMPLE_RADIAL", "FULL_OPENCV")
_PINHOLE_MODELS = ("PINHOLE", "SIMPLE_PINHOLE")
_FISHEYE_MODELS = ("OPENCV_FISHEYE",)

CONVENTIONS = (
    "capture frame: transforms.json's world frame, capture units. marker frame: origin at the marker's centre, "
    "x along its first edge (top-left -> top-right corner), z out of the printed face, y = z x x (OpenCV ArUco). "
    "capture_from_marker: p_capture = R p_marker + t (marker-frame points in capture units). "
    "base_from_capture = base_from_marker @ diag(m, m, m, 1) @ inv(capture_from_marker), m = metres_per_unit: "
    "capture points (capture units) -> robot base points (metres); its 3x3 block is m * (a rotation)."
)


# --------------------------------------------------------------------------- capture views


@dataclass
class _View:
    key: str
    """The frame's file_path, as written in transforms.json."""
    image: Path
    fx: float
    fy: float
    cx: float
    cy: float
    w: float
    h: float
    model: str
    dist: tuple[float, ...]
    """k1, k2, k3, k4, p1, p2 (nerfstudio's order)."""
    w2c: np.ndarray
    """(3, 4) world-to-camera, OpenCV axes (x right, y down, looks along +z)."""


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _locate(data: os.PathLike | str) -> tuple[Path, Path]:
    """``(capture folder, transforms.json)`` of a capture given as its folder or its transforms.json."""
    data = Path(data).expanduser()
    return (data.parent, data) if data.suffix == ".json" else (data, data / "transforms.json")


def _read_views(data: Path) -> tuple[Path, Path, list[_View]]:
    data_dir, transforms = _locate(data)
    if not transforms.is_file():
        raise Point2ActError(f"{transforms}: no transforms.json (pass --data the capture folder holding it).")
    src = str(transforms)
    try:
        meta = json.loads(transforms.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise Point2ActError(f"{src}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).") from None
    frames = meta.get("frames") if isinstance(meta, dict) else None
    if not isinstance(frames, list) or not frames:
        raise Point2ActError(f"{src}: no 'frames' list: nothing to calibrate from.")
    model = str(meta.get("camera_model", "OPENCV"))
    views: list[_View] = []
    for i, fr in enumerate(frames):
        where = f"frames[{i}]"
        if not isinstance(fr, dict) or not isinstance(fr.get("file_path"), str):
            raise Point2ActError(f"{src}: {where} has no 'file_path'.")
        where = f"frames[{i}] ({fr['file_path']!r})"

        def get(k: str, default: Any = None) -> Any:
            return fr.get(k, meta.get(k, default))

        intr = {}
        for k in ("fl_x", "fl_y", "cx", "cy", "w", "h"):
            v = get(k)
            if not _num(v) or (k in ("fl_x", "fl_y", "w", "h") and v <= 0):
                raise Point2ActError(f"{src}: {where}: {k!r} must be a finite number (> 0 for focal lengths and "
                                     f"sizes), got {v!r}; it is needed to triangulate the marker.")
            intr[k] = float(v)
        dist = []
        for k in ("k1", "k2", "k3", "k4", "p1", "p2"):
            v = get(k, 0.0)
            if not _num(v):
                raise Point2ActError(f"{src}: {where}: distortion {k!r} must be a finite number, got {v!r}.")
            dist.append(float(v))
        m = str(fr.get("camera_model", model))
        if m not in _RADIAL_MODELS + _PINHOLE_MODELS + _FISHEYE_MODELS:
            raise Point2ActError(f"{src}: {where}: camera_model {m!r} is not supported by calibrate (use a "
                                 "PINHOLE, OPENCV or OPENCV_FISHEYE capture).")
        try:
            c2w = np.asarray(fr.get("transform_matrix"), dtype=np.float64)
        except (TypeError, ValueError):
            c2w = np.zeros(0)
        if c2w.shape not in ((4, 4), (3, 4)) or not np.all(np.isfinite(c2w)):
            raise Point2ActError(f"{src}: {where}: 'transform_matrix' must be a finite 4x4 (or 3x4) camera-to-world "
                                 "matrix.")
        rot = c2w[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # OpenGL -> OpenCV camera axes
        if abs(np.linalg.det(rot)) < 1e-9:
            raise Point2ActError(f"{src}: {where}: 'transform_matrix' is not invertible.")
        rinv = np.linalg.inv(rot)
        w2c = np.concatenate([rinv, -rinv @ c2w[:3, 3:4]], axis=1)
        fp = Path(fr["file_path"])
        views.append(_View(fr["file_path"], fp if fp.is_absolute() else data_dir / fp, intr["fl_x"], intr["fl_y"],
                           intr["cx"], intr["cy"], intr["w"], intr["h"], m, tuple(dist), w2c))
    return data_dir, transforms, views


def _undistort_normalised(view: _View, px: np.ndarray) -> np.ndarray:
    """Pixels (N, 2) in transforms.json's convention -> undistorted normalised coords (N, 2)."""
    xd = np.stack([(px[:, 0] - view.cx) / view.fx, (px[:, 1] - view.cy) / view.fy], axis=1)
    k1, k2, k3, k4, p1, p2 = view.dist
    if view.model in _PINHOLE_MODELS or not any(view.dist):
        return xd
    if view.model in _FISHEYE_MODELS:
        import cv2

        out = cv2.fisheye.undistortPoints(xd.reshape(-1, 1, 2).astype(np.float64), np.eye(3),
                                          np.array([k1, k2, k3, k4], dtype=np.float64))
        return out.reshape(-1, 2)
    # nerfstudio / OpenCV radial-tangential: x_d = x * (1 + k1 r2 + k2 r4 + k3 r6 + k4 r8) + tangential
    x = xd.copy()
    for _ in range(50):
        r2 = np.sum(x * x, axis=1)
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4)))
        dx = 2 * p1 * x[:, 0] * x[:, 1] + p2 * (r2 + 2 * x[:, 0] ** 2)
        dy = p1 * (r2 + 2 * x[:, 1] ** 2) + 2 * p2 * x[:, 0] * x[:, 1]
        x_new = np.stack([(xd[:, 0] - dx) / radial, (xd[:, 1] - dy) / radial], axis=1)
        if np.max(np.abs(x_new - x)) < 1e-12:
            x = x_new
            break
        x = x_new
    return x


# --------------------------------------------------------------------------- detection


def _aruco_dictionary(name: str):
    import cv2

    d = getattr(cv2.aruco, name, None) if isinstance(name, str) and name.startswith("DICT_") else None
    if not isinstance(d, int):
        known = ", ".join(n for n in dir(cv2.aruco) if n.startswith("DICT_") and "APRILTAG" not in n)
        raise Point2ActError(f"unknown ArUco dictionary {name!r}; use one of {known} (or a DICT_APRILTAG_*).")
    return cv2.aruco.getPredefinedDictionary(d)


_REFINEMENT = {"apriltag": ("CORNER_REFINE_APRILTAG", 0.0), "subpix": ("CORNER_REFINE_SUBPIX", 0.5),
               "none": ("CORNER_REFINE_NONE", 0.5)}
"""Corner refinement methods: OpenCV's constant and the shift (px) that puts its corners in
transforms.json's pixel convention. OpenCV's SUBPIX (and unrefined) corners put the centre of
pixel (row i, col j) at (j, i), hence +0.5; its APRILTAG refinement's corners already sit in the
(j + 0.5, i + 0.5) convention (measured on the synthetic renders: mean offset -0.07 px, std 0.1 px,
against +0.12 px, std 0.5 px for SUBPIX, whose edges also come out 0.27 px too far inside)."""


def detect_markers(image: np.ndarray, dictionary: str = "DICT_4X4_50",
                   refinement: str = "apriltag", border_px: float = 4.0) -> dict[int, np.ndarray]:
    """ArUco markers in one image (grey (H, W) or BGR (H, W, 3) uint8): ``{id: corners (4, 2)}``.

    Corners in OpenCV's order (top-left, top-right, bottom-right, bottom-left of the marker) and in
    transforms.json's pixel convention: the centre of pixel (row i, col j) is at (j + 0.5, i + 0.5).
    ``refinement``: "apriltag" (default, the most accurate), "subpix" or "none" (see
    ``_REFINEMENT``). An id seen twice in the image is left out (ambiguous), and so is a marker
    whose quad grown by one marker cell (the white margin it needs) comes closer than ``border_px``
    to the image's edge: a marker cut by the edge can still be decoded, with corners extrapolated
    several pixels off (seen on the synthetic renders).
    """
    import cv2

    if refinement not in _REFINEMENT:
        raise Point2ActError(f"corner refinement must be one of {', '.join(_REFINEMENT)}, got {refinement!r}.")
    const, shift = _REFINEMENT[refinement]
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = getattr(cv2.aruco, const)
    aruco = _aruco_dictionary(dictionary)
    grow = 1.0 + 2.0 / (int(aruco.markerSize) + 2)  # one cell out on every side
    det = cv2.aruco.ArucoDetector(aruco, params)
    corners, ids, _ = det.detectMarkers(image)
    out: dict[int, np.ndarray] = {}
    seen: dict[int, int] = {}
    if ids is None:
        return out
    for c, i in zip(corners, ids.reshape(-1)):
        seen[int(i)] = seen.get(int(i), 0) + 1
        out[int(i)] = np.asarray(c, dtype=np.float64).reshape(4, 2) + shift
    h, w = image.shape[:2]

    def inside(c: np.ndarray) -> bool:
        c = c.mean(axis=0) + grow * (c - c.mean(axis=0))
        return bool(np.all(c >= border_px) and np.all(c[:, 0] <= w - border_px) and np.all(c[:, 1] <= h - border_px))

    return {i: c for i, c in out.items() if seen[i] == 1 and inside(c)}


def _detect_all(views: list[_View], dictionary: str, refinement: str) -> list[dict[int, np.ndarray]]:
    """Per view: ``{id: corners (4, 2)}`` in transforms.json's pixel convention and size."""
    import cv2

    out = []
    for v in views:
        img = cv2.imread(str(v.image), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise Point2ActError(f"{v.image}: image of frame {v.key!r} not found or unreadable; calibrate reads every "
                                 "image in transforms.json.")
        sx, sy = v.w / img.shape[1], v.h / img.shape[0]
        found = detect_markers(img, dictionary, refinement)
        out.append({i: c * np.array([sx, sy]) for i, c in found.items()})
    return out


# --------------------------------------------------------------------------- triangulation


def _project(view: _View, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undistorted pixel coords (N, 2) and camera depth (N,) of world points X (N, 3)."""
    p = X @ view.w2c[:, :3].T + view.w2c[:, 3]
    z = p[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.stack([view.fx * p[:, 0] / z + view.cx, view.fy * p[:, 1] / z + view.cy], axis=1)
    return uv, z


def _triangulate(views: list[_View], norm: list[np.ndarray], refine: bool) -> np.ndarray:
    """One point from >= 2 views: ``norm[k]`` (2,) undistorted normalised coords in ``views[k]``."""
    rows = []
    for v, x in zip(views, norm):
        P = v.w2c
        rows.append(x[0] * P[2] - P[0])
        rows.append(x[1] * P[2] - P[1])
    A = np.asarray(rows)
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    _, _, vt = np.linalg.svd(A)
    Xh = vt[-1]
    X = Xh[:3] / Xh[3] if abs(Xh[3]) > 1e-300 else Xh[:3] * 1e12
    if not refine:
        return X
    from scipy.optimize import least_squares

    P = np.stack([v.w2c for v in views])  # (V, 3, 4)
    f = np.array([[v.fx, v.fy] for v in views])
    obs = np.asarray(norm)

    def resid(X):
        p = P[:, :, :3] @ X + P[:, :, 3]
        return ((p[:, :2] / p[:, 2:3] - obs) * f).ravel()

    sol = least_squares(resid, X, method="lm", xtol=1e-12, ftol=1e-12)
    return sol.x if np.all(np.isfinite(sol.x)) else X


def _fit_square(views: list[_View], norm: np.ndarray, T: np.ndarray, side: float,
                f_scale_px: float = 0.5) -> tuple[np.ndarray, float]:
    """Refine the marker's pose and side (7 parameters) on the reprojection error of its 4 corners in
    every view (``norm`` (V, 4, 2) undistorted normalised coords), with a soft-L1 loss (``f_scale_px``
    pixels) that lets a partly hidden or badly refined corner pull less. Returns (T, side)."""
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation

    P = np.stack([v.w2c for v in views])  # (V, 3, 4)
    f = np.array([[v.fx, v.fy] for v in views])[:, None, :]  # (V, 1, 2)

    def corners(x: np.ndarray) -> np.ndarray:
        return (_CORNER_MODEL * np.exp(x[6])) @ Rotation.from_rotvec(x[:3]).as_matrix().T + x[3:6]

    def resid(x: np.ndarray) -> np.ndarray:
        p = np.einsum("vij,cj->vci", P[:, :, :3], corners(x)) + P[:, None, :, 3]
        return ((p[..., :2] / p[..., 2:3] - norm) * f).ravel()

    x0 = np.r_[Rotation.from_matrix(T[:3, :3]).as_rotvec(), T[:3, 3], math.log(side)]
    sol = least_squares(resid, x0, loss="soft_l1", f_scale=f_scale_px, x_scale="jac")
    if not (sol.success and np.all(np.isfinite(sol.x))):
        return T, side
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = Rotation.from_rotvec(sol.x[:3]).as_matrix(), sol.x[3:6]
    return out, float(math.exp(sol.x[6]))


def _fit_marker_pose(corners: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Kabsch fit of a square to 4 corners (4, 3): (capture_from_marker 4x4, mean side, max residual)."""
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
    side = float(sides.mean())
    model = _CORNER_MODEL * side
    c0 = corners.mean(axis=0)
    H = model.T @ (corners - c0)  # (3, 3)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    R = Vt.T @ np.diag([1.0, 1.0, d]) @ U.T
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, c0
    resid = float(np.max(np.linalg.norm(model @ R.T + c0 - corners, axis=1)))
    return T, side, resid


def _views_text(keys: Sequence[str], limit: int = 8) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def _views_to_use(data: os.PathLike | str, ignore_views: Sequence[str]) -> tuple[Path, list[_View]]:
    """The capture folder and its views less ``ignore_views``; raise if ``ignore_views`` names a
    frame the capture lacks or leaves no view."""
    data_dir, transforms, views = _read_views(Path(data))
    ignore = set(ignore_views)
    unknown = sorted(ignore - {v.key for v in views})
    if unknown:
        raise Point2ActError(f"{transforms}: ignore_views names {_views_text(unknown)}, not frames of the capture "
                             "(give file_path values as written in transforms.json, e.g. images/frame_0003.png).")
    views = [v for v in views if v.key not in ignore]
    if not views:
        raise Point2ActError(f"{transforms}: every frame is in ignore_views; nothing to calibrate from.")
    return data_dir, views


def _choose_marker(
    det: list[dict[int, np.ndarray]],  # per view: marker id -> (4, 2) corner pixels
    views: list[_View],
    data_dir: Path,
    dictionary: str,
    marker_id: int | None,
) -> tuple[int, str, list[int]]:
    """The marker to calibrate from: ``marker_id``, or the id detected in the most views (the
    smallest on a tie). Returns (its id, its description for messages, the indices of the views
    that detect it); raise if no marker is found or it is in fewer than 2 views."""
    tried = [v.key for v in views]
    counts: dict[int, int] = {}
    for d in det:
        for i in d:
            counts[i] = counts.get(i, 0) + 1
    what = f"ArUco marker ({dictionary}{'' if marker_id is None else f', id {marker_id}'})"
    if marker_id is None:
        if not counts:
            raise Point2ActError(
                f"{data_dir}: no {what} found in any of the {len(views)} views tried ({_views_text(tried)}). "
                "Check --marker-dictionary, that the marker is flat, in focus and large enough in the images "
                "(at least ~20 px a side), with a white margin inside the image (markers touching the image's "
                "edge are not used).")
        marker_id = max(sorted(counts), key=lambda i: counts[i])
        what = f"ArUco marker ({dictionary}, id {marker_id})"
    seen = [k for k, d in enumerate(det) if marker_id in d]
    if len(seen) < 2:
        found = f"only in {views[seen[0]].key}, 1" if seen else "in none"
        others = f"; ids found: {sorted(counts)}" if counts and marker_id not in counts else ""
        raise Point2ActError(
            f"{data_dir}: the {what} was found {found} of the {len(views)} views tried ({_views_text(tried)}"
            f"{others}); triangulating its corners needs at least 2 views. Capture more views that show the whole "
            "marker with a margin around it (markers touching the image's edge are not used).")
    return marker_id, what, seen


def _marker_square(
    sv: list[_View],
    obs: np.ndarray,  # (V, 4, 2) pixels
    refine: bool,
    data_dir: Path,
    what: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Triangulate the marker's 4 corners from its detections ``obs`` (V, 4, 2) pixels in the views
    ``sv`` and fit a square to them (refined on all detections with ``refine``); raise if a corner
    lands behind a camera.

    Returns (normalised undistorted detections (V, 4, 2), triangulated corners (4, 3),
    capture_from_marker 4x4, side, the Kabsch fit's worst corner residual), capture units.
    """
    keys = [v.key for v in sv]
    norm = np.stack([_undistort_normalised(v, obs[j]) for j, v in enumerate(sv)])  # (V, 4, 2)
    tri = np.stack([_triangulate(sv, [norm[j, c] for j in range(len(sv))], refine) for c in range(4)])
    behind = [v.key for v in sv if np.any(_project(v, tri)[1] <= 0)]
    if behind or not np.all(np.isfinite(tri)):
        raise Point2ActError(f"{data_dir}: the {what}'s corners triangulate behind the camera in "
                             f"{_views_text(behind or keys)}: the poses of these views do not agree with the others.")
    T, side, fit_resid = _fit_marker_pose(tri)
    if refine:
        T, side = _fit_square(sv, norm, T, side)
    return norm, tri, T, side, fit_resid


def _check_marker_fit(
    sv: list[_View],
    norm: np.ndarray,  # (V, 4, 2) normalised undistorted detections
    tri: np.ndarray,  # (4, 3) triangulated corners
    corners: np.ndarray,  # (4, 3) fitted square
    fit_resid: float,
    data_dir: Path,
    what: str,
    max_reprojection_px: float,
    max_side_spread: float,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Reproject the fitted square's ``corners`` (4, 3) into the views ``sv`` and measure the
    triangulated corners ``tri`` (4, 3); raise if a view reprojects them more than
    ``max_reprojection_px`` off, or if the sides (or the square fit's residual ``fit_resid``) spread
    more than ``max_side_spread``, naming the worst views.

    Returns (RMS reprojection error of all views, per-view RMS (V,), triangulated sides (4,)).
    """
    keys = [v.key for v in sv]
    errs = np.zeros((len(sv), 4))  # reprojection of the fitted square, undistorted pixels
    for j, v in enumerate(sv):
        und = norm[j] * np.array([v.fx, v.fy]) + np.array([v.cx, v.cy])
        errs[j] = np.linalg.norm(_project(v, corners)[0] - und, axis=1)
    per_view = np.sqrt(np.mean(errs ** 2, axis=1))
    order = np.argsort(-per_view)
    worst = ", ".join(f"{keys[j]} ({per_view[j]:.2f} px)" for j in order[:3])
    rms = float(np.sqrt(np.mean(errs ** 2)))
    sides = np.linalg.norm(tri - np.roll(tri, -1, axis=0), axis=1)
    tri_side = float(sides.mean())
    spread = float(np.max(np.abs(sides / tri_side - 1.0)))
    if per_view[order[0]] > max_reprojection_px:
        over = [j for j in order if per_view[j] > max_reprojection_px]
        listed = ", ".join(f"{keys[j]} ({per_view[j]:.2f} px)" for j in over[:5])
        raise Point2ActError(
            f"{data_dir}: the {what} does not triangulate consistently from the {len(sv)} views that show it: the "
            f"worst views reproject its corners {listed} off (limit {max_reprojection_px:g} px; RMS of all "
            f"{rms:.2f} px){f', and {len(over) - 5} more' if len(over) > 5 else ''}. Their poses (or marker "
            "detections) are wrong: leave these frames out (ignore_views / --ignore-view) or fix their poses.")
    if spread > max_side_spread or fit_resid / tri_side > max_side_spread:
        raise Point2ActError(
            f"{data_dir}: the {what}'s triangulated corners are not a square: sides "
            f"{', '.join(f'{s:.4g}' for s in sides)} capture units (spread {100 * spread:.1f}%, corner fit "
            f"{100 * fit_resid / tri_side:.1f}% of a side; limit {100 * max_side_spread:g}%) from {len(sv)} views. "
            f"The views reprojecting worst: {worst}. Check their poses, and that the marker is flat.")
    return rms, per_view, sides


def _frame_document(
    data_dir: Path,
    marker_id: int,
    dictionary: str,
    marker_size: float,
    T: np.ndarray,  # (4, 4) capture_from_marker
    side: float,
    corners: np.ndarray,  # (4, 3) fitted square
    tri: np.ndarray,  # (4, 3) triangulated corners
    sides: np.ndarray,  # (4,) triangulated sides
    keys: list[str],
    rms: float,
    per_view: np.ndarray,  # (V,) RMS reprojection error per view
    base_from_marker: np.ndarray | None,  # (4, 4)
) -> dict[str, Any]:
    """The frame document of :func:`calibrate_capture` (``metres_per_unit`` = ``marker_size`` /
    ``side``), with ``base_from_marker`` and ``base_from_capture`` when the marker's pose in the
    robot base frame is given."""
    mpu = float(marker_size) / side
    doc: dict[str, Any] = {
        "schema": FRAME_SCHEMA,
        "capture": str(data_dir),
        "metres_per_unit": mpu,
        "marker": {
            "id": int(marker_id),
            "dictionary": dictionary,
            "size_m": float(marker_size),
            "corners_capture": corners.tolist(),
            "corners_triangulated": tri.tolist(),
            "side_lengths_capture": sides.tolist(),
            "views": keys,
            "num_views": len(keys),
            "reprojection_px": rms,
            "reprojection_px_per_view": {k: float(e) for k, e in zip(keys, per_view)},
        },
        "capture_from_marker": T.tolist(),
        "conventions": CONVENTIONS,
    }
    if base_from_marker is not None:
        doc["base_from_marker"] = base_from_marker.tolist()
        doc["base_from_capture"] = compose_base_from_capture(base_from_marker, mpu, T).tolist()
    return doc


def calibrate_capture(
    data: os.PathLike | str,
    marker_size: float,
    marker_pose_in_base: np.ndarray | None = None,
    dictionary: str = "DICT_4X4_50",
    marker_id: int | None = None,
    *,
    refine: bool = True,
    corner_refinement: str = "apriltag",
    max_reprojection_px: float = 3.0,
    max_side_spread: float = 0.05,
    ignore_views: Sequence[str] = (),
    out: os.PathLike | str | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Metric scale (and robot base frame) of a capture from one ArUco marker of known size.

    Args:
        data: the capture folder (or its transforms.json).
        marker_size: side of the marker's black square, metres (> 0).
        marker_pose_in_base: optional (4, 4) rigid pose of the marker in the robot base frame
            (``base_from_marker``, metres, marker frame as in the module docstring); gives
            ``base_from_capture``. See :func:`read_marker_pose`.
        dictionary: OpenCV ArUco dictionary name.
        marker_id: the marker's id; None = the id found in the most views.
        refine: refine each DLT corner by least squares on the reprojection error, then fit the
            square to all detections (False: DLT corners and a Kabsch fit only).
        corner_refinement: OpenCV's corner refinement, "apriltag" (default), "subpix" or "none".
        max_reprojection_px: a view whose RMS corner reprojection error is above this fails the
            calibration (bad pose or bad detection).
        max_side_spread: the 4 triangulated sides (and the square fit's worst corner, relative to
            the side) must agree within this fraction of the mean side.
        ignore_views: frames (``file_path`` as in transforms.json) not to use.
        out: where to write the frame file (default ``CAPTURE/point2act_frame.json``).
        write: write it (atomically) or only return it.

    Returns:
        The frame document (json-able, schema ``point2act.frame/1``)::

            {"schema", "capture", "metres_per_unit",
             "marker": {"id", "dictionary", "size_m", "corners_capture" [4][3] (the fitted square),
                        "corners_triangulated" [4][3], "side_lengths_capture" [4] (triangulated),
                        "views" [file paths used], "num_views", "reprojection_px" (RMS, all views),
                        "reprojection_px_per_view" {file_path: RMS}},
             "capture_from_marker" 4x4, "conventions",
             "base_from_marker" 4x4 and "base_from_capture" 4x4 (only with marker_pose_in_base)}

    Raises:
        Point2ActError: no marker, the marker in fewer than 2 views, an inconsistent
            triangulation (naming the worst views), bad arguments or capture.
    """
    if not _num(marker_size) or marker_size <= 0:
        raise Point2ActError(f"--marker-size must be the marker's side in metres (> 0), got {marker_size!r}.")
    base_from_marker = None
    if marker_pose_in_base is not None:
        base_from_marker = _check_matrix(marker_pose_in_base, "marker pose in base (base_from_marker)", "<argument>",
                                         rigid=True)
    data_dir, views = _views_to_use(data, ignore_views)
    det = _detect_all(views, dictionary, corner_refinement)
    marker_id, what, seen = _choose_marker(det, views, data_dir, dictionary, marker_id)
    sv = [views[k] for k in seen]
    keys = [v.key for v in sv]
    obs = np.stack([det[k][marker_id] for k in seen])  # (V, 4, 2) pixels
    norm, tri, T, side, fit_resid = _marker_square(sv, obs, refine, data_dir, what)
    corners = (_CORNER_MODEL * side) @ T[:3, :3].T + T[:3, 3]
    rms, per_view, sides = _check_marker_fit(sv, norm, tri, corners, fit_resid, data_dir, what,
                                             max_reprojection_px, max_side_spread)
    doc = _frame_document(data_dir, marker_id, dictionary, marker_size, T, side, corners, tri, sides, keys, rms,
                          per_view, base_from_marker)
    if write:
        write_json_atomic(Path(out) if out is not None else data_dir / FRAME_FILE, doc)
    return doc


def compose_base_from_capture(base_from_marker: np.ndarray, metres_per_unit: float,
                              capture_from_marker: np.ndarray) -> np.ndarray:
    """``base_from_marker @ diag(m, m, m, 1) @ inv(capture_from_marker)`` (4, 4): capture points
    (capture units) -> base points (metres)."""
    S = np.diag([metres_per_unit] * 3 + [1.0])
    return np.asarray(base_from_marker, dtype=np.float64) @ S @ np.linalg.inv(np.asarray(capture_from_marker, float))


# --------------------------------------------------------------------------- frame files


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
    """Read and check a frame file (``point2act_frame.json`` from :func:`calibrate_capture`, or a
    hand-written one).

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
        pos, q = doc.get("position"), doc.get("quaternion_wxyz")
        if not (isinstance(pos, list) and len(pos) == 3 and all(_num(v) for v in pos)):
            raise Point2ActError(f"{src}: 'position' must be 3 finite numbers (metres), got {pos!r}.")
        if not (isinstance(q, list) and len(q) == 4 and all(_num(v) for v in q)):
            raise Point2ActError(f"{src}: 'quaternion_wxyz' must be 4 finite numbers [w, x, y, z], got {q!r}.")
        n = math.sqrt(sum(v * v for v in q))
        if n < 1e-9:
            raise Point2ActError(f"{src}: 'quaternion_wxyz' is zero; it must be a rotation [w, x, y, z].")
        from scipy.spatial.transform import Rotation

        T = np.eye(4)
        T[:3, :3] = Rotation.from_quat([q[1], q[2], q[3], q[0]]).as_matrix()
        T[:3, 3] = pos
        return T
    raise Point2ActError(f"{src}: no marker pose: give {{\"base_from_marker\": 4x4}} or {{\"position\": [3], "
                         "\"quaternion_wxyz\": [4]}} (metres, the marker's pose in the robot base frame).")
