"""Pure parsers that turn a multimodal LLM's answer into pixel points.

Every parser returns ``[[x, y], ...]`` in pixels of the *original* image (origin at the
top-left corner, x to the right, y down). ``[]`` means the model said it found nothing.
An answer that is neither points nor a recognisable "nothing here" raises
:class:`~point2act.pointing.errors.PointingParseError`.

Coordinate conventions of the families:

* ``molmo`` -- Molmo v1 markup ``<point x="61.5" y="40.6" alt="...">...</point>`` and
  ``<points x1="..." y1="..." x2="..." y2="..." ...>``, normalised to 0--100.
* ``molmo2`` -- Molmo2 markup ``<points coords="1 1 098 629 2 162 629" alt="...">``: an
  image index followed by ``point-index x y`` triples, normalised to 0--1000. Both Molmo
  parsers also accept the other Molmo markup since the two are unambiguous.
* ``qwen2.5-vl`` -- JSON such as ``[{"point_2d": [x, y], "label": "..."}]`` in absolute
  pixels of the *resized* model input (see :func:`smart_resize`).
* ``qwen3-vl`` -- the same JSON, normalised to 0--1000.
* ``json`` -- the same JSON, in absolute pixels of the image the model was sent.

Points that are NaN/inf are dropped; points slightly outside the image (up to
:data:`RANGE_TOLERANCE` of its size) are clipped onto it, points further out are dropped;
each drop is logged as a warning.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from point2act.pointing.errors import PointingParseError

__all__ = [
    "FAMILIES",
    "RANGE_TOLERANCE",
    "Family",
    "is_negative_answer",
    "parse_answer",
    "parse_json_points",
    "parse_molmo",
    "parse_molmo2",
    "qwen25_input_size",
    "smart_resize",
]

logger = logging.getLogger(__name__)

Family = Literal["molmo", "molmo2", "qwen2.5-vl", "qwen3-vl", "json"]
FAMILIES: tuple[str, ...] = ("molmo", "molmo2", "qwen2.5-vl", "qwen3-vl", "json")

RANGE_TOLERANCE = 0.02
"""Fraction of the image size by which a point may overshoot and still be clipped back."""

# Qwen2-VL / Qwen2.5-VL image processor defaults (patch 14, spatial merge 2).
QWEN25_FACTOR = 28
QWEN25_MIN_PIXELS = 56 * 56
QWEN25_MAX_PIXELS = 28 * 28 * 1280

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)"

_NEGATIVE_RE = re.compile(
    r"\b(none|no|not|nothing|nowhere|cannot|can't|can not|couldn't|could not|unable|sorry|"
    r"isn't|aren't|doesn't|don't|there is no|there are no|n/a)\b|\bnull\b",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- helpers


def smart_resize(
    height: int,
    width: int,
    factor: int = QWEN25_FACTOR,
    min_pixels: int = QWEN25_MIN_PIXELS,
    max_pixels: int = QWEN25_MAX_PIXELS,
) -> tuple[int, int]:
    """Return the ``(height, width)`` that the Qwen2-VL/Qwen2.5-VL image processor resizes to.

    Same closed form as ``transformers.models.qwen2_vl.image_processing_qwen2_vl.smart_resize``:
    both sides become multiples of ``factor`` (patch size x merge size = 28), the area is kept
    within ``[min_pixels, max_pixels]`` and the aspect ratio is kept as close as possible.
    Qwen2.5-VL answers in absolute pixels of this resized image.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(
            f"absolute aspect ratio must be smaller than 200, got {max(height, width) / min(height, width)}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return int(h_bar), int(w_bar)


def qwen25_input_size(
    image_size: tuple[int, int],
    factor: int = QWEN25_FACTOR,
    min_pixels: int = QWEN25_MIN_PIXELS,
    max_pixels: int = QWEN25_MAX_PIXELS,
) -> tuple[int, int]:
    """``(width, height)`` of the resized Qwen2.5-VL input for an image of ``(width, height)``."""
    w, h = image_size
    rh, rw = smart_resize(h, w, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    return rw, rh


def is_negative_answer(text: str) -> bool:
    """True if ``text`` reads like "there is nothing to point at" (or a refusal).

    Used only for answers that contain no coordinates at all, to tell a legitimate
    "nothing found" (returned as ``[]``) from garbage (which raises).
    """
    return bool(_NEGATIVE_RE.search(text))


def _to_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _finalise(
    raw: Iterable[tuple[float | None, float | None]],
    scale_x: float,
    scale_y: float,
    width: float,
    height: float,
    family: str,
) -> list[list[float]]:
    """Scale raw coordinates to pixels, drop invalid ones and clip small overshoots."""
    out: list[list[float]] = []
    tol_x, tol_y = RANGE_TOLERANCE * width, RANGE_TOLERANCE * height
    for rx, ry in raw:
        if rx is None or ry is None or not (math.isfinite(rx) and math.isfinite(ry)):
            logger.warning("%s answer: dropping non-finite point (%s, %s)", family, rx, ry)
            continue
        x, y = rx * scale_x, ry * scale_y
        if not (-tol_x <= x <= width + tol_x and -tol_y <= y <= height + tol_y):
            logger.warning(
                "%s answer: dropping point (%g, %g) outside the %gx%g image", family, x, y, width, height
            )
            continue
        out.append([min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))])
    return out


# --------------------------------------------------------------------------- Molmo

_TAG_START_RE = re.compile(r"<\s*(points?|tracks)\b", re.IGNORECASE)
_ATTR_RE = re.compile(r"([A-Za-z_][\w-]*)\s*=\s*(?:\"([^\"]*)\"?|'([^']*)'?|([^\s>\"']+))")
_XY_KEY_RE = re.compile(r"^([xy])(\d*)$", re.IGNORECASE)


def _molmo_tags(answer: str) -> list[tuple[str, dict[str, str], bool]]:
    """Find Molmo point tags; return ``(tag name, attributes, complete)`` for each.

    ``complete`` is False when the tag's ``>`` is missing (generation was cut off).
    """
    tags = []
    for m in _TAG_START_RE.finditer(answer):
        rest = answer[m.end() :]
        end = rest.find(">")
        complete = end >= 0
        body = rest[:end] if complete else rest
        attrs: dict[str, str] = {}
        for a in _ATTR_RE.finditer(body):
            raw_value = (
                a.group(2) if a.group(2) is not None else a.group(3) if a.group(3) is not None else a.group(4)
            )
            # an attribute whose quote never closed was cut off: keep only closed ones
            quoted = a.group(0).rstrip()
            if a.group(2) is not None and not quoted.endswith('"'):
                complete = False
                continue
            if a.group(3) is not None and not quoted.endswith("'"):
                complete = False
                continue
            attrs[a.group(1).lower()] = raw_value
        tags.append((m.group(1).lower(), attrs, complete))
    return tags


def _molmo_v1_pairs(attrs: dict[str, str]) -> list[tuple[float | None, float | None]]:
    xs: dict[str, str] = {}
    ys: dict[str, str] = {}
    for key, value in attrs.items():
        km = _XY_KEY_RE.match(key)
        if km:
            (xs if km.group(1).lower() == "x" else ys)[km.group(2)] = value

    def order(k: str) -> int:
        return int(k) if k else 0

    return [(_to_float(xs[k]), _to_float(ys[k])) for k in sorted(set(xs) & set(ys), key=order)]


def _molmo2_pairs(coords: str) -> list[tuple[float | None, float | None]]:
    """Parse a Molmo2 ``coords`` attribute: groups of ``image-index (point-index x y)*``."""
    pairs: list[tuple[float | None, float | None]] = []
    for group in re.split(r"[\t:,;]", coords):
        nums = group.split()
        if not nums:
            continue
        if len(nums) % 3 == 1:  # leading image / frame index
            nums = nums[1:]
        elif len(nums) % 3 != 0:
            # ambiguous leftovers: keep complete triples after an assumed image index
            nums = nums[1:]
        for i in range(0, len(nums) - 2, 3):
            pairs.append((_to_float(nums[i + 1]), _to_float(nums[i + 2])))
    return pairs


def _parse_molmo_any(answer: str, image_size: tuple[int, int], family: str) -> list[list[float]]:
    width, height = image_size
    text = answer if isinstance(answer, str) else str(answer)
    tags = _molmo_tags(text)
    points: list[list[float]] = []
    found_any = False
    truncated = False
    for _name, attrs, complete in tags:
        truncated |= not complete
        if "coords" in attrs:
            pairs = _molmo2_pairs(attrs["coords"])
            found_any |= bool(pairs)
            points += _finalise(pairs, width / 1000.0, height / 1000.0, width, height, family)
        else:
            pairs = _molmo_v1_pairs(attrs)
            found_any |= bool(pairs)
            points += _finalise(pairs, width / 100.0, height / 100.0, width, height, family)
    if found_any:
        if truncated:
            logger.warning("%s answer looks truncated; kept %d complete point(s)", family, len(points))
        return points
    if tags:
        raise PointingParseError(family, text, "truncated or malformed point markup")
    if not text.strip():
        raise PointingParseError(family, text, "empty answer")
    if is_negative_answer(text):
        return []
    raise PointingParseError(family, text, "no <point>/<points> markup and no 'nothing found' phrasing")


def parse_molmo(answer: str, image_size: tuple[int, int]) -> list[list[float]]:
    """Parse a Molmo v1 answer (0--100 normalised ``<point>``/``<points>`` markup).

    Args:
        answer: the decoded model answer.
        image_size: ``(width, height)`` of the image the points refer to.

    Returns:
        ``[[x, y], ...]`` in pixels; ``[]`` for "nothing found" answers such as "There are none."

    Raises:
        PointingParseError: no markup and no "nothing found" phrasing, or only truncated markup.
    """
    return _parse_molmo_any(answer, image_size, "molmo")


def parse_molmo2(answer: str, image_size: tuple[int, int]) -> list[list[float]]:
    """Parse a Molmo2 answer (``<points coords="1 1 098 629 ...">``, 0--1000 normalised).

    Molmo v1 markup is accepted too. Same return value and errors as :func:`parse_molmo`.
    """
    return _parse_molmo_any(answer, image_size, "molmo2")


# --------------------------------------------------------------------------- JSON (Qwen & co.)

_FENCE_RE = re.compile(r"```[a-zA-Z0-9_-]*\s*(.*?)(?:```|$)", re.DOTALL)
_POINT_KEYS = ("point_2d", "point", "points", "coordinates", "coords", "position", "location", "keypoint")
_BOX_KEYS = ("bbox_2d", "bbox", "box", "box_2d")
_FALLBACK_POINT_RE = re.compile(
    r"\"(?:point_2d|point)\"\s*:\s*\[\s*(" + _NUM + r")\s*,\s*(" + _NUM + r")\s*\]", re.IGNORECASE
)
_FALLBACK_BOX_RE = re.compile(
    r"\"(?:bbox_2d|bbox)\"\s*:\s*\[\s*("
    + _NUM
    + r")\s*,\s*("
    + _NUM
    + r")\s*,\s*("
    + _NUM
    + r")\s*,\s*("
    + _NUM
    + r")\s*\]",
    re.IGNORECASE,
)
_PYTHON_LITERALS = re.compile(r"\b(NaN|Infinity|-Infinity|None|True|False)\b")


def _is_num(v: Any) -> bool:
    return (
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        or (isinstance(v, str) and _to_float(v) is not None)
    )


def _extract_json_points(obj: Any, out: list[tuple[float | None, float | None]], depth: int = 0) -> None:
    """Collect ``(x, y)`` pairs from a decoded JSON value, recursively."""
    if depth > 8:
        return
    if isinstance(obj, dict):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        if "x" in lowered and "y" in lowered and _is_num(lowered["x"]) and _is_num(lowered["y"]):
            out.append((_to_float(lowered["x"]), _to_float(lowered["y"])))
            return
        for key in _POINT_KEYS:
            if key in lowered:
                _extract_json_points(lowered[key], out, depth + 1)
                return
        for key in _BOX_KEYS:
            if key in lowered:
                box = lowered[key]
                if isinstance(box, (list, tuple)) and len(box) == 4 and all(_is_num(v) for v in box):
                    x1, y1, x2, y2 = (_to_float(v) for v in box)
                    out.append(((x1 + x2) / 2.0, (y1 + y2) / 2.0))  # type: ignore[operator]
                return
        for value in obj.values():
            if isinstance(value, (list, dict)):
                _extract_json_points(value, out, depth + 1)
        return
    if isinstance(obj, (list, tuple)):
        if len(obj) == 2 and all(_is_num(v) for v in obj):
            out.append((_to_float(obj[0]), _to_float(obj[1])))
            return
        if len(obj) == 4 and all(_is_num(v) for v in obj):
            x1, y1, x2, y2 = (_to_float(v) for v in obj)
            out.append(((x1 + x2) / 2.0, (y1 + y2) / 2.0))  # type: ignore[operator]
            return
        for item in obj:
            _extract_json_points(item, out, depth + 1)


def _json_candidates(text: str) -> list[str]:
    """Candidate JSON snippets: fenced blocks first, then the whole text."""
    cands = [m.group(1) for m in _FENCE_RE.finditer(text) if m.group(1).strip()]
    cands.append(text)
    return cands


def _decode_first_json(snippet: str) -> tuple[bool, Any]:
    """Decode the first JSON array/object in ``snippet``; ``(False, None)`` if there is none."""
    decoder = json.JSONDecoder()
    cleaned = _PYTHON_LITERALS.sub(
        lambda m: {"None": "null", "True": "true", "False": "false"}.get(m.group(1), m.group(1)), snippet
    )
    cleaned = re.sub(r",\s*([\]}])", r"\1", cleaned)  # trailing commas
    for variant in (cleaned, cleaned.replace("'", '"')):
        for start, ch in enumerate(variant):
            if ch not in "[{":
                continue
            try:
                value, _ = decoder.raw_decode(variant, start)
            except json.JSONDecodeError:
                continue
            if isinstance(value, (list, dict)):
                return True, value
    return False, None


def parse_json_points(
    answer: str,
    image_size: tuple[int, int],
    family: str = "json",
    input_size: tuple[int, int] | None = None,
) -> list[list[float]]:
    """Parse a JSON pointing answer (Qwen-VL style) into pixels of the original image.

    Accepted shapes (inside optional ```json fences and surrounding prose):
    ``[{"point_2d": [x, y], "label": ...}, ...]``, ``{"points": [[x, y], ...]}``,
    ``[[x, y], ...]``, ``[x, y]``, ``{"x": .., "y": ..}``, ``{"bbox_2d": [x1, y1, x2, y2]}``
    (box centre). Truncated JSON falls back to a regex over ``"point_2d": [x, y]`` items.

    Args:
        answer: the decoded model answer.
        image_size: ``(width, height)`` of the original image.
        family: ``"qwen2.5-vl"`` (absolute pixels of ``input_size``), ``"qwen3-vl"``
            (0--1000 normalised) or ``"json"`` (absolute pixels of ``input_size``).
        input_size: ``(width, height)`` of the image the model saw. Defaults to
            :func:`qwen25_input_size` of ``image_size`` for ``qwen2.5-vl`` and to
            ``image_size`` for ``json``.

    Raises:
        PointingParseError: nothing decodable and no "nothing found" phrasing.
    """
    width, height = image_size
    if family == "qwen3-vl":
        sx, sy = width / 1000.0, height / 1000.0
    elif family in ("qwen2.5-vl", "json"):
        if input_size is None:
            input_size = qwen25_input_size(image_size) if family == "qwen2.5-vl" else image_size
        sx, sy = width / float(input_size[0]), height / float(input_size[1])
    else:
        raise ValueError(f"parse_json_points does not handle family {family!r}")

    text = answer if isinstance(answer, str) else str(answer)
    if not text.strip():
        raise PointingParseError(family, text, "empty answer")
    for snippet in _json_candidates(text):
        ok, value = _decode_first_json(snippet)
        if not ok:
            continue
        raw: list[tuple[float | None, float | None]] = []
        _extract_json_points(value, raw)
        if raw or value in ([], {}) or _is_empty_container(value):
            return _finalise(raw, sx, sy, width, height, family)
    raw = [(_to_float(a), _to_float(b)) for a, b in _FALLBACK_POINT_RE.findall(text)]
    for x1, y1, x2, y2 in _FALLBACK_BOX_RE.findall(text):
        fx1, fy1, fx2, fy2 = (_to_float(v) for v in (x1, y1, x2, y2))
        raw.append(((fx1 + fx2) / 2.0, (fy1 + fy2) / 2.0))  # type: ignore[operator]
    if raw:
        logger.warning("%s answer is not valid JSON; recovered %d point(s) by pattern", family, len(raw))
        return _finalise(raw, sx, sy, width, height, family)
    if "point_2d" in text or "bbox_2d" in text:
        raise PointingParseError(family, text, "truncated or malformed JSON points")
    if is_negative_answer(text):
        return []
    raise PointingParseError(family, text, "no JSON points and no 'nothing found' phrasing")


def _is_empty_container(value: Any) -> bool:
    """True for ``[]``, ``{}``, ``{"points": []}`` and similar "explicitly nothing" values."""
    if isinstance(value, (list, tuple)):
        return all(_is_empty_container(v) for v in value)
    if isinstance(value, dict):
        return (
            all(
                _is_empty_container(v) if isinstance(v, (list, tuple, dict)) else False
                for v in value.values()
            )
            if value
            else True
        )
    return False


# --------------------------------------------------------------------------- dispatcher


def parse_answer(
    answer: str,
    family: str,
    image_size: tuple[int, int],
    input_size: tuple[int, int] | None = None,
) -> list[list[float]]:
    """Parse ``answer`` with the parser of ``family``.

    Args:
        answer: the decoded model answer.
        family: one of :data:`FAMILIES`.
        image_size: ``(width, height)`` of the original image; points are returned in its pixels.
        input_size: ``(width, height)`` of the image the model saw (Qwen2.5-VL's resized
            input, or the image sent to a server for ``json``); ignored by normalised families.

    Raises:
        PointingParseError: the answer is unparseable.
        ValueError: unknown family.
    """
    if family == "molmo":
        return parse_molmo(answer, image_size)
    if family == "molmo2":
        return parse_molmo2(answer, image_size)
    if family in ("qwen2.5-vl", "qwen3-vl", "json"):
        return parse_json_points(answer, image_size, family=family, input_size=input_size)
    raise ValueError(f"unknown answer family {family!r}; expected one of {', '.join(FAMILIES)}")


def points_to_list(points: Sequence[Sequence[float]]) -> list[list[float]]:
    """Return ``points`` as plain ``[[float, float], ...]`` (JSON-serialisable)."""
    return [[float(p[0]), float(p[1])] for p in points]
