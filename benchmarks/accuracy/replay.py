"""Replay the views' consensus on every cached benchmark run: a rule of ``point2act.where.consensus`` judged
on every generator in seconds, without re-exporting grasps.

    # once: the consensus inputs of every cached run and points file (after python -m benchmarks.accuracy)
    python -m benchmarks.accuracy.replay dump --splits test kitchen_test studio_test kitchen_dev studio_dev
    # the action point of each run with the code importable now (a git worktree of another rule: PYTHONPATH)
    python -m benchmarks.accuracy.replay eval --out /tmp/new.json
    PYTHONPATH=/path/to/old/worktree python -m benchmarks.accuracy.replay eval --out /tmp/old.json
    # hits per generator and level, and every run whose action point moved
    python -m benchmarks.accuracy.replay diff /tmp/old.json /tmp/new.json

``dump`` stores, per run (scene, training seed, points file), what ``point2act export`` hands to
:func:`point2act.where.consensus.consensus` (:func:`point2act.method.supervision.supervised_views`): the supervised
views (camera, answers, blob sigma, the field's median-depth surface), the run's frame and the target's
surface (``metrics.TargetSurface``, the benchmark's own hit test). ``eval`` runs the consensus on them; the error is the benchmark's (0 inside a
closed target part). The grasps are not replayed: a rule that moves action points still needs the
benchmark itself for its grasp figures.
"""

from __future__ import annotations

import argparse
import functools
import json
import pickle
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List

import numpy as np

HIT_M = 0.01


def replay_root() -> Path:
    from benchmarks.accuracy.suite import cache_root

    return cache_root().parent / "replay"


def _runs(sd: Path):
    """(training seed, config.yml) of each cached reconstruction of scene directory ``sd``."""
    for cfg in sorted(sd.glob("recon_it*_seed*/demo/point2act/run/config.yml")):
        yield int(cfg.parts[-5].rsplit("seed", 1)[1]), cfg


def dump(splits: Iterable[str], levels: List[str] | None, out: Path, log=print) -> int:
    """Write ``out/SCENE__SEED__LEVEL.pkl`` for every cached run of ``splits`` (existing files are kept)."""
    from benchmarks.accuracy.run import BenchConfig
    from benchmarks.accuracy.suite import SPLITS, scene_dir
    from point2act.grasp.config import GraspConfig
    from point2act.where.consensus import consensus
    from point2act.method import run_layer as mrun
    from point2act.method.supervision import supervised_views

    out.mkdir(parents=True, exist_ok=True)
    bc = BenchConfig()
    n = 0
    for split in splits:
        for spec in SPLITS[split]:
            sd = scene_dir(spec, bc.common(), bc.cache_root)
            if not (sd / "ground_truth.json").is_file():
                log(f"{spec.name}: not cached, skipped")
                continue
            for seed, cfg_path in _runs(sd):
                pfs = sorted(p for p in (sd / f"bench_points_seed{seed}").glob("*.json") if not p.name.startswith("grasps"))
                pfs = [p for p in pfs if levels is None or p.stem.rsplit("_", 1)[0] in levels]
                todo = [p for p in pfs if not (out / f"{spec.name}__{seed}__{p.stem}.pkl").is_file()]
                if not todo:
                    continue
                run = mrun.run_of(*mrun.load_run(cfg_path))
                for pf in todo:
                    views, _info = supervised_views(cfg_path, run, GraspConfig().region, points_file=pf)
                    try:
                        if not views:
                            raise ValueError("no supervised view to read")
                        consensus(views)
                    except ValueError as e:  # point2act export goes on without the views' support
                        log(f"{spec.name} seed {seed} {pf.stem}: {e}, skipped")
                        continue
                    rec = {"scene": spec.name, "generator": spec.generator, "split": split, "train_seed": seed,
                           "level": pf.stem, "views": views, "frame": mrun.run_frame(run), "scene_dir": str(sd)}
                    dst = out / f"{spec.name}__{seed}__{pf.stem}.pkl"
                    tmp = dst.with_suffix(".part")
                    with open(tmp, "wb") as f:
                        pickle.dump(rec, f)
                    tmp.replace(dst)  # a dump cut short is never taken for a whole one
                    n += 1
                    log(f"dumped {spec.name} seed {seed} {pf.stem}")
    return n


@functools.lru_cache(maxsize=None)
def _target(scene: str, sd: str):
    """The benchmark's :class:`~benchmarks.accuracy.metrics.TargetSurface` of a cached scene (open3d's ray
    casting scene in it does not pickle: rebuilt from the scene's files, once per scene)."""
    from benchmarks.accuracy.run import BenchConfig, load_scene
    from benchmarks.accuracy.suite import all_specs, scene_config

    return load_scene(Path(sd), scene_config(all_specs()[scene], BenchConfig().common())).target


def evaluate(records: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The consensus of each dumped run with the code importable now: error (m), hit, confidence, top-2 hit.
    A record's ``target`` (a ``TargetSurface``), or its cached scene's (``scene_dir``)."""
    from point2act.where.consensus import consensus

    rows = []
    for r in records:
        target = r["target"] if "target" in r else _target(r["scene"], r["scene_dir"])
        c = consensus(r["views"])
        pts = [r["frame"].to_capture(np.asarray(p.point, dtype=np.float64)[None])[0] for p in c.places]
        err = [float(target.distance(p)) for p in pts]
        rows.append({"run": f"{r['scene']}__{r['train_seed']}__{r['level']}", "generator": r["generator"],
                     "split": r["split"], "level": r["level"].rsplit("_", 1)[0], "error_m": err[0],
                     "hit": bool(err[0] <= HIT_M), "top2_hit": bool(min(err[:2]) <= HIT_M),
                     "confidence": float(c.confidence), "point": [float(v) for v in pts[0]]})
    return rows


def load_dumps(root: Path, match: str = "") -> Iterable[Dict[str, Any]]:
    for p in sorted(root.glob("*.pkl")):
        if match in p.name:
            with open(p, "rb") as f:
                yield pickle.load(f)


def diff(a: List[Dict[str, Any]], b: List[Dict[str, Any]], moved_m: float = 0.002) -> str:
    """Markdown: hits per (split, level) under rule A and rule B over the runs both have, and every run whose
    action point moved by more than ``moved_m``."""
    A, B = {r["run"]: r for r in a}, {r["run"]: r for r in b}
    common = sorted(set(A) & set(B))
    groups: Dict[tuple, List[int]] = {}
    for k in common:
        g = groups.setdefault((A[k]["split"], A[k]["level"]), [0, 0, 0])
        g[0] += 1
        g[1] += A[k]["hit"]
        g[2] += B[k]["hit"]
    lines = [f"{len(common)} runs in both", "", "| split | level | runs | hit, A | hit, B |", "|---|---|---:|---:|---:|"]
    lines += [f"| {s} | {lv} | {n} | {ha} | {hb} |" for (s, lv), (n, ha, hb) in sorted(groups.items())]
    moved = [k for k in common if np.linalg.norm(np.subtract(A[k]["point"], B[k]["point"])) > moved_m]
    lines += ["", f"{len(moved)} runs whose action point moved by more than {moved_m * 100:.1f} cm:", "",
              "| run | error A (cm) | error B (cm) |", "|---|---:|---:|"]
    lines += [f"| {k} | {A[k]['error_m'] * 100:.2f} | {B[k]['error_m'] * 100:.2f} |" for k in moved]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.replay", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump", help="store the consensus inputs of every cached run")
    d.add_argument("--splits", nargs="+", default=["test", "kitchen_test", "studio_test"])
    d.add_argument("--levels", default=None, help="comma-separated levels (default: every points file)")
    d.add_argument("--dir", type=Path, default=None, help="default: ~/.cache/point2act/bench/replay")
    e = sub.add_parser("eval", help="the consensus of every dump with the code importable now")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--match", default="", help="only dumps whose name contains this")
    e.add_argument("--dir", type=Path, default=None)
    f = sub.add_parser("diff", help="compare two eval outputs")
    f.add_argument("a", type=Path)
    f.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    root = args.dir if getattr(args, "dir", None) is not None else replay_root()
    if args.cmd == "dump":
        n = dump(args.splits, args.levels.split(",") if args.levels else None, root)
        print(f"{n} runs dumped to {root}")
    elif args.cmd == "eval":
        rows = evaluate(load_dumps(root, args.match))
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"{len(rows)} runs, {sum(r['hit'] for r in rows)} hits -> {args.out}")
    else:
        print(diff(json.loads(args.a.read_text()), json.loads(args.b.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
