"""Re-query against a full training run, measured in one run.

On the synthetic scene (seed 0):
1. ``ns-train point2act`` (the demo's CPU schedule) with the oracle pointing at the mug handle;
2. a points file pointing at a distractor (the ball), made from the scene's part masks the same way
   the oracle does it (visible pixel nearest the part's visible centroid; ``[]`` when fewer than 12
   pixels are visible);
3. ``point2act query`` on run 1 with the ball points, timed: weights cache built, then loaded, at
   the default half resolution (``--downscale 2``) and at the training resolution;
4. a full ``ns-train point2act`` fit of the same ball points (same schedule), timed, then exported.

Prints and writes ``benchmarks/results/query_vs_train.json``: query times (with their breakdown and
the load average), full-fit time, their ratio, and the distance between the action points (and of
each to the ball's centroid). The run is loaded once beforehand (as the viewer holds it) and the
points come from a file, so neither model loading nor pointing is in the query time.

    python -m benchmarks.bench_query_vs_train [--iterations 1000] [--out outputs/bench_query]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def part_points(scene: Path, part_name: str, min_visible_px: int = 12) -> dict:
    """Points file aiming at one part of the synthetic scene, from its masks."""
    from PIL import Image

    gt = json.loads((scene / "ground_truth.json").read_text())
    pid = next(o["part_id"] for o in gt["objects"] if o["name"] == part_name)
    meta = json.loads((scene / "transforms.json").read_text())
    points = {}
    for fr in meta["frames"]:
        mask = np.asarray(Image.open(scene / fr["part_mask_path"]))
        ys, xs = np.nonzero(mask == pid)
        if len(xs) < min_visible_px:
            points[fr["file_path"]] = []
            continue
        c = np.array([xs.mean(), ys.mean()])
        i = int(np.argmin((xs - c[0]) ** 2 + (ys - c[1]) ** 2))
        points[fr["file_path"]] = [[float(xs[i]) + 0.5, float(ys[i]) + 0.5]]
    return {"prompt": f"Point to the {part_name}", "coordinates": "pixels", "points": points}


def train(scene: Path, points: Path, out: Path, name: str, iterations: int) -> tuple:
    """(config.yml, seconds, load average at the end) of one ns-train point2act run."""
    from point2act.method.schedule import short_schedule
    from point2act.method.train import registered_config, train

    cfg = short_schedule(registered_config("point2act"), scene, points, out, iterations)
    cfg.experiment_name = name
    t0 = time.perf_counter()
    train(cfg)
    return Path(cfg.get_base_dir()) / "config.yml", time.perf_counter() - t0, os.getloadavg()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_query")
    ap.add_argument("--part", default="ball")
    ap.add_argument("--reuse", action="store_true", help="reuse the handle run in --out if it exists")
    a = ap.parse_args()

    from point2act.export import Channels, ExportRequest
    from point2act.method.export_run import export_run

    from point2act.method.run_layer import load_run, run_of
    from point2act.points import write_json_atomic
    from point2act.method.requery_run import AnswerSource, RefitOptions, Requery, query_run
    from point2act.synth import SynthConfig, generate_scene

    scene = a.out / "scene"
    generate_scene(scene, SynthConfig(seed=0))
    part_file = write_json_atomic(scene / "points" / f"{a.part}.json", part_points(scene, a.part))

    handle_cfg = a.out / "handle" / "point2act" / "run" / "config.yml"
    t_handle = None
    if not (a.reuse and handle_cfg.is_file()):
        handle_cfg, t_handle, _ = train(scene, scene / "points" / "oracle.json", a.out, "handle", a.iterations)
    ns_config, pipeline = load_run(handle_cfg)
    loaded = run_of(ns_config, pipeline)
    # the query as `point2act query` runs it on a loaded run (points from a file: no MLLM time),
    # first with the weights cache built, then with it loaded; at the default 1/2 resolution and at
    # the training resolution
    queries = {}
    # (the first query of the process also pays one-time costs, e.g. torch's first calls; the default
    # query is timed once more at the end, warm)
    for ds, key in ((2, "downscale2_build"), (1, "downscale1_build"), (2, "downscale2_build_warm")):
        name = f"{a.part}_ds{ds}"
        t0, c0 = time.perf_counter(), time.process_time()
        q = query_run(handle_cfg, Requery(name, AnswerSource(points_file=part_file), refit=RefitOptions(downscale=ds)),
                      loaded=loaded)
        t, cpu = time.perf_counter() - t0, time.process_time() - c0
        cams = pipeline.datamanager.train_dataset.cameras
        h, w = int(cams.height[0]) // ds, int(cams.width[0]) // ds
        queries[key] = {
            "seconds": round(t, 3), "cpu_seconds": round(cpu, 3),
            "timings_s": {k: round(v, 3) for k, v in q.timings_s.items()},
            "views": q.num_views, "resolution": f"{int(w)}x{int(h)}", "weights": q.nnz, "steps": len(q.losses),
            "final_loss": round(q.losses[-1], 5), "load_average_1min": round(os.getloadavg()[0], 2),
        }
    fast_aps = {}
    for ds in (2, 1):
        name = f"{a.part}_ds{ds}"
        request = ExportRequest(grasps=False, channels=Channels(keypoints=(name,)))
        _, fast = export_run(handle_cfg, request, a.out / f"{name}_fast.json", loaded=loaded)
        fast_aps[ds] = np.asarray(fast["keypoints"][name]["action_point"])

    full_cfg, t_full, full_load = train(scene, part_file, a.out, a.part, a.iterations)
    _, full = export_run(full_cfg, ExportRequest(grasps=False), a.out / f"{a.part}_full.json")
    full_ap = np.asarray(full["action_point"])

    gt = json.loads((scene / "ground_truth.json").read_text())
    obj = next(o for o in gt["objects"] if o["name"] == a.part)
    centroid = np.asarray(obj["centroid"])
    t_query = queries["downscale2_build"]["seconds"]
    result = {
        "part": a.part,
        "iterations": a.iterations,
        "query_seconds": t_query,
        "query_timings_s": queries["downscale2_build"]["timings_s"],
        "queries": queries,
        "full_train_seconds": round(t_full, 1),
        "full_train_load_average_1_5_15min": [round(x, 2) for x in full_load],
        "full_over_query": round(t_full / t_query, 1),
        "full_over_query_cached": round(t_full / queries["downscale2_cached"]["seconds"], 1),
        "full_over_query_downscale1": round(t_full / queries["downscale1_build"]["seconds"], 1),
        "fast_action_point": fast_aps[2].tolist(),
        "fast_action_point_downscale1": fast_aps[1].tolist(),
        "full_action_point": full_ap.tolist(),
        "fast_vs_full_m": float(np.linalg.norm(fast_aps[2] - full_ap)),
        "fast_downscale1_vs_full_m": float(np.linalg.norm(fast_aps[1] - full_ap)),
        "fast_to_part_centroid_m": float(np.linalg.norm(fast_aps[2] - centroid)),
        "full_to_part_centroid_m": float(np.linalg.norm(full_ap - centroid)),
        "handle_train_seconds": None if t_handle is None else round(t_handle, 1),
        "num_gaussians": loaded.gaussians.num_points,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=1))
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "query_vs_train.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
