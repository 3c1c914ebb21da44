"""What the viewer draws: the relevancy composite, and grasps.json (capture frame) in viser's scene.

The model lives in nerfstudio's frame (the data parser's normalisation of the capture); grasps.json
lives in the capture frame (:class:`point2act.geometry.FrameTransform`); the viewer draws nerfstudio's
scene scaled by ``VISER_NERFSTUDIO_SCALE_RATIO`` (10): a point ``p_ns`` is drawn at ``10 * p_ns``.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Tuple

import numpy as np
import torch
from nerfstudio.utils.colormaps import apply_float_colormap

from point2act.geometry import FrameTransform, rotation_to_quaternion_wxyz
from point2act.grasp import grasp_to_gripper_boxes

DEFAULT_THRESHOLD = 0.5
"""Relevancy above which the composite output tints a pixel."""
DEFAULT_TINT = 0.65
"""Weight of the colormap in a tinted pixel."""
SCENE_ROOT = "/point2act"
"""viser scene node under which point2act's markers live."""


def viser_scale_ratio() -> float:
    """nerfstudio's ``VISER_NERFSTUDIO_SCALE_RATIO``: viser units per nerfstudio unit."""
    try:
        from nerfstudio.viewer.viewer import VISER_NERFSTUDIO_SCALE_RATIO

        return float(VISER_NERFSTUDIO_SCALE_RATIO)
    except Exception:  # pragma: no cover  (nerfstudio 1.1.5 defines it as 10.0)
        return 10.0


def ns_to_viser(points: np.ndarray) -> np.ndarray:
    """Positions (or lengths) in nerfstudio's frame -> viser's scene."""
    return np.asarray(points, dtype=np.float64) * viser_scale_ratio()


def viser_to_ns(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) / viser_scale_ratio()


def composite_relevancy(
    rgb: torch.Tensor,  # [H, W, 3] in [0, 1]
    relevancy: torch.Tensor,  # [H, W, 1] in [0, 1]
    threshold: float = DEFAULT_THRESHOLD,
    tint: float = DEFAULT_TINT,
    colormap: str = "turbo",
) -> torch.Tensor:  # [H, W, 3]
    """Relevancy over RGB: where ``relevancy > threshold`` the pixel is
    ``(1 - tint) * rgb + tint * colormap(relevancy)``; elsewhere it is ``rgb`` unchanged."""
    rel = relevancy.to(rgb.dtype).clamp(0.0, 1.0)
    colour = apply_float_colormap(rel, colormap=colormap).to(rgb.dtype)  # type: ignore[arg-type]
    tinted = (1.0 - tint) * rgb + tint * colour
    return torch.where(rel > float(threshold), tinted, rgb)


def capture_to_viser(frame: FrameTransform, points: np.ndarray) -> np.ndarray:
    """Capture-frame positions -> viser scene positions."""
    return ns_to_viser(frame.to_nerfstudio(np.asarray(points, dtype=np.float64)))


def capture_length_to_viser(frame: FrameTransform) -> float:
    """Viser units per capture unit."""
    return viser_scale_ratio() / frame.units_per_ns_unit


def score_color(score: float) -> Tuple[int, int, int]:
    """Red (0) -> yellow (0.5) -> green (1)."""
    s = float(np.clip(score if math.isfinite(score) else 0.0, 0.0, 1.0))
    if s < 0.5:
        r, g = 1.0, 2.0 * s
    else:
        r, g = 2.0 * (1.0 - s), 1.0
    return (int(round(230 * r + 25)), int(round(230 * g + 25)), 40)


def gripper_boxes_viser(grasp: Dict[str, Any], gripper, frame: FrameTransform) -> Dict[str, Dict[str, np.ndarray]]:
    """The finger and palm boxes of one grasps.json grasp, in viser's scene.

    Returns ``name -> {"position": [3], "wxyz": [4], "dimensions": [3], "rotation": [3, 3]}``
    (full box sizes), from :func:`point2act.grasp.grasp_to_gripper_boxes` (capture frame).
    """
    R_ns = frame.rotation_to_ns
    s = capture_length_to_viser(frame)
    out = {}
    for name, box in grasp_to_gripper_boxes(grasp, gripper).items():
        R = R_ns @ np.asarray(box.rotation)
        out[name] = {
            "position": capture_to_viser(frame, box.center),
            "rotation": R,
            "wxyz": rotation_to_quaternion_wxyz(R),
            "dimensions": 2.0 * np.asarray(box.half_extents, dtype=np.float64) * s,
        }
    return out


def box_corners(center: np.ndarray, rotation: np.ndarray, half_extents: np.ndarray) -> np.ndarray:  # [8, 3]
    signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=np.float64)
    return np.asarray(center) + (signs * np.asarray(half_extents)) @ np.asarray(rotation).T
