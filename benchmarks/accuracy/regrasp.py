"""Export every cached test-split run again with the code importable now and judge its top grasp on the true
meshes: a change to the export (fusion, occupancy, the grasp head) measured on every generator and start cloud in
minutes, without retraining.

    # after the protocol's accuracy commands (python -m benchmarks.protocol), which leave the trained runs cached
    python -m benchmarks.accuracy.regrasp export --cloud none --out /tmp/new_none.json
    PYTHONPATH=/path/to/old/worktree python -m benchmarks.accuracy.regrasp export --cloud none --out /tmp/old_none.json
    # grasp OK over the holdable hits, per generator, level and training seed; a file's absent rows count as missing
    python -m benchmarks.accuracy.regrasp table --cloud none /tmp/old_none.json /tmp/new_none.json

``export`` reads, per test scene and training seed, the run the accuracy benchmark cached (``recon_it*_seed*_cloud*``
in its scene cache; ``--cloud exact``: the scene's own cloud, ``sensor``: triangulated with the RGB-D generators'
depth), the channels its refit stored for levels ``clean`` and ``out40`` (pointer seed 0) and their
points files, exports each as the benchmark does (:func:`benchmarks.accuracy.run._export_with_support`) and judges
the top grasp (:func:`benchmarks.accuracy.metrics.judge_top_grasp`). ``table`` counts, as the protocol does, the
runs whose action point hit a target the hand can hold (``target_beyond_hand`` from the protocol's results in
``benchmarks/results/accuracy/clouds/COND/GEN/results.json``). The held-out objects are counted only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Dict, List, Sequence

from benchmarks.accuracy.suite import TEST_SPLITS

LEVELS = ("clean_s0", "out40_s0")
"""The protocol's levels (pointer seed 0): the points files and refit channels the export reads."""
CONDITIONS = {"none": ("none", "none"), "triangulated": ("triangulated", "none"),
              "sensor": ("triangulated", "sensor"), "exact": ("scene", "none")}
"""The protocol's start-cloud conditions: (``BenchConfig.cloud``, ``BenchConfig.depth``), which name the scene's cache
folder (sensor depth is part of the scene) and the run's (:func:`benchmarks.accuracy.train.train_geometry`)."""
CLOUDS = Path(__file__).resolve().parents[1] / "results" / "accuracy" / "clouds"
GENERATORS = ("synth", "kitchen", "studio", "objects")


def export_all(cloud: str, out: Path, splits: Sequence[str] = TEST_SPLITS, seeds: Sequence[int] = (0, 1, 2),
               log=print) -> List[Dict]:
    """Export and judge every cached run of ``splits`` under ``cloud``; rows appended to ``out`` as they come (a
    file cut short is resumed)."""
    from benchmarks.accuracy.metrics import HIT_RADIUS_M, judge_top_grasp
    from benchmarks.accuracy.run import BenchConfig, _export_with_support, bench_grasp_config, load_scene, true_surfaces
    from benchmarks.accuracy.suite import SPLITS, scene_config, scene_dir
    from point2act.method.run_layer import load_run, run_of

    cloud_of, depth = CONDITIONS[cloud]
    bc = BenchConfig(cloud=cloud_of, depth=depth)
    suffix = "" if cloud_of == "scene" else f"_cloud{cloud_of}"
    gcfg = bench_grasp_config(bc)
    rows = json.loads(out.read_text()) if out.is_file() else []
    done = {(r["scene"], r["seed"], r["level"]) for r in rows}
    for split in splits:
        for spec in SPLITS[split]:
            if depth == "sensor" and spec.generator == "synth":
                continue  # the synthetic generator writes no sensor depth
            sd, scene, surf = scene_dir(spec, bc.common(), bc.cache_root), None, None
            for seed in seeds:
                cfg = next(iter(sorted(sd.glob(f"recon_it*_seed{seed}{suffix}/demo/point2act/run/config.yml"))), None)
                todo = [lv for lv in LEVELS if (spec.name, seed, lv) not in done]
                if cfg is None or not todo:
                    continue
                if scene is None:
                    config = scene_config(spec, bc.common())
                    scene = load_scene(sd, config)
                    surf = true_surfaces(spec, config, sd)
                run = run_of(*load_run(cfg))
                for lv in todo:
                    pf = sd / f"bench_points_seed{seed}" / f"{lv}.json"
                    with tempfile.TemporaryDirectory() as tmp:
                        got, _ = _export_with_support(cfg, run, lv, pf, Path(tmp) / "grasps.json", gcfg, True, True)
                    grasps = got.get("grasps") or []
                    verdict = judge_top_grasp(grasps[0], surf[0], surf[1], scene.target_id) if grasps else {"success": False}
                    rows.append({"scene": spec.name, "generator": spec.generator, "seed": seed, "level": lv,
                                 "hit": bool(scene.target.distance(got["action_point"]) <= HIT_RADIUS_M),
                                 "num_grasps": len(grasps), **verdict, "warning": got.get("warning") or ""})
                    out.write_text(json.dumps(rows, indent=1))
                    log(f"{spec.name} seed {seed} {lv}: {len(grasps)} grasps, ok {verdict['success']}")
    return rows


def holdable(cloud: str) -> Dict[tuple, bool]:
    """(scene, training seed, level) -> whether the hand can hold the target, from the protocol's results."""
    out = {}
    for gen in GENERATORS:
        path = CLOUDS / cloud / gen / "results.json"
        if path.is_file():
            for r in json.loads(path.read_text())["records"]:
                if r["method"] == "point2act" and r["level"] in ("clean", "out40"):
                    out[(r["scene"], r["train_seed"], r["level"])] = r.get("target_beyond_hand") is False
    return out


def table(cloud: str, files: Sequence[Path]) -> str:
    """Markdown: per generator and level, grasp OK over the holdable hits of each file, per training seed, with
    the median and the worst seed."""
    can_hold = holdable(cloud)
    counts = []
    for f in files:
        c: Dict[tuple, List[int]] = {}
        for r in json.loads(Path(f).read_text()):
            lv = r["level"].split("_")[0]
            if r["hit"] and can_hold.get((r["scene"], r["seed"], lv), False):
                k = c.setdefault((r["generator"], lv, r["seed"]), [0, 0])
                k[0] += bool(r.get("success"))
                k[1] += 1
        counts.append(c)
    head = " | ".join(Path(f).stem for f in files)
    lines = [f"| generator | level | {head} (per seed; median, worst) |", "|---|---|" + "---|" * len(files)]
    for gen in GENERATORS:
        for lv in ("clean", "out40"):
            cells = []
            for c in counts:
                per = [c.get((gen, lv, s), [0, 0]) for s in sorted({k[2] for k in c} or {0})]
                fr = sorted(a / b for a, b in per if b)
                if not fr:
                    cells.append("-")
                    continue
                cells.append(f"{sum(a for a, _ in per)}/{sum(b for _, b in per)} "
                             f"({', '.join(f'{a}/{b}' for a, b in per)}; {statistics.median(fr):.0%}, {fr[0]:.0%})")
            lines.append(f"| {gen} | {lv} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.regrasp", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="export and judge every cached run")
    e.add_argument("--cloud", choices=tuple(CONDITIONS), required=True)
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--splits", nargs="+", default=list(TEST_SPLITS))
    t = sub.add_parser("table", help="grasp OK over the holdable hits, per file")
    t.add_argument("--cloud", choices=tuple(CONDITIONS), required=True)
    t.add_argument("files", nargs="+", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "export":
        export_all(a.cloud, a.out, a.splits)
    else:
        print(table(a.cloud, a.files))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
