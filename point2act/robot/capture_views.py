"""A capture's cameras as the robot calibrations read them: transforms.json's views (intrinsics,
distortion, world-to-camera pose), undistortion of pixels and projection of points, and the
camera poses of a transforms.json or a COLMAP model (:func:`capture_cameras`).

Conventions: see :mod:`point2act.robot.calibrate` (pixel centres at (j + 0.5, i + 0.5), the capture
frame of transforms.json, OpenCV camera axes here).

Plain numpy (+ OpenCV for the fisheye model); no nerfstudio, no torch.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from point2act.errors import Point2ActError

__all__ = ["capture_cameras", "qvec_to_R"]

_RADIAL_MODELS = ("OPENCV", "RADIAL", "SIMPLE_RADIAL", "FULL_OPENCV")
_PINHOLE_MODELS = ("PINHOLE", "SIMPLE_PINHOLE")
_FISHEYE_MODELS = ("OPENCV_FISHEYE",)


@dataclass
class _View:
    """One frame of transforms.json: its camera and image."""

    key: str
    """The frame's file_path, as written in transforms.json."""
    image: Path
    """The image file (relative paths resolved against the capture folder)."""
    fx: float
    """Focal length along x, pixels."""
    fy: float
    """Focal length along y, pixels."""
    cx: float
    """Principal point x, pixels (transforms.json's convention)."""
    cy: float
    """Principal point y, pixels."""
    w: float
    """Image width, pixels."""
    h: float
    """Image height, pixels."""
    model: str
    """transforms.json's ``camera_model`` of the frame."""
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


def _project(view: _View, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undistorted pixel coords (N, 2) and camera depth (N,) of world points X (N, 3)."""
    p = X @ view.w2c[:, :3].T + view.w2c[:, 3]
    z = p[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.stack([view.fx * p[:, 0] / z + view.cx, view.fy * p[:, 1] / z + view.cy], axis=1)
    return uv, z


# --------------------------------------------------------------------------- camera poses


def qvec_to_R(q: Sequence[float]) -> np.ndarray:  # [4] -> [3, 3]
    """COLMAP's scalar-first quaternion (wxyz, any norm) -> rotation matrix."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def _colmap_images(model: Path) -> dict[str, tuple]:
    """COLMAP model folder -> ``{image name: (qvec wxyz, tvec)}`` (world-to-camera), text or binary."""
    out: dict[str, tuple] = {}
    if (model / "images.bin").is_file():
        with open(model / "images.bin", "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            for _ in range(n):
                _iid, qw, qx, qy, qz, tx, ty, tz, _cid = struct.unpack("<idddddddi", f.read(64))
                name = b""
                while (c := f.read(1)) != b"\x00":
                    if not c:
                        raise Point2ActError(f"{model / 'images.bin'}: truncated file.")
                    name += c
                (npts,) = struct.unpack("<Q", f.read(8))
                f.seek(24 * npts, 1)
                out[name.decode()] = ((qw, qx, qy, qz), (tx, ty, tz))
        return out
    lines = [ln for ln in (model / "images.txt").read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    for i in range(0, len(lines), 2):  # the pose line, then the 2D points line
        parts = lines[i].split()
        if len(parts) < 10:
            continue
        out[" ".join(parts[9:])] = (tuple(map(float, parts[1:5])), tuple(map(float, parts[5:8])))
    return out


def _find_colmap(data_dir: Path, colmap_path: str | None) -> Path | None:
    cands = [colmap_path] if colmap_path else ["colmap/sparse/0", "sparse/0", "sparse"]
    for c in cands:
        m = data_dir / c
        if (m / "images.bin").is_file() or (m / "images.txt").is_file():
            return m
    return None


def capture_cameras(data: os.PathLike | str, colmap_path: str | None = None
                    ) -> tuple[Path, str, dict[str, np.ndarray]]:
    """The capture's camera poses, in the capture frame point2act exports in.

    Args:
        data: capture folder (with transforms.json, or a COLMAP model), or its transforms.json.
        colmap_path: the COLMAP model folder relative to ``data`` (default: transforms.json when
            present, else ``colmap/sparse/0``, ``sparse/0``, ``sparse``).

    Returns:
        ``(capture folder, source file or folder, {view key: camera-to-capture (4, 4), OpenCV axes,
        capture units})``. Keys are transforms.json's ``file_path``, or ``images/NAME`` for a COLMAP
        image (how point2act names COLMAP views). The COLMAP frame is the capture frame of a run
        trained with nerfstudio's colmap parser (export undoes its transforms).
    """
    data = Path(data).expanduser()
    data_dir, transforms = (data.parent, data) if data.suffix == ".json" else (data, data / "transforms.json")
    if transforms.is_file() and not colmap_path:
        _, _, views = _read_views(transforms)
        out = {}
        for v in views:
            c2w = np.eye(4)
            r = v.w2c[:, :3]
            c2w[:3, :3] = np.linalg.inv(r)
            c2w[:3, 3] = -c2w[:3, :3] @ v.w2c[:, 3]
            out[v.key] = c2w
        return data_dir, str(transforms), out
    model = _find_colmap(data_dir, colmap_path)
    if model is None:
        raise Point2ActError(f"{data_dir}: no transforms.json and no COLMAP model (images.txt or images.bin in "
                             f"{colmap_path or 'colmap/sparse/0, sparse/0 or sparse'}): no cameras to calibrate from.")
    out = {}
    for name, (q, t) in sorted(_colmap_images(model).items()):
        r = qvec_to_R(q)
        c2w = np.eye(4)
        c2w[:3, :3] = r.T
        c2w[:3, 3] = -r.T @ np.asarray(t, dtype=np.float64)
        out[f"images/{name}"] = c2w
    if not out:
        raise Point2ActError(f"{model}: the COLMAP model has no images.")
    return data_dir, str(model), out
