"""Time the grasp head (``python -m benchmarks.bench_grasp``).

Default: a synthetic tabletop point set (table + mug with handle + box distractor, ~30k Gaussian
centres, 24 camera centres, point2act.grasp.synthetic): the planner alone. Prints the median over
repeated runs of each stage (region, surface, candidates, collision, scoring, total) in ms, plus
the first (cold) call, which includes importing scipy/open3d.

``--run CONFIG`` (e.g. the demo's ``outputs/demo/runs/demo/point2act/run/config.yml``): the whole
export path on a trained field — depth renders of the training views, TSDF fusion around the
action point, the occupancy grid, planning — with the same medians, and, for a ``point2act synth``
scene, the grasps judged against the true meshes (the approach from the pre-grasp pose too).
Writes ``benchmarks/results/grasp_run.json`` (``--out`` another file).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STAGES = ("region", "surface", "candidates", "collision", "scoring", "total")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    ap.add_argument("--run", type=Path, default=None, help="config.yml of a trained run: time the export path")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "grasp_run.json",
                    help="with --run: where to write the results")
    args = ap.parse_args(argv)
    if args.run is not None:
        return bench_run(args.run, args.repeats, args.out)

    from point2act.grasp import GraspConfig, PlanningScene, plan_grasps
    from point2act.grasp.synthetic import tabletop_scene

    s = tabletop_scene(seed=args.seed)
    cfg = GraspConfig()

    def run():
        t = time.perf_counter()
        r = plan_grasps(PlanningScene(s["means"], s["opacities"], s["relevancy"],
                                      camera_centers=s["camera_centers"], scales=s["scales"]), cfg)
        return r, (time.perf_counter() - t) * 1e3

    r, cold_ms = run()
    runs = [run() for _ in range(args.repeats)]
    med = {k: statistics.median(rr.timings_ms.get(k, 0.0) for rr, _ in runs) for k in STAGES}
    wall = statistics.median(w for _, w in runs)
    out = {
        "num_gaussians": int(len(s["means"])),
        "repeats": args.repeats,
        "median_ms": med,
        "median_wall_ms": wall,
        "cold_first_call_ms": cold_ms,
        "counts": r.counts,
        "num_grasps": len(r.grasps),
        "top_score": r.grasps[0].score if r.grasps else None,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"plan_grasps on a synthetic tabletop: {out['num_gaussians']} Gaussians, "
          f"median of {args.repeats} runs")
    for k in STAGES:
        print(f"  {k:<11s} {med[k]:8.1f} ms")
    print(f"  {'wall':<11s} {wall:8.1f} ms   (first call incl. imports: {cold_ms:.0f} ms)")
    print("  counts: " + ", ".join(f"{k}={v}" for k, v in r.counts.items()))
    print(f"  grasps: {len(r.grasps)}, top score {out['top_score']}")
    return 0


def bench_run(config_path: Path, repeats: int, out_path: Path = ROOT / "benchmarks" / "results" / "grasp_run.json") -> int:

    from point2act.export import ExportRequest, export, of_arrays
    from point2act.geometry import FrameTransform
    from point2act.method.run_layer import depth_views_of, gaussian_arrays, load_run
    from point2act.grasp import GraspConfig
    from point2act.grasp.config import FUSION_MAX_VIEWS

    config, pipeline = load_run(config_path)
    frame = FrameTransform.from_json(Path(config.get_base_dir()) / "dataparser_transforms.json")
    cams = pipeline.datamanager.train_dataparser_outputs.cameras
    centers = frame.to_capture(cams.camera_to_worlds[:, :3, 3].cpu().numpy())
    arrays = gaussian_arrays(pipeline.model)
    cfg = GraspConfig()
    prompt = getattr(config.pipeline.datamanager, "prompt", "") or ""
    runs = []
    for _ in range(repeats + 1):  # the first is a warm-up (extension load, imports)
        views = depth_views_of(pipeline.model, cams, FUSION_MAX_VIEWS)
        t = time.perf_counter()
        out = export(ExportRequest(cfg), of_arrays(arrays, frame, centers=centers, depth_views=views, prompt=prompt))
        out["timings_ms"]["export_wall"] = (time.perf_counter() - t) * 1e3 + views.render_ms
        runs.append(out)
    keys = ("depth_render", "tsdf_fusion", "occupancy", *STAGES, "export_wall")
    med = {k: statistics.median(o["timings_ms"].get(k, 0.0) for o in runs[1:]) for k in keys}
    res = {
        "run": str(config_path),
        "num_gaussians": int(len(arrays["means"])),
        "num_views_fused": int(len(views.depths)),
        "image": list(views.depths.shape[1:]),
        "repeats": repeats,
        "median_ms": med,
        "num_grasps": len(runs[-1]["grasps"]),
        "warning": runs[-1].get("warning"),
    }
    scene = Path(config.pipeline.datamanager.data)
    if runs[-1]["grasps"] and (scene / "ground_truth.json").is_file():
        from point2act.demo import true_surface
        from point2act.grasp.evaluate import GroundTruth, judge_grasp

        gt = json.loads((scene / "ground_truth.json").read_text())
        pts, names = true_surface(scene)
        truth = GroundTruth(pts, names, table_z=0.0)
        verdicts = [judge_grasp(g, cfg.gripper, truth, gt["target"]) for g in runs[-1]["grasps"]]
        res["best_grasp_verdict"] = verdicts[0].to_dict()
        res["grasps_on_target"] = int(sum(v.on_target for v in verdicts))
        res["grasps_collision_free"] = int(sum(v.collision_free for v in verdicts))
        res["grasps_approach_free"] = int(sum(getattr(v, "approach_free", True) for v in verdicts))
        res["grasps_flagged_on_target"] = int(sum(bool(g.get("on_target", True)) for g in runs[-1]["grasps"]))
    print(f"export path on {config_path}: {res['num_gaussians']} Gaussians, {res['num_views_fused']} views "
          f"at {res['image'][1]}x{res['image'][0]}, median of {repeats} runs")
    for k in keys:
        print(f"  {k:<13s} {med[k]:8.1f} ms")
    print(f"  grasps: {res['num_grasps']}" + (f", on the target {res['grasps_on_target']}, collision-free "
                                              f"{res['grasps_collision_free']}, approach clear "
                                              f"{res['grasps_approach_free']} (true meshes)" if "grasps_on_target" in res else ""))
    if "best_grasp_verdict" in res:
        print(f"  best grasp: {res['best_grasp_verdict']}")
    out_path = Path(out_path)
    out_path.write_text(json.dumps(res, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
