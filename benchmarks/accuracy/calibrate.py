"""Is the views' confidence calibrated where users are: 6-30 answered views, generators and real captures?

    # the real benchmark's trained runs under --out (as benchmarks.accuracy.replay dump stores the accuracy runs')
    python -m benchmarks.accuracy.calibrate dump-real --out outputs/real
    # reliability per condition: confidence bin against the hit rate, views subsampled
    python -m benchmarks.accuracy.calibrate table --splits test studio_test kitchen_test --results benchmarks/results/confidence

Three sources, each replayed through :func:`point2act.where.consensus.consensus` as ``point2act export`` calls it
(no training, no re-export):

- ``true_surface``: every cached generator scene of ``--splits`` (``benchmarks.accuracy.suite``), the pointer's
  answers at each ``--levels`` level and pointer seed (``benchmarks.accuracy.pointer.simulate``, as the benchmark
  draws them), the scene's true depth as the field's surface, the blob sigma the supervision's own (0.02 x the
  image diagonal). The hit: the action point within 1 cm of the target part (the accuracy benchmark's test).
- ``field_surface``: the accuracy benchmark's cached runs (``benchmarks.accuracy.replay dump``): the trained
  field's median-depth surface.
- ``real``: the real benchmark's runs (``dump-real``): the field's surface, the hand-annotated answers (1 wrong, 1
  empty of 8: level ``wrong1``); ``wrong2``: one more right view answers the wrong answer's place (its projection there). The hit:
  the action point's median reprojection on the held-out views within the blob sigma (0.02 x the diagonal of the
  full-resolution image).

Each run is replayed on ``--draws`` random subsets of ``n`` of its views for each ``n`` of ``--views`` (all its
views when it has fewer). A condition is (source, level, n).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import zlib
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence

import numpy as np

HIT_M = 0.01
BINS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0 + 1e-9)
THRESHOLDS = (0.8, 0.85, 0.9, 0.95)


def real_root() -> Path:
    from benchmarks.accuracy.suite import cache_root

    return cache_root().parent / "calibrate_real"


# ------------------------------------------------------------------------------------------------ sources
def true_surface_runs(splits: Sequence[str], levels: Sequence[str], seeds: Sequence[int], log=print):
    """(condition fields, views, target) per cached generator scene, level and pointer seed, the true depth
    as the surface."""
    from benchmarks.accuracy.pointer import LEVELS, simulate
    from benchmarks.accuracy.run import BenchConfig, load_scene
    from benchmarks.accuracy.suite import SPLITS, scene_config, scene_dir
    from point2act.where.consensus import ViewAnswers
    from point2act.heatmap import HEATMAP_SIGMA_FRAC, sigma_px

    bc = BenchConfig()
    for split in splits:
        for spec in SPLITS[split]:
            sd = scene_dir(spec, bc.common(), bc.cache_root)
            if not (sd / ".complete").is_file():
                continue
            scene = load_scene(sd, scene_config(spec, bc.common()))
            base = []
            for v, depth in zip(scene.views, scene.depths):
                k = v.intrinsics
                M = np.asarray(v.c2w, dtype=np.float64).copy()
                M[:3, 1:3] *= -1.0  # OpenGL -> OpenCV camera axes
                K = np.array([[k.fx, 0, k.cx], [0, k.fy, k.cy], [0, 0, 1.0]])
                d = np.where(depth > 0, depth, np.nan)
                base.append((np.linalg.inv(M), K, d, sigma_px(int(k.height), int(k.width), HEATMAP_SIGMA_FRAC)))
            for lv in levels:
                if lv not in LEVELS or (LEVELS[lv].twin_only and scene.twin is None):
                    continue
                for seed in seeds:
                    pts, _kinds = simulate(scene.views, scene.file_paths, LEVELS[lv], seed, scene.target_id,
                                           scene.target.centroid, scene.distractor_objects, scene.prompt,
                                           object_spots=scene.object_spots, twin=scene.twin,
                                           scene_seed=int(spec.overrides.get("seed", 0)), confuser=scene.confuser)
                    views = [ViewAnswers(vm, K, np.asarray(pts["points"].get(fp, []), dtype=np.float64).reshape(-1, 2),
                                         s, d, view_id=i)
                             for i, ((vm, K, d, s), fp) in enumerate(zip(base, scene.file_paths))]
                    yield ({"source": "true_surface", "generator": spec.generator, "split": split, "level": lv,
                            "run": f"{spec.name}__p{seed}"}, views, scene.target)
            log(f"{spec.name}: {len(levels)} levels x {len(seeds)} pointer seeds")


def field_surface_runs(replay_dir: Path):
    from benchmarks.accuracy.replay import _target, load_dumps

    for r in load_dumps(replay_dir):
        target = _target(r["scene"], r["scene_dir"])
        yield ({"source": "field_surface", "generator": r["generator"], "split": r["split"],
                "level": r["level"].rsplit("_", 1)[0], "run": f"{r['scene']}__{r['train_seed']}__{r['level']}",
                "frame": r["frame"]}, r["views"], target)


def dump_real(out: Path, dst: Path, log=print) -> int:
    """Store the consensus inputs of every trained run of the real benchmark under ``out``
    (``out/TARGET/point2act/seedS/config.yml``)."""
    from point2act.grasp.config import GraspConfig
    from point2act.method import run_layer as mrun
    from point2act.method.supervision import supervised_views

    dst.mkdir(parents=True, exist_ok=True)
    n = 0
    for cfg in sorted(Path(out).glob("*/point2act/seed*/config.yml")):
        if not list((cfg.parent / "nerfstudio_models").glob("*.ckpt")):
            continue
        target, seed = cfg.parts[-4], cfg.parent.name
        run = mrun.run_of(*mrun.load_run(cfg))
        views, info = supervised_views(cfg, run, GraspConfig().region)
        if not views:
            log(f"{target} {seed}: {info.get('reason')}, skipped")
            continue
        with open(dst / f"{target}__{seed}.pkl", "wb") as f:
            pickle.dump({"target": target, "seed": seed, "views": views, "frame": mrun.run_frame(run)}, f)
        n += 1
        log(f"dumped {target} {seed}: {len(views)} views")
    return n


class _RealTarget:
    """The real benchmark's hit test for one target: median held-out reprojection within the blob sigma."""

    def __init__(self, name: str):
        from benchmarks.real.targets import cameras_of
        from benchmarks.real.run import select_targets
        from point2act.heatmap import HEATMAP_SIGMA_FRAC, sigma_px

        self.t = select_targets([name])[0]
        cams = cameras_of(self.t.capture)
        self.hit_px = float(np.median([sigma_px(cams[k].height, cams[k].width, HEATMAP_SIGMA_FRAC) for k in self.t.held_out]))

    def error(self, X_capture: np.ndarray) -> float:
        from benchmarks.real.run import score

        return float(score(self.t, X_capture)["px"])


def real_runs(real_dir: Path):
    """The real runs as dumped, and each with a second wrong answer: the right view that sees the wrong
    answer's place nearest its frame centre answers there."""
    from point2act.where.consensus import consensus

    for p in sorted(Path(real_dir).glob("*.pkl")):
        with open(p, "rb") as f:
            r = pickle.load(f)
        tgt = _RealTarget(r["target"])
        fields = {"source": "real", "generator": "real", "split": "real", "run": f"{r['target']}__{r['seed']}",
                  "frame": r["frame"], "real": tgt}
        views = r["views"]
        yield ({**fields, "level": "wrong1"}, views, None)
        c = consensus(views)
        wrong = [q for q in c.places[1:] if q.views]
        if not wrong:
            continue
        P = wrong[0].point
        right = set(c.best.views) - set(wrong[0].views)
        best, where = None, np.inf
        for u, v in enumerate(views):
            if v.view_id not in right:
                continue
            uv, z = v.project(P[None])
            H, W = v.size
            if z[0] > 0 and 0 <= uv[0, 0] < W and 0 <= uv[0, 1] < H:
                off = float(np.hypot(uv[0, 0] - W / 2, uv[0, 1] - H / 2))
                if off < where:
                    best, where = (u, uv[0]), off
        if best is None:
            continue
        import copy

        v2 = copy.copy(views)
        u, uv = best
        v2[u] = copy.copy(views[u])
        v2[u].points = uv[None].astype(np.float64)
        yield ({**fields, "level": "wrong2"}, v2, None)


# ------------------------------------------------------------------------------------------------ replay
def replay(runs: Iterable, view_counts: Sequence[int], draws: int, seed: int = 0) -> List[Dict[str, Any]]:
    """Per run and view count, ``draws`` subsets of the views (every view once where it has no more): the
    consensus's confidence, weak flag and whether its action point hits."""
    from point2act.where.consensus import consensus

    rows = []
    for fields, views, target in runs:
        rng = np.random.default_rng([seed, zlib.crc32((fields["run"] + fields["level"]).encode())])
        V = len(views)
        for n in view_counts:
            m = min(int(n), V)
            subsets = [np.arange(V)] if m == V else [np.sort(rng.choice(V, m, replace=False)) for _ in range(draws)]
            for s in subsets:
                sub = [views[i] for i in s]
                if not any(len(v.points) for v in sub):
                    continue
                try:
                    c = consensus(sub)
                except ValueError:
                    continue
                X = c.best.point
                if "frame" in fields:
                    X = fields["frame"].to_capture(np.asarray(X)[None])[0]
                if "real" in fields:
                    err = fields["real"].error(X)
                    hit = err <= fields["real"].hit_px
                else:
                    err = float(target.distance(X))
                    hit = err <= HIT_M
                rows.append({k: v for k, v in fields.items() if k not in ("frame", "real")} |
                            {"views": int(m), "answered": int(c.answered_views), "confidence": float(c.confidence),
                             "hit": bool(hit), "error": float(err)})
    return rows


def reliability(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Confidence bins against the hit rate, and what acting at each threshold gives: coverage (the hits
    acted on, of all hits) and risk (the misses among the runs acted on)."""
    conf = np.array([r["confidence"] for r in rows])
    hit = np.array([r["hit"] for r in rows], dtype=bool)
    bins = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        m = (conf >= lo) & (conf < hi)
        bins.append({"lo": lo, "hi": min(hi, 1.0), "n": int(m.sum()),
                     "hit": float(hit[m].mean()) if m.any() else None,
                     "mean_confidence": float(conf[m].mean()) if m.any() else None})
    thr = {}
    for t in THRESHOLDS:
        act = conf >= t
        thr[str(t)] = {"coverage": float((act & hit).sum() / max(1, hit.sum())), "acted": int(act.sum()),
                       "risk": float((act & ~hit).sum() / act.sum()) if act.any() else None,
                       "confident_misses": int((act & ~hit).sum())}
    return {"n": len(rows), "hit": float(hit.mean()) if len(rows) else None, "bins": bins, "thresholds": thr}


def tables(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["source"], r["generator"], r["level"], r["views"]), []).append(r)
        groups.setdefault((r["source"], "all", r["level"], r["views"]), []).append(r)
    return {" / ".join(str(k) for k in key): {"source": key[0], "generator": key[1], "level": key[2], "views": key[3],
                                             **reliability(g)} for key, g in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0])))}


def _pct(x):
    return "-" if x is None else f"{100 * x:.0f} %"


def markdown(doc: Dict[str, Any], command: str) -> str:
    heads = " | ".join(f"[{lo:g}, {hi:g})" for lo, hi in zip(BINS[:-1], BINS[1:]))
    lines = ["# Reliability of the views' confidence: confidence bin against the hit rate", "", "```", command, "```", "",
             __doc__.split("\n\n", 2)[2].strip(), "",
             "Each cell: runs in the bin, hit rate. Coverage at t: the hits with confidence >= t, of all hits; risk: the "
             "misses among the runs with confidence >= t.", "",
             f"| source | generator | level | views | runs | hit | {heads} | " +
             " | ".join(f"cov / risk @ {t}" for t in THRESHOLDS) + " |",
             "|" + "---|" * (6 + len(BINS) - 1 + len(THRESHOLDS))]
    runs: Dict[str, set] = {}
    for r in doc.get("rows", []):
        runs.setdefault(r["source"], set()).add(r["run"].split("__p")[0])
    for src, names in sorted(runs.items()):
        lines[-2:-2] = [f"{src}: {len(names)} runs or scenes ({', '.join(sorted(names))}).", ""]
    for c in doc["conditions"].values():
        cells = [f"{b['n']}: {_pct(b['hit'])}" if b["n"] else "" for b in c["bins"]]
        th = [f"{_pct(c['thresholds'][str(t)]['coverage'])} / {_pct(c['thresholds'][str(t)]['risk'])}" for t in THRESHOLDS]
        lines.append(f"| {c['source']} | {c['generator']} | {c['level']} | {c['views']} | {c['n']} | {_pct(c['hit'])} | "
                     + " | ".join(cells) + " | " + " | ".join(th) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.calibrate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump-real", help="store the consensus inputs of the real benchmark's runs")
    d.add_argument("--out", type=Path, required=True, help="the real benchmark's --out")
    d.add_argument("--dir", type=Path, default=None, help="default: ~/.cache/point2act/bench/calibrate_real")
    t = sub.add_parser("table", help="reliability per condition")
    t.add_argument("--splits", nargs="*", default=["test", "studio_test", "kitchen_test"])
    t.add_argument("--levels", default="clean,out40,same40")
    t.add_argument("--pointer-seeds", type=int, nargs="+", default=[0, 1])
    t.add_argument("--views", type=int, nargs="+", default=[6, 8, 12, 30])
    t.add_argument("--draws", type=int, default=3)
    t.add_argument("--replay-dir", type=Path, default=None, help="accuracy runs (default: replay's own)")
    t.add_argument("--real-dir", type=Path, default=None, help="default: ~/.cache/point2act/bench/calibrate_real")
    t.add_argument("--results", type=Path, required=True)
    a = ap.parse_args(argv)
    if a.cmd == "dump-real":
        n = dump_real(a.out, a.dir or real_root())
        print(f"{n} real runs dumped to {a.dir or real_root()}")
        return 0
    from benchmarks.accuracy.replay import replay_root

    levels = a.levels.split(",")
    rows = replay(true_surface_runs(a.splits, levels, a.pointer_seeds), a.views, a.draws)
    rows += replay(field_surface_runs(a.replay_dir or replay_root()), a.views, a.draws)
    rows += replay(real_runs(a.real_dir or real_root()), [6, 7, 8], a.draws)
    command = "python -m benchmarks.accuracy.calibrate " + " ".join(sys.argv[1:] if argv is None else argv)
    doc = {"command": command, "conditions": tables(rows)}
    a.results.mkdir(parents=True, exist_ok=True)
    (a.results / "reliability.json").write_text(json.dumps(doc, indent=1) + "\n")
    (a.results / "rows.json").write_text(json.dumps(rows) + "\n")
    (a.results / "reliability.md").write_text(markdown({**doc, "rows": rows}, command))
    print(f"{len(rows)} replays -> {a.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
