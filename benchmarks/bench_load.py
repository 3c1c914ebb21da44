"""Loading a trained run for ``point2act export`` / ``point2act query``: the nerfstudio way against
the run's cached info (:mod:`point2act.method.datamanager_info`).

``--check``: in one process, ``point2act export`` the old way (nerfstudio's ``eval_setup`` and the
supervision datamanager that decodes the images) and the new way (the run's cached info), and compare the
documents (everything but timings and the run path) and the cameras the weights cache is keyed on::

    python -m benchmarks.bench_load --config RUN/config.yml --check [--export-arg=--metres-per-unit=0.1]

``--time N``: wall of N fresh ``point2act export`` (and with ``--query-points``, ``point2act query``)
processes, with the 1-minute load average before each; ``--old``: the nerfstudio way
(``POINT2ACT_NO_RUN_INFO=1``)::

    python -m benchmarks.bench_load --config RUN/config.yml --time 3 [--old] [--query-points P.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
SKIP = {"timings_ms", "run"}


def _export_args(a) -> list:
    return [x for arg in a.export_arg for x in arg.split("=", 1)]


def _query_args(a) -> list:
    return [x for arg in a.query_arg for x in arg.split("=", 1)]


def check(a) -> dict:
    import numpy as np
    import torch

    from point2act import cli
    from point2act.method import run_layer as mrun
    from point2act.method import supervision as msup
    from point2act.method import datamanager_info
    from point2act.method.run_data import Supervision

    tmp = Path(tempfile.mkdtemp(prefix="bench_load_"))
    out_old, out_new = tmp / "old.json", tmp / "new.json"
    argv = ["export", "--load-config", str(a.config), *_export_args(a)]

    # old: nerfstudio's pipeline and the supervision datamanager (no cached info used)
    keep = (mrun.open_run, msup.supervision_of, datamanager_info.run_data_dir)
    mrun.open_run = lambda cp: mrun.run_of(*mrun.load_run(cp))
    msup.supervision_of = lambda _cp, run, pf=None, prompt="", pointer=None: Supervision.of_datamanager(
        msup.supervision_datamanager(run.config, pf, prompt, pointer))
    datamanager_info.run_data_dir = lambda _cp: False
    t0 = time.perf_counter()
    try:
        cli.entrypoint([*argv, "--output", str(out_old)])
    finally:
        mrun.open_run, msup.supervision_of, datamanager_info.run_data_dir = keep
    t_old = time.perf_counter() - t0
    old_cfg, old_pipe = mrun.load_run(a.config)
    old_dm = Supervision.of_datamanager(
        msup.supervision_datamanager(old_cfg, Path(old_cfg.pipeline.datamanager.points_file)))

    # new (the first open caches the info when it is missing)
    had_info = datamanager_info.read_info(a.config) is not None
    mrun.open_run(a.config)
    t0 = time.perf_counter()
    cli.entrypoint([*argv, "--output", str(out_new)])
    t_new = time.perf_counter() - t0
    new_run = mrun.open_run(a.config)
    assert new_run.info is not None, "the cached info was not used"
    new_dm = msup.supervision_of(a.config, new_run, new_run.points_file)

    d_old, d_new = json.loads(out_old.read_text()), json.loads(out_new.read_text())
    diff = sorted(k for k in set(d_old) | set(d_new) if k not in SKIP and d_old.get(k) != d_new.get(k))
    same = {}
    for ds in (1, 2, 4):
        o = mrun.camera_views(old_dm.cameras, ds, old_pipe.model)
        n = mrun.camera_views(new_dm.cameras, ds, new_run.gaussians)
        same[f"train_cameras_ds{ds}"] = bool(torch.equal(o[0], n[0]) and torch.equal(o[1], n[1]) and o[2] == n[2])
    o = mrun.camera_views(old_pipe.datamanager.train_dataparser_outputs.cameras)
    n = mrun.camera_views(new_run.cameras)
    same["inference_cameras"] = bool(torch.equal(o[0], n[0]) and torch.equal(o[1], n[1]) and o[2] == n[2])
    ho, hn = old_dm.heatmaps, new_dm.heatmaps
    same["heatmap_points"] = sorted(ho) == sorted(hn) and all(np.array_equal(ho.points[k], hn.points[k]) for k in ho)
    same["heatmap_sizes"] = ho.sizes == hn.sizes and ho.sigma_frac == hn.sigma_frac
    go, gn = mrun.gaussian_tensors(old_pipe.model), mrun.gaussian_tensors(new_run.gaussians)
    same["gaussians"] = all(torch.equal(go[k], gn[k]) for k in go)
    res = {"config": str(a.config), "had_run_info": had_info, "documents_differ_in": diff, "same": same,
           "keys_compared": sorted(k for k in d_old if k not in SKIP),
           "action_point": [d_old.get("action_point"), d_new.get("action_point")],
           "confidence": [d_old.get("confidence"), d_new.get("confidence")],
           "num_grasps": [len(d_old.get("grasps") or []), len(d_new.get("grasps") or [])],
           "in_process_export_s": {"old": round(t_old, 2), "new": round(t_new, 2)}}
    print(json.dumps(res, indent=1))
    return res


def _timed(cmd, old: bool = False) -> tuple:
    env = dict(os.environ, POINT2ACT_NO_RUN_INFO="1" if old else "0")
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[1]} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return round(dt, 2), round(load, 2)


def timing(a) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench_load_"))
    rows = {"export": []}
    for _ in range(a.time):
        rows["export"].append(_timed([str(BIN / "point2act"), "export", "--load-config", str(a.config), "--output",
                                      str(tmp / "grasps.json"), *_export_args(a)], a.old))
    if a.query_points is not None:
        rows["query"] = []
        for _ in range(a.time):
            rows["query"].append(_timed([str(BIN / "point2act"), "query", "--load-config", str(a.config),
                                         "--points-file", str(a.query_points), "--name", "bench_load",
                                         "--output", str(tmp / "grasps_q.json"), *_query_args(a)], a.old))
    out = {}
    for k, v in rows.items():
        walls = sorted(w for w, _ in v)
        out[k] = {"runs": [{"wall_s": w, "load1": ld} for w, ld in v], "median_wall_s": walls[len(walls) // 2]}
    print(json.dumps(out, indent=1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--time", type=int, default=0)
    ap.add_argument("--query-points", type=Path, default=None)
    ap.add_argument("--export-arg", action="append", default=[], help="extra export option, e.g. --export-arg=--metres-per-unit=0.1")
    ap.add_argument("--query-arg", action="append", default=[], help="extra query option, e.g. --query-arg=--no-export")
    ap.add_argument("--old", action="store_true", help="time the nerfstudio way (POINT2ACT_NO_RUN_INFO=1)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = ap.parse_args()
    res = {}
    if a.check:
        res["check"] = check(a)
    if a.time:
        res["timing"] = timing(a)
    if a.json is not None:
        a.json.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
