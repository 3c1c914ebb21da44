"""Points files: the 2D points a pointer (an MLLM, an oracle or a person) put on each view.

Format (``point2act.points``; the same one ``real/coke/points/pull_tab.json`` uses)::

    {"prompt": "Point to the pull tab of the can",
     "coordinates": "pixels",
     "points": {"images/0001.jpg": [[262.0, 165.0]], "images/0007.jpg": []}}

- Keys are image paths exactly as written in ``transforms.json`` (or the COLMAP image name).
  They are only ever *matched* against the capture's image list, never opened as paths.
- Points are ``[x, y]`` in pixels of the stored image: origin at the top-left corner, x right,
  y down, so the centre of pixel (row i, column j) is (j + 0.5, i + 0.5).
  ``"coordinates": "normalized"`` means the same axes scaled to [0, 1].
- ``[]`` means "the target is not in this view" (negative evidence: an all-zero target).
- A view absent from the file gets no relevancy supervision.

This module is plain Python (no torch, no nerfstudio) so it can be used anywhere.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

from point2act.errors import Point2ActError
from point2act.io import write_json_atomic  # noqa: F401  (re-exported: the one atomic JSON writer)

SCHEMA_COORDINATES = ("pixels", "normalized")


class PointsFileError(Point2ActError, ValueError):
    """A points file that cannot be used; the message names the file and the entry."""


@dataclass
class PointsFile:
    """A parsed, structurally valid points file."""

    points: Dict[str, List[Tuple[float, float]]]
    """Image key -> list of (x, y) points; an empty list means "not in this view"."""
    prompt: str = ""
    """The task the points answer."""
    coordinates: str = "pixels"
    """``"pixels"`` (of the stored image) or ``"normalized"`` ([0, 1])."""
    path: Path | None = None
    """Where the file was read from (for error messages)."""
    extra: Dict[str, object] = field(default_factory=dict)
    """Any other top-level fields, kept as they are (e.g. the pointer's settings)."""

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else "<points>"

    def to_dict(self) -> dict:
        out: dict = {"prompt": self.prompt, "coordinates": self.coordinates}
        out.update(self.extra)
        out["points"] = {k: [[float(x), float(y)] for x, y in v] for k, v in self.points.items()}
        return out

    def in_pixels(self, sizes: Mapping[str, Tuple[int, int]]) -> Dict[str, List[Tuple[float, float]]]:
        """Points in pixels of the stored image, given each key's stored size ``(width, height)``."""
        if self.coordinates == "pixels":
            return {k: list(v) for k, v in self.points.items()}
        out = {}
        for k, v in self.points.items():
            w, h = sizes[k]
            out[k] = [(x * w, y * h) for x, y in v]
        return out

    def validate_against(self, sizes: Mapping[str, Tuple[int, int]], tolerance_px: float = 0.5) -> None:
        """Check every key names a known image and every point lies inside it.

        Args:
            sizes: stored size ``(width, height)`` of every image of the capture, by key.
            tolerance_px: slack for points on the border (in pixels of the stored image).
        """
        for key in self.points:
            if key not in sizes:
                close = difflib.get_close_matches(key, list(sizes), n=3)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise PointsFileError(
                    f"{self.source}: entry {key!r} names an image that is not in the capture "
                    f"({len(sizes)} images).{hint} Keys must be image paths exactly as written in "
                    "transforms.json."
                )
        if self.points and not any(len(v) for v in self.points.values()):
            raise PointsFileError(
                f"{self.source}: every view is [] — no view has the target: nothing to supervise. "
                "Check the prompt, or the pointer's answers."
            )
        for key, pts in self.in_pixels(sizes).items():
            w, h = sizes[key]
            for i, (x, y) in enumerate(pts):
                if not (-tolerance_px <= x <= w + tolerance_px and -tolerance_px <= y <= h + tolerance_px):
                    raise PointsFileError(
                        f"{self.source}: entry {key!r}, point {i} = [{x:g}, {y:g}] lies outside the "
                        f"{w}x{h} image (pixels of the stored image, origin top-left). "
                        + (
                            "If the points are in [0, 1], set \"coordinates\": \"normalized\"."
                            if self.coordinates == "pixels"
                            else ""
                        )
                    )


def _bad(source: str, what: str) -> PointsFileError:
    return PointsFileError(f"{source}: {what}")


def parse_points(data: object, source: str = "<points>") -> PointsFile:
    """Validate the structure of a points-file dict and return a :class:`PointsFile`."""
    if not isinstance(data, dict):
        raise _bad(source, f"the top level must be a JSON object, got {type(data).__name__}.")
    if "points" not in data:
        raise _bad(source, 'missing the "points" field (a map from image path to a list of [x, y]).')
    points = data["points"]
    if not isinstance(points, dict):
        raise _bad(source, f'"points" must be an object mapping image paths to lists, got {type(points).__name__}.')
    coordinates = data.get("coordinates", "pixels")
    if coordinates not in SCHEMA_COORDINATES:
        raise _bad(source, f'"coordinates" must be one of {SCHEMA_COORDINATES}, got {coordinates!r}.')
    prompt = data.get("prompt", "")
    if not isinstance(prompt, str):
        raise _bad(source, f'"prompt" must be a string, got {type(prompt).__name__}.')
    parsed: Dict[str, List[Tuple[float, float]]] = {}
    for key, value in points.items():
        where = f"entry {key!r}"
        if not isinstance(value, list):
            raise _bad(source, f"{where} must be a list of [x, y] points (or [] for 'not in this view'), got {value!r}.")
        pts: List[Tuple[float, float]] = []
        for i, p in enumerate(value):
            if (
                not isinstance(p, (list, tuple))
                or len(p) != 2
                or not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in p)
            ):
                hint = " (a bare [x, y] must be wrapped: [[x, y]])" if isinstance(p, (int, float)) else ""
                raise _bad(source, f"{where}, point {i}: expected [x, y] with two numbers, got {p!r}{hint}.")
            x, y = float(p[0]), float(p[1])
            if not (math.isfinite(x) and math.isfinite(y)):
                raise _bad(source, f"{where}, point {i}: coordinates must be finite numbers, got {p!r}.")
            pts.append((x, y))
        parsed[key] = pts
    extra = {k: v for k, v in data.items() if k not in ("points", "prompt", "coordinates")}
    return PointsFile(points=parsed, prompt=prompt, coordinates=coordinates, extra=extra)


def load_points_file(path: os.PathLike | str) -> PointsFile:
    """Read and structurally validate a points file (see the module docstring for the format)."""
    path = Path(path)
    if not path.is_file():
        raise PointsFileError(f"{path}: points file not found.")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise PointsFileError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).") from None
    except UnicodeDecodeError:
        raise PointsFileError(f"{path}: not a UTF-8 text file.") from None
    pf = parse_points(data, source=str(path))
    pf.path = path
    return pf


def points_array(points: Sequence[Tuple[float, float]]):
    """Points as a float32 numpy array ``[P, 2]`` (``[0, 2]`` when empty)."""
    import numpy as np

    return np.asarray(points, dtype=np.float32).reshape(-1, 2)
