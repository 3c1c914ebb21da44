"""MLLM pointing: put 2D task points on every training view.

Entry points::

    from point2act.pointing import PointerConfig, make_pointer, point_views

    cfg = PointerConfig(backend="qwen-vl", model="Qwen/Qwen2.5-VL-7B-Instruct")
    pointer = make_pointer(cfg)
    points_file = point_views(pointer, {"frame_00001.png": path, ...}, "where to grasp to pour")

    # or, with the answer cache, coarse-to-fine and template files as cfg says:
    views = capture_images("path/to/capture")
    points_file = point_capture(cfg, views, "where to grasp to pour", output="points.json")

Backends: ``molmo`` (Molmo v1, remote code, opt-in), ``molmo2`` and ``qwen-vl`` (native
transformers classes), ``openai`` (any OpenAI-compatible chat-completions server) and
``oracle`` (synthetic ground truth). Importing this package does not import torch or
transformers.
"""

from __future__ import annotations


from point2act.pointing.base import Pointer, image_size, load_image, point_views, resolve_family
from point2act.pointing.config import PointerConfig
from point2act.pointing.errors import (
    PointingBackendError,
    PointingConfigError,
    PointingError,
    PointingParseError,
)
from point2act.pointing.parsers import (
    FAMILIES,
    parse_answer,
    parse_json_points,
    parse_molmo,
    parse_molmo2,
    qwen25_input_size,
    smart_resize,
)
from point2act.pointing.prompts import DEFAULT_TEMPLATES, load_template, render_prompt
from point2act.pointing.answer_cache import AnswerCache, CachedPointer, default_cache_dir
from point2act.pointing.coarse import CoarseToFinePointer
from point2act.pointing.factory import make_pointer
from point2act.pointing.run import CaptureViews, capture_images, point_capture

__all__ = [
    "AnswerCache",
    "CachedPointer",
    "CaptureViews",
    "CoarseToFinePointer",
    "DEFAULT_TEMPLATES",
    "FAMILIES",
    "Pointer",
    "PointerConfig",
    "PointingBackendError",
    "PointingConfigError",
    "PointingError",
    "PointingParseError",
    "capture_images",
    "default_cache_dir",
    "image_size",
    "load_image",
    "load_template",
    "make_pointer",
    "parse_answer",
    "parse_json_points",
    "parse_molmo",
    "parse_molmo2",
    "point_capture",
    "point_views",
    "qwen25_input_size",
    "render_prompt",
    "resolve_family",
    "smart_resize",
]
