"""Coarse-to-fine pointing (the part-level then region-level idea of ReSem3D and CLAP).

Per view: (1) ask for the whole object on the full image; (2) cut a window around its first
point (``crop_frac`` of the image's width and height, shifted to stay inside the image); (3)
enlarge the window (its longer side to ``crop_size`` pixels, by default the image's longer side)
and ask the task prompt on it; (4) map the answer back to full-image pixels::

    x_full = x0 + x_crop * (x1 - x0) / crop_width
    y_full = y0 + y_crop * (y1 - y0) / crop_height

with the window ``[x0, y0, x1, y1]`` in integer pixel edges of the full image. An object pass
with no point gives ``[]`` for the view (no second pass); an empty second pass gives ``[]``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from point2act.pointing.base import ImageLike, load_image
from point2act.pointing.config import PointerConfig
from point2act.pointing.errors import PointingConfigError
from point2act.pointing.prompts import object_prompt_for

__all__ = ["CoarseToFinePointer", "crop_to_full", "crop_window", "enlarged_size"]


def crop_window(point: Sequence[float], image_size: tuple[int, int], crop_frac: float) -> tuple[int, int, int, int]:
    """Window ``(x0, y0, x1, y1)`` (pixel edges) of ``crop_frac`` x the image size centred on ``point``.

    The window keeps its size and is shifted to lie inside the image.
    """
    if not 0.0 < crop_frac <= 1.0:
        raise PointingConfigError(f"crop_frac must be in (0, 1], got {crop_frac}")
    w, h = image_size
    cw = min(w, max(1, int(round(crop_frac * w))))
    ch = min(h, max(1, int(round(crop_frac * h))))
    px, py = float(point[0]), float(point[1])
    x0 = int(round(px - cw / 2.0))
    y0 = int(round(py - ch / 2.0))
    x0 = min(max(x0, 0), w - cw)
    y0 = min(max(y0, 0), h - ch)
    return x0, y0, x0 + cw, y0 + ch


def enlarged_size(window: tuple[int, int, int, int], image_size: tuple[int, int], crop_size: int = 0) -> tuple[int, int]:
    """Size ``(width, height)`` the window is resized to: its longer side becomes ``crop_size``
    (or the image's longer side when 0), keeping the aspect ratio."""
    x0, y0, x1, y1 = window
    cw, ch = x1 - x0, y1 - y0
    target = int(crop_size) if crop_size and crop_size > 0 else max(image_size)
    s = target / float(max(cw, ch))
    return max(1, int(round(cw * s))), max(1, int(round(ch * s)))


def crop_to_full(
    points: Sequence[Sequence[float]], window: tuple[int, int, int, int], crop_size: tuple[int, int]
) -> list[list[float]]:
    """Map points in pixels of the enlarged crop back to pixels of the full image."""
    x0, y0, x1, y1 = window
    sx = (x1 - x0) / float(crop_size[0])
    sy = (y1 - y0) / float(crop_size[1])
    return [[x0 + float(x) * sx, y0 + float(y) * sy] for x, y in points]


class CoarseToFinePointer:
    """Wraps a pointer with the two passes described in the module docstring.

    ``passes`` records, per view key, the object prompt and points, the window, the enlarged
    crop size, the second pass's points in crop pixels and the final points.
    """

    def __init__(
        self,
        pointer: Any,
        object_prompt: str = "",
        crop_frac: float = 0.4,
        crop_size: int = 0,
    ) -> None:
        cfg: PointerConfig = pointer.config
        if cfg.backend == "oracle":
            raise PointingConfigError(
                "coarse-to-fine pointing needs an image model; the oracle answers from the scene's ground "
                "truth, not from the pixels it is shown"
            )
        if not 0.0 < crop_frac <= 1.0:
            raise PointingConfigError(f"crop_frac must be in (0, 1], got {crop_frac}")
        if crop_size < 0:
            raise PointingConfigError(f"crop_size must be >= 0, got {crop_size}")
        self.inner = pointer
        self.config = cfg
        self.object_prompt = object_prompt
        self.crop_frac = float(crop_frac)
        self.crop_size = int(crop_size)
        self.passes: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CoarseToFinePointer({self.inner!r}, crop_frac={self.crop_frac}, crop_size={self.crop_size})"

    @property
    def family(self) -> str | None:
        return getattr(self.inner, "family", None)

    def point(self, image: ImageLike, prompt: str, *, key: str | None = None) -> list[list[float]]:
        pil = load_image(image)
        size = pil.size
        obj_prompt = object_prompt_for(prompt, self.object_prompt)
        # the full image goes as given (a path keeps its file-content cache key)
        obj_pts = self.inner.point(image, obj_prompt, key=key)
        record: dict[str, Any] = {
            "object_prompt": obj_prompt,
            "object_points": [[float(x), float(y)] for x, y in obj_pts],
        }
        if not obj_pts:
            record.update(window=None, crop_size=None, part_points_in_crop=[], points=[])
            self._record(key, record)
            return []
        window = crop_window(obj_pts[0], size, self.crop_frac)
        crop_wh = enlarged_size(window, size, self.crop_size)
        from PIL import Image

        crop = pil.crop(window).resize(crop_wh, Image.Resampling.BICUBIC)
        part_pts = self.inner.point(crop, prompt, key=key)
        full = crop_to_full(part_pts, window, crop_wh)
        record.update(
            window=list(window),
            crop_size=list(crop_wh),
            part_points_in_crop=[[float(x), float(y)] for x, y in part_pts],
            points=full,
        )
        self._record(key, record)
        return full

    def _record(self, key: str | None, record: dict[str, Any]) -> None:
        with self._lock:
            self.passes[str(key)] = record

    def metadata(self) -> dict[str, Any]:
        """The settings and both passes of every view, for the points file's metadata."""
        return {
            "object_prompt": self.object_prompt,
            "crop_frac": self.crop_frac,
            "crop_size": self.crop_size,
            "views": dict(self.passes),
        }

    def close(self) -> None:
        self.inner.close()
