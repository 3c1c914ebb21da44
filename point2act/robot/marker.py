"""An ArUco marker in a capture's views: detection, triangulation of its corners and the fit of a
square to them.

Corners and frames as in :mod:`point2act.robot.calibrate`: OpenCV's order (top-left, top-right,
bottom-right, bottom-left), pixels in transforms.json's convention, the marker frame OpenCV's.

Plain numpy + OpenCV + scipy; no nerfstudio, no torch.
"""

from __future__ import annotations

import math

import numpy as np

from point2act.errors import Point2ActError
from point2act.robot.capture_views import _View

_CORNER_MODEL = np.array([[-1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [1.0, -1.0, 0.0], [-1.0, -1.0, 0.0]]) / 2.0
"""The marker's corners for side 1, marker frame, OpenCV order (TL, TR, BR, BL)."""


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
