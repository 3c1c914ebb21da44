"""Check a nerfstudio capture (``transforms.json`` + images) before nerfstudio parses it.

nerfstudio's parser meets a broken capture with a bare ``KeyError``, an ``assert`` or a
shape mismatch deep in training -- or not at all: a NaN pose or a zero focal length trains
silently into garbage. :func:`validate_capture` reads the same fields nerfstudio 1.1.5's
``nerfstudio-data`` parser reads, the same way, and raises :class:`CaptureError` (a
:class:`~point2act.errors.Point2ActError`) with one paragraph that names the file, the entry
(``frames[3] ('images/0004.jpg')``) and the fix.

Checked: the JSON itself (line and column of a syntax error); ``frames`` (a non-empty list
of objects with ``file_path``); every image nerfstudio will open (the stored one, or the
``images_N/`` copy at a downscale factor N) exists, decodes (PIL, fully: a truncated file
fails) and has the size ``w`` x ``h`` that transforms.json gives; ``transform_matrix``
(3x4 or 4x4, finite, an invertible rotation block, ``[0, 0, 0, 1]`` as the last row of a
4x4); ``fl_x``/``fl_y`` > 0, ``cx``/``cy`` finite and ``w``/``h`` >= 1, top-level or per
frame as nerfstudio reads them; ``camera_model``; ``mask_path`` / ``depth_file_path`` on
every frame or none, masks present (and decodable, of the image's size); ``ply_file_path``
present.

What nerfstudio 1.1.5 would trip on but point2act's datamanager fixes on load (see
:func:`point2act.checks.capture_images.load_image_for_camera`, used by ``point2act.method.datamanager``) is accepted here with a
note: a downscaled copy (``images_N/``, ``masks_N/``) 1 pixel off nerfstudio's rounded-down size,
a missing ``images_N/`` folder (the stored images are downscaled on load), an EXIF orientation
tag, and grayscale / palette / 16-bit / CMYK / grayscale+alpha images.

Plain Python + numpy + PIL: no torch, no nerfstudio.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

from point2act.checks.capture_images import (
    _IMAGE_MODES,
    CaptureError,
    _fits,
    image_to_array,
    load_image_for_camera,
    load_warnings_quiet,
    mask_to_array,
    nerfstudio_downscaled_size,
    oriented_size,
    quiet_load_warnings,
)

__all__ = [
    "CAMERA_MODELS", "CaptureError", "CaptureSummary", "image_to_array", "load_image_for_camera", "load_warnings_quiet",
    "locate_transforms", "mask_to_array", "nerfstudio_downscaled_size", "quiet_load_warnings", "validate_capture",
]

CAMERA_MODELS = (
    "EQUIRECTANGULAR", "FISHEYE624", "OMNIDIRECTIONALSTEREO_L", "OMNIDIRECTIONALSTEREO_R", "OPENCV",
    "OPENCV_FISHEYE", "ORTHOPHOTO", "PINHOLE", "RADIAL", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "VR180_L", "VR180_R",
)
"""The ``camera_model`` values nerfstudio 1.1.5 knows (``CAMERA_MODEL_TO_TYPE``)."""

_INTRINSICS = ("fl_x", "fl_y", "cx", "cy", "w", "h")


@dataclass
class CaptureSummary:
    """What :func:`validate_capture` found in a valid capture."""

    transforms: Path
    """The transforms.json that was checked."""
    data_dir: Path
    """The capture folder (image paths are relative to it)."""
    keys: List[str] = field(default_factory=list)
    """Each frame's image key: its ``file_path`` as written (the key points files use)."""
    sizes: Dict[str, Tuple[int, int]] = field(default_factory=dict)
    """Stored image size ``(w, h)`` of each key, from transforms.json."""
    images_checked: int = 0
    """Images opened and decoded (0 when images were not checked)."""
    seconds: float = 0.0
    """Wall time of the check."""
    notes: List[str] = field(default_factory=list)
    """What point2act will fix on load (one line each, e.g. a 1-pixel rounding of images_4/)."""
    note_kinds: Dict[str, str] = field(default_factory=dict)
    """The same notes by kind ("rounding", "exif", "mode", "mask-rounding", "downscale"): the
    datamanager warns once per kind, here or when it loads the images."""
    downscale_on_load: bool = False
    """``images_N/`` is missing: the stored images are downscaled by N on load instead."""
    point_cloud: bool = False
    """transforms.json names a point cloud (``ply_file_path``, an existing file)."""


def locate_transforms(data: os.PathLike | str) -> Tuple[Path, Path]:
    """``(data_dir, transforms.json)`` of a capture given as its folder or its transforms.json."""
    data = Path(data).expanduser()
    if data.suffix == ".json":
        return data.parent, data
    return data, data / "transforms.json"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _frame_name(i: int, frame: Any) -> str:
    fp = frame.get("file_path") if isinstance(frame, dict) else None
    return f"frames[{i}] ({fp!r})" if isinstance(fp, str) else f"frames[{i}]"


def _key(fp: str, data_dir: Path) -> str:
    path = Path(fp)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.relative_to(data_dir.resolve()).as_posix()
    except ValueError:
        return path.name


def _nerfstudio_path(fp: str, data_dir: Path, downscale_factor: int | None, prefix: str) -> Path:
    """The file nerfstudio's ``_get_fname`` opens for ``fp`` (``prefix``: images_, masks_)."""
    if downscale_factor is not None and downscale_factor > 1:
        return data_dir / f"{prefix}{downscale_factor}" / Path(fp).name
    return data_dir / fp


def _check_intrinsic(where: str, name: str, value: Any, source: str) -> None:
    if not _is_number(value) or not math.isfinite(value):
        raise CaptureError(f"{source}: {where}: {name!r} must be a finite number, got {value!r}. "
                           "Fix the camera intrinsics (a calibration or ns-process-data writes them).")
    if name in ("fl_x", "fl_y") and value <= 0:
        raise CaptureError(f"{source}: {where}: focal length {name!r} = {value!r} must be > 0 (pixels). "
                           "Fix the camera intrinsics (a calibration or ns-process-data writes them).")
    if name in ("w", "h") and value < 1:
        raise CaptureError(f"{source}: {where}: image {'width' if name == 'w' else 'height'} {name!r} = {value!r} "
                           "must be at least 1 pixel. Set it to the stored image's size.")


def _check_pose(where: str, value: Any, source: str):
    import numpy as np

    fix = "Fix the pose (a camera-to-world matrix, OpenGL axes) or remove the frame."
    if value is None:
        raise CaptureError(f"{source}: {where} has no 'transform_matrix' (its camera-to-world pose). {fix}")
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CaptureError(f"{source}: {where}: 'transform_matrix' must be a 4x4 (or 3x4) array of numbers. "
                           f"{fix}") from None
    if m.shape not in ((4, 4), (3, 4)):
        raise CaptureError(f"{source}: {where}: 'transform_matrix' has shape {list(m.shape)}, expected 4x4 "
                           f"(or 3x4). {fix}")
    bad = np.argwhere(~np.isfinite(m))
    if len(bad):
        r, c = (int(v) for v in bad[0])
        raise CaptureError(f"{source}: {where}: 'transform_matrix' has a non-finite entry ({m[r, c]!r} at row {r}, "
                           f"column {c}). {fix}")
    rot = m[:3, :3]
    det = float(np.linalg.det(rot))
    sv = np.linalg.svd(rot, compute_uv=False)
    if abs(det) < 1e-6 or sv[-1] < 1e-6 * max(sv[0], 1e-300):
        raise CaptureError(f"{source}: {where}: 'transform_matrix' is not invertible (its 3x3 rotation block has "
                           f"determinant {det:.3g}). {fix}")
    if m.shape == (4, 4) and not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-4):
        raise CaptureError(f"{source}: {where}: the last row of 'transform_matrix' is {m[3].tolist()}, expected "
                           f"[0, 0, 0, 1]. {fix}")


def _check_image(path: Path, expect: Tuple[int, int] | None, tol: int):
    """``(problem, note)``: problem None when the image is fine; note what will be fixed on load."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            size, transpose = oriented_size(im, expect, tol)
            mode = im.mode
            im.load()
    except FileNotFoundError:
        return f"image file not found at {path}", None
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, zlib/struct errors ...
        return f"{path} cannot be read as an image ({type(e).__name__}: {e}); it is corrupt or truncated", None
    if mode not in _IMAGE_MODES:
        return f"{path} has image mode {mode!r}, which cannot be converted to RGB; save it as 8-bit RGB", None
    if expect is not None and not _fits(size, expect, tol):
        return (f"{path} is {size[0]}x{size[1]} pixels but transforms.json gives w x h = {expect[0]}x{expect[1]}"
                + (" for it" if tol == 0 else " (divided by the downscale factor, rounded down as nerfstudio "
                   f"does); only a 1-pixel rounding difference of {path.parent.name}/ is fixed on load: re-make "
                   f"{path.parent}/ from the stored images, or delete it to downscale on load")), None
    note = None
    if transpose:
        note = ("exif", f"{path.parent}/: EXIF orientation applied on load where the stored image is the camera's "
                        f"size rotated (e.g. {path.name})")
    elif expect is not None and size != tuple(expect):
        note = ("rounding", f"{path.parent}/ holds images 1 pixel off nerfstudio's rounded-down camera size (e.g. "
                            f"{path.name}: {size[0]}x{size[1]}, camera {expect[0]}x{expect[1]}): resampled to it "
                            "on load")
    elif mode not in ("RGB", "RGBA"):
        note = ("mode", f"{path.parent}/: {mode} images are converted to RGB/RGBA on load (e.g. {path.name})")
    return None, note


def _check_mask(path: Path, image_size: Tuple[int, int], tol: int, where: str, src: str):
    from PIL import Image

    try:
        with Image.open(path) as im:
            size = tuple(im.size)
            im.load()
    except Exception as e:
        raise CaptureError(f"{src}: {where}: mask {path} cannot be read as an image ({type(e).__name__}: {e}). "
                           "Replace the mask, or remove 'mask_path' from every frame.") from None
    if not _fits(size, image_size, tol):
        raise CaptureError(f"{src}: {where}: mask {path} is {size[0]}x{size[1]} pixels but its image is "
                           f"{image_size[0]}x{image_size[1]}" + (" (1 pixel of rounding is fixed on load)" if tol else "")
                           + ". Masks must have their image's size: re-make the mask.")
    if size != tuple(image_size):
        return ("mask-rounding", f"{path.parent}/ holds masks 1 pixel off the camera size (e.g. {path.name}): "
                                 "resampled on load")
    return None


def _read_transforms(data: os.PathLike | str) -> Tuple[Path, Path, Dict[str, Any], List[Any]]:
    """The capture folder, its transforms.json, the parsed document and its non-empty ``frames``
    list; raise for a missing folder or file (hinting at COLMAP captures), invalid JSON or UTF-8, a
    top level that is not an object, or no frames."""
    data_dir, transforms = locate_transforms(data)
    if not data_dir.is_dir():
        raise CaptureError(f"{data_dir}: capture folder not found. Pass --data the folder holding transforms.json.")
    if not transforms.is_file():
        colmap = (data_dir / "colmap").is_dir() or (data_dir / "sparse").is_dir()
        hint = (" It looks like a COLMAP capture: add the 'colmap' data parser at the end of the ns-train command "
                "(ns-train point2act --data DIR colmap), or run ns-process-data to write transforms.json."
                if colmap else " Run ns-process-data on the images to make one, or pass the right folder.")
        raise CaptureError(f"{transforms}: no transforms.json in the capture folder {data_dir}.{hint}")
    src = str(transforms)
    try:
        meta = json.loads(transforms.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CaptureError(f"{src}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}). "
                           "Fix the syntax there (a truncated write or a trailing comma?).") from None
    except UnicodeDecodeError:
        raise CaptureError(f"{src}: not a UTF-8 text file; transforms.json must be JSON.") from None
    if not isinstance(meta, dict):
        raise CaptureError(f"{src}: the top level must be a JSON object with 'frames', got {type(meta).__name__}.")
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        what = "has no 'frames' list" if frames is None else (
            "has an empty 'frames' list" if isinstance(frames, list) else f"'frames' is a {type(frames).__name__}")
        raise CaptureError(f"{src}: {what}: there is nothing to train on. Each frame needs 'file_path' and "
                           "'transform_matrix'.")
    return data_dir, transforms, meta, frames


def _check_top_level(meta: Dict[str, Any], data_dir: Path, src: str) -> None:
    """The top-level ``camera_model`` (one nerfstudio knows), intrinsics and ``ply_file_path`` (an
    existing file) when present."""
    cm = meta.get("camera_model")
    if cm is not None and cm not in CAMERA_MODELS:
        raise CaptureError(f"{src}: 'camera_model' {cm!r} is not one nerfstudio knows ({', '.join(CAMERA_MODELS)}).")
    for name in _INTRINSICS:
        if name in meta:
            _check_intrinsic("top level", name, meta[name], src)
    if "ply_file_path" in meta:
        ply = data_dir / str(meta["ply_file_path"])
        if not ply.is_file():
            raise CaptureError(f"{src}: 'ply_file_path' {meta['ply_file_path']!r} not found at {ply}. Fix the path "
                               "or remove the entry (splatfacto then starts from random points).")


def _image_factor(summary: CaptureSummary, data_dir: Path, downscale_factor: int | None) -> int:
    """The factor of the ``images_N/`` folder the images are read from: ``downscale_factor``, or 1
    when that folder is missing (the stored images are then downscaled on load, which ``summary``
    records with a "downscale" note)."""
    factor = int(downscale_factor) if downscale_factor and downscale_factor > 1 else 1
    folder = data_dir / f"images_{factor}"
    if factor > 1 and not folder.is_dir():
        # nerfstudio-data would open images_N/NAME and fail on the first one; point2act's datamanager
        # downscales the stored images on load instead (camera_res_scale_factor = 1 / N)
        summary.downscale_on_load = True
        summary.note_kinds["downscale"] = (f"{folder}/ not found: the stored images are downscaled by {factor} on load (slower "
                             f"to start; make {folder.name}/ once to skip it)")
        factor = 1
    return factor


def _check_frames(
    frames: List[Any],
    meta: Dict[str, Any],
    data_dir: Path,
    src: str,
    factor: int,
    summary: CaptureSummary,
) -> Tuple[List[Tuple[str, Path, Tuple[int, int] | None]], List[Tuple[str, Path, int]]]:
    """Each frame's entries: ``file_path``, intrinsics (in the frame where the top level lacks them),
    pose and an existing mask file; ``mask_path`` and ``depth_file_path`` on every frame or on none.
    Records each frame's key and stored size in ``summary``.

    Returns the images to check (where, path in ``images_{factor}/``, expected size) and the masks
    (where, path, index into the images).
    """
    images: List[Tuple[str, Path, Tuple[int, int] | None]] = []
    masks: List[Tuple[str, Path, int]] = []  # (where, path, index into images)
    n_masks = n_depths = 0
    for i, frame in enumerate(frames):
        where = _frame_name(i, frame)
        if not isinstance(frame, dict):
            raise CaptureError(f"{src}: {where} must be an object with 'file_path' and 'transform_matrix', "
                               f"got {type(frame).__name__}.")
        fp = frame.get("file_path")
        if not isinstance(fp, str) or not fp:
            raise CaptureError(f"{src}: {where} has no 'file_path' (the image's path relative to {data_dir}).")
        for name in _INTRINSICS:
            if name not in meta:
                if name not in frame:
                    raise CaptureError(f"{src}: {where}: no {name!r}, neither at the top level nor in the frame. "
                                       "nerfstudio needs fl_x, fl_y, cx, cy, w and h.")
                _check_intrinsic(where, name, frame[name], src)
        _check_pose(where, frame.get("transform_matrix"), src)
        w, h = (meta.get(k, frame.get(k)) for k in ("w", "h"))
        key = _key(fp, data_dir)
        summary.keys.append(key)
        summary.sizes[key] = (int(w), int(h))
        expect = (int(w), int(h)) if factor == 1 else nerfstudio_downscaled_size(int(w), int(h), factor)
        images.append((where, _nerfstudio_path(fp, data_dir, factor, "images_"), expect))
        if "mask_path" in frame:
            n_masks += 1
            mask = _nerfstudio_path(str(frame["mask_path"]), data_dir, factor, "masks_")
            if not mask.is_file():
                raise CaptureError(f"{src}: {where}: mask {frame['mask_path']!r} not found at {mask}.")
            masks.append((where, mask, len(images) - 1))
        n_depths += "depth_file_path" in frame
    for name, n in (("mask_path", n_masks), ("depth_file_path", n_depths)):
        if 0 < n < len(frames):
            raise CaptureError(f"{src}: {n} of {len(frames)} frames have {name!r}; nerfstudio needs it on every "
                               "frame or on none.")
    return images, masks


def _decode_images(
    images: List[Tuple[str, Path, Tuple[int, int] | None]],
    masks: List[Tuple[str, Path, int]],
    src: str,
    tol: int,
    workers: int,
    summary: CaptureSummary,
) -> None:
    """Open and decode every image and mask on ``workers`` threads; raise for the first image that
    fails (in frame order); record in ``summary`` the first note of each kind (images first, then
    masks) and the number of images checked."""
    kinds: Dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda it: _check_image(it[1], it[2], tol), images))
        for (where, _path, _), (problem, note) in zip(images, results):
            if problem is not None:
                raise CaptureError(f"{src}: {where}: {problem}. Replace the image, or remove the frame from "
                                   "transforms.json.")
            if note is not None and note[0] not in kinds:
                kinds[note[0]] = note[1]
        mask_notes = list(pool.map(lambda it: _check_mask(it[1], images[it[2]][2], tol, it[0], src), masks))
    for note in mask_notes:
        if note is not None and note[0] not in kinds:
            kinds[note[0]] = note[1]
    summary.note_kinds.update(kinds)
    summary.images_checked = len(images)


def validate_capture(
    data: os.PathLike | str,
    downscale_factor: int | None = None,
    check_images: bool = True,
    workers: int = 2,
    notes: List[str] | None = None,
) -> CaptureSummary:
    """Check a nerfstudio capture the way nerfstudio's ``nerfstudio-data`` parser will read it.

    Args:
        data: the capture folder, or its transforms.json.
        downscale_factor: the parser's ``--downscale-factor``: images are then read from
            ``images_N/`` (as nerfstudio does); None or 1: the stored images.
        check_images: open and fully decode every image (about 6 ms per 540x960 JPEG).
        workers: threads decoding images.
        notes: a list to append what will be fixed on load to (one line each); None: print them to
            stderr as ``point2act: note: ...``.

    Raises:
        CaptureError: the first problem found, naming the file and the entry.
    """
    t0 = time.perf_counter()
    data_dir, transforms, meta, frames = _read_transforms(data)
    src = str(transforms)
    _check_top_level(meta, data_dir, src)

    summary = CaptureSummary(transforms=transforms, data_dir=data_dir, point_cloud="ply_file_path" in meta)
    factor = _image_factor(summary, data_dir, downscale_factor)
    tol = 1 if factor > 1 else 0
    images, masks = _check_frames(frames, meta, data_dir, src, factor, summary)

    for where, path, _ in images:
        if not path.is_file():
            hint = (f" ({path.parent}/ is the downscale factor's folder; it lacks this image)" if factor > 1 else "")
            raise CaptureError(f"{src}: {where}: image file not found at {path}{hint}. Restore the file, fix "
                               "'file_path', or remove the frame from transforms.json.")
    if check_images:
        _decode_images(images, masks, src, tol, workers, summary)
    summary.notes = list(summary.note_kinds.values())
    if notes is None:
        for note in summary.notes:
            sys.stderr.write(f"point2act: note: {note}\n")
    else:
        notes.extend(summary.notes)
    summary.seconds = time.perf_counter() - t0
    return summary

