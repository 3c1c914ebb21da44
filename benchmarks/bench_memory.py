"""Peak memory of ``ns-train point2act`` on 1920x1080 captures of 50, 100 and 200 views (CPU).

Each capture is the synthetic tabletop (``point2act synth``) rendered at 240x135 and upsampled
8x to 1920x1080 JPEGs, with its oracle points file scaled to match; they are cached in
``~/.cache/point2act/bench/memory/`` (``$POINT2ACT_BENCH_CACHE``). For each size a fresh
subprocess builds the ``point2act`` trainer exactly as ``ns-train`` does (method config, CPU,
full resolution: ``num_downscales 0``), sets up the datamanager (image cache, points, heatmaps),
runs a few training iterations and reports its peak RSS (``getrusage``) and RSS after each phase.

    nice python -m benchmarks.bench_memory                  # 50, 100, 200 views, 3 iterations
    nice python -m benchmarks.bench_memory --views 50 --legacy   # also: float32 image cache + dense heatmaps

Writes ``benchmarks/results/memory.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
W, H, UP = 1920, 1080, 8  # rendered at W/UP x H/UP, upsampled UP times


def cache_root() -> Path:
    env = os.environ.get("POINT2ACT_BENCH_CACHE", "")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "point2act" / "bench") / "memory"


def make_capture(num_views: int) -> Path:
    """A ``num_views`` 1920x1080 capture (cached): synth at 240x135, upsampled 8x, points scaled."""
    from PIL import Image

    from point2act.synth import SynthConfig, generate_scene

    out = cache_root() / f"synth_{num_views}_{W}x{H}"
    if (out / "DONE").is_file():
        return out
    small = out.with_name(out.name + "_small")
    generate_scene(small, SynthConfig(seed=0, num_views=num_views, width=W // UP, height=H // UP))
    (out / "images").mkdir(parents=True, exist_ok=True)
    tf = json.loads((small / "transforms.json").read_text())
    for k in ("fl_x", "fl_y", "cx", "cy"):
        tf[k] = tf[k] * UP
    tf["w"], tf["h"] = W, H
    frames = []
    for f in tf["frames"]:
        name = Path(f["file_path"]).with_suffix(".jpg").name
        Image.open(small / f["file_path"]).convert("RGB").resize((W, H), Image.BILINEAR).save(
            out / "images" / name, quality=90)
        frames.append({"file_path": f"images/{name}", "transform_matrix": f["transform_matrix"]})
    tf["frames"] = frames
    (out / "sparse_pc.ply").write_bytes((small / "sparse_pc.ply").read_bytes())
    (out / "transforms.json").write_text(json.dumps(tf, indent=1))
    pts = json.loads((small / "points" / "oracle.json").read_text())
    pts["points"] = {str(Path(k).with_suffix(".jpg")): [[x * UP, y * UP] for x, y in v] for k, v in pts["points"].items()}
    (out / "points").mkdir(exist_ok=True)
    (out / "points" / "oracle.json").write_text(json.dumps(pts, indent=1))
    (out / "DONE").write_text("ok\n")
    import shutil

    shutil.rmtree(small)
    return out


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def child(capture: Path, iterations: int, out_dir: Path, legacy: bool) -> Dict[str, Any]:
    """Runs in its own process: trainer setup + ``iterations`` steps; returns the measurements."""
    import copy

    import torch

    from nerfstudio.configs.method_configs import all_methods

    phases: Dict[str, float] = {"imports": _rss_mb()}
    config = copy.deepcopy(all_methods["point2act"])
    config.output_dir = out_dir
    config.experiment_name = "mem"
    config.timestamp = "run"
    config.vis = "tensorboard"
    config.max_num_iterations = iterations
    config.steps_per_save = 10**9
    config.steps_per_eval_image = config.steps_per_eval_batch = config.steps_per_eval_all_images = 10**9
    dm = config.pipeline.datamanager
    dm.data = dm.dataparser.data = capture
    dm.points_file = capture / "points" / "oracle.json"
    if legacy:
        dm.cache_images_type = "float32"
    config.pipeline.model.num_downscales = 0  # full 1920x1080 renders: the worst case
    config.pipeline.model.warmup_length = 10**6
    t0 = time.perf_counter()
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    d = trainer.pipeline.datamanager
    n_img = len(d.cached_train) + len(d.cached_eval)
    img_bytes = sum(c["image"].numel() * c["image"].element_size() for c in list(d.cached_train) + list(d.cached_eval))
    heat = d.train_heatmaps
    dense = None
    if legacy:  # what the datamanager used to hold: every heatmap, full resolution, float32
        dense = {k: heat[k] for k in heat}
        heat_bytes = sum(v.numel() * v.element_size() for v in dense.values())
    else:
        heat_bytes = heat.nbytes
    setup_s = time.perf_counter() - t0
    phases["setup"] = _rss_mb()
    t0 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t0
    phases["train"] = _rss_mb()
    del dense
    return {
        "views": n_img,
        "train_views": len(d.cached_train),
        "supervised_views": len(heat),
        "image_size": [W, H],
        "cache_images": dm.cache_images,
        "cache_images_type": dm.cache_images_type,
        "legacy": legacy,
        "image_cache_mb": img_bytes / 2**20,
        "heatmap_store_mb": heat_bytes / 2**20,
        "num_gaussians": int(trainer.pipeline.model.means.shape[0]),
        "iterations": iterations,
        "setup_s": setup_s,
        "train_s": train_s,
        "rss_mb": phases,
        "peak_rss_mb": _peak_mb(),
        "torch_threads": torch.get_num_threads(),
    }


def run_size(views: int, iterations: int, legacy: bool) -> Dict[str, Any]:
    capture = make_capture(views)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "benchmarks.bench_memory", "--child", str(capture), "--iterations", str(iterations),
               "--out", tmp] + (["--legacy"] if legacy else [])
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{views} views: child failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("BENCH_MEMORY ")][-1]
    res = json.loads(line[len("BENCH_MEMORY "):])
    res["wall_s"] = wall
    return res


def write_results(rows: List[Dict[str, Any]]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "mem_total_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
            "command": "nice python -m benchmarks.bench_memory " + " ".join(sys.argv[1:])}
    (RESULTS / "memory.json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=1) + "\n")
    lines = [
        "# Peak memory of ns-train point2act at 1920x1080 (CPU)",
        "",
        f"{' and '.join(sorted({'`' + r['command'] + '`' for r in rows}))} on {meta['cpus']} CPUs, "
        f"{meta['mem_total_gib']:.1f} GiB, {meta['date']}; the machine was shared (other jobs running).",
        "Synthetic tabletop rendered at 240x135 and upsampled 8x (JPEG); oracle points; full-resolution",
        "renders (`num_downscales 0`); one fresh process per row. RSS in MiB.",
        "",
        "Image cache: what nerfstudio holds for all views (train and eval); heatmap store: what the",
        "datamanager holds for the targets (legacy rows: every full-resolution float32 heatmap).",
        "",
        "| views (train+eval) | supervised | image cache | type | image cache MiB | heatmap store KiB |"
        " RSS after setup | peak RSS | setup s | train s (iters) |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['views']} | {r['supervised_views']} | {r['cache_images']} | {r['cache_images_type']}"
            f"{' + dense heatmaps' if r['legacy'] else ''} | {r['image_cache_mb']:.0f} | {r['heatmap_store_mb'] * 1024:.1f} |"
            f" {r['rss_mb']['setup']:.0f} | {r['peak_rss_mb']:.0f} | {r['setup_s']:.1f} | {r['train_s']:.1f} ({r['iterations']}) |"
        )
    (RESULTS / "memory.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--views", type=int, nargs="+", default=[50, 100, 200])
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--legacy", action="store_true", help="float32 image cache + every heatmap held densely")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child is not None:
        res = child(a.child, a.iterations, a.out, a.legacy)
        print("BENCH_MEMORY " + json.dumps(res), flush=True)
        return
    rows = []
    prev = RESULTS / "memory.json"
    if prev.is_file():  # keep rows of other settings (e.g. --legacy) from an earlier run
        rows = [r for r in json.loads(prev.read_text())["runs"]
                if not (r["legacy"] == a.legacy and r.get("requested_views") in a.views)]
    for v in a.views:
        r = run_size(v, a.iterations, a.legacy)
        print(f"{v} views: peak RSS {r['peak_rss_mb']:.0f} MiB (after setup {r['rss_mb']['setup']:.0f}), image cache "
              f"{r['image_cache_mb']:.0f} MiB, heatmaps {r['heatmap_store_mb']:.3f} MiB, setup {r['setup_s']:.1f} s, "
              f"{r['iterations']} iterations {r['train_s']:.1f} s", flush=True)
        r["requested_views"] = v
        r["command"] = "nice python -m benchmarks.bench_memory " + " ".join(sys.argv[1:])
        rows.append(r)
        rows.sort(key=lambda x: (x["legacy"], x["requested_views"]))
        write_results(rows)


if __name__ == "__main__":
    main()
