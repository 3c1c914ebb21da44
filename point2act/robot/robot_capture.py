"""A nerfstudio capture from the robot's own poses, without COLMAP.

:func:`write_robot_capture` takes images, the flange pose of each (flange in base, metres, matched
by file name), the hand-eye transform (camera in flange, OpenCV camera axes, metres) and the
camera's intrinsics, and writes ``transforms.json``:

* ``transform_matrix`` = ``flange_pose @ camera_in_flange @ diag(1, -1, -1, 1)``: camera-to-world
  with OpenGL axes (x right, y up, looking along -z), as nerfstudio expects, the world being the
  robot's **base frame** in **metres**;
* the intrinsics (``fl_x``, ``fl_y``, ``cx``, ``cy``, ``w``, ``h``, distortion, ``camera_model``);
* ``depth_file_path`` for every view when the depth folder holds a depth image for each (same file
  name, any image suffix or ``.npy``; nerfstudio-data reads them with its
  ``--depth-unit-scale-factor``, 1e-3 by default: millimetres); depth for some views only is
  refused (nerfstudio takes depth for every view or none);

and a frame file ``point2act_frame.json`` beside it (``metres_per_unit`` 1, ``base_from_capture``
the identity): `point2act export` of a run on this capture writes every pose in the base frame.
Plain numpy.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict

import numpy as np

from point2act.errors import Point2ActError
from point2act.io import write_json_atomic
from point2act.robot.frame_file import FRAME_FILE, FRAME_SCHEMA
from point2act.robot.handeye import OPENGL_FROM_OPENCV
from point2act.robot.poses import RobotPoses, check_rigid, load_robot_poses, match_poses

__all__ = ["IMAGE_SUFFIXES", "read_intrinsics", "robot_camera_poses", "write_robot_capture"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".JPG", ".JPEG", ".PNG", ".tif", ".tiff", ".exr")
_DIST_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def read_intrinsics(path: os.PathLike | str) -> Dict[str, Any]:
    """``--intrinsics K.json`` -> transforms.json's camera keys.

    Accepted: nerfstudio's keys (``fl_x``, ``fl_y``, ``cx``, ``cy``, ``w``, ``h``, optional ``k1``..``k4``,
    ``p1``, ``p2``, ``camera_model``), or OpenCV's: ``{"K": 3x3 (or "camera_matrix"), "width",
    "height", "dist": [k1, k2, p1, p2(, k3)]}``. Pixel centres at (j + 0.5, i + 0.5), as nerfstudio
    and COLMAP."""
    path = Path(path)
    src = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Point2ActError(f"{src}: intrinsics file not found.") from None
    except json.JSONDecodeError as e:
        raise Point2ActError(f"{src}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).") from None
    if not isinstance(doc, dict):
        raise Point2ActError(f"{src}: the intrinsics must be a JSON object.")
    out: Dict[str, Any] = {}
    K = doc.get("K", doc.get("camera_matrix"))
    if K is not None:
        try:
            K = np.asarray(K, dtype=np.float64).reshape(3, 3)
        except (TypeError, ValueError):
            raise Point2ActError(f"{src}: 'K' must be a 3x3 camera matrix.") from None
        out.update(fl_x=K[0, 0], fl_y=K[1, 1], cx=K[0, 2], cy=K[1, 2], w=doc.get("width", doc.get("w")),
                   h=doc.get("height", doc.get("h")))
        dist = doc.get("dist", doc.get("distortion", []))
        if not (isinstance(dist, list) and all(_num(v) for v in dist) and len(dist) in (0, 4, 5, 8)):
            raise Point2ActError(f"{src}: 'dist' must be OpenCV's [k1, k2, p1, p2(, k3)], got {dist!r}.")
        for k, v in zip(("k1", "k2", "p1", "p2", "k3"), dist):
            out[k] = v
    else:
        for k in ("fl_x", "fl_y", "cx", "cy", "w", "h", *_DIST_KEYS):
            if k in doc:
                out[k] = doc[k]
    for k in ("fl_x", "fl_y", "cx", "cy", "w", "h"):
        v = out.get(k)
        if not _num(v) or (k in ("fl_x", "fl_y", "w", "h") and v <= 0):
            raise Point2ActError(f"{src}: {k!r} must be a finite number (> 0 for focal lengths and sizes), got {v!r}; "
                                 "give fl_x, fl_y, cx, cy, w, h (pixels) or K, width, height.")
    res: Dict[str, Any] = {k: float(out[k]) for k in ("fl_x", "fl_y", "cx", "cy")}
    res["w"], res["h"] = int(out["w"]), int(out["h"])
    for k in _DIST_KEYS:
        if k in out:
            if not _num(out[k]):
                raise Point2ActError(f"{src}: distortion {k!r} must be a finite number, got {out[k]!r}.")
            res[k] = float(out[k])
    model = doc.get("camera_model") or ("OPENCV" if any(res.get(k, 0.0) for k in _DIST_KEYS) else "PINHOLE")
    if model not in ("PINHOLE", "OPENCV", "OPENCV_FISHEYE"):
        raise Point2ActError(f"{src}: camera_model {model!r}: use PINHOLE, OPENCV or OPENCV_FISHEYE.")
    res["camera_model"] = model
    return res


def robot_camera_poses(flanges: np.ndarray, camera_in_flange: np.ndarray) -> np.ndarray:
    """(N, 4, 4) flange-in-base poses and the (4, 4) camera in flange (OpenCV axes) -> (N, 4, 4)
    camera-to-base with OpenGL axes (transforms.json's ``transform_matrix``), metres."""
    return np.asarray(flanges, dtype=np.float64) @ np.asarray(camera_in_flange, dtype=np.float64) @ OPENGL_FROM_OPENCV


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError) as e:
        raise Point2ActError(f"{path}: image cannot be read ({type(e).__name__}: {e}).") from None


def write_robot_capture(
    images: os.PathLike | str,
    robot: RobotPoses,
    intrinsics: Dict[str, Any],
    output: os.PathLike | str | None = None,
    depths: os.PathLike | str | None = None,
    ignore_views: tuple = (),
) -> Dict[str, Any]:
    """Write a nerfstudio capture in the robot's base frame (see the module docstring).

    Args:
        images: folder of the images.
        robot: the folder of flange poses (one per image, same file name; or a JSON name -> pose
            file), metres (:mod:`point2act.robot.poses`), and ``camera_in_flange`` ((4, 4) rigid,
            metres, OpenCV camera axes; required here): :class:`RobotPoses`.
        intrinsics: :func:`read_intrinsics`'s dict; every image must be ``w`` x ``h``.
        output: the capture folder to write ``transforms.json`` and ``point2act_frame.json`` in
            (default: the images folder's parent); file paths in it are relative to it.
        depths: folder of depth images named like the images (default: ``depth/`` or ``depths/``
            beside the images, when present); one for every view, or none.
        ignore_views: image file names to leave out.

    Returns:
        The transforms.json document.
    """
    robot_poses, camera_in_flange = robot.path, robot.camera_in_flange
    images = Path(images).expanduser()
    if not images.is_dir():
        raise Point2ActError(f"{images}: no such folder of images.")
    files = sorted((p for p in images.iterdir() if p.is_file() and p.suffix in IMAGE_SUFFIXES),
                   key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise Point2ActError(f"{images}: no images ({', '.join(sorted({s.lower() for s in IMAGE_SUFFIXES}))}).")
    out_dir = Path(output).expanduser() if output is not None else images.parent
    X = check_rigid(camera_in_flange, "camera_in_flange", "camera-in-flange transform")
    poses, where = load_robot_poses(robot_poses)
    keys = [p.name for p in files]
    pairs = match_poses(keys, poses, where, robot_poses, ignore_views, what=f"image folder {images}")
    if depths is None:
        depths = next((d for d in (images.parent / "depth", images.parent / "depths") if d.is_dir()), None)
    depth_dir = Path(depths).expanduser() if depths is not None else None
    if depth_dir is not None and not depth_dir.is_dir():
        raise Point2ActError(f"{depth_dir}: no such folder of depth images.")
    depth_files = {}
    if depth_dir is not None:
        for p in depth_dir.iterdir():
            if p.is_file() and p.suffix in IMAGE_SUFFIXES + (".npy",):
                depth_files[p.stem] = p
    have = [name for name, _, _ in pairs if Path(name).stem in depth_files]
    if have and len(have) != len(pairs):
        lacking = [name for name, _, _ in pairs if Path(name).stem not in depth_files]
        raise Point2ActError(f"{depth_dir}: depth images for {len(have)} of the {len(pairs)} views; nerfstudio needs one "
                             f"for every view or none. No depth for: {', '.join(lacking[:6])}"
                             + (f", and {len(lacking) - 6} more" if len(lacking) > 6 else "")
                             + ". Add them, or pass --depths to an empty folder to write none.")
    c2w = robot_camera_poses(np.stack([p for _, p, _ in pairs]), X)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = []
    for (name, _pose, pose_file), T in zip(pairs, c2w):
        img = images / name
        w, h = _image_size(img)
        if (w, h) != (intrinsics["w"], intrinsics["h"]):
            raise Point2ActError(f"{img}: the image is {w}x{h} but the intrinsics are for {intrinsics['w']}x"
                                 f"{intrinsics['h']}; give the intrinsics of the images as stored.")
        fr: Dict[str, Any] = {"file_path": os.path.relpath(img, out_dir), "transform_matrix": T.tolist(),
                              "robot_pose_file": str(pose_file)}
        d = depth_files.get(Path(name).stem)
        if d is not None:
            fr["depth_file_path"] = os.path.relpath(d, out_dir)
        frames.append(fr)
    doc: Dict[str, Any] = dict(intrinsics)
    doc["frames"] = frames
    doc["point2act_robot_capture"] = {
        "frame": "robot base, metres",
        "camera_in_flange": X.tolist(),
        "robot_poses": str(robot_poses),
        "convention": "transform_matrix = flange_pose @ camera_in_flange @ diag(1, -1, -1, 1): camera-to-base, "
                      "OpenGL camera axes; camera_in_flange with OpenCV camera axes",
    }
    write_json_atomic(out_dir / "transforms.json", doc)
    frame = {"schema": FRAME_SCHEMA, "capture": str(out_dir), "metres_per_unit": 1.0,
             "base_from_capture": np.eye(4).tolist(),
             "hand_eye": {"camera_in_flange": X.tolist(), "camera_in_flange_given": True, "pose_kind": "flange",
                          "method": "capture-from-robot: the capture frame is the robot base frame",
                          "robot_poses": str(robot_poses), "views": [f["file_path"] for f in frames],
                          "num_views": len(frames)}}
    write_json_atomic(out_dir / FRAME_FILE, frame)
    return doc
