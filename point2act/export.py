"""Export where to act, as ``grasps.json`` (schema ``point2act.grasps/1``), in the capture frame.

The capture frame is the world frame of the input ``transforms.json`` (or COLMAP model), i.e.
nerfstudio's data-parser normalisation (``dataparser_transforms.json``: an orientation/centring
transform and a scale) undone.

The plain functions here take numpy arrays; :func:`export_run` is the nerfstudio glue that loads
a trained run (``--load-config``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from point2act.errors import Point2ActError
from point2act.grasp.result import SCHEMA
from point2act.points import write_json_atomic


@dataclass
class FrameTransform:
    """nerfstudio's data-parser normalisation: ``p_ns = scale * (T[:3, :3] @ p_capture + T[:3, 3])``."""

    transform: np.ndarray  # [3, 4]
    scale: float

    @classmethod
    def from_json(cls, path: Path) -> "FrameTransform":
        data = json.loads(Path(path).read_text())
        return cls(np.asarray(data["transform"], dtype=np.float64).reshape(3, 4), float(data["scale"]))

    def to_capture(self, points: np.ndarray) -> np.ndarray:  # [..., 3] nerfstudio -> capture
        T = np.eye(4)
        T[:3, :4] = self.transform
        p = np.asarray(points, dtype=np.float64) / self.scale
        ph = np.concatenate([p, np.ones(p.shape[:-1] + (1,))], axis=-1)
        return (ph @ np.linalg.inv(T).T)[..., :3]

    def to_nerfstudio(self, points: np.ndarray) -> np.ndarray:  # [..., 3] capture -> nerfstudio
        p = np.asarray(points, dtype=np.float64)
        return self.scale * (p @ self.transform[:3, :3].T + self.transform[:3, 3])

    def rotation_to_capture(self, R: np.ndarray) -> np.ndarray:  # [..., 3, 3]
        """Rotate orientations (columns = axes) from the nerfstudio frame to the capture frame."""
        A = np.linalg.inv(self.transform[:3, :3])
        U, _, Vt = np.linalg.svd(A)  # the nearest rotation (the parser's transform is a rotation)
        return (U @ Vt) @ R

    @property
    def units_per_ns_unit(self) -> float:
        """Capture-frame length of one nerfstudio unit."""
        return float(np.cbrt(abs(np.linalg.det(np.linalg.inv(self.transform[:3, :3]))))) / self.scale


def gaussian_arrays(model) -> Dict[str, np.ndarray]:
    """Per-Gaussian arrays of a Point2ActModel (nerfstudio frame): means, opacities, scales, relevancy."""
    import torch

    with torch.no_grad():
        return {
            "means": model.means.detach().cpu().numpy().astype(np.float64),
            "opacities": torch.sigmoid(model.opacities).squeeze(-1).cpu().numpy().astype(np.float64),
            "scales": torch.exp(model.scales).cpu().numpy().astype(np.float64),
            "relevancy": model.relevancy.detach().cpu().numpy().astype(np.float64),
        }


@dataclass
class DepthViews:
    """Rendered expected depth of some training views (nerfstudio frame and units)."""

    depths: np.ndarray  # [C, H, W] z-depth
    alphas: np.ndarray  # [C, H, W] accumulated opacity
    Ks: np.ndarray  # [C, 3, 3]
    viewmats: np.ndarray  # [C, 4, 4] world-to-camera, OpenCV axes
    render_ms: float = 0.0


def viewmats_from_c2w(c2w: np.ndarray) -> np.ndarray:  # [C, 3|4, 4] OpenGL c2w -> [C, 4, 4] w2c OpenCV
    """nerfstudio camera-to-world (OpenGL axes) to gsplat world-to-camera (OpenCV axes)."""
    c2w = np.asarray(c2w, dtype=np.float64)
    M = np.tile(np.eye(4), (c2w.shape[0], 1, 1))
    M[:, :3, :4] = c2w[:, :3, :4]
    M[:, :3, 1:3] *= -1.0
    return np.linalg.inv(M)


def render_depth_views(model, cameras, max_views: int = 24) -> DepthViews:
    """Expected depth and opacity of up to ``max_views`` evenly spaced training views
    (:func:`point2act.fusion.render_expected_depth`, at the cameras' full resolution)."""
    import torch

    from point2act.fusion import render_expected_depth

    t0 = time.perf_counter()
    n = len(cameras)
    views = np.unique(np.linspace(0, n - 1, min(max_views, n)).round().astype(int))
    dev = model.device
    with torch.no_grad():
        means = model.means.detach()
        quats = model.quats.detach()
        quats = quats / quats.norm(dim=-1, keepdim=True)
        scales = torch.exp(model.scales.detach())
        opac = torch.sigmoid(model.opacities.detach()).squeeze(-1)
        D, A, Ks, Vs = [], [], [], []
        for i in views:
            cam = cameras[int(i) : int(i) + 1]
            K = cam.get_intrinsics_matrices()[0].cpu().numpy().astype(np.float64)
            V = viewmats_from_c2w(cam.camera_to_worlds.cpu().numpy())[0]
            W, H = int(cam.width.item()), int(cam.height.item())
            d, a = render_expected_depth(
                means, quats, scales, opac,
                torch.as_tensor(V, dtype=torch.float32, device=dev)[None],
                torch.as_tensor(K, dtype=torch.float32, device=dev)[None], W, H,
            )
            D.append(d[0].cpu().numpy())
            A.append(a[0].cpu().numpy())
            Ks.append(K)
            Vs.append(V)
    shapes = {x.shape for x in D}
    if len(shapes) > 1:  # mixed resolutions: pad to the largest (0 depth = no measurement)
        Hm, Wm = max(s[0] for s in shapes), max(s[1] for s in shapes)
        D = [np.pad(x, ((0, Hm - x.shape[0]), (0, Wm - x.shape[1]))) for x in D]
        A = [np.pad(x, ((0, Hm - x.shape[0]), (0, Wm - x.shape[1]))) for x in A]
    return DepthViews(np.stack(D), np.stack(A), np.stack(Ks), np.stack(Vs), (time.perf_counter() - t0) * 1e3)


def fuse_around(views: DepthViews, frame: "FrameTransform", center: np.ndarray, cfg) -> Tuple[np.ndarray, float]:
    """TSDF-fused surface points (capture frame) in a cube around ``center`` (capture frame) and the
    radius (capture units) of the ball inside that cube; lengths from ``cfg.surface`` (metres)."""
    from point2act.fusion import tsdf_fuse

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
    from point2act.grasp import GraspConfig, plan_grasps, relevant_region

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
    from point2act.grasp import relevant_region

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


def load_run(config_path: Path) -> Tuple[Any, Any]:
    """Load a trained point2act run (config.yml) for inference: (TrainerConfig, Pipeline)."""
    from nerfstudio.utils.eval_utils import eval_setup

    import point2act.checkpoints  # noqa: F401  (torch.load safe globals)

    from point2act.run_check import check_run_config

    config_path = Path(config_path)
    check_run_config(config_path)  # another method's run, a truncated checkpoint: a clear error first
    config, pipeline, _ckpt, _step = eval_setup(config_path, test_mode="inference")
    from point2act.model import Point2ActModel

    if not isinstance(pipeline.model, Point2ActModel):
        raise Point2ActError(
            f"{config_path}: this run was trained with method '{config.method_name}', not point2act; "
            "it has no relevancy channel to export."
        )
    return config, pipeline


def export_run(
    config_path: Path,
    output: Optional[Path] = None,
    grasp_config: Any = None,
    grasps: bool = True,
    channels: Sequence[str] = (),
    grasp_channel: Optional[str] = None,
    avoid_channel: Optional[str] = None,
    handover_direction: Optional[Sequence[float]] = None,
    loaded: Optional[Tuple[Any, Any]] = None,
) -> Tuple[Path, Dict]:
    """Load a run, compute its action point (and grasps) and write ``grasps.json`` atomically.

    ``channels``: named relevancy channels (``point2act query``) exported as ``keypoints``;
    ``grasp_channel``: the channel that drives the action point and grasps (default: the
    checkpoint's own; a "place" channel gives no grasps); ``avoid_channel``: penalise grasps
    through it (default: the channel named "avoid" when it is among ``channels``).
    """
    config, pipeline = loaded if loaded is not None else load_run(config_path)
    frame = FrameTransform.from_json(Path(config.get_base_dir()) / "dataparser_transforms.json")
    dm_cfg = config.pipeline.datamanager
    prompt = getattr(dm_cfg, "prompt", "") or ""
    if not prompt and getattr(pipeline.datamanager, "points", None) is not None:
        prompt = pipeline.datamanager.points.prompt
    cams = pipeline.datamanager.train_dataparser_outputs.cameras
    centers = frame.to_capture(cams.camera_to_worlds[:, :3, 3].cpu().numpy())
    from point2act.grasp import GraspConfig

    grasp_config = grasp_config if grasp_config is not None else GraspConfig()
    arrays = gaussian_arrays(pipeline.model)
    n = arrays["means"].shape[0]
    named: Dict[str, Dict[str, Any]] = {}
    if channels or grasp_channel or avoid_channel:
        from point2act.query import load_channel

        for name in dict.fromkeys([*channels, *(c for c in (grasp_channel, avoid_channel) if c)]):
            rec = load_channel(config_path, name, n)
            named[name] = {"relevancy": 1.0 / (1.0 + np.exp(-rec["logits"].double().numpy())),
                           "prompt": rec.get("prompt", ""), "role": rec.get("role", "grasp")}
    if grasp_channel:
        arrays = dict(arrays, relevancy=named[grasp_channel]["relevancy"])
        prompt = named[grasp_channel]["prompt"] or prompt
        if named[grasp_channel]["role"] == "place":
            grasps = False
    if avoid_channel is None and "avoid" in channels:
        avoid_channel = "avoid"
    avoid = named[avoid_channel]["relevancy"] if avoid_channel else None
    hand = np.asarray(handover_direction, dtype=np.float64) if handover_direction is not None else None
    keypoints = {k: named[k] for k in channels}
    views = None
    if grasps and grasp_config.surface.fuse_depth:
        views = render_depth_views(pipeline.model, cams, grasp_config.surface.fusion_max_views)
    out = build_export(arrays, frame, prompt, grasp_config, grasps, centers, None,
                       channels=keypoints or None, avoid_relevancy=avoid, handover_direction=hand,
                       depth_views=views)
    out["run"] = str(Path(config_path).resolve())
    if output is None:
        output = Path(config.get_base_dir()) / "grasps.json"
    write_json_atomic(output, out)
    return Path(output), out
