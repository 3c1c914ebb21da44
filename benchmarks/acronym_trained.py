"""ACRONYM's simulated grasps against the top grasps of trained runs (``python -m benchmarks.acronym_trained``).

The accuracy suite's ACRONYM scenes (the real mug mesh of ``../shared/data/meshes/acronym_mug``, its handle the
target) go through the path users run: ``ns-train point2act`` under a start-cloud condition, then the export
(:mod:`benchmarks.accuracy`). Each run's record keeps its top grasp (``top_grasp``, capture frame = the generator's
world, metres). Here that grasp is compared with ACRONYM's flex-simulated grasps of the mug, placed where the scene
put it: **match** when it lies within 2 cm and 30 deg of a successful one (:func:`benchmarks.bench_acronym.match`),
beside the accuracy suite's own verdict, **on the handle and collision-free** by the true meshes.

    python -m benchmarks.acronym_trained [--conditions none triangulated exact]
    python -m benchmarks.acronym_trained --records DIR --name NAME

Reads ``benchmarks/results/accuracy/clouds/COND/GENERATOR/results.json`` (or, with ``--records DIR``, the per-seed
record files ``DIR/COND-*.json`` of a protocol run); writes
``benchmarks/results/acronym/NAME.json`` and ``NAME.md`` (``--name``, default ``trained``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLOUDS = ROOT / "benchmarks" / "results" / "accuracy" / "clouds"
OUT = ROOT / "benchmarks" / "results" / "acronym"


def mug_world(name: str) -> np.ndarray:  # [4, 4]
    """The 4x4 from the mug's local frame (:func:`benchmarks.bench_acronym.mesh_to_local`) to the world of the
    accuracy suite's scene ``name``."""
    from benchmarks.accuracy.run import BenchConfig
    from benchmarks.accuracy.suite import all_specs, scene_config
    from benchmarks.bench_acronym import _rot_z, kitchen_mug_world

    spec = all_specs()[name]
    cfg = scene_config(spec, BenchConfig().common())
    world = np.eye(4)
    if spec.generator == "synth":
        from point2act.synth.scene import build_scene

        scene = build_scene(cfg)
        world[:3, :3], world[:3, 3] = _rot_z(scene.mug_yaw), scene.mug_position
        return world
    from benchmarks.generators import kitchen, studio

    gen = {"kitchen": kitchen, "studio": studio}[spec.generator]
    return kitchen_mug_world(cfg, gen.build_scene(cfg))


def judge_runs(records: List[Dict[str, Any]], T_all: np.ndarray, ok: np.ndarray, to_local: np.ndarray) -> List[Dict[str, Any]]:
    """Per point2act run of an ACRONYM scene: its ACRONYM match (where it has a top grasp) and the suite's
    verdict."""
    from benchmarks.bench_acronym import match
    from point2act.grasp import GripperConfig

    fl = GripperConfig().finger_length
    worlds: Dict[str, np.ndarray] = {}
    out = []
    for r in records:
        if r.get("method") != "point2act" or "acronym" not in r["scene"]:
            continue
        if r["scene"] not in worlds:
            worlds[r["scene"]] = mug_world(r["scene"])
        T_ok = np.einsum("ij,njk->nik", worlds[r["scene"]] @ to_local, T_all[ok])
        m = match(r["top_grasp"], T_ok, fl) if r.get("top_grasp") else {"match": False}
        out.append({"scene": r["scene"], "level": r["level"], "train_seed": r.get("train_seed"), "hit": bool(r["hit"]),
                    "has_grasp": bool(r.get("top_grasp")), "match": bool(m["match"]),
                    "on_handle_collision_free": bool(r.get("grasp_success")),
                    **{k: round(float(v), 4) for k, v in m.items() if k != "match"}})
    return out


def _pct(rows, key) -> str:
    return f"{sum(r[key] for r in rows)}/{len(rows)} ({100 * sum(r[key] for r in rows) / max(len(rows), 1):.0f} %)"


def main(argv=None) -> int:
    from benchmarks.bench_acronym import acronym_grasps, mesh_to_local

    ap = argparse.ArgumentParser(prog="python -m benchmarks.acronym_trained", description=__doc__.split("\n")[0])
    ap.add_argument("--conditions", nargs="+", default=["none", "triangulated", "exact"])
    ap.add_argument("--records", type=Path, default=None,
                    help="a folder of per-seed record files COND-*.json instead of clouds/COND/*/results.json")
    ap.add_argument("--name", default="trained", help="the results' file name (NAME.json, NAME.md)")
    a = ap.parse_args(argv)
    T_all, ok = acronym_grasps()
    to_local = mesh_to_local()
    result: Dict[str, Any] = {}
    source = f"{a.records.as_posix()}/COND-*.json" if a.records else "benchmarks/results/accuracy/clouds/COND/"
    md = ["# ACRONYM's simulated grasps against trained runs (`python -m benchmarks.acronym_trained`)", "",
          "The accuracy suite's ACRONYM scenes through `ns-train point2act` and the export, per start-cloud condition "
          f"(the runs of `{source}`): match, the top grasp within 2 cm and 30 deg of one "
          "of ACRONYM's successful (flex) grasps of the mug; on the handle and collision-free, by the true meshes "
          "(the accuracy suite's verdict). Runs without a grasp count as neither.", "",
          "| condition | runs | with a grasp | match | on the handle and collision-free |", "|---|---:|---:|---:|---:|"]
    for cond in a.conditions:
        rows: List[Dict[str, Any]] = []
        files = a.records.glob(f"{cond}-*.json") if a.records else (CLOUDS / cond).glob("*/results.json")
        for res in sorted(files):
            rows += judge_runs(json.loads(res.read_text())["records"], T_all, ok, to_local)
        if not rows:
            continue
        result[cond] = rows
        md.append(f"| {cond} | {len(rows)} | {_pct(rows, 'has_grasp')} | {_pct(rows, 'match')} | "
                  f"{_pct(rows, 'on_handle_collision_free')} |")
    md += ["", "Per run:", "", "| condition | scene | level | training seed | match | on the handle, free | nearest success (cm, deg) |",
           "|---|---|---|---:|---|---|---|"]
    for cond, rows in result.items():
        for r in rows:
            near = (f"{100 * r['nearest_m']:.1f}, {max(r['nearest_approach_deg'], r['nearest_closing_deg']):.0f}"
                    if "nearest_m" in r else "no grasp")
            md.append(f"| {cond} | {r['scene']} | {r['level']} | {r['train_seed']} | {r['match']} | "
                      f"{r['on_handle_collision_free']} | {near} |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{a.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (OUT / f"{a.name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md[:8 + len(result)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
