"""Run the accuracy benchmark: per scene, reconstruct once, then every error level and method.

Per scene (see :mod:`benchmarks.accuracy`):

1. the cached synthetic scene (:mod:`.suite`);
2. geometry: one ``ns-train point2act`` run with the method's *default* schedule for its iteration
   count (``registered_config("point2act")`` with only the run folder, data, points file and
   ``max_num_iterations`` set: :func:`point2act.method.schedule.short_schedule`), supervised by the
   clean oracle points; the relevancy loss does not move the Gaussians (``relevancy_shapes_geometry``
   is off), so the geometry does not depend on the points. Cached beside the scene;
3. the reconstruction's expected depth of every training view (:func:`point2act.method.run_layer.depth_views_of`);
4. per error level and pointer seed: the simulated pointer's points (:mod:`.pointer`), then
   * ``lift_true_depth``: one view's (first) point lifted with the view's true depth (the paper's
     MLLM* with a perfect depth sensor: an upper bound for single-view lifting, no user has it),
     averaged over answered views (the expected result of one random view);
   * ``lift_recon_depth``: the same with the reconstruction's rendered depth (what a user has);
   * ``best_view``: the first answered view's point lifted with the reconstruction's depth;
   * ``ransac``: multi-view triangulation of the views' first points with RANSAC;
   * ``point2act``: ``point2act query`` (:func:`point2act.method.requery_run.query_run`: the relevancy channel
     refit on the frozen Gaussians with the training loss) and the export of that channel
     (:func:`point2act.export.export`, with the multi-view support of the level's own points
     (:func:`point2act.method.supervision.supervised_views`), as ``point2act export`` of a run trained on
     those points): action point and grasps in the capture frame; the top grasp is judged against the
     true meshes (:func:`point2act.grasp.evaluate.judge_grasp`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .baselines import best_view, lift_single_view, lift_with_rendered_depth, ransac_triangulate
from .oracle import oracle_grasp
from .metrics import (HIT_RADIUS_M, TargetSurface, judge_top_grasp, load_gt_points, mesh_surface_labelled,
                      scene_surface_labelled)
from .pointer import ErrorModel, ViewInfo, simulate
from .suite import TWIN_OBJECT, SceneSpec, ensure_scene, scene_config
from .train import cached_run_is_current, train_geometry, training_fingerprint  # noqa: F401  (re-exported)

METHODS = ("point2act", "lift_recon_depth", "lift_true_depth", "ransac", "best_view")
"""Methods of the benchmark's records and summary."""


@dataclass
class BenchConfig:
    """Settings of one benchmark run."""

    width: int = 256
    """Image width of the synthetic views (pixels): the demo's (``SynthConfig.width``)."""
    height: int = 192
    """Image height: the demo's."""
    num_views: int = 24
    """Views per scene: the demo's."""
    num_seed_points: int = 8000
    """Seed point cloud size (sparse_pc.ply): the demo's."""
    iterations: int = 2000
    """ns-train iterations of the geometry run: ``ns-train point2act``'s default
    (:data:`point2act.method.schedule.DEFAULT_ITERATIONS`), with its default schedule: what a user runs
    without flags. (The dev and val splits were run with ``--iterations 1000``, the demo's.)"""
    seeds: Sequence[int] = (0,)
    """Pointer seeds per error level (the clean level is deterministic and runs once)."""
    twin_seed_factor: int = 6
    """Twin-only levels run on the scenes with a twin, 2 of a split's 12: they take this many times
    ``seeds`` (``seeds`` continued upwards, :meth:`level_seeds`), so that they have as many runs as the
    other levels (6 runs gave a 95 % interval 67 points wide)."""
    scene_streams: bool = True
    """Mix the scene's layout seed into the pointer's draws (``pointer.simulate(scene_seed=...)``), so
    that two scenes' pointers err in independent views. False: the first versions' streams, where view
    ``i`` of every scene erred alike at a pointer seed (the archived dev ... val4 results)."""
    query_downscale: int = 0
    """``point2act query --downscale`` and the support pass's downscale; 0: the defaults users get
    (2, i.e. ``RegionConfig.support_downscale``) at 256 px wide or more, 1 below (a 128 px wide
    benchmark image is already the demo's 256 px image downscaled by 2)."""
    query_steps: int = 16
    """Refit steps (``point2act query --steps``; 16 is its default)."""
    support: bool = True
    """Weigh the relevancy by the multi-view support of the level's points at export (the default of
    ``point2act export`` on a run trained on those points), when the installed point2act has it."""
    ransac_threshold_frac: float = 0.04
    """RANSAC inlier threshold as a fraction of the image diagonal (2x the heatmap sigma)."""
    grasps: bool = True
    """Plan grasps for point2act (the grasp head; slower)."""
    retrain: bool = False
    """Retrain the geometry even if a cached run exists."""
    train_seed: Optional[int] = None
    """``ns-train --machine.seed`` of the geometry run; None: the method's default (nerfstudio's 42), the
    runs cached as ``recon_itN`` before training seeds existed. Each seed has its own cached run
    (``recon_itN_seedS``)."""
    cache_root: Optional[Path] = None
    """Where scenes and geometry runs are cached (None: :func:`.suite.cache_root`)."""
    depth: str = "none"
    """"sensor": the generators' scenes carry what an RGB-D camera measures (``GenConfig.sensor_depth``),
    which training reads; "none": no depth (the synth generator's scenes never have it)."""
    cloud: str = "scene"
    """The cloud training starts from: "scene" (the scene's own: the generator's samples of the true
    surfaces, or none where the scene has none); "triangulated" (loaded without it,
    ``nerfstudio-data --load-3D-points False``: training triangulates one from the images, the default
    path of a capture without a cloud, and starts at random where too few points triangulate); "none"
    (loaded without it and ``--pipeline.datamanager.triangulate False``: a random start)."""

    def level_seeds(self, level: ErrorModel) -> tuple:
        """The pointer seeds a level runs: ``(0,)`` for the clean level (deterministic), ``seeds``
        continued to ``twin_seed_factor`` times as many for twin-only levels, else ``seeds``."""
        if level.name == "clean":
            return (0,)
        seeds = tuple(int(s) for s in self.seeds)
        if level.twin_only and self.twin_seed_factor > 1 and seeds:
            top = max(seeds)
            seeds += tuple(range(top + 1, top + 1 + (self.twin_seed_factor - 1) * len(seeds)))
        return seeds

    def downscale(self) -> int:
        """The refit's and the support pass's downscale (see ``query_downscale``)."""
        return self.query_downscale or (2 if self.width >= 256 else 1)

    def common(self) -> Dict[str, Any]:
        return {"num_views": self.num_views, "width": self.width, "height": self.height,
                "num_seed_points": self.num_seed_points, "sensor_depth": self.depth == "sensor"}


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
    object_spots: Dict[str, np.ndarray] = field(default_factory=dict)
    """Distractor object name -> [3] its "same spot" (top centre of its bounding box)."""
    twin: Optional[tuple] = None
    """(twin object name, part id of its part matching the target), scenes with a twin only."""
    prompt: str = ""
    """The scene's prompt."""
    config: Any = None
    """The scene's SynthConfig (or GenConfig)."""
    confuser: Optional[str] = None
    """The object the scene names as the pointer's confuser (ground_truth.json "confuser"; None: drawn
    per pointer seed among the distractors, as in synth scenes)."""
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
        depths.append(np.asarray(Image.open(sd / f["true_depth_path"])).astype(np.float64) / 1000.0)
        views.append(ViewInfo(mask, alone[i], k, np.asarray(f["transform_matrix"], dtype=np.float64)))
        fps.append(f["file_path"])
    dobj: Dict[str, List[int]] = {}
    lo: Dict[str, np.ndarray] = {}
    hi: Dict[str, np.ndarray] = {}
    for o in gt["objects"]:
        if o["role"] in ("distractor", "confuser"):
            n = o["object"]
            dobj.setdefault(n, []).append(int(o["part_id"]))
            lo[n] = np.minimum(lo.get(n, np.inf), np.asarray(o["bbox_min"], dtype=np.float64))
            hi[n] = np.maximum(hi.get(n, -np.inf), np.asarray(o["bbox_max"], dtype=np.float64))
    spots = {n: np.array([0.5 * (lo[n][0] + hi[n][0]), 0.5 * (lo[n][1] + hi[n][1]), hi[n][2]]) for n in dobj}
    tid = int(gt["target_part_id"])
    if "generator" in gt:  # benchmarks.generators: the target's mesh, the twin and the confuser from the files
        meshes = np.load(sd / "meshes.npz")
        target = TargetSurface(load_gt_points(sd), (meshes[f"v{tid}"], meshes[f"t{tid}"]))
        twin = (gt["twin"]["object"], int(gt["twin"]["part_id"])) if "twin" in gt else None
        conf = gt.get("confuser")
        if conf is not None and "spot" in conf:
            spots[conf["object"]] = np.asarray(conf["spot"], dtype=np.float64)
        return SceneData(sd, fps, views, depths, tid, target, dobj, spots, twin, gt["prompt"], config,
                         confuser=None if conf is None else conf["object"])
    from point2act.synth.scene import build_scene

    tp = next(p for p in build_scene(config).parts if p.part_id == tid)
    target = TargetSurface(load_gt_points(sd), (tp.vertices, tp.triangles))
    twin = None
    if TWIN_OBJECT in dobj:
        tname = next(o["name"] for o in gt["objects"] if int(o["part_id"]) == tid)
        match = [o for o in gt["objects"] if o["name"] == tname.replace("mug", TWIN_OBJECT, 1)]
        if match:
            twin = (TWIN_OBJECT, int(match[0]["part_id"]))
    return SceneData(sd, fps, views, depths, tid, target, dobj, spots, twin, gt["prompt"], config)


@dataclass
class ReconDepth:
    """The reconstruction's rendered expected depth of the training views, for the lift baselines."""

    depth: Dict[str, tuple]
    """file_path -> (depth [h, w], alpha [h, w], K [3, 3], viewmat [4, 4]) in the nerfstudio frame."""
    frame: Any
    """:class:`point2act.geometry.FrameTransform` of the run (nerfstudio -> capture)."""
    seconds: float = 0.0


def recon_depth_of(loaded, scene: SceneData) -> ReconDepth:
    """Expected depth of every training view of a loaded run (full resolution), keyed by file_path."""
    from point2act.method.run_layer import depth_views_of, run_frame, run_of

    t0 = time.perf_counter()
    config, pipeline = loaded
    dpo = pipeline.datamanager.train_dataparser_outputs
    cams = dpo.cameras
    n = len(cams)
    dv = depth_views_of(pipeline.model, cams, max_views=n, max_pixels=None)
    by_name = {Path(fp).name: fp for fp in scene.file_paths}
    out: Dict[str, tuple] = {}
    for i, fn in enumerate(dpo.image_filenames):
        fp = by_name.get(Path(fn).name)
        if fp is not None and i < len(dv.depths):
            out[fp] = (dv.depths[i], dv.alphas[i], dv.Ks[i], dv.viewmats[i])
    return ReconDepth(out, run_frame(run_of(config, pipeline)), time.perf_counter() - t0)


def _baselines(scene: SceneData, points: Dict[str, Any], threshold_px: float, views: Optional[set] = None,
               recon: Optional[ReconDepth] = None) -> tuple[Dict[str, Any], float]:
    """The baselines on one level's points, over the ``views`` (file paths; None: all), each view's
    *first* point (a single-point method's input): per-view lifts with the true and the
    reconstruction's depth, the best (first answered) view, RANSAC triangulation; (record, seconds)."""
    t0 = time.perf_counter()
    true_l, recon_l, xys, ks, c2ws = [], [], [], [], []
    for fp, v, depth in zip(scene.file_paths, scene.views, scene.depths):
        ans = points["points"][fp]
        if not ans or (views is not None and fp not in views):
            continue
        xy = ans[0]
        true_l.append(lift_single_view(xy, depth, v.intrinsics, v.c2w))
        if recon is not None and fp in recon.depth:
            d, a, K, vm = recon.depth[fp]
            q = lift_with_rendered_depth(xy, v.mask.shape, d, a, K, vm)
            recon_l.append(None if q is None else recon.frame.to_capture(q[None])[0])
        xys.append(xy)
        ks.append(v.intrinsics)
        c2ws.append(v.c2w)
    tri = ransac_triangulate(xys, ks, c2ws, threshold_px)
    best = best_view([(i, None, p) for i, p in enumerate(recon_l)]) if recon_l else None
    return ({"lift_true_depth": true_l, "lift_recon_depth": recon_l, "best_view": best, "ransac": tri.point,
             "inliers": len(tri.inliers), "answered": len(xys)}, time.perf_counter() - t0)


def _export_with_support(cfg_path: Path, run, name: str, points_file: Path, out_path: Path, grasp_config,
                         grasps: bool, use_support: bool) -> tuple[Dict[str, Any], Dict[str, Any]]:
    """Export channel ``name`` as ``point2act export --grasp-channel NAME`` does, plus (``use_support``,
    when asked) the multi-view support of
    ``points_file``: what ``point2act export`` gives a run trained on those points. ``run``: the loaded run
    (:class:`~point2act.method.run_data.LoadedRun`). (export dict, info)"""
    from point2act.export import Channels, ExportRequest, export
    from point2act.io import write_json_atomic

    if not use_support:
        from point2act.method.export_run import export_run

        request = ExportRequest(grasp_config, grasps, channels=Channels((name,), name))
        _, out = export_run(cfg_path, request, out_path, loaded=run)
        return out, {"support": False}
    inputs, info = export_inputs(cfg_path, run, name, points_file, grasp_config, grasps)
    out = export(ExportRequest(grasp_config, grasps), inputs)
    write_json_atomic(out_path, out)
    return out, {"support": inputs.field.support is not None, **{k: v for k, v in info.items() if k != "reason"},
                 **field_peak(inputs.gaussians, out, grasp_config)}


def export_inputs(cfg_path: Path, run, name: str, points_file: Path, grasp_config,
                  grasps: bool = True) -> tuple[Any, Dict[str, Any]]:
    """What :func:`_export_with_support` exports with the views' support of ``points_file``: the
    :class:`point2act.export.ExportInputs` of channel ``name`` (with the depth renders the grasp head fuses where
    ``grasps`` asks for them) and the support's info."""
    from point2act.channels import load_channel
    from point2act.export import Field, FieldLabel, RunInputs, SceneGaussians
    from point2act.export import inputs as export_stage
    from point2act.grasp.config import FUSION_MAX_PIXELS, FUSION_MAX_VIEWS
    from point2act.where.consensus import consensus
    from point2act.method import run_layer as mrun
    from point2act.method.supervision import supervised_views

    t0 = time.perf_counter()
    frame = mrun.run_frame(run)
    cams = run.cameras
    centers = frame.to_capture(cams.camera_to_worlds[:, :3, 3].cpu().numpy())
    arrays = mrun.gaussian_arrays(run.gaussians)
    rec = load_channel(cfg_path, name, arrays["means"].shape[0])
    arrays = dict(arrays, relevancy=1.0 / (1.0 + np.exp(-np.asarray(rec["logits"], dtype=np.float64))))
    views, info = supervised_views(cfg_path, run, grasp_config.region, points_file=Path(points_file))
    cons = None
    if views is not None:
        try:
            cons = consensus(views)
        except ValueError:
            pass
        info = {**info, "seconds": round(time.perf_counter() - t0, 2)}
    depth = None
    if grasps and grasp_config.surface.fuse_depth:
        depth = mrun.depth_views_of(run.gaussians, cams, FUSION_MAX_VIEWS, FUSION_MAX_PIXELS, arrays["relevancy"])
    field = Field(arrays["relevancy"], views, info.get("reason", ""), cons, FieldLabel(prompt=rec.get("prompt", "")))
    run_inputs = RunInputs(SceneGaussians.of(arrays), field, centers, depth, rec.get("prompt", ""))
    return export_stage.export_inputs(run_inputs, frame), info


def field_peak(gaussians, out: Dict[str, Any], grasp_config) -> Dict[str, float]:
    """Where the exported action point lies against the relevancy field alone: ``field_peak_m``, its distance
    to the field's own answer (:func:`point2act.grasp.region.relevant_region` without the views' consensus:
    the peak of the cluster with the most relevancy mass), and ``field_region_m``, its distance to the nearest
    Gaussian of that cluster (0 when it is one of them; metres, capture frame). ``gaussians``: the export's
    :class:`point2act.export.SceneGaussians` (capture frame), with the field's relevancy."""
    from point2act.grasp import relevant_region

    means = gaussians.means
    try:
        peak = relevant_region(means, gaussians.opacities, gaussians.relevancy, grasp_config)
    except ValueError:
        return {}
    ap = np.asarray(out["action_point"], dtype=np.float64)
    mpu = float(grasp_config.gripper.metres_per_unit)
    d_region = float(np.linalg.norm(means[peak.indices] - ap, axis=1).min()) if len(peak.indices) else float("inf")
    return {"field_peak_m": float(np.linalg.norm(peak.action_point - ap)) * mpu, "field_region_m": d_region * mpu}


def _rec(base: Dict[str, Any], method: str, err: float, point, weight: float = 1.0, **kw) -> Dict[str, Any]:
    return {**base, "method": method, "weight": weight, "error_m": err, "hit": bool(err <= HIT_RADIUS_M),
            "point": None if point is None else np.asarray(point, dtype=np.float64).tolist(), **kw}


def scene_geometry(cfg_path: Path, sd: Path, target_id: int) -> Dict[str, Any]:
    """The run's geometry at the target (:func:`.target_geometry.target_geometry`): completeness, depth and the
    share painted behind; ``{"error": ...}`` where it cannot be measured (a failure is recorded, not fatal)."""
    from .target_geometry import target_geometry

    try:
        return target_geometry(cfg_path, sd, target_id)
    except Exception as ex:  # noqa: BLE001
        return {"error": f"{type(ex).__name__}: {ex}"}


def bench_grasp_config(bc: BenchConfig):
    """The grasp config the benchmark exports with: the defaults, with the support pass at the refit's resolution
    (``bc.downscale()``: they share one weights cache, one resolution per cache file)."""
    import dataclasses

    from point2act.grasp import GraspConfig

    gcfg = GraspConfig()
    ds = bc.downscale()
    if hasattr(gcfg.region, "support_downscale") and gcfg.region.support_downscale != ds:
        gcfg = dataclasses.replace(gcfg, region=dataclasses.replace(gcfg.region, support_downscale=ds))
    return gcfg


def true_surfaces(spec: SceneSpec, config, sd: Path) -> tuple[np.ndarray, np.ndarray]:
    """Labelled samples of a cached scene's true surfaces (points [M, 3], part ids [M]): what the grasp judge
    (:func:`.metrics.judge_top_grasp`) reads."""
    return scene_surface_labelled(config, twin=spec.twin) if spec.generator == "synth" else mesh_surface_labelled(sd)


def run_scene(spec: SceneSpec, bc: BenchConfig, levels: Sequence[ErrorModel], log=print) -> Dict[str, Any]:
    """All levels, seeds and methods on one scene; returns {"records": [...], "timings_s": {...}}."""
    from point2act.method.run_layer import load_run, run_of
    from point2act.method.requery_run import AnswerSource, RefitOptions, Requery, query_run
    from point2act.points import write_json_atomic

    sd, t_gen = ensure_scene(spec, bc.common(), bc.cache_root)
    config = scene_config(spec, bc.common())
    scene = load_scene(sd, config)
    cfg_path, t_train = train_geometry(sd, bc)
    loaded = load_run(cfg_path)
    run = run_of(*loaded)
    # the baselines see the same views as point2act: nerfstudio holds one view in ten out for eval
    train_names = {Path(f).name for f in loaded[1].datamanager.train_dataparser_outputs.image_filenames}
    train_views = {fp for fp in scene.file_paths if Path(fp).name in train_names}
    recon = recon_depth_of(loaded, scene)
    ds = bc.downscale()
    gcfg = bench_grasp_config(bc)
    # labelled samples of the true surfaces: the grasp judge, and which part a missed action point is on
    surf = true_surfaces(spec, config, sd)
    # whether this hand can hold the target at all: the export path on the scene's true geometry (.oracle)
    beyond_hand = bool(oracle_grasp(scene, surf)["beyond_hand"]) if bc.grasps else None
    from scipy.spatial import cKDTree

    surf_tree = cKDTree(surf[0])
    part_names = {int(p["id"]): p["name"] for p in json.loads((sd / "ground_truth.json").read_text())["parts"]}
    thr = bc.ransac_threshold_frac * float(np.hypot(bc.width, bc.height))
    records: List[Dict[str, Any]] = []
    timings: Dict[str, Any] = {"scene_generation": t_gen, "reconstruction": t_train, "recon_depth": recon.seconds,
                               "pointing": 0.0, "baselines": 0.0, "weights_cache": 0.0, "refit": 0.0, "grasp": 0.0,
                               "export": 0.0}
    pdir = sd / ("bench_points" if bc.train_seed is None else f"bench_points_seed{int(bc.train_seed)}")
    pdir.mkdir(exist_ok=True)
    first = True
    for lvl in levels:
        if lvl.twin_only and scene.twin is None:
            continue
        for seed in bc.level_seeds(lvl):
            base = {"scene": spec.name, "split": spec.split, "level": lvl.name, "seed": int(seed),
                    "outlier_rate": lvl.outlier_rate, "generator": spec.generator, "train_seed": bc.train_seed}
            t0 = time.perf_counter()
            pts, kinds = simulate(scene.views, scene.file_paths, lvl, seed, scene.target_id, scene.target.centroid,
                                  scene.distractor_objects, scene.prompt, scene.object_spots, scene.twin,
                                  scene_seed=int(spec.overrides.get("seed", 0)) if bc.scene_streams else None,
                                  confuser=scene.confuser)
            timings["pointing"] += time.perf_counter() - t0
            kind_counts = {k: kinds.count(k) for k in sorted(set(kinds))}
            name = f"{lvl.name}_s{seed}"
            pfile = write_json_atomic(pdir / f"{name}.json", pts)
            b, dt = _baselines(scene, pts, thr, train_views, recon)
            timings["baselines"] += dt
            for m in ("lift_true_depth", "lift_recon_depth"):
                lifts = b[m]
                for p in lifts:
                    records.append(_rec(base, m, scene.target.distance(p), p, 1.0 / len(lifts)))
                if not lifts:
                    records.append(_rec(base, m, float("inf"), None))
            records.append(_rec(base, "best_view", scene.target.distance(b["best_view"]), b["best_view"]))
            records.append(_rec(base, "ransac", scene.target.distance(b["ransac"]), b["ransac"],
                                inliers=b["inliers"], answered=b["answered"]))
            # point2act: refit the relevancy channel on the frozen geometry, export its action point + grasps
            rec = {**base, "method": "point2act", "weight": 1.0, "kinds": kind_counts}
            try:
                q = query_run(cfg_path, Requery(name, AnswerSource(points_file=pfile),
                                                refit=RefitOptions(steps=bc.query_steps, downscale=ds)), loaded=run)
                qt = q.timings_s
                timings["weights_cache"] += qt.get("weights_cache_build", 0.0) + qt.get("weights_cache_load", 0.0)
                timings["refit"] += qt.get("total", 0.0) - qt.get("weights_cache_build", 0.0) - qt.get(
                    "weights_cache_load", 0.0) - qt.get("load_run", 0.0)
                if first:
                    rec["weights_cache_s"] = qt.get("weights_cache_build", qt.get("weights_cache_load", 0.0))
                    first = False
                t0 = time.perf_counter()
                out, info = _export_with_support(cfg_path, run, name, pfile,
                                                 pdir / f"grasps_{name}.json", gcfg, bc.grasps,
                                                 bc.support)
                rec["support"] = info.get("support", False)
                rec.update({k: info[k] for k in ("field_peak_m", "field_region_m") if k in info})
                timings["export"] += time.perf_counter() - t0
                ap = out["action_point"]
                timings["grasp"] += float(out.get("timings_ms", {}).get("total", 0.0)) / 1000.0
            except Exception as ex:  # noqa: BLE001  (a failure is a miss, recorded with its reason)
                ap, out = None, {"warning": f"{type(ex).__name__}: {ex}"}
                rec["error"] = out["warning"]
            e = scene.target.distance(ap)
            rec.update(error_m=e, hit=bool(e <= HIT_RADIUS_M), centroid_m=scene.target.centroid_distance(ap),
                       action_point=ap)
            if "confidence" in out:  # the views' consensus: how sure, and whether the target is among the top 2
                rec["confidence"] = float(out["confidence"])
                rec["weak"] = bool((out.get("support") or {}).get("weak", False))
                d2 = [scene.target.distance(c["action_point"]) for c in (out.get("candidates") or [])[:2]]
                rec["top2_hit"] = bool(d2 and min(d2) <= HIT_RADIUS_M)
            if ap is not None:
                dn, kn = surf_tree.query(np.asarray(ap, dtype=np.float64).reshape(3))
                rec["nearest_part"] = part_names.get(int(surf[1][kn]), str(int(surf[1][kn])))
                rec["nearest_part_m"] = float(dn)
            if bc.grasps:
                gl = out.get("grasps") or []
                rec["num_grasps"] = len(gl)
                rec["target_beyond_hand"] = beyond_hand
                rec["grasp_warning"] = out.get("warning") if not gl else None
                if gl:
                    v = judge_top_grasp(gl[0], surf[0], surf[1], scene.target_id)
                    rec["grasp_on_target"] = v["on_target"]
                    rec["grasp_collision_free"] = v["collision_free"]
                    rec["grasp_success"] = v["success"]
                    rec["grasp_target_fraction"] = v["target_fraction"]
                    # the pose itself (capture frame = the generator's world, metres): judged again elsewhere
                    # (benchmarks.acronym_trained: against ACRONYM's simulated grasps)
                    rec["top_grasp"] = {k: gl[0][k] for k in ("position", "rotation", "width")}
                else:
                    rec["grasp_on_target"] = rec["grasp_collision_free"] = rec["grasp_success"] = False
            records.append(rec)
            cm = lambda x: "none" if x is None else f"{scene.target.distance(x) * 100:.1f}cm"  # noqa: E731
            log(f"  {spec.name} {name}: point2act {e * 100:.1f}cm, ransac {cm(b['ransac'])}, best view "
                f"{cm(b['best_view'])}" + (f", grasps {rec.get('num_grasps')} ok {rec.get('grasp_success')}"
                                           if bc.grasps else ""))
    t0 = time.perf_counter()
    geometry = scene_geometry(cfg_path, sd, scene.target_id)
    timings["geometry"] = time.perf_counter() - t0
    return {"records": records, "timings_s": timings, "scene_dir": str(sd), "run": str(cfg_path), "geometry": geometry,
            "split": spec.split,
            "generator": spec.generator, "train_seed": bc.train_seed,
            "target_closed": scene.target.closed, "train_views": len(train_views), "twin": scene.twin is not None}
