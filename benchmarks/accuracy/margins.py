"""``python -m benchmarks.accuracy.margins``: how much room the true geometry leaves the hand at each target.

The accuracy benchmark's grasp judge (:func:`.metrics.judge_top_grasp`) calls a grasp collision-free when no
true surface point lies inside the gripper's boxes shrunk by 1 mm; the planner keeps its boxes
``GraspConfig.collision_margin`` (2 mm) clear of everything it must not enter. Between the two lies a band
of grasps that graze the scene: the judge passes them, the planner on perfect geometry never lists them.
Where a target's only judge-passing grasps lie in that band (a handle 1.6 cm from a tall box), a trained
run that gets one got it from a reconstruction error that opened the gap, and no run that keeps the margin
can be expected to.

Per scene of a split, on the scene's true geometry as :mod:`.oracle` builds it (no training), the export
path runs twice with the default :class:`~point2act.grasp.GraspConfig`:

* as ``point2act export`` runs it: whether the top grasp is on target and collision-free by the judge
  (the oracle's verdict);
* with the planner's collision checks switched off (``collision_min_points`` out of reach, 400 grasps, no
  suppression): of the candidates it flags on target and the judge calls on target, how many the judge
  calls collision-free with a clear approach at its own 1 mm, at 0 mm, and with every box grown by the
  planner's collision margin. These are the poses at the depth each part asks for: with the checks off
  nothing backs off along its approach, as colliding on-target candidates do in the planner, so the
  counts are a lower bound on the room there is.

Writes ``benchmarks/results/accuracy/margins.md`` (and ``.json``); 563 s for the three test splits on a
2-core CPU with their scenes cached (longer when the scenes must be generated).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOLS = (0.001, 0.0)  # the judge's own shrink, and none; then the planner's margin (grown boxes)


def room_at_target(scene, surface: tuple, max_views: int = 12, oracle: Dict[str, Any] | None = None,
                   listed: int = 400) -> Dict[str, Any]:
    """The two exports of the module docstring on one loaded scene (:class:`.run.SceneData`) with the judge's
    labelled surface ``(points [M, 3], part ids [M])``; ``oracle``: the first one's result
    (:func:`.oracle.oracle_grasp`) where it was computed already; ``listed``: how many grasps the second export
    lists (on-target ones first)."""
    from point2act.grasp import GraspConfig
    from point2act.grasp.evaluate import GroundTruth, judge_grasp

    from .oracle import oracle_grasp, truth_export

    P, lab = np.asarray(surface[0], dtype=np.float64), np.asarray(surface[1])
    tid = int(scene.target_id)
    base = oracle if oracle is not None else oracle_grasp(scene, surface, max_views)
    cfg = GraspConfig()
    loose = dataclasses.replace(cfg, collision_min_points=1 << 30, top_k=int(listed), nms_distance=0.0)
    out = truth_export(scene, surface, loose, max_views)

    def verdicts(grasps, tol):
        return [judge_grasp(g, cfg.gripper, GroundTruth(P, lab, table_z=0.0), tid, tol=tol) for g in grasps]

    # the judge's own verdicts (at TOLS[0]) pick the on-target ones and are their first count
    flagged = [g for g in out.get("grasps") or [] if g.get("on_target")]
    first = verdicts(flagged, TOLS[0])
    on = [g for g, v in zip(flagged, first) if v.on_target]
    first_on = [v for v in first if v.on_target]
    free: Dict[str, int] = {}
    for name, tol in [*((f"judge_{t * 1000:g}mm", t) for t in TOLS), ("grown_by_margin", -cfg.collision_margin)]:
        vs = first_on if tol == TOLS[0] else verdicts(on, tol)
        free[name] = sum(bool(v.collision_free and v.approach_free) for v in vs)
    return {"oracle_top_ok": bool(base["graspable"]), "beyond_hand": bool(base["beyond_hand"]),
            "on_target_candidates_listed": len(on), "free": free}


def write_report(rows: List[Dict[str, Any]], out: Path, seconds: float) -> None:
    """``out``.json (the rows) and ``out``.md (their table)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(str(out) + ".json").write_text(json.dumps({"rows": rows, "seconds": round(seconds, 1)}, indent=1))
    names = list(rows[0]["free"]) if rows else []
    lines = ["# Room at the target on the true geometry (`python -m benchmarks.accuracy.margins`)", "",
             "See the module docstring. Oracle: the export path on the scene's true geometry, its top grasp on target "
             "and collision-free by the judge. Then, with the planner's collision checks off: the candidates it "
             "lists on target (that the judge calls on target), and how many of them the judge calls collision-free "
             "with a clear approach: at its own 1 mm, at 0 mm, and with every box grown by the planner's 2 mm margin.",
             "", "| split | scene | oracle top grasp OK | beyond the hand | on-target grasps listed | "
             + " | ".join(f"free: {n}" for n in names) + " |", "|---|---|---|---|---:|" + "---:|" * len(names)]
    for r in rows:
        lines.append(f"| {r['split']} | {r['scene']} | {'yes' if r['oracle_top_ok'] else 'no'} | "
                     f"{'yes' if r['beyond_hand'] else 'no'} | {r['on_target_candidates_listed']} | "
                     + " | ".join(str(r["free"][n]) for n in names) + " |")
    Path(str(out) + ".md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    from .run import BenchConfig, load_scene
    from .suite import SPLITS, ensure_scene, scene_config
    from .metrics import mesh_surface_labelled, scene_surface_labelled

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=["test", "kitchen_test", "studio_test"])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "accuracy" / "margins")
    args = ap.parse_args(argv)
    bc = BenchConfig()
    rows: List[Dict[str, Any]] = []
    t0 = time.perf_counter()
    for split in args.splits:
        for spec in SPLITS[split]:
            sd, _ = ensure_scene(spec, bc.common(), bc.cache_root)
            config = scene_config(spec, bc.common())
            scene = load_scene(sd, config)
            surf = (scene_surface_labelled(config, twin=spec.twin) if spec.generator == "synth"
                    else mesh_surface_labelled(sd))
            r = {"split": split, "scene": spec.name, **room_at_target(scene, surf)}
            rows.append(r)
            print(json.dumps(r), flush=True)
    write_report(rows, args.out, time.perf_counter() - t0)
    print(f"wrote {args.out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
