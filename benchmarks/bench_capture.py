"""A capture to ``grasps.json`` on the default path, timed by stage: what a user waits for on their own capture.

Two captures, each trained by ``ns-train point2act`` (no flags beyond the data, the answers and the seed) and
exported by ``point2act export``, each a new process timed from outside:

- ``tools``: the real robot-arm capture ``real/tools`` at ``--downscale-factor 2``, without its point cloud,
  the mug handle's hand-annotated answers (``benchmarks/real/targets/tools-mug_handle.json``); where it lands:
  the action point's distance to the hand-triangulated point, and the top grasp's (called on target, within
  3 cm of it, as the gate counts it);
- ``synth640``: a generated 40-view 640x480 capture (``point2act synth``, seed 0), the oracle's answers; where it
  lands: the action point's distance to the target's centroid and the top grasp judged by the true meshes
  (:func:`point2act.grasp.evaluate.judge_grasp`, as the demo judges it).

The training's stages come from its log: the steps trained (training stops once the target's depth has
converged, :mod:`point2act.convergence`), and the end-of-training fit and caches. Writes
``benchmarks/results/capture.json`` with the command, commit and CPU.

    python -m benchmarks.bench_capture [--only tools|synth640] [--seed 0] [--out outputs/bench_capture] [--first-run]

``--first-run`` gives the training an empty ``POINT2ACT_CACHE`` (a new temporary folder), so each capture's start
cloud and plane are computed as on a user's first run, not read from an earlier run's cache. Each row records its
commit and whether it was a first run (``--only`` keeps the other capture's row as it was).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

from benchmarks.bench_command import _commit
from benchmarks.gate.__main__ import cpu_model
from point2act.checkpoints import checkpoint_steps

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).resolve().parent / "results" / "capture.json"
GRASP_NEAR_HAND_M = 0.03
"""A real top grasp counts when point2act calls it on target and its centre lies this close to the hand point."""


def _timed(cmd: List[str], log: Path) -> float:
    log.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    with open(log, "a") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"})
    if p.returncode:
        raise SystemExit(f"{cmd[0]} failed ({p.returncode}); see {log}")
    return time.perf_counter() - t


def _log_stages(log: Path) -> Dict:
    """What the training log says about its stages: the end-of-training fit's seconds."""
    text = log.read_text(errors="replace")
    out: Dict = {}
    m = re.search(r"relevancy fitted.*?;\s*([\d.]+) s\)", text, re.S)
    out["end_fit_s"] = float(m.group(1)) if m else None
    return out


def _train_export(name: str, train_args: List[str], out: Path, export_args: List[str]) -> Dict:
    log = out / name / "log.txt"
    if log.exists():
        log.unlink()
    run = out / name / "run"
    cmd = [str(BIN / "ns-train"), "point2act", "--vis", "tensorboard", "--output-dir", str(out / name),
           "--experiment-name", "run", "--timestamp", "t", *train_args]
    train_s = _timed(cmd, log)
    config = run / "point2act" / "t" / "config.yml"
    grasps = out / name / "grasps.json"
    export_s = _timed([str(BIN / "point2act"), "export", "--load-config", str(config), "--output", str(grasps),
                       *export_args], log)
    stages = _log_stages(log)
    stages["steps"] = checkpoint_steps(config.parent / "nerfstudio_models")[0][0] + 1  # the last step trained, plus one
    return {"train_s": round(train_s, 1), "export_s": round(export_s, 1), "total_s": round(train_s + export_s, 1),
            **stages, "train_command": " ".join(cmd), "grasps_json": str(grasps),
            "doc": json.loads(grasps.read_text())}


def tools_run(out: Path, seed: int):
    """``real/tools``' mug-handle target and ``ns-train point2act``'s arguments for it at ``--downscale-factor 2``
    without its cloud (the answers written under ``out``)."""
    from benchmarks.real.run import select_targets, write_points
    from benchmarks.real.targets import CAPTURES, load_target

    t = load_target(select_targets(["tools-mug_handle"])[0].path)
    parser = list(t.dataparser or CAPTURES[t.capture].parser_args)
    parser[parser.index("--downscale-factor") + 1] = "2"
    return t, ["--data", str(CAPTURES[t.capture].path), "--pipeline.datamanager.points-file",
               str(write_points(t, out)), "--machine.seed", str(seed), *parser, "--load-3D-points", "False"]


def bench_tools(out: Path, seed: int) -> Dict:
    from benchmarks.real.targets import CAPTURES

    t, args = tools_run(out, seed)
    mpu = CAPTURES[t.capture].metres_per_unit
    rec = _train_export("tools", args, out, ["--metres-per-unit", f"{mpu:g}"])
    doc = rec.pop("doc")
    ap = np.asarray(doc["action_point"], dtype=np.float64)
    rec["action_point_cm"] = round(100 * mpu * float(np.linalg.norm(ap - np.asarray(t.position))), 2)
    top = (doc.get("grasps") or [None])[0]
    if top is not None:
        d = 100 * mpu * float(np.linalg.norm(np.asarray(top["position"]) - np.asarray(t.position)))
        rec.update(top_grasp_cm=round(d, 2), top_grasp_on_target=bool(top.get("on_target")),
                   top_grasp_ok=bool(top.get("on_target")) and d <= 100 * GRASP_NEAR_HAND_M)
    rec["warning"] = doc.get("warning")
    return rec


def bench_synth640(out: Path, seed: int) -> Dict:
    from point2act.demo import true_surface_parts
    from point2act.grasp import GripperConfig
    from point2act.grasp.evaluate import GroundTruth, judge_grasp
    from point2act.synth import SynthConfig, generate_scene

    scene = out / "synth640" / "scene"
    if not (scene / "ground_truth.json").is_file():
        generate_scene(scene, SynthConfig(seed=0, num_views=40, width=640, height=480))
    rec = _train_export("synth640", ["--data", str(scene), "--pipeline.datamanager.points-file",
                                     str(scene / "points" / "oracle.json"), "--machine.seed", str(seed)], out, [])
    doc = rec.pop("doc")
    gt = json.loads((scene / "ground_truth.json").read_text())
    ap = np.asarray(doc["action_point"], dtype=np.float64)
    rec["action_point_cm"] = round(100 * float(np.linalg.norm(ap - np.asarray(gt["centroid"]))), 2)
    top = (doc.get("grasps") or [None])[0]
    if top is not None:
        pts, part, names = true_surface_parts(scene)
        truth = GroundTruth(pts, np.asarray(names, dtype=object)[part], table_z=0.0)
        v = judge_grasp(top, GripperConfig(**doc["gripper"]), truth, gt["target"]).to_dict()
        rec["top_grasp"] = v
    rec["warning"] = doc.get("warning")
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("tools", "synth640"), default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("outputs/bench_capture"))
    ap.add_argument("--first-run", action="store_true", help="an empty POINT2ACT_CACHE: no start cloud cached")
    args = ap.parse_args()
    if args.first_run:
        import tempfile

        os.environ["POINT2ACT_CACHE"] = str(Path(tempfile.mkdtemp(prefix="p2a-first-run-")) / "points")
    runs = {"tools": bench_tools, "synth640": bench_synth640}
    doc = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for name, fn in runs.items():
        if args.only not in (None, name):
            continue
        rec = fn(args.out, args.seed)
        print(f"{name}: train {rec['train_s']} s ({rec['steps']} steps), export {rec['export_s']} s, "
              f"total {rec['total_s']} s; action point {rec['action_point_cm']} cm")
        doc[name] = {**rec, "seed": args.seed, "commit": _commit(), "first_run": bool(args.first_run)}
    command = ("python -m benchmarks.bench_capture" + (f" --only {args.only}" if args.only else "")
               + (" --first-run" if args.first_run else ""))
    doc["_meta"] = {"command": command,
                    "commit": _commit(), "cpu": cpu_model(),
                    "cores": os.cpu_count()}
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")
    RESULTS.with_suffix(".md").write_text(markdown(doc))
    print(f"wrote {RESULTS} and .md")


def markdown(doc: Dict) -> str:
    """The results as a table, with their command, commit and machine."""
    meta = doc["_meta"]
    lines = ["# A capture to grasps.json on the default path", "", "```", meta["command"], "```", "",
             f"Commit {meta['commit']}, {meta['cpu']}, {meta['cores']} cores. Each stage is a new process timed from "
             "outside: `ns-train point2act` (setup, the start cloud, the steps, the end-of-training fit and the "
             "run's caches) and `point2act export`. A first run computes the capture's start cloud and plane "
             "(`--first-run`: an empty `POINT2ACT_CACHE`); otherwise they may come from an earlier run's cache.", "",
             "| capture | commit | first run | train s | steps | end-of-training fit s | export s | total s | action point "
             "| top grasp |",
             "|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for name in ("tools", "synth640"):
        r = doc.get(name)
        if r is None:
            continue
        if name == "tools":
            grasp = (f"{r.get('top_grasp_cm')} cm from the hand point, on target: {r.get('top_grasp_on_target')}"
                     if "top_grasp_cm" in r else "none")
            where = f"{r['action_point_cm']} cm from the hand point"
        else:
            v = r.get("top_grasp") or {}
            grasp = (f"on the target: {v.get('on_target')}, collision-free: {v.get('collision_free')} (true meshes)"
                     if v else "none")
            where = f"{r['action_point_cm']} cm from the target's centroid"
        lines.append(f"| {name} | {r.get('commit', meta['commit'])} | {r.get('first_run', 'not recorded')} | "
                     f"{r['train_s']} | {r['steps']} | {r.get('end_fit_s')} | {r['export_s']} | {r['total_s']} | "
                     f"{where} | {grasp} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
