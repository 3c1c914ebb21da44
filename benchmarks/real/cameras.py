"""Calibrated cameras of the real captures, and projection of capture-frame points to full-res pixels.

Plain numpy/scipy (cv2 only in the tests, as a reference). Three layouts:

- ``transforms.json`` (coke, fruit, gum): camera-to-world poses with OpenGL axes (x right, y up, the
  camera looks along -z), intrinsics at full resolution, OpenCV ``k1, k2, (k3), p1, p2`` distortion.
- a COLMAP model, binary (mouse: ``colmap/sparse/0/*.bin``) or text (tools: ``sparse/0/*.txt``):
  world-to-camera ``qvec, tvec`` with OpenCV axes (x right, y down, looking along +z).

Every camera is stored as OpenCV world-to-camera ``R, t`` plus ``K`` and distortion, in the capture's
**own world frame**: the ``transforms.json`` world for nerfstudio-data captures, the COLMAP world for
COLMAP captures. That is the frame ``point2act export`` writes ``action_point`` in (see
:func:`export_frame_note` and docs/real-benchmark.md).

Pixel convention: pixels of the stored full-resolution image, origin at the top-left *corner*, x right,
y down, the centre of pixel (row i, col j) at (j + 0.5, i + 0.5). COLMAP uses the same convention
(and ``transforms.json`` made from COLMAP inherits it), so ``u = fx * x + cx`` needs no half-pixel
shift. (OpenCV's own convention puts pixel centres on integers; with the same ``K`` the numbers are
identical, only their reading differs.)
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

from point2act.robot.capture_views import qvec_to_R

GL_TO_CV = np.diag([1.0, -1.0, -1.0])
"""Camera axes: OpenGL (x right, y up, -z forward) <-> OpenCV (x right, y down, +z forward)."""


class CameraError(ValueError):
    """A capture whose cameras cannot be read; the message names the file."""


@dataclass
class Camera:
    """One calibrated view: OpenCV world-to-camera pose, intrinsics and distortion at full resolution."""

    key: str
    """The image key as point2act's datamanager names it (``images/NAME``)."""
    width: int
    height: int
    K: np.ndarray  # [3, 3]
    R: np.ndarray  # [3, 3] world -> camera (OpenCV axes)
    t: np.ndarray  # [3]
    dist: np.ndarray = field(default_factory=lambda: np.zeros(5))
    """OpenCV ``(k1, k2, p1, p2, k3)``."""
    path: Path | None = None
    """The stored full-resolution image."""

    @property
    def center(self) -> np.ndarray:
        return -self.R.T @ self.t

    def to_camera(self, X: np.ndarray) -> np.ndarray:
        """World points [N, 3] -> camera coordinates [N, 3] (OpenCV axes, z = depth)."""
        X = np.asarray(X, dtype=np.float64).reshape(-1, 3)
        return X @ self.R.T + self.t

    def depth(self, X: np.ndarray) -> np.ndarray:
        return self.to_camera(X)[:, 2]

    def project(self, X: np.ndarray) -> np.ndarray:
        """World points [N, 3] -> full-resolution pixels [N, 2] (with lens distortion)."""
        Xc = self.to_camera(X)
        xy = Xc[:, :2] / Xc[:, 2:3]
        xy = distort(xy, self.dist)
        return xy @ self.K[:2, :2].T + self.K[:2, 2]

    def normalized(self, uv: np.ndarray) -> np.ndarray:
        """Pixels [N, 2] -> undistorted normalized image coordinates [N, 2] (iterative inverse)."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        xy_d = (uv - self.K[:2, 2]) @ np.linalg.inv(self.K[:2, :2]).T
        return undistort(xy_d, self.dist)

    def in_image(self, uv: np.ndarray, margin: float = 0.0) -> np.ndarray:
        uv = np.asarray(uv).reshape(-1, 2)
        return ((uv[:, 0] >= -margin) & (uv[:, 0] <= self.width + margin)
                & (uv[:, 1] >= -margin) & (uv[:, 1] <= self.height + margin))


def distort(xy: np.ndarray, dist: Sequence[float]) -> np.ndarray:
    """OpenCV's radial-tangential model on normalized coordinates [N, 2]; ``dist = (k1, k2, p1, p2[, k3])``."""
    d = np.zeros(5)
    d[: len(dist)] = dist
    k1, k2, p1, p2, k3 = d
    x, y = xy[:, 0], xy[:, 1]
    r2 = x * x + y * y
    radial = 1.0 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
    xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    return np.stack([xd, yd], axis=-1)


def undistort(xy_d: np.ndarray, dist: Sequence[float], iterations: int = 50) -> np.ndarray:
    """Inverse of :func:`distort` (fixed-point iteration, as OpenCV's ``undistortPoints``)."""
    if not np.any(np.asarray(dist)):
        return np.array(xy_d, dtype=np.float64)
    xy = np.array(xy_d, dtype=np.float64)
    for _ in range(iterations):
        err = distort(xy, dist) - xy_d
        xy = xy - err
        if np.max(np.abs(err)) < 1e-12:
            break
    return xy


# ----------------------------------------------------------------------------------------------
# transforms.json
# ----------------------------------------------------------------------------------------------
def load_transforms(capture: Path) -> Dict[str, Camera]:
    """Cameras of a ``transforms.json`` capture, keyed by ``file_path`` as written there."""
    capture = Path(capture)
    path = capture / "transforms.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise CameraError(f"{path}: not found (a nerfstudio-data capture needs transforms.json)") from None
    except json.JSONDecodeError as e:
        raise CameraError(f"{path}: not valid JSON ({e})") from None
    if "applied_transform" in meta or "applied_scale" in meta:
        # nerfstudio would then report positions in the *original* frame; this benchmark does not handle it
        raise CameraError(f"{path}: has applied_transform/applied_scale; the export frame is then not this "
                          "file's world frame (see docs/real-benchmark.md)")
    cams: Dict[str, Camera] = {}
    for i, fr in enumerate(meta.get("frames", [])):
        def get(k, default=None):
            v = fr.get(k, meta.get(k, default))
            if v is None:
                raise CameraError(f"{path}: frame {i} ({fr.get('file_path')}) has no {k!r}")
            return float(v)

        if fr.get("is_fisheye", meta.get("is_fisheye", False)) or fr.get("camera_model", meta.get("camera_model", "OPENCV")) not in ("OPENCV", "PINHOLE"):
            raise CameraError(f"{path}: frame {i}: only OPENCV/PINHOLE cameras are supported")
        K = np.array([[get("fl_x"), 0, get("cx")], [0, get("fl_y"), get("cy")], [0, 0, 1]])
        dist = np.array([get("k1", 0), get("k2", 0), get("p1", 0), get("p2", 0), get("k3", 0)])
        c2w = np.asarray(fr["transform_matrix"], dtype=np.float64)
        if c2w.shape != (4, 4) and c2w.shape != (3, 4):
            raise CameraError(f"{path}: frame {i}: transform_matrix must be 4x4")
        R_c2w = c2w[:3, :3] @ GL_TO_CV
        R = R_c2w.T
        t = -R @ c2w[:3, 3]
        key = fr["file_path"]
        cams[key] = Camera(key, int(get("w")), int(get("h")), K, R, t, dist, capture / key)
    if not cams:
        raise CameraError(f"{path}: no frames")
    return cams


# ----------------------------------------------------------------------------------------------
# COLMAP (binary or text)
# ----------------------------------------------------------------------------------------------
# model id -> (name, number of params)
_COLMAP_MODELS = {0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5),
                  4: ("OPENCV", 8), 5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12)}


def _intrinsics(model: str, params: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    p = list(params)
    if model == "SIMPLE_PINHOLE":
        f, cx, cy = p
        return np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]]), np.zeros(5)
    if model == "PINHOLE":
        fx, fy, cx, cy = p[:4]
        return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]), np.zeros(5)
    if model == "SIMPLE_RADIAL":
        f, cx, cy, k = p
        return np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]]), np.array([k, 0, 0, 0, 0.0])
    if model == "RADIAL":
        f, cx, cy, k1, k2 = p
        return np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]]), np.array([k1, k2, 0, 0, 0.0])
    if model == "OPENCV":
        fx, fy, cx, cy, k1, k2, p1, p2 = p
        return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]), np.array([k1, k2, p1, p2, 0.0])
    raise CameraError(f"COLMAP camera model {model} is not supported")


def _read_colmap_bin(model: Path):
    cameras, images = {}, {}
    with open(model / "cameras.bin", "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        for _ in range(n):
            cid, mid, w, h = struct.unpack("<iiQQ", f.read(24))
            if mid not in _COLMAP_MODELS:
                raise CameraError(f"{model / 'cameras.bin'}: camera model id {mid} is not supported")
            name, npar = _COLMAP_MODELS[mid]
            params = struct.unpack("<" + "d" * npar, f.read(8 * npar))
            cameras[cid] = (name, int(w), int(h), params)
    with open(model / "images.bin", "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        for _ in range(n):
            iid, qw, qx, qy, qz, tx, ty, tz, cid = struct.unpack("<idddddddi", f.read(64))
            name = b""
            while (c := f.read(1)) != b"\x00":
                name += c
            (npts,) = struct.unpack("<Q", f.read(8))
            f.seek(24 * npts, 1)
            images[iid] = (name.decode(), (qw, qx, qy, qz), (tx, ty, tz), cid)
    return cameras, images


def _read_colmap_txt(model: Path):
    cameras, images = {}, {}
    for line in (model / "cameras.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        cameras[int(parts[0])] = (parts[1], int(parts[2]), int(parts[3]), [float(v) for v in parts[4:]])
    lines = [ln for ln in (model / "images.txt").read_text().splitlines() if not ln.startswith("#")]
    # two lines per image: the pose line, then the (possibly empty) 2D points line
    for i in range(0, len(lines), 2):
        parts = lines[i].split()
        if len(parts) < 10:
            continue
        iid = int(parts[0])
        images[iid] = (" ".join(parts[9:]), tuple(map(float, parts[1:5])), tuple(map(float, parts[5:8])), int(parts[8]))
    return cameras, images


def load_colmap(capture: Path, colmap_path: str = "colmap/sparse/0", images_path: str = "images") -> Dict[str, Camera]:
    """Cameras of a COLMAP capture, keyed ``images/NAME`` (how point2act names COLMAP images)."""
    capture = Path(capture)
    model = capture / colmap_path
    if (model / "cameras.bin").is_file() and (model / "images.bin").is_file():
        cameras, images = _read_colmap_bin(model)
    elif (model / "cameras.txt").is_file() and (model / "images.txt").is_file():
        cameras, images = _read_colmap_txt(model)
    else:
        raise CameraError(f"{model}: no COLMAP model (cameras + images, .bin or .txt)")
    out: Dict[str, Camera] = {}
    for iid in sorted(images):
        name, q, t, cid = images[iid]
        model_name, w, h, params = cameras[cid]
        K, dist = _intrinsics(model_name, params)
        key = f"{images_path}/{name}"
        out[key] = Camera(key, w, h, K, qvec_to_R(q), np.asarray(t, dtype=np.float64), dist, capture / images_path / name)
    return out


def load_cameras(capture: Path, parser: str = "nerfstudio-data", colmap_path: str = "colmap/sparse/0",
                 images_path: str = "images") -> Dict[str, Camera]:
    """The cameras of a capture for the given ns-train dataparser, in the frame ``point2act export`` uses."""
    if parser == "nerfstudio-data":
        return load_transforms(capture)
    if parser == "colmap":
        return load_colmap(capture, colmap_path, images_path)
    raise CameraError(f"dataparser {parser!r} is not supported (nerfstudio-data or colmap)")


def export_frame_note(parser: str) -> str:
    """Which frame ``point2act export``'s ``action_point`` is in, for a dataparser (see the docs)."""
    if parser == "nerfstudio-data":
        return ("transforms.json world frame (nerfstudio's dataparser_transform = orientation+centring only, "
                "no applied_transform in these captures); point2act's FrameTransform.to_capture inverts it")
    return ("COLMAP world frame: nerfstudio's colmap parser folds its applied_transform (y/z swap) into "
            "dataparser_transform, so FrameTransform.to_capture undoes it as well")


# ----------------------------------------------------------------------------------------------
# triangulation
# ----------------------------------------------------------------------------------------------
def triangulate(cams: Sequence[Camera], uvs: Sequence[Sequence[float]]) -> Tuple[np.ndarray, np.ndarray]:
    """A 3D point from one pixel per camera: DLT on undistorted coordinates, then least squares on the
    pixel reprojection error (with distortion). Returns (X [3], per-view error [N] in pixels)."""
    from scipy.optimize import least_squares

    if len(cams) < 2:
        raise ValueError("triangulation needs at least two views")
    rows = []
    for cam, uv in zip(cams, uvs):
        x, y = cam.normalized(np.asarray(uv, dtype=np.float64))[0]
        P = np.hstack([cam.R, cam.t[:, None]])
        rows.append(x * P[2] - P[0])
        rows.append(y * P[2] - P[1])
    _, _, vt = np.linalg.svd(np.asarray(rows))
    Xh = vt[-1]
    X0 = Xh[:3] / Xh[3]
    uvs_a = np.asarray(uvs, dtype=np.float64).reshape(-1, 2)

    def residual(X):
        return np.concatenate([cam.project(X[None])[0] - uv for cam, uv in zip(cams, uvs_a)])

    sol = least_squares(residual, X0, method="lm")
    X = sol.x
    err = np.array([np.linalg.norm(cam.project(X[None])[0] - uv) for cam, uv in zip(cams, uvs_a)])
    return X, err


def reprojection_errors(cams: Iterable[Camera], uvs: Iterable[Sequence[float]], X: np.ndarray) -> List[float]:
    X = np.asarray(X, dtype=np.float64).reshape(1, 3)
    return [float(np.linalg.norm(c.project(X)[0] - np.asarray(uv, dtype=np.float64))) for c, uv in zip(cams, uvs)]
