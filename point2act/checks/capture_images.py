"""Images as nerfstudio's datamanager will need them, shared by the capture check
(:mod:`point2act.checks.capture`) and the datamanager (``point2act.method.datamanager``): nerfstudio's
rounded-down camera sizes, the EXIF orientation, image modes converted to the 8-bit RGB/RGBA
nerfstudio trains on, masks as bool arrays, and one image (or mask) loaded at the size of its
camera (:func:`load_image_for_camera`). :class:`CaptureError` is the error of both.

Plain Python + numpy + PIL: no torch, no nerfstudio.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import List, NamedTuple, Tuple

from point2act.errors import Point2ActError

__all__ = [
    "CameraSizes", "CaptureError", "image_to_array", "load_image_for_camera", "load_warnings_quiet", "mask_to_array",
    "nerfstudio_downscaled_size", "oriented_size", "quiet_load_warnings",
]


class CaptureError(Point2ActError, ValueError):
    """A capture nerfstudio cannot (or should not) train on; the message names the file and the entry."""


_EXIF_ORIENTATION = 0x0112
_TRANSPOSING = (5, 6, 7, 8)
"""EXIF orientations that swap width and height (90 degree rotations, transposes)."""


def nerfstudio_downscaled_size(w: int, h: int, factor: float) -> Tuple[int, int]:
    """The image size nerfstudio's cameras get at a downscale factor: ``Cameras.rescale_output_resolution``
    multiplies by ``1 / factor`` in float32 and rounds down."""
    import numpy as np

    s = np.float32(1.0 / float(factor))
    return int(np.float32(w) * s), int(np.float32(h) * s)


def _orientation(im) -> int:
    try:
        return int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # a broken EXIF block: ignore it, as nerfstudio does
        return 1


def _fits(size: Tuple[int, int], expect: Tuple[int, int], tol: int) -> bool:
    return abs(size[0] - expect[0]) <= tol and abs(size[1] - expect[1]) <= tol


def oriented_size(im, expect: Tuple[int, int] | None, tol: int) -> Tuple[Tuple[int, int], bool]:
    """``(size, transpose)``: the size the image will be used at, and whether its EXIF orientation is
    applied. nerfstudio (and COLMAP) read the stored pixels and ignore the EXIF orientation tag; the
    tag is applied only when the stored size does not match the camera's but the rotated one does
    (the poses were then made on the rotated image)."""
    size = tuple(im.size)
    if expect is None or _fits(size, expect, tol):
        return size, False
    if _orientation(im) in _TRANSPOSING and _fits((size[1], size[0]), expect, tol):
        return (size[1], size[0]), True
    return size, False


_IMAGE_MODES = ("RGB", "RGBA", "L", "LA", "P", "PA", "1", "I", "I;16", "I;16B", "I;16L", "I;16N", "F", "CMYK",
                "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La")


def image_to_array(im, mode: str | None = None):
    """A PIL image as the uint8 ``(H, W, 3)`` or ``(H, W, 4)`` array nerfstudio trains on, and a note
    (None when it was already 8-bit RGB/RGBA). nerfstudio 1.1.5 repeats a 2-D array to 3 channels
    and asserts 3 or 4 channels: a palette image would train on its palette indices, a 16-bit one on
    its wrapped low byte, a CMYK JPEG as RGBA and a grayscale+alpha one not at all. ``mode``: the
    file's mode when ``im`` was converted for resampling (16-bit grayscale is resampled as "F")."""
    import numpy as np

    mode = mode or im.mode
    if im.mode in ("RGB", "RGBA") and mode == im.mode:
        return np.array(im, dtype=np.uint8), None
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        a = np.asarray(im).astype(np.float64)
        top = 65535.0 if (mode.startswith("I;16") or a.max(initial=0) > 255) else 255.0
        a = np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2), f"{mode} (high bit depth grayscale) converted to 8-bit RGB"
    if im.mode in ("RGB", "RGBA"):  # converted before resampling
        return np.array(im, dtype=np.uint8), f"{mode} converted to {im.mode}"
    if mode in ("LA", "La", "PA", "RGBa") or (mode == "P" and "transparency" in im.info):
        return np.array(im.convert("RGBA"), dtype=np.uint8), f"{mode} converted to RGBA"
    if mode in _IMAGE_MODES:
        return np.array(im.convert("RGB"), dtype=np.uint8), f"{mode} converted to RGB"
    raise ValueError(f"image mode {mode!r} is not supported")


def mask_to_array(im):
    """A mask image as a bool ``(H, W)`` array (nonzero = keep) and a note (None for 1-channel masks).
    nerfstudio 1.1.5 refuses masks with more than one channel."""
    import numpy as np

    if im.mode in ("1", "L", "P", "I", "F") or im.mode.startswith("I;16"):
        return np.asarray(im) != 0, None
    if im.mode in ("RGBA", "LA", "PA"):  # the alpha channel is the mask
        return np.asarray(im.getchannel("A")) != 0, f"{im.mode} mask: its alpha channel is used"
    return np.asarray(im.convert("L")) != 0, f"{im.mode} mask converted to one channel (nonzero = keep)"


class CameraSizes(NamedTuple):
    """The sizes of the camera nerfstudio trains an image with, and the factors between them: what a file on disk
    is checked against and resampled to (:func:`load_image_for_camera`). Sizes are ``(w, h)`` pixels."""

    expect: Tuple[int, int]
    """The camera's size at the parser's downscale factor (``floor(stored / N)``): what the file should be."""
    target: Tuple[int, int]
    """The camera's size after the datamanager's ``camera_res_scale_factor``: what is loaded."""
    factor: float
    """The parser's downscale factor N (1: the stored images)."""
    scale: float = 1.0
    """The datamanager's ``camera_res_scale_factor``."""
    full: Tuple[int, int] | None = None
    """The stored (full-resolution) size when known."""


def load_image_for_camera(
    path: Path,
    camera: CameraSizes,
    mask: bool = False,
    what: str = "",
):
    """Load one image (or mask) at the size of the camera nerfstudio trains it with.

    Args:
        path: the file nerfstudio opens (``images_N/NAME`` at a downscale factor N).
        camera: the camera's sizes and downscale factors (:class:`CameraSizes`).
        mask: load a mask (nearest-neighbour, bool) instead of an image.
        what: the file to name in errors (default: ``path``).

    Returns:
        ``(array, notes)``: uint8 (H, W, 3|4) image or bool (H, W) mask, and ``[(kind, line)]``
        of what was fixed (the caller warns once per kind).

    Raises:
        CaptureError: the file differs from ``camera.expect`` by more than 1 pixel (more than 0 at N = 1).

    A copy downscaled by rounding (806 / 4 -> 202) is 1 pixel larger than nerfstudio's rounded-down
    camera (201). The camera maps a stored pixel coordinate ``u`` to ``u * scale / N``; the file maps
    it to ``u * w_file / w_stored``. The image is resampled so that each camera pixel takes the part
    of the file it sees (a crop of less than a pixel plus a scaling within a pixel), not squeezed.
    """
    from PIL import Image

    expect, target, factor, scale, full = camera
    what = what or str(path)
    notes: List[Tuple[str, str]] = []
    tol = 1 if factor > 1 else 0
    with Image.open(path) as im:
        size, transpose = oriented_size(im, expect, tol)
        orientation = _orientation(im)
        if transpose:
            from PIL import ImageOps

            im = ImageOps.exif_transpose(im)
            notes.append(("exif", f"{what}: EXIF orientation {orientation} applied (the stored {im.size[1]}x"
                                  f"{im.size[0]} image is rotated to the camera's {expect[0]}x{expect[1]})"))
        elif orientation != 1 and not mask:
            notes.append(("exif", f"{what}: EXIF orientation {orientation} ignored: the stored pixels match the "
                                  f"camera's {expect[0]}x{expect[1]} (as nerfstudio and COLMAP read them)"))
        if not _fits(size, expect, tol):
            kind = "mask" if mask else "image"
            folder = Path(path).parent
            raise CaptureError(
                f"{what}: the {kind} is {size[0]}x{size[1]} pixels but nerfstudio's camera for it is "
                f"{expect[0]}x{expect[1]}" + (f" (the stored {full[0]}x{full[1]} / {factor:g}, rounded down)"
                                             if full is not None and factor > 1 else "")
                + (f"; only a 1-pixel rounding difference of {folder.name}/ is fixed on load. Re-make {folder}/ "
                   f"from the stored {kind}s downscaled by {factor:g}, or delete {folder}/ to downscale on load."
                   if factor > 1 else f". Replace the {kind} or fix 'w'/'h' of the camera."))
        im.load()
        if size != tuple(expect):
            notes.append(("rounding", f"{Path(path).parent}/ holds {kind_of(mask)} {size[0]}x{size[1]} where "
                                      f"nerfstudio's camera is {expect[0]}x{expect[1]} (a rounding of the "
                                      f"downscale by {factor:g}, e.g. {Path(path).name}): such {kind_of(mask)} are "
                                      f"resampled to the camera's size on load"))
        file_mode = im.mode
        if size != tuple(target) or size != tuple(expect):
            c = float(scale) / float(factor)  # stored pixel coordinate -> camera pixel coordinate
            if full is None:  # estimate: nerfstudio rounded the stored size down by up to factor - 1
                full = (expect[0] * factor + (factor - 1) / 2.0, expect[1] * factor + (factor - 1) / 2.0)
            bw = min(size[0], target[0] / c * size[0] / float(full[0]))
            bh = min(size[1], target[1] / c * size[1] / float(full[1]))
            if mask:
                im = im.convert("L") if im.mode not in ("1", "L") else im
                resample = Image.Resampling.NEAREST
            else:
                resample = Image.Resampling.LANCZOS if bw > 1.5 * target[0] else Image.Resampling.BICUBIC
                if im.mode in ("I", "F") or im.mode.startswith("I;16"):
                    im = im.convert("F")  # resampled in float, scaled to 8 bits after
                elif im.mode not in ("RGB", "RGBA", "L"):
                    im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            im = im.resize(tuple(int(v) for v in target), resample=resample, box=(0.0, 0.0, bw, bh))
        if mask:
            arr, note = mask_to_array(im)
        else:
            try:
                arr, note = image_to_array(im, file_mode)
            except ValueError as e:
                raise CaptureError(f"{what}: {e}; save it as 8-bit RGB (PNG or JPEG).") from None
        if note is not None:
            notes.append(("mode", f"{what}: {note}"))
    return arr, notes


def kind_of(mask: bool) -> str:
    return "masks" if mask else "images"


_QUIET = {"on": False}  # process-wide: images load on worker threads


@contextlib.contextmanager
def quiet_load_warnings():
    """No on-load warnings inside (a second datamanager of the same run, built after training for
    the cached info, would repeat what training already said)."""
    before = _QUIET["on"]
    _QUIET["on"] = True
    try:
        yield
    finally:
        _QUIET["on"] = before


def load_warnings_quiet() -> bool:
    """Whether :func:`quiet_load_warnings` is in force."""
    return _QUIET["on"]
