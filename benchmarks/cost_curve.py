"""How seconds, memory and disk grow with a capture's views and pixels, stage by stage.

    python -m benchmarks.cost_curve [--views 10 20 40 80 160] [--sizes 256x192 640x480 1280x960]
        [--cells VIEWS@WxH ...] [--keep EARLIER.json] [--out outputs/cost_curve] [--name cost_curve]

Each cell (a number of views crossed with an image size, or the ``--cells`` listed) is a capture from the generator (``point2act.synth``,
seed 0) without a point cloud, trained on the default path: the start cloud triangulated from the photos (SIFT and
stereo, :mod:`point2act.startcloud.triangulate`), the support plane swept (:mod:`point2act.startcloud.plane_sweep`), the default schedule
(training stops once the target's depth has converged). Every cell is a first run: its own, empty start-cloud cache.

Per cell, each in a new process: the training (``--cell``: nerfstudio's trainer in that process, its stages timed
by wrapping the functions that run them: the start cloud, the plane sweep, the rest of the setup, the steps, the
end-of-training fit, the run's caches; its peak RSS), then ``point2act export`` and ``point2act query`` (the
oracle's answers as a new channel), each timed from outside with its peak RSS; and the run folder's size.

``--keep EARLIER.json``: the cells of an earlier result that this run does not measure join the table, each with
the command and commit that measured it (the table's ``run`` column), so that a grid too long for one sitting is
measured in parts.

Writes ``benchmarks/results/NAME.json``, ``NAME.md`` (the table and each stage's fitted exponents in views and in
pixels: ``log t = a + b log(views) + c log(pixels)`` by least squares over the cells) and ``NAME.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent
STAGES = ("start_cloud", "plane_sweep", "setup_other", "steps", "end_fit", "caches", "train_total", "export",
          "query")
"""The stages timed per cell, in the order a user waits for them."""


def _size(arg: str) -> Tuple[int, int]:
    w, h = arg.lower().split("x")
    return int(w), int(h)


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _timed_cli(cmd: List[str], log: Path, env: Dict[str, str]) -> Dict[str, float]:
    """Wall seconds and peak RSS (MB) of a command in a new process."""
    t0 = time.perf_counter()
    with open(log, "a") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
        _pid, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed; see {log}")
    return {"s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def train_cell(scene: Path, out: Path) -> Dict:
    """Train ``scene`` in this process with nerfstudio's trainer, its stages timed; what :func:`run_cell` records."""
    import point2act.startcloud.plane_sweep as plane_sweep
    import point2act.startcloud.triangulate as triangulate
    from point2act.method.schedule import short_schedule
    from point2act.method.train import registered_config, train
    from point2act.method.trainer import Point2ActTrainer

    totals: Dict[str, float] = {}
    counts = {"steps": 0}

    def timed(obj, name: str, key: str):
        fn = getattr(obj, name)

        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                totals[key] = totals.get(key, 0.0) + time.perf_counter() - t0
                if key == "steps":
                    counts["steps"] += 1

        setattr(obj, name, wrapper)

    timed(triangulate, "start_cloud", "start_cloud")
    timed(plane_sweep, "support_plane", "plane_sweep")
    timed(Point2ActTrainer, "setup", "setup")
    timed(Point2ActTrainer, "train_iteration", "steps")
    timed(Point2ActTrainer, "_fit_to_consensus", "end_fit")
    timed(Point2ActTrainer, "_write_run_info", "caches")
    timed(Point2ActTrainer, "_write_export_inputs", "caches")
    config = registered_config("point2act")
    config.pipeline.datamanager.dataparser.load_3D_points = False  # no cloud: the default path triangulates one
    from point2act.method.schedule import DEFAULT_ITERATIONS

    config = short_schedule(config, scene, scene / "points" / "oracle.json", out, DEFAULT_ITERATIONS, False)
    config.experiment_name = "cell"
    t0 = time.perf_counter()
    trainer = train(config)
    total = time.perf_counter() - t0
    rec = {k: round(v, 2) for k, v in totals.items()}
    rec["setup_other"] = setup_other(rec)
    rec["train_total"] = round(total, 2)
    rec["steps_trained"] = counts["steps"]
    rec["gaussians"] = int(trainer.pipeline.model.means.shape[0])
    rec["train_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    rec["config"] = str(Path(config.get_base_dir()) / "config.yml")
    return rec


def setup_other(rec: Dict) -> float:
    """The setup's seconds besides the start cloud and the plane sweep. The sweep runs in a thread beside the start
    cloud's triangulation (both start with the setup's capture read), so the two take the longer one's seconds of
    the setup's wall time, not their sum."""
    return round(rec.get("setup", 0.0) - max(rec.get("start_cloud", 0.0), rec.get("plane_sweep", 0.0)), 2)


def run_cell(views: int, size: Tuple[int, int], out: Path) -> Dict:
    """One cell: the capture generated, then its training, export and query, each a new process."""
    from point2act.synth import SynthConfig, generate_scene

    w, h = size
    cell = out / f"v{views}_{w}x{h}"
    shutil.rmtree(cell, ignore_errors=True)
    scene = cell / "scene"
    generate_scene(scene, SynthConfig(seed=0, num_views=views, width=w, height=h))
    env = {**os.environ, "POINT2ACT_CACHE": str(cell / "cache" / "torch"), "COLUMNS": "200"}
    log = cell / "log.txt"
    rec_path = cell / "train.json"
    t0 = time.perf_counter()
    with open(log, "a") as f:
        p = subprocess.Popen([sys.executable, "-m", "benchmarks.cost_curve", "--cell", str(scene), str(cell / "runs"),
                              str(rec_path)], stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _pid, status, usage = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"training v{views} {w}x{h} failed; see {log}")
    rec = json.loads(rec_path.read_text())
    rec["train_process_s"] = round(time.perf_counter() - t0, 2)
    config = Path(rec.pop("config"))
    export = _timed_cli([str(BIN / "point2act"), "export", "--load-config", str(config), "--output",
                         str(cell / "grasps.json")], log, env)
    query = _timed_cli([str(BIN / "point2act"), "query", "--load-config", str(config), "--points-file",
                        str(scene / "points" / "oracle.json"), "--name", "q"], log, env)
    rec.update(views=views, width=w, height=h, pixels=w * h, export=export["s"],
               export_peak_rss_mb=export["peak_rss_mb"], query=query["s"], query_peak_rss_mb=query["peak_rss_mb"],
               run_dir_mb=round(_dir_bytes(config.parent) / 1e6, 1),
               checkpoint_mb=round(sum(f.stat().st_size for f in (config.parent / "nerfstudio_models").glob("*.ckpt"))
                                   / 1e6, 1))
    return rec


def kept_cells(path: Path, measured: Sequence[Tuple[int, Tuple[int, int]]]) -> Tuple[List[Dict], List[Dict]]:
    """The cells of the earlier result ``path`` that are not among ``measured`` (views, (width, height)), and the
    runs that measured them (command, commit, start), for the new result's ``_meta["earlier"]``: a kept cell's
    ``run`` is 1 + the index of its run there (0: the new run)."""
    old = json.loads(Path(path).read_text())
    runs = [old["_meta"]] + list(old["_meta"].get("earlier", []))
    skip = {(v, (w, h)) for v, (w, h) in measured}
    out = []
    for c in old["cells"]:
        if (c["views"], (c["width"], c["height"])) not in skip:
            c = dict(c)
            c["run"] = int(c.get("run", 0)) + 1
            out.append(c)
    return out, [{k: r[k] for k in ("command", "commit", "started")} for r in runs]


def exponents(cells: Sequence[Dict], key: str) -> Tuple[float, float] | None:
    """(b, c) of ``log t = a + b log(views) + c log(pixels)`` by least squares over ``cells`` (None: too few cells,
    or views or pixels never vary)."""
    import numpy as np

    rows = [(c["views"], c["pixels"], c.get(key)) for c in cells if c.get(key) and c.get(key) > 0]
    if len(rows) < 3 or len({r[0] for r in rows}) < 2 or len({r[1] for r in rows}) < 2:
        return None
    A = np.array([[1.0, math.log(v), math.log(p)] for v, p, _ in rows])
    y = np.array([math.log(t) for _, _, t in rows])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(coef[1]), float(coef[2])


def markdown(doc: Dict) -> str:
    meta, cells = doc["_meta"], doc["cells"]
    runs = [meta] + list(meta.get("earlier", []))
    lines = ["# The cost curve: seconds, memory and disk against views and pixels", "",
             f"On {meta['cpu']}, {meta['cores']} cores. A generated capture per cell (seed 0) without a point cloud, on "
             "the default path, each a first run; training, export and query each a new process. The `run` column "
             "names the run that measured the cell:", ""]
    lines += [f"{i}. `{r['command']}` at commit {r['commit']}, {r['started']}" for i, r in enumerate(runs)]
    lines += ["",
             "| run | views | size | start cloud | plane sweep | setup, rest | steps (n) | end fit | caches | training | "
             "export | query | Gaussians | peak RSS train / export / query MB | run dir MB (checkpoint) |",
             "|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for c in sorted(cells, key=lambda c: (c["pixels"], c["views"])):
        lines.append(
            f"| {c.get('run', 0)} | {c['views']} | {c['width']}x{c['height']} | {c.get('start_cloud', 0):.1f} | {c.get('plane_sweep', 0):.1f} | "
            f"{c['setup_other']:.1f} | {c.get('steps', 0):.1f} ({c['steps_trained']}) | {c.get('end_fit', 0):.1f} | "
            f"{c.get('caches', 0):.1f} | {c['train_total']:.1f} | {c['export']:.1f} | {c['query']:.1f} | "
            f"{c['gaussians']} | {c['train_peak_rss_mb']:.0f} / {c['export_peak_rss_mb']:.0f} / "
            f"{c['query_peak_rss_mb']:.0f} | {c['run_dir_mb']} ({c['checkpoint_mb']}) |")
    lines += ["", "Fitted exponents, `seconds ~ views^b x pixels^c` (least squares in log-log over the cells; the input "
              "itself, views x pixels, has b = c = 1):", "", "| stage | b (views) | c (pixels) |", "|---|---:|---:|"]
    for key in STAGES + ("train_peak_rss_mb", "run_dir_mb"):
        e = exponents(cells, key)
        lines.append(f"| {key} | " + (f"{e[0]:.2f} | {e[1]:.2f} |" if e else "- | - |"))
    lines.append("")
    lines.append(f"![cost curve]({doc['_meta']['name']}.png)")
    return "\n".join(lines) + "\n"


def plot(doc: Dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = doc["cells"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    stages = ("start_cloud", "plane_sweep", "setup_other", "steps", "end_fit", "caches", "export", "query")
    colours = plt.get_cmap("tab10")
    for ax, x_key, group_key in ((axes[0], "views", "pixels"), (axes[1], "pixels", "views")):
        groups = sorted({c[group_key] for c in cells})
        for si, stage in enumerate(stages):
            for gi, g in enumerate(groups):
                pts = sorted((c[x_key], c.get(stage, 0)) for c in cells if c[group_key] == g and c.get(stage))
                if len(pts) >= 2:
                    ax.plot(*zip(*pts), marker="o", color=colours(si), linestyle=("-", "--", ":", "-.")[gi % 4],
                            label=stage if gi == 0 else None)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(x_key + f" (lines: {group_key} " + ", ".join(f"{g}" for g in groups) + ": solid, dashed, ...)")
        ax.set_ylabel("seconds")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: List[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--cell":  # the training process of one cell
        _, scene, runs, rec_path = argv
        Path(rec_path).write_text(json.dumps(train_cell(Path(scene), Path(runs)), indent=1))
        return 0
    from benchmarks.bench_command import _commit
    from benchmarks.gate.__main__ import cpu_model

    ap = argparse.ArgumentParser(prog="python -m benchmarks.cost_curve", description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, nargs="+", default=[10, 20, 40, 80, 160])
    ap.add_argument("--sizes", type=_size, nargs="+", default=[(256, 192), (640, 480), (1280, 960)])
    ap.add_argument("--cells", nargs="+", default=None, metavar="VIEWS@WxH",
                    help="these cells instead of --views crossed with --sizes (e.g. 160@256x192 20@1280x960)")
    ap.add_argument("--keep", type=Path, default=None, metavar="EARLIER.json",
                    help="an earlier result whose cells this run does not measure are kept, with their commit")
    ap.add_argument("--out", type=Path, default=Path("outputs/cost_curve"))
    ap.add_argument("--name", default="cost_curve")
    args = ap.parse_args(argv)
    meta = {"command": "python -m benchmarks.cost_curve " + " ".join(argv), "commit": _commit(), "cpu": cpu_model(),
            "cores": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "name": args.name}
    doc: Dict = {"_meta": meta, "cells": []}
    cells = ([(int(c.split("@")[0]), _size(c.split("@")[1])) for c in args.cells] if args.cells else
             [(views, size) for size in args.sizes for views in args.views])
    kept, meta["earlier"] = kept_cells(args.keep, cells) if args.keep else ([], [])
    doc["cells"] = list(kept)
    for views, size in cells:
        rec = run_cell(views, size, args.out.resolve())
        rec["run"] = 0
        doc["cells"].append(rec)
        print(f"{views} views {size[0]}x{size[1]}: training {rec['train_total']} s ({rec['steps_trained']} steps, "
              f"start cloud {rec.get('start_cloud', 0)} s), export {rec['export']} s, query {rec['query']} s, "
              f"run dir {rec['run_dir_mb']} MB", flush=True)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{args.name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        (RESULTS / f"{args.name}.md").write_text(markdown(doc))
        if len(doc["cells"]) >= 2:
            plot(doc, RESULTS / f"{args.name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
