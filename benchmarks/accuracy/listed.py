"""``python -m benchmarks.accuracy.listed``: every grasp an export listed, judged on the true meshes.

The accuracy benchmark judges the top grasp. Where it fails, this says why: per cached run and level, each
listed grasp's own labels next to the judge's verdict, in rank order:

    python -m benchmarks.accuracy.listed --split test [--scenes rim,acronym] [--out listed.json]

A grasp reads ``Pm:TF0.97``: ``P`` / ``p`` point2act calls it on target / not; ``m`` / ``t`` it keeps the
collision margin / clears the scene by less (``clears_margin``); then the judge: ``T`` / ``-`` on target /
not, ``F`` / ``x`` collision-free / colliding, and the target's share between the pads. ``Pm:Tx`` grasps say
the reconstruction missed something the fingers hit; ``Pm:-F`` ones that the target was labelled wrong; a
good grasp ranked below a bad one, that the ranking is the cause. Colliding grasps name the parts they hit
(``--why``). It reads the ``grasps_*.json`` the last ``python -m benchmarks.accuracy`` run wrote into the
scene cache (``bench_points_seed*/``): run it right after the benchmark whose exports it should judge.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def judge_listed(grasps: List[Dict[str, Any]], points, labels, target_id: int, part_names: Dict[int, str],
                 why: bool = False) -> List[Dict[str, Any]]:
    """The judge's verdict on each grasps.json grasp of ``grasps``, in order, with its own labels; with ``why``,
    per gripper box the true parts inside it and their point counts."""
    import numpy as np

    from point2act.grasp import GripperConfig
    from point2act.grasp.evaluate import GroundTruth, judge_grasp
    from point2act.grasp.geometry import grasp_to_gripper_boxes, points_in_box

    g0 = GripperConfig()
    out = []
    for g in grasps:
        v = judge_grasp(g, g0, GroundTruth(points, labels, table_z=0.0), int(target_id))
        row = {"on_target": bool(g.get("on_target")), "clears_margin": bool(g.get("clears_margin", True)),
               "width": float(g["width"]), "judge_on_target": bool(v.on_target),
               "judge_collision_free": bool(v.collision_free), "target_fraction": round(float(v.target_fraction), 3)}
        if why and not v.collision_free:
            hits = {}
            for name, box in grasp_to_gripper_boxes(g, g0).items():
                inside = points_in_box(points, box, tol=0.001)
                if inside.any():
                    ids, n = np.unique(labels[inside], return_counts=True)
                    hits[name] = {part_names.get(int(i), str(int(i))): int(c) for i, c in zip(ids, n)}
            row["hits"] = hits
        out.append(row)
    return out


def code(row: Dict[str, Any]) -> str:
    """``Pm:TF0.97`` (module docstring)."""
    return (("P" if row["on_target"] else "p") + ("m" if row["clears_margin"] else "t") + ":"
            + ("T" if row["judge_on_target"] else "-") + ("F" if row["judge_collision_free"] else "x")
            + f"{row['target_fraction']:.2f}")


def main(argv=None) -> int:
    from benchmarks.accuracy.metrics import mesh_surface_labelled, scene_surface_labelled
    from benchmarks.accuracy.run import BenchConfig, load_scene
    from benchmarks.accuracy.suite import SPLITS, scene_config, scene_dir

    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.listed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=tuple(SPLITS), default="test")
    ap.add_argument("--scenes", default="", help="comma-separated parts of scene names (default: every scene)")
    ap.add_argument("--why", action="store_true", help="name the true parts each colliding grasp's boxes hit")
    ap.add_argument("--out", type=Path, default=None, help="also write the verdicts as JSON")
    a = ap.parse_args(argv)
    bc = BenchConfig()
    wanted = [s for s in a.scenes.split(",") if s]
    doc: Dict[str, Any] = {}
    for spec in SPLITS[a.split]:
        if wanted and not any(w in spec.name for w in wanted):
            continue
        sd = scene_dir(spec, bc.common(), bc.cache_root)
        if not (sd / ".complete").is_file():
            continue
        config = scene_config(spec, bc.common())
        points, labels = (scene_surface_labelled(config, twin=spec.twin) if spec.generator == "synth"
                          else mesh_surface_labelled(sd))
        scene = load_scene(sd, config)
        names = {int(p["id"]): p["name"] for p in json.loads((sd / "ground_truth.json").read_text())["parts"]}
        for pdir in sorted(sd.glob("bench_points_seed*")):
            for gf in sorted(pdir.glob("grasps_*.json")):
                exp = json.loads(gf.read_text())
                rows = judge_listed(exp.get("grasps") or [], points, labels, scene.target_id, names, a.why)
                key = f"{spec.name} {pdir.name.replace('bench_points_', '')} {gf.stem[len('grasps_'):]}"
                doc[key] = {"grasps": rows, "warning": exp.get("warning")}
                line = " ".join(code(r) for r in rows) if rows else "none: " + (exp.get("warning") or "")[:100]
                print(f"{key:52s} {line}")
                for i, r in enumerate(rows):
                    if r.get("hits"):
                        print(f"{'':52s}   #{i} hits {r['hits']}")
    if a.out is not None:
        a.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
