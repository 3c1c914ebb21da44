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

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from point2act.errors import Point2ActError
from point2act.io import write_json_atomic
from point2act.robot.capture_views import _num, _project, _read_views, _undistort_normalised, _View
from point2act.robot.frame_file import (
    FRAME_FILE,
    FRAME_SCHEMA,
    _check_matrix,
    compose_base_from_capture,
    load_frame_file,
    read_marker_pose,
    resolve_frame_file,
)
from point2act.robot.marker import (
    _CORNER_MODEL,
    _detect_all,
    _fit_marker_pose,
    _fit_square,
    _triangulate,
    detect_markers,
)

__all__ = [
    "ArucoMarker",
    "CalibrateOptions",
    "FRAME_FILE",
    "FRAME_SCHEMA",
    "calibrate_capture",
    "compose_base_from_capture",
    "detect_markers",
    "load_frame_file",
    "read_marker_pose",
    "resolve_frame_file",
]

CONVENTIONS = (
    "capture frame: transforms.json's world frame, capture units. marker frame: origin at the marker's centre, "
    "x along its first edge (top-left -> top-right corner), z out of the printed face, y = z x x (OpenCV ArUco). "
    "capture_from_marker: p_capture = R p_marker + t (marker-frame points in capture units). "
    "base_from_capture = base_from_marker @ diag(m, m, m, 1) @ inv(capture_from_marker), m = metres_per_unit: "
    "capture points (capture units) -> robot base points (metres); its 3x3 block is m * (a rotation)."
)


@dataclass(frozen=True)
class ArucoMarker:
    """The ArUco marker a capture is calibrated from: the printed marker (its side, its dictionary, its id) and,
    when known, its pose in the robot base frame. They travel together from the command line to the frame
    document."""

    size: float
    """Side of the marker's black square, metres (> 0)."""
    dictionary: str = "DICT_4X4_50"
    """OpenCV ArUco dictionary name."""
    id: int | None = None
    """The marker's id; None: the id found in the most views."""
    pose_in_base: np.ndarray | None = None  # (4, 4)
    """Rigid pose of the marker in the robot base frame (``base_from_marker``, metres, marker frame as in the
    module docstring); gives ``base_from_capture``. See :func:`read_marker_pose`."""


@dataclass(frozen=True)
class CalibrateOptions:
    """How :func:`calibrate_capture` measures the marker: the views it uses, the corner refinement,
    the least-squares refinements and the limits above which it refuses the fit."""

    refine: bool = True
    """Refine each DLT corner by least squares on the reprojection error, then fit the square to all
    detections (False: DLT corners and a Kabsch fit only)."""
    corner_refinement: str = "apriltag"
    """OpenCV's corner refinement: "apriltag" (default), "subpix" or "none"."""
    max_reprojection_px: float = 3.0
    """A view whose RMS corner reprojection error is above this fails the calibration (bad pose or
    bad detection)."""
    max_side_spread: float = 0.05
    """The 4 triangulated sides (and the square fit's worst corner, relative to the side) must agree
    within this fraction of the mean side."""
    ignore_views: tuple[str, ...] = ()
    """Frames (``file_path`` as in transforms.json) not to use."""


@dataclass(frozen=True)
class _MarkerSquare:
    """The marker's corners triangulated from its detections and the square fitted to them, capture
    units."""

    norm: np.ndarray
    """(V, 4, 2) the detections in the views that show the marker, undistorted normalised coords."""
    triangulated: np.ndarray
    """(4, 3) the triangulated corners."""
    capture_from_marker: np.ndarray
    """(4, 4) rigid: the fitted square's pose."""
    side: float
    """The fitted square's side."""
    kabsch_residual: float
    """The Kabsch fit's worst corner residual (to the triangulated corners)."""
    corners: np.ndarray
    """(4, 3) the fitted square's corners."""


@dataclass(frozen=True)
class _MarkerResiduals:
    """How well the fitted square explains the detections (:func:`_check_marker_fit`)."""

    rms: float
    """RMS reprojection error of all views, pixels."""
    per_view: np.ndarray
    """(V,) RMS reprojection error per view, pixels."""
    sides: np.ndarray
    """(4,) the triangulated corners' side lengths, capture units."""


# --------------------------------------------------------------------------- the command


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
) -> _MarkerSquare:
    """Triangulate the marker's 4 corners from its detections ``obs`` (V, 4, 2) pixels in the views
    ``sv`` and fit a square to them (refined on all detections with ``refine``); raise if a corner
    lands behind a camera."""
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
    corners = (_CORNER_MODEL * side) @ T[:3, :3].T + T[:3, 3]
    return _MarkerSquare(norm, tri, T, side, fit_resid, corners)


def _check_marker_fit(
    sv: list[_View],
    square: _MarkerSquare,
    data_dir: Path,
    what: str,
    options: CalibrateOptions,
) -> _MarkerResiduals:
    """Reproject the fitted square's corners into the views ``sv`` and measure the triangulated
    corners; raise if a view reprojects them more than ``options.max_reprojection_px`` off, or if
    the sides (or the square fit's Kabsch residual) spread more than ``options.max_side_spread``,
    naming the worst views."""
    max_reprojection_px, max_side_spread = options.max_reprojection_px, options.max_side_spread
    norm, tri, fit_resid = square.norm, square.triangulated, square.kabsch_residual
    keys = [v.key for v in sv]
    errs = np.zeros((len(sv), 4))  # reprojection of the fitted square, undistorted pixels
    for j, v in enumerate(sv):
        und = norm[j] * np.array([v.fx, v.fy]) + np.array([v.cx, v.cy])
        errs[j] = np.linalg.norm(_project(v, square.corners)[0] - und, axis=1)
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
    return _MarkerResiduals(rms, per_view, sides)


def _frame_document(
    data_dir: Path,
    marker: ArucoMarker,
    keys: list[str],
    square: _MarkerSquare,
    residuals: _MarkerResiduals,
) -> dict[str, Any]:
    """The frame document of :func:`calibrate_capture` (``metres_per_unit`` = the marker's size / the square's
    side) from the views ``keys`` that show the ``marker`` (its id resolved), with ``base_from_marker`` and
    ``base_from_capture`` when the marker's pose in the robot base frame is given."""
    T = square.capture_from_marker
    mpu = float(marker.size) / square.side
    doc: dict[str, Any] = {
        "schema": FRAME_SCHEMA,
        "capture": str(data_dir),
        "metres_per_unit": mpu,
        "marker": {
            "id": int(marker.id),
            "dictionary": marker.dictionary,
            "size_m": float(marker.size),
            "corners_capture": square.corners.tolist(),
            "corners_triangulated": square.triangulated.tolist(),
            "side_lengths_capture": residuals.sides.tolist(),
            "views": keys,
            "num_views": len(keys),
            "reprojection_px": residuals.rms,
            "reprojection_px_per_view": {k: float(e) for k, e in zip(keys, residuals.per_view)},
        },
        "capture_from_marker": T.tolist(),
        "conventions": CONVENTIONS,
    }
    if marker.pose_in_base is not None:
        doc["base_from_marker"] = marker.pose_in_base.tolist()
        doc["base_from_capture"] = compose_base_from_capture(marker.pose_in_base, mpu, T).tolist()
    return doc


def calibrate_capture(
    data: os.PathLike | str,
    marker: ArucoMarker,
    *,
    options: CalibrateOptions = CalibrateOptions(),
    out: os.PathLike | str | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Metric scale (and robot base frame) of a capture from one ArUco marker of known size.

    Args:
        data: the capture folder (or its transforms.json).
        marker: the marker (its size, dictionary, id, and optional pose in the robot base frame:
            :class:`ArucoMarker`).
        options: the views to use, the corner refinement, the refinements and the limits of the fit
            (:class:`CalibrateOptions`).
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
             "base_from_marker" 4x4 and "base_from_capture" 4x4 (only with the marker's pose_in_base)}

    Raises:
        Point2ActError: no marker, the marker in fewer than 2 views, an inconsistent
            triangulation (naming the worst views), bad arguments or capture.
    """
    if not _num(marker.size) or marker.size <= 0:
        raise Point2ActError(f"--marker-size must be the marker's side in metres (> 0), got {marker.size!r}.")
    base_from_marker = None
    if marker.pose_in_base is not None:
        base_from_marker = _check_matrix(marker.pose_in_base, "marker pose in base (base_from_marker)", "<argument>",
                                         rigid=True)
    data_dir, views = _views_to_use(data, options.ignore_views)
    det = _detect_all(views, marker.dictionary, options.corner_refinement)
    marker_id, what, seen = _choose_marker(det, views, data_dir, marker.dictionary, marker.id)
    sv = [views[k] for k in seen]
    keys = [v.key for v in sv]
    obs = np.stack([det[k][marker_id] for k in seen])  # (V, 4, 2) pixels
    square = _marker_square(sv, obs, options.refine, data_dir, what)
    residuals = _check_marker_fit(sv, square, data_dir, what, options)
    doc = _frame_document(data_dir, replace(marker, id=marker_id, pose_in_base=base_from_marker), keys, square,
                          residuals)
    if write:
        write_json_atomic(Path(out) if out is not None else data_dir / FRAME_FILE, doc)
    return doc
