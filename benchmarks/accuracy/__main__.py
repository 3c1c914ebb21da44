"""``python -m benchmarks.accuracy``: the accuracy benchmark (see :mod:`benchmarks.accuracy`).

    python -m benchmarks.accuracy                       # the full suite -> benchmarks/results/accuracy/
    python -m benchmarks.accuracy --scenes handle_s0,rim_s3 --levels clean,out20
    python -m benchmarks.accuracy --coke                # also rerun the coke pull-tab check (~10 min)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "accuracy"


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else "inf"
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if hasattr(x, "tolist"):
        return _json_safe(x.tolist())
    return x


def _result_key(spec, levels, bc) -> str:
    import hashlib

    d = {"levels": [vars(lv) for lv in levels], "bench": {k: str(v) for k, v in vars(bc).items()
                                                          if k not in ("retrain", "cache_root")}}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def _result_path(spec, bc, key) -> Path:
    from .suite import scene_dir

    return scene_dir(spec, bc.common(), bc.cache_root) / f"bench_result_{key}.json"


def _load_scene_result(spec, bc, key):
    p = _result_path(spec, bc, key)
    if not p.is_file():
        return None
    r = json.loads(p.read_text())
    for rec in r["records"]:  # JSON has no inf
        for k in ("error_m", "centroid_m"):
            if rec.get(k) == "inf":
                rec[k] = float("inf")
    return r


def _save_scene_result(spec, bc, key, r) -> None:
    p = _result_path(spec, bc, key)
    if p.parent.is_dir():
        p.write_text(json.dumps(_json_safe(r)) + "\n")


README = ROOT / "benchmarks" / "README.md"
BEGIN, END = "<!-- accuracy:begin (written by python -m benchmarks.accuracy) -->", "<!-- accuracy:end -->"


def _update_readme(records, levels, meta, plot_paths, out_dir: Path, log) -> None:
    """Replace benchmarks/README.md's block between BEGIN and END with the headline table and the plot."""
    from . import report

    if not README.is_file():
        return
    text = README.read_text()
    if BEGIN not in text or END not in text:
        log(f"README: no {BEGIN!r} ... {END!r} block; not updated")
        return
    bc = meta["bench"]
    rel = out_dir.resolve().relative_to(README.parent) if out_dir.resolve().is_relative_to(README.parent) else out_dir
    body = [BEGIN, "", f"{len(meta['scenes'])} scenes, {bc['num_views']} views at {bc['width']}×{bc['height']}, "
            f"{bc['iterations']} training iterations per scene, pointer seeds {bc['seeds']}; hit rate (action point "
            f"within 1 cm of the target part) / median error (cm). Scenes ran {meta['scenes_wall_s'] / 60:.0f} min "
            f"on {meta['machine']} (reconstructions reused from the cache not included; their training time is in "
            f"the per-stage table); full results: [{rel}/accuracy.md]({rel}/accuracy.md).", "",
            report.headline_table(records, levels), ""]
    for p in plot_paths[:1]:
        body += [f"![hit rate and median error vs outlier rate]({rel}/{p.name})", ""]
    body.append(END)
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    tmp = README.with_name(README.name + ".tmp")
    tmp.write_text(head + "\n".join(body) + tail)
    tmp.replace(README)
    log(f"README: accuracy block updated")


def run(scenes, levels, bc, out_dir: Path, coke: bool = False, log=print, resume: bool = True,
        update_readme: bool = False) -> dict:
    """Run the scenes and levels, write results.json, accuracy.md and the plots into ``out_dir``.

    A scene already run with the same settings and levels (its result is cached beside the scene)
    is reused unless ``resume`` is False (``--rerun``), so an interrupted run continues."""
    from . import report
    from .run import run_scene

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = []
    for spec in scenes:
        ts = time.perf_counter()
        log(f"[{spec.name}] {spec.description}")
        key = _result_key(spec, levels, bc)
        cached = _load_scene_result(spec, bc, key) if resume else None
        if cached is not None:
            log(f"[{spec.name}] reusing the results of an earlier run with the same settings")
            results.append(cached)
            continue
        r = run_scene(spec, bc, levels, log=log)
        r["wall_s"] = time.perf_counter() - ts
        r["runs"] = sum(1 for x in r["records"] if x["method"] == "point2act")
        log(f"[{spec.name}] {r['wall_s']:.0f} s")
        _save_scene_result(spec, bc, key, r)
        results.append(r)
    wall = time.perf_counter() - t0
    if bc.grasps:
        _grasp_depths(scenes, results, bc)
    records = [x for r in results for x in r["records"]]
    level_names = [lv.name for lv in levels]
    outlier_levels = [n for n in ("clean", "out20", "out40", "out60") if n in level_names]
    plot_paths = report.plots(records, out_dir, outlier_levels) if len(outlier_levels) >= 2 else []
    coke_res = _coke(coke, log)
    meta = {"wall_s": wall, "scenes_wall_s": sum(r["wall_s"] for r in results), "scenes": [s.name for s in scenes],
            "levels": level_names, "bench": {
        k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v) for k, v in vars(bc).items()},
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs", "python": sys.version.split()[0]}
    (out_dir / "results.json").write_text(json.dumps(_json_safe({"meta": meta, "coke": coke_res, "scenes": [
        {k: v for k, v in r.items() if k != "records"} for r in results], "records": records})) + "\n")
    md = _markdown(records, results, level_names, [s for s in scenes], plot_paths, meta, coke_res, out_dir)
    (out_dir / "accuracy.md").write_text(md)
    if update_readme:
        _update_readme(records, level_names, meta, plot_paths, out_dir, log)
    log(md)
    return {"records": records, "results": results, "meta": meta}


def _grasp_depths(scenes, results, bc) -> None:
    """Add ``grasp_penetration_m`` (top grasp vs the true meshes) to point2act records, from the
    grasps.json files the run wrote beside each scene."""
    from .metrics import grasp_penetration, scene_surface_points
    from .suite import synth_config

    for spec, r in zip(scenes, results):
        surface = None
        for rec in r["records"]:
            if rec["method"] != "point2act" or "grasp_penetration_m" in rec or not rec.get("num_grasps"):
                continue
            f = Path(r["scene_dir"]) / "bench_points" / f"grasps_{rec['level']}_s{rec['seed']}.json"
            if not f.is_file():
                continue
            if surface is None:
                surface = scene_surface_points(synth_config(spec, bc.common()))
            rec["grasp_penetration_m"] = grasp_penetration(json.loads(f.read_text())["grasps"][0], surface)


def _coke(rerun: bool, log) -> dict:
    res = ROOT / "benchmarks" / "results" / "coke.json"
    if rerun:
        log("coke: python -m benchmarks.coke (ns-train, ~10 min)")
        subprocess.run([sys.executable, "-m", "benchmarks.coke"], cwd=ROOT, check=True)
    if not res.is_file():
        return {}
    d = json.loads(res.read_text())
    d["source"] = "rerun now" if rerun else "benchmarks/results/coke.json (last run of python -m benchmarks.coke)"
    return d


def _markdown(records, results, levels, scenes, plot_paths, meta, coke, out_dir) -> str:
    from . import report

    bc = meta["bench"]
    lines = [
        "# Accuracy benchmark (`python -m benchmarks.accuracy`)",
        "",
        f"{len(scenes)} synthetic scenes × {len(levels)} pointer error levels; pointer seeds {bc['seeds']} "
        f"(the clean level once). {bc['num_views']} views per scene at {bc['width']}×{bc['height']}; geometry: one "
        f"`ns-train point2act` run per scene ({bc['iterations']} iterations, the demo's short CPU schedule), then per "
        f"level the relevancy channel is refit on the frozen Gaussians (`point2act query`, downscale "
        f"{bc['query_downscale']}, {bc['query_steps']} steps: the training loss, see README \"Re-query\") and exported "
        "(`point2act export`). Hit: the action point within 1 cm of the target part's surface. Errors: distance "
        "to the target's surface (∞: no answer). Wall time of the scenes as they ran (generation, training unless "
        f"reused from the cache, all levels): {meta['scenes_wall_s'] / 60:.1f} min on {meta['machine']}"
        + (f"; this invocation {meta['wall_s'] / 60:.1f} min (the rest reused from the cache)."
           if meta["wall_s"] < 0.9 * meta["scenes_wall_s"] else "."),
        "",
        "## Action point: hit rate / median error",
        "",
        report.headline_table(records, levels),
        "",
    ]
    for p in plot_paths:
        lines += [f"![{p.stem}]({p.name})", ""]
    for lvl in [x for x in ("out20", "out40") if x in levels] or levels[:1]:
        lines += [f"## Per scene at {lvl}", "", report.per_scene_table(records, [s.name for s in scenes], lvl), ""]
    if any("num_grasps" in r for r in records):
        lines += ["## Grasps (point2act, top grasp)", "", report.grasp_table(records, levels), ""]
    lines += ["## Time per stage", "", report.timing_table(results), ""]
    lines += ["## Scenes", "", "| scene | what | scene folder |", "|---|---|---|"]
    for s, r in zip(scenes, results):
        lines.append(f"| {s.name} | {s.description} | `{Path(r['scene_dir']).name}` |")
    lines.append("")
    if coke:
        lines += ["## Real data: coke pull tab", "",
                  f"Action point {coke.get('distance_units', float('nan')):.3f} units from the triangulated pull tab "
                  f"in reference.json (target < 0.1; the can is about 1 unit tall), {coke.get('iterations')} iterations, "
                  f"training {coke.get('train_seconds')} s. Source: {coke['source']}.", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    from .pointer import LEVELS
    from .run import BenchConfig
    from .suite import QUICK, SUITE

    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", default="all", help=f"comma-separated scene names, 'all' or 'quick' ({','.join(QUICK)})")
    ap.add_argument("--levels", default="all", help=f"comma-separated levels: {','.join(LEVELS)}")
    ap.add_argument("--seeds", default=",".join(str(x) for x in BenchConfig.seeds), help="pointer seeds per level")
    ap.add_argument("--iterations", type=int, default=BenchConfig.iterations)
    ap.add_argument("--views", type=int, default=BenchConfig.num_views)
    ap.add_argument("--width", type=int, default=BenchConfig.width)
    ap.add_argument("--height", type=int, default=BenchConfig.height)
    ap.add_argument("--no-grasps", action="store_true", help="skip the grasp head")
    ap.add_argument("--retrain", action="store_true", help="retrain cached geometry runs (implies --rerun)")
    ap.add_argument("--rerun", action="store_true", help="rerun scenes whose results are cached")
    ap.add_argument("--coke", action="store_true", help="rerun python -m benchmarks.coke (~10 min) for the real-data row")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--no-readme", action="store_true", help="do not rewrite the README's accuracy block "
                    "(it is rewritten only for the full suite and all levels)")
    ap.add_argument("--cache", type=Path, default=None, help="scene/run cache (default $POINT2ACT_BENCH_CACHE or "
                    "~/.cache/point2act/bench/accuracy)")
    a = ap.parse_args(argv)
    by_name = {s.name: s for s in SUITE}
    names = [s.name for s in SUITE] if a.scenes == "all" else QUICK if a.scenes == "quick" else a.scenes.split(",")
    unknown = [n for n in names if n not in by_name]
    lv_names = list(LEVELS) if a.levels == "all" else a.levels.split(",")
    unknown += [n for n in lv_names if n not in LEVELS]
    if unknown:
        sys.exit(f"unknown scene or level: {', '.join(unknown)}")
    bc = BenchConfig(width=a.width, height=a.height, num_views=a.views, iterations=a.iterations,
                     seeds=tuple(int(s) for s in a.seeds.split(",")), grasps=not a.no_grasps, retrain=a.retrain,
                     cache_root=a.cache)
    full = a.scenes == "all" and a.levels == "all"
    from point2act.errors import Point2ActError

    try:
        run([by_name[n] for n in names], [LEVELS[n] for n in lv_names], bc, a.out, coke=a.coke,
            resume=not (a.rerun or a.retrain), update_readme=full and not a.no_readme)
    except Point2ActError as e:  # a known problem (missing test data, ...): the message, no traceback
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
