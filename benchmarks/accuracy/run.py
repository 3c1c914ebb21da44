"""Run the accuracy benchmark: per scene, reconstruct once, then every error level and method.

Per scene (see :mod:`benchmarks.accuracy`):

1. the cached synthetic scene (:mod:`.suite`);
2. geometry: one ``ns-train point2act`` run with the demo's short CPU schedule
   (:func:`point2act.method.schedule.short_schedule`), supervised by the clean oracle points; the relevancy
   loss does not move the Gaussians (``relevancy_shapes_geometry`` is off), so the geometry does not
   depend on the points. Cached beside the scene;
3. per error level and pointer seed: the simulated pointer's points (:mod:`.pointer`), then
   * single-view lift and RANSAC triangulation (:mod:`.baselines`),
   * point2act: ``point2act query`` (:func:`point2act.query.query_run`: the relevancy channel refit
     on the frozen Gaussians with the training loss, weights cache built once per scene) and
     ``point2act export`` of that channel (:func:`point2act.export.export_run`: action point and
     grasps in the capture frame).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .baselines import lift_single_view, ransac_triangulate
from .metrics import HIT_RADIUS_M, TargetSurface, grasp_collides, load_gt_points, scene_surface_points
from .pointer import ErrorModel, ViewInfo, simulate
from .suite import SceneSpec, ensure_scene, synth_config


@dataclass
class BenchConfig:
    """Settings of one benchmark run."""

    width: int = 128
    """Image width of the synthetic views (pixels)."""
    height: int = 96
    """Image height."""
    num_views: int = 12
    """Views per scene."""
    num_seed_points: int = 6000
    """Seed point cloud size (sparse_pc.ply)."""
    iterations: int = 250
    """ns-train iterations of the geometry run (the demo's schedule, compressed)."""
    seeds: Sequence[int] = (0,)
    """Pointer seeds per error level (the clean level is deterministic and runs once)."""
    query_downscale: int = 1
    """``point2act query --downscale`` (1: refit at the training resolution)."""
    query_steps: int = 40
    """Refit steps (``point2act query --steps``)."""
    ransac_threshold_frac: float = 0.04
    """RANSAC inlier threshold as a fraction of the image diagonal (2x the heatmap sigma)."""
    grasps: bool = True
    """Plan grasps for point2act (the grasp head; slower)."""
    retrain: bool = False
    """Retrain the geometry even if a cached run exists."""
    cache_root: Optional[Path] = None
    """Where scenes and geometry runs are cached (None: :func:`.suite.cache_root`)."""

    def common(self) -> Dict[str, Any]:
        return {"num_views": self.num_views, "width": self.width, "height": self.height,
                "num_seed_points": self.num_seed_points}


@dataclass
class SceneData:
    """A generated scene loaded for the pointer and the baselines."""

    dir: Path
    """The scene folder."""
    file_paths: List[str]
    """Frames' ``file_path`` in transforms.json order."""
    views: List[ViewInfo]
    """Per frame: part mask, target-alone mask, intrinsics, camera."""
    depths: List[np.ndarray]
    """Per frame: [H, W] true z-depth, metres (0: no surface)."""
    target_id: int
    """Part id of the target."""
    target: TargetSurface
    """Distances to the target part."""
    distractor_objects: Dict[str, List[int]]
    """Distractor object name -> its part ids."""
    prompt: str
    """The scene's prompt."""
    config: Any = None
    """The scene's SynthConfig."""
    timings_s: Dict[str, float] = field(default_factory=dict)
    """Unused by the loader; for callers' stage timings."""


def load_scene(sd: Path, config) -> SceneData:
    from PIL import Image

    from point2act.synth.camera import Intrinsics

    meta = json.loads((sd / "transforms.json").read_text())
    gt = json.loads((sd / "ground_truth.json").read_text())
    k = Intrinsics(meta["fl_x"], meta["fl_y"], meta["cx"], meta["cy"], meta["w"], meta["h"])
    alone = np.load(sd / "target_alone.npz")["alone"]
    views, depths, fps = [], [], []
    for i, f in enumerate(meta["frames"]):
        mask = np.asarray(Image.open(sd / f["part_mask_path"]))
        depths.append(np.asarray(Image.open(sd / f["depth_file_path"])).astype(np.float64) / 1000.0)
        views.append(ViewInfo(mask, alone[i], k, np.asarray(f["transform_matrix"], dtype=np.float64)))
        fps.append(f["file_path"])
    dobj: Dict[str, List[int]] = {}
    for o in gt["objects"]:
        if o["role"] == "distractor":
            dobj.setdefault(o["object"], []).append(int(o["part_id"]))
    from point2act.synth.scene import build_scene

    tp = next(p for p in build_scene(config).parts if p.part_id == int(gt["target_part_id"]))
    target = TargetSurface(load_gt_points(sd), (tp.vertices, tp.triangles))
    return SceneData(sd, fps, views, depths, int(gt["target_part_id"]), target, dobj, gt["prompt"], config)


def train_geometry(sd: Path, bc: BenchConfig) -> tuple[Path, float]:
    """The scene's geometry run (cached in ``SCENE/recon_itN``); (config.yml, training seconds)."""
    out = sd / f"recon_it{bc.iterations}"
    done = out / "train.json"
    cfg_path = out / "demo" / "point2act" / "run" / "config.yml"
    if done.is_file() and cfg_path.is_file() and not bc.retrain:
        return cfg_path, float(json.loads(done.read_text())["seconds"])
    from point2act.method.schedule import short_schedule
    from point2act.method.train import registered_config, train

    cfg = short_schedule(registered_config("point2act"), sd, sd / "points" / "oracle.json", out, bc.iterations)
    t0 = time.perf_counter()
    train(cfg)
    dt = time.perf_counter() - t0
    cfg_path = Path(cfg.get_base_dir()) / "config.yml"
    done.write_text(json.dumps({"seconds": dt, "iterations": bc.iterations}) + "\n")
    return cfg_path, dt


def _baselines(scene: SceneData, points: Dict[str, Any], threshold_px: float,
               views: Optional[set] = None) -> tuple[list, dict, float]:
    """Single-view lift per answered view, and RANSAC triangulation, over the ``views`` (file paths;
    None: all); (per-view lifts, tri record, seconds)."""
    t0 = time.perf_counter()
    lifts, xys, ks, c2ws = [], [], [], []
    for fp, v, depth in zip(scene.file_paths, scene.views, scene.depths):
        ans = points["points"][fp]
        if not ans or (views is not None and fp not in views):
            continue
        xy = ans[0]
        p = lift_single_view(xy, depth, v.intrinsics, v.c2w)
        lifts.append(p)
        xys.append(xy)
        ks.append(v.intrinsics)
        c2ws.append(v.c2w)
    tri = ransac_triangulate(xys, ks, c2ws, threshold_px)
    return lifts, {"point": tri.point, "inliers": len(tri.inliers), "answered": len(xys)}, time.perf_counter() - t0


def run_scene(spec: SceneSpec, bc: BenchConfig, levels: Sequence[ErrorModel], log=print) -> Dict[str, Any]:
    """All levels, seeds and methods on one scene; returns {"records": [...], "timings_s": {...}}."""
    from point2act.method.run import export_run, load_run
    from point2act.grasp import GraspConfig
    from point2act.points import write_json_atomic
    from point2act.method.run import query_run

    sd, t_gen = ensure_scene(spec, bc.common(), bc.cache_root)
    config = synth_config(spec, bc.common())
    scene = load_scene(sd, config)
    cfg_path, t_train = train_geometry(sd, bc)
    loaded = load_run(cfg_path)
    # the baselines see the same views as point2act: nerfstudio holds one view in ten out for eval
    train_names = {Path(f).name for f in loaded[1].datamanager.train_dataparser_outputs.image_filenames}
    train_views = {fp for fp in scene.file_paths if Path(fp).name in train_names}
    gt_surface = scene_surface_points(config) if bc.grasps else None
    thr = bc.ransac_threshold_frac * float(np.hypot(bc.width, bc.height))
    records: List[Dict[str, Any]] = []
    timings: Dict[str, Any] = {"scene_generation": t_gen, "reconstruction": t_train, "pointing": 0.0,
                               "baselines": 0.0, "weights_cache": 0.0, "refit": 0.0, "grasp": 0.0, "export": 0.0}
    (sd / "bench_points").mkdir(exist_ok=True)
    first = True
    for lvl in levels:
        for seed in ([0] if lvl.name == "clean" else bc.seeds):
            base = {"scene": spec.name, "level": lvl.name, "seed": int(seed), "outlier_rate": lvl.outlier_rate}
            t0 = time.perf_counter()
            pts, kinds = simulate(scene.views, scene.file_paths, lvl, seed, scene.target_id,
                                  scene.target.centroid, scene.distractor_objects, scene.prompt)
            timings["pointing"] += time.perf_counter() - t0
            kind_counts = {k: kinds.count(k) for k in sorted(set(kinds))}
            name = f"{lvl.name}_s{seed}"
            pfile = write_json_atomic(sd / "bench_points" / f"{name}.json", pts)
            lifts, tri, dt = _baselines(scene, pts, thr, train_views)
            timings["baselines"] += dt
            n = len(lifts)
            for j, p in enumerate(lifts):
                e = scene.target.distance(p)
                records.append({**base, "method": "single_view", "weight": 1.0 / n, "error_m": e,
                                "hit": bool(e <= HIT_RADIUS_M), "point": None if p is None else p.tolist()})
            if n == 0:
                records.append({**base, "method": "single_view", "weight": 1.0, "error_m": float("inf"), "hit": False})
            e = scene.target.distance(tri["point"])
            records.append({**base, "method": "triangulation", "weight": 1.0, "error_m": e, "hit": bool(e <= HIT_RADIUS_M),
                            "inliers": tri["inliers"], "answered": tri["answered"],
                            "point": None if tri["point"] is None else tri["point"].tolist()})
            # point2act: refit the relevancy channel on the frozen geometry, export its action point + grasps
            rec = {**base, "method": "point2act", "weight": 1.0, "kinds": kind_counts}
            try:
                q = query_run(cfg_path, name, points_file=pfile, loaded=loaded, downscale=bc.query_downscale,
                              steps=bc.query_steps)
                qt = q.timings_s
                timings["weights_cache"] += qt.get("weights_cache_build", 0.0) + qt.get("weights_cache_load", 0.0)
                timings["refit"] += qt.get("total", 0.0) - qt.get("weights_cache_build", 0.0) - qt.get(
                    "weights_cache_load", 0.0) - qt.get("load_run", 0.0)
                if first:
                    rec["weights_cache_s"] = qt.get("weights_cache_build", qt.get("weights_cache_load", 0.0))
                    first = False
                t0 = time.perf_counter()
                _, out = export_run(cfg_path, sd / "bench_points" / f"grasps_{name}.json", GraspConfig(),
                                    grasps=bc.grasps, channels=[name], grasp_channel=name, loaded=loaded)
                timings["export"] += time.perf_counter() - t0
                ap = out["action_point"]
                timings["grasp"] += float(out.get("timings_ms", {}).get("total", 0.0)) / 1000.0
            except Exception as ex:  # noqa: BLE001  (a failure is a miss, recorded with its reason)
                ap, out = None, {"warning": f"{type(ex).__name__}: {ex}"}
            e = scene.target.distance(ap)
            rec.update(error_m=e, hit=bool(e <= HIT_RADIUS_M), centroid_m=scene.target.centroid_distance(ap),
                       action_point=ap)
            if bc.grasps:
                gl = out.get("grasps") or []
                rec["num_grasps"] = len(gl)
                rec["grasp_warning"] = out.get("warning") if not gl else None
                if gl:
                    g0 = gl[0]
                    rec["grasp_on_target"] = bool(scene.target.distance(g0["position"]) <= HIT_RADIUS_M)
                    rec["grasp_collision_free"] = not grasp_collides(g0, gt_surface)
                else:
                    rec["grasp_on_target"] = False
                    rec["grasp_collision_free"] = False
            records.append(rec)
            tri_s = "none" if tri["point"] is None else f"{scene.target.distance(tri['point']) * 100:.1f}cm"
            log(f"  {spec.name} {name}: point2act {e * 100:.1f}cm, triangulation {tri_s}, "
                f"single-view hit {np.mean([r['hit'] for r in records if r['method'] == 'single_view' and r['level'] == lvl.name and r['seed'] == seed]):.2f}"
                + (f", grasps {rec.get('num_grasps')}" if bc.grasps else ""))
    return {"records": records, "timings_s": timings, "scene_dir": str(sd), "run": str(cfg_path),
            "target_closed": scene.target.closed, "train_views": len(train_views)}
