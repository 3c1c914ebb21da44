"""Export where to act, as ``grasps.json`` (schema ``point2act.grasps/1``), in the capture frame.

The capture frame is the world frame of the input ``transforms.json`` (or COLMAP model), i.e.
nerfstudio's data-parser normalisation (``dataparser_transforms.json``: an orientation/centring
transform and a scale) undone.

Plain numpy: :func:`build_export` takes per-Gaussian arrays and the frame transform. The run layer
(:func:`point2act.method.run.export_run`) loads a trained run (``--load-config``) and calls it; so does
the viewer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from point2act.errors import Point2ActError
from point2act.fusion import DepthViews, tsdf_fuse
from point2act.geometry import FrameTransform
from point2act.grasp import GraspConfig, plan_grasps, relevant_region
from point2act.grasp.result import SCHEMA


def fuse_around(views: DepthViews, frame: FrameTransform, center: np.ndarray, cfg) -> Tuple[np.ndarray, float]:
    """TSDF-fused surface points (capture frame) in a cube around ``center`` (capture frame) and the
    radius (capture units) of the ball inside that cube; lengths from ``cfg.surface`` (metres)."""
    sc, U = cfg.surface, cfg.gripper.units
    s = frame.scale  # nerfstudio units per capture unit
    c_ns = frame.to_nerfstudio(np.asarray(center, dtype=np.float64)[None])[0]
    pts_ns, _ = tsdf_fuse(
        views.depths, views.Ks, views.viewmats, c_ns, U(sc.fusion_side) * s, U(sc.fusion_voxel_size) * s,
        sc.fusion_trunc_voxels, views.alphas, sc.fusion_min_alpha,
    )
    return frame.to_capture(pts_ns), 0.5 * U(sc.fusion_side)


def build_export(
    arrays: Dict[str, np.ndarray],
    frame: FrameTransform,
    prompt: str,
    grasp_config: Any = None,
    grasps: bool = True,
    camera_centers: Optional[np.ndarray] = None,
    extra_points: Optional[np.ndarray] = None,
    channels: Optional[Dict[str, Dict[str, Any]]] = None,
    avoid_relevancy: Optional[np.ndarray] = None,
    handover_direction: Optional[np.ndarray] = None,
    depth_views: Optional[DepthViews] = None,
) -> Dict[str, Any]:
    """The ``point2act.grasps/1`` dict for one relevancy field, in the capture frame.

    Args:
        arrays: per-Gaussian ``means`` [N, 3], ``opacities`` [N], ``scales`` [N, 3], ``relevancy`` [N]
            in the nerfstudio frame (see :func:`gaussian_arrays`).
        frame: nerfstudio's normalisation of the capture.
        grasp_config: a :class:`point2act.grasp.GraspConfig` (gripper, region, top-k, ...).
        grasps: plan grasps (else only the action point and region).
        camera_centers: [C, 3] camera centres in the capture frame (orients surface normals).
        extra_points: [M, 3] more surface points in the nerfstudio frame (fused depth).
        channels: named relevancy channels to add as ``keypoints`` (schema extension):
            name -> {"relevancy": [N], "prompt": str, "role": "grasp"|"place"|"avoid"}; each gets
            its own action point and region.
        avoid_relevancy: [N] relevancy of an "avoid" channel: grasps whose closing region or
            finger path passes through it are penalised (see :func:`point2act.grasp.plan_grasps`).
        depth_views: rendered depth of training views (:func:`render_depth_views`): fused in a TSDF
            cube around the action point, it replaces the Gaussian centres as the grasp surface there.
        handover_direction: [3] capture-frame direction towards the handover recipient: each grasp
            also gets the gripper rotation that turns the avoid region away from it.
    """
    cfg = grasp_config if grasp_config is not None else GraspConfig()
    means_c = frame.to_capture(arrays["means"])
    scales_c = arrays["scales"] * frame.units_per_ns_unit
    keypoints = _keypoints(means_c, arrays["opacities"], channels, cfg) if channels else None
    try:
        if grasps:
            extra = frame.to_capture(extra_points) if extra_points is not None else None
            kw: Dict[str, Any] = {}
            if avoid_relevancy is not None:
                kw["avoid"] = np.asarray(avoid_relevancy, dtype=np.float64)
            if handover_direction is not None:
                kw["handover_direction"] = np.asarray(handover_direction, dtype=np.float64)
            fusion_ms: Dict[str, float] = {}
            if depth_views is not None:
                t0 = time.perf_counter()
                region = relevant_region(means_c, arrays["opacities"], arrays["relevancy"], cfg)
                fused, radius = fuse_around(depth_views, frame, region.action_point, cfg)
                extra = fused if extra is None else np.concatenate([extra, fused], 0)
                kw.update(region=region, fused_center=region.action_point, fused_radius=radius)
                fusion_ms = {"depth_render": depth_views.render_ms, "tsdf_fusion": (time.perf_counter() - t0) * 1e3}
            result = plan_grasps(
                means_c, arrays["opacities"], arrays["relevancy"], cfg,
                extra_points=extra, camera_centers=camera_centers, scales=scales_c, **kw,
            )
            out = result.to_dict(prompt)
            if fusion_ms:  # stages before the planner; the planner's own "total" is unchanged
                out["timings_ms"] = {**fusion_ms, **out.get("timings_ms", {})}
            if keypoints is not None:
                out["keypoints"] = keypoints
            return out
        region = relevant_region(means_c, arrays["opacities"], arrays["relevancy"], cfg)
    except ValueError as e:
        raise Point2ActError(f"no relevant region in this field: {e}") from None
    out = {
        "schema": SCHEMA,
        "prompt": prompt,
        "frame": "capture",
        "metres_per_unit": float(cfg.gripper.metres_per_unit),
        "action_point": [float(v) for v in region.action_point],
        "region": region.to_dict(),
    }
    if keypoints is not None:
        out["keypoints"] = keypoints
    return out


def _keypoints(means_c: np.ndarray, opacities: np.ndarray, channels: Dict[str, Dict[str, Any]], cfg) -> Dict[str, Any]:
    """``keypoints`` of grasps.json: name -> {action_point, region, prompt, role} (capture frame)."""
    out: Dict[str, Any] = {}
    for name, ch in channels.items():
        try:
            region = relevant_region(means_c, opacities, np.asarray(ch["relevancy"], dtype=np.float64), cfg)
        except ValueError as e:
            raise Point2ActError(f"channel {name!r}: no relevant region: {e}") from None
        out[name] = {
            "action_point": [float(v) for v in region.action_point],
            "region": region.to_dict(),
            "prompt": ch.get("prompt") or None,
            "role": ch.get("role", "grasp"),
        }
    return out
