"""``python -m benchmarks.accuracy``: the accuracy benchmark (see :mod:`benchmarks.accuracy`).

    python -m benchmarks.accuracy --split test          # the held-out test split, protocol levels,
                                                        # 3 pointer seeds -> benchmarks/results/accuracy/
    python -m benchmarks.accuracy --split dev           # the development split -> .../accuracy/dev/
    python -m benchmarks.accuracy --split dev --scenes handle_s0,rim_s3 --levels clean,out20
    python -m benchmarks.accuracy --coke                # also rerun the coke pull-tab check (~10 min)

    python -m benchmarks.accuracy --split val           # the validation split -> .../accuracy/val/
    python -m benchmarks.accuracy --split kitchen_test --levels clean,out40,same40 --train-seeds 0 1 2
                                                        # another generator -> .../accuracy/kitchen/

Protocol (docs/accuracy.md): rules are chosen on the dev split (layout seeds 0-99) and checked on the
validation splits (val, val2, val3, val4: seeds 1000+ ... 4000+, earlier test splits, seen since);
the test split (seeds 5000-5099) is run to report. Hit rates come with 95 % bootstrap intervals over
scenes x pointer seeds; the twin levels (2 scenes of 12) run 6x the pointer seeds. The test split
writes summary.json and the README block.
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


def code_fingerprint(root: Path | None = None) -> str:
    """A hash of the code a scene's results come from: the ``point2act`` package's sources (Python and C++)
    and this benchmark's. A cached result is reused only under the same code: a grasp-head change reran
    against cached results would otherwise report the older code's verdicts (the reconstructions are cached
    apart and kept, ``--retrain`` retrains them)."""
    import hashlib

    root = Path(__file__).resolve().parents[2] if root is None else Path(root)
    h = hashlib.sha256()
    for base in (root / "point2act", root / "benchmarks" / "accuracy"):
        for f in sorted(p for p in base.rglob("*") if p.suffix in (".py", ".cpp", ".h") and p.is_file()):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _result_key(spec, levels, bc) -> str:
    import hashlib

    d = {"levels": [vars(lv) for lv in levels], "bench": {k: str(v) for k, v in vars(bc).items()
                                                          if k not in ("retrain", "cache_root")
                                                          and not (k == "train_seed" and v is None)},
         "code": code_fingerprint()}
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


#: What each split is, for the tables' headers.
SPLIT_NOTES = {"dev": "the scenes the rules were developed on",
               "val": "a second check of the rules, the first test split, looked at while developing",
               "val2": "a third check of the rules, the second test split, reported once and seen since",
               "val3": "a fourth check of the rules, the third test split, reported once and seen since",
               "val4": "a fifth check of the rules, the fourth test split, reported once and seen since",
               "test": "held out: layout seeds never used while developing",
               "kitchen_dev": "the kitchen generator's development scenes (open3d meshes, Blinn-Phong, hand-held "
                              "and few-view captures)",
               "kitchen_test": "the kitchen generator's held-out scenes (layout seeds never used while developing)",
               "studio_dev": "the studio generator's development scenes (analytic primitives, Oren-Nayar, rings "
                             "and few-view captures)",
               "studio_test": "the studio generator's held-out scenes (layout seeds never used while developing)",
               "objects_dev": "external objects (PyBullet's random_urdfs, even ids) on the kitchen's table",
               "objects_test": "external objects held out (random_urdfs' odd ids, never inspected one by one)"}
README = ROOT / "benchmarks" / "README.md"
BEGIN, END = "<!-- accuracy:begin (written by python -m benchmarks.accuracy) -->", "<!-- accuracy:end -->"
MAIN_README = ROOT / "README.md"
MAIN_BEGIN = "<!-- accuracy-headline:begin (written by python -m benchmarks.accuracy --split test) -->"
MAIN_END = "<!-- accuracy-headline:end -->"


def _replace_block(path: Path, begin: str, end: str, body: str, log) -> bool:
    """Replace the text between ``begin`` and ``end`` in ``path`` (atomically); False if no block."""
    if not path.is_file():
        return False
    text = path.read_text()
    if begin not in text or end not in text:
        log(f"{path.name}: no {begin!r} ... {end!r} block; not updated")
        return False
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(head + begin + "\n" + body + "\n" + end + tail)
    tmp.replace(path)
    return True


def _update_main_readme(summary, grasps, meta, log) -> None:
    """The main README's headline: hit rates per level on the test split, and the top grasp's rate."""
    from . import report

    bc = meta["bench"]
    body = ["", f"Held-out **test split** ({len(summary['scenes'])} synthetic scenes, pointer seeds {summary['seeds']} "
            f"({bc.get('twin_seed_factor', 1)}x as many on the twin levels, "
            f"{'independent per scene' if bc.get('scene_streams') else 'shared by all scenes'}), "
            f"{bc['num_views']} views at {bc['width']}×{bc['height']}, `ns-train point2act` defaults, "
            f"{bc['iterations']} steps): how often the action point lands within 1 cm of the target part, against "
            "what a user would otherwise do with the same MLLM points. Intervals, medians and the protocol: "
            "[benchmarks/README.md](benchmarks/README.md), [docs/accuracy.md](docs/accuracy.md).", "",
            report.compact_table(summary, grasps), ""]
    if _replace_block(MAIN_README, MAIN_BEGIN, MAIN_END, "\n".join(body), log):
        log("README.md: accuracy headline updated")


def _update_readme(summary, grasp_md, meta, plot_paths, out_dir: Path, log) -> None:
    """Replace benchmarks/README.md's block between BEGIN and END with the headline table and the plot."""
    from . import report

    bc = meta["bench"]
    rel = out_dir.resolve().relative_to(README.parent) if out_dir.resolve().is_relative_to(README.parent) else out_dir
    body = ["", f"**{summary['split']} split** ({SPLIT_NOTES[summary['split']]}): "
            f"{len(summary['scenes'])} scenes ({', '.join(summary['scenes'])}), pointer seeds {summary['seeds']} "
            f"(the clean level once; the twin levels, on the {sum(1 for s in summary['scenes'] if 'twin' in s)} twin "
            f"scenes, {bc.get('twin_seed_factor', 1)}x as many), {bc['num_views']} views at {bc['width']}×{bc['height']}, "
            f"`ns-train point2act` with the method's default schedule for {bc['iterations']} iterations. "
            "Cells: hit rate (action point within 1 cm of the target part) [95 % bootstrap interval over "
            "scenes × seeds] / median error (cm); bold: the best method that a user has (the true-depth lift "
            f"is an upper bound, no user has it). Scenes ran {meta['scenes_wall_s'] / 60:.0f} min on "
            f"{meta['machine']}; full results: [{rel}/accuracy.md]({rel}/accuracy.md), "
            f"[{rel}/summary.json]({rel}/summary.json).", "",
            report.headline_table(summary), ""]
    if grasp_md:
        body += ["Grasps (point2act's top grasp, judged against the true meshes):", "", grasp_md, ""]
    for p in plot_paths[:1]:
        body += [f"![hit rate vs outlier rate, 95 % intervals]({rel}/{p.name})", ""]
    if _replace_block(README, BEGIN, END, "\n".join(body[:-1]), log):
        log("benchmarks/README.md: accuracy block updated")


def run(scenes, levels, bc, out_dir: Path, coke: bool = False, log=print, resume: bool = True,
        update_readme: bool = False, split: str | None = None, train_seeds=None, seed_levels=("clean",)) -> dict:
    """Run the scenes and levels, write results.json, accuracy.md and the plots into ``out_dir``.

    A scene already run with the same settings, levels and code (:func:`code_fingerprint`; its result is
    cached beside the scene) is reused unless ``resume`` is False (``--rerun``), so an interrupted run
    continues.

    ``train_seeds``: reconstruct every scene once per seed (``ns-train --machine.seed``); the first
    seed runs all ``levels``, the others the ``seed_levels`` among them. The tables are the first
    seed's; summary.json's "train_seeds" gives each seed's hit rate, the median and the worst."""
    import dataclasses

    from . import report
    from .run import run_scene

    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results, first_results = [], []
    tseeds = list(train_seeds) if train_seeds else [bc.train_seed]
    for k, tsd in enumerate(tseeds):
        bck = dataclasses.replace(bc, train_seed=tsd)
        lvs = list(levels) if k == 0 else [lv for lv in levels if lv.name in set(seed_levels)]
        if not lvs:
            continue
        for spec in scenes:
            ts = time.perf_counter()
            tag = "" if tsd is None else f" (training seed {tsd})"
            log(f"[{spec.name}]{tag} {spec.description}")
            key = _result_key(spec, lvs, bck)
            cached = _load_scene_result(spec, bck, key) if resume else None
            if cached is not None:
                log(f"[{spec.name}]{tag} reusing the results of an earlier run with the same settings and code")
                for x in cached["records"]:
                    x.setdefault("generator", spec.generator)
                    x.setdefault("train_seed", tsd)
                results.append(cached)
                if k == 0:
                    first_results.append(cached)
                continue
            r = run_scene(spec, bck, lvs, log=log)
            r["wall_s"] = time.perf_counter() - ts
            r["runs"] = sum(1 for x in r["records"] if x["method"] == "point2act")
            log(f"[{spec.name}]{tag} {r['wall_s']:.0f} s")
            _save_scene_result(spec, bck, key, r)
            results.append(r)
            if k == 0:
                first_results.append(r)
    wall = time.perf_counter() - t0
    all_records = [x for r in results for x in r["records"]]
    records = [x for r in first_results for x in r["records"]]
    level_names = [lv.name for lv in levels]
    split = split or (scenes[0].split if len({s.split for s in scenes}) == 1 else "dev")
    summary = report.summary_json(all_records, level_names, split, bc.seeds, [s.name for s in scenes],
                                  train_seeds=tseeds if len(tseeds) > 1 else None)
    report.merge_summary(out_dir / "summary.json", summary)
    from .suite import results_subdir

    if split.endswith("_test") and out_dir.resolve() == (RESULTS / results_subdir(split)).resolve():
        # a generator's test split also lands in the top-level summary.json's "generators"
        report.merge_summary(RESULTS / "summary.json", generators=summary["generators"])
    from .pointer import OUTLIER_SWEEPS

    plot_paths = report.plots(summary, out_dir, OUTLIER_SWEEPS)
    report.risk_coverage_plot(all_records, out_dir)
    from .suite import split_generator

    coke_res = _coke(coke, log) if split in SPLIT_NOTES and split_generator(split) == "synth" else {}
    meta = {"wall_s": wall, "scenes_wall_s": sum(r["wall_s"] for r in results), "scenes": [s.name for s in scenes],
            "train_seeds": tseeds, "seed_levels": list(seed_levels),
            "levels": level_names, "bench": {
        k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v) for k, v in vars(bc).items()},
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs", "python": sys.version.split()[0]}
    (out_dir / "results.json").write_text(json.dumps(_json_safe({"meta": meta, "coke": coke_res, "scenes": [
        {k: v for k, v in r.items() if k != "records"} for r in results], "records": all_records})) + "\n")
    meta["split"] = split
    md = _markdown(records, first_results, level_names, [s for s in scenes], plot_paths, meta, coke_res, out_dir,
                   summary, all_records)
    (out_dir / "accuracy.md").write_text(md)
    if update_readme:
        grasp_md = report.grasp_table(records, level_names) if bc.grasps else ""
        _update_readme(summary, grasp_md, meta, plot_paths, out_dir, log)
        _update_main_readme(summary, report.grasp_rows(records, level_names) if bc.grasps else None, meta, log)
    log(md)
    return {"records": records, "results": results, "meta": meta, "summary": summary}


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


def _markdown(records, results, levels, scenes, plot_paths, meta, coke, out_dir, summary, all_records=None) -> str:
    from . import report

    bc = meta["bench"]
    lines = [
        "# Accuracy benchmark (`python -m benchmarks.accuracy`)",
        "",
        f"**Split: {meta['split']}** ({SPLIT_NOTES[meta['split']]}). "
        f"{len(scenes)} synthetic scenes × {len(levels)} pointer error levels; pointer seeds {bc['seeds']} "
        f"(the clean level once; twin levels {bc.get('twin_seed_factor', 1)}x as many, on the twin scenes; "
        f"pointer draws {'independent per scene' if bc.get('scene_streams') else 'shared by all scenes'}). "
        + (f"{bc['num_views']} views per scene" if all(s.generator == "synth" for s in scenes) else
           "Views per scene as in the Scenes table") + f" at {bc['width']}×{bc['height']}; geometry: one "
        f"`ns-train point2act` run per scene (the method's default schedule for {bc['iterations']} iterations), then per "
        f"level the relevancy channel is refit on the frozen Gaussians (`point2act query`, {bc['query_steps']} steps) "
        "and exported with the multi-view support of the level's points. Hit: the action point within 1 cm of the "
        "target part's surface (0 inside a closed part). Intervals: 95 % percentile bootstrap, scenes resampled, then "
        "pointer seeds within each scene. Errors: distance to the target's surface (∞: no answer). The one-view "
        "lifts count the expected result of one random answered view; `best_view` the first answered view. Wall time "
        f"of the scenes as they ran: {meta['scenes_wall_s'] / 60:.1f} min on {meta['machine']}.",
        "",
        "## Action point: hit rate [95 % CI] / median error (cm)",
        "",
        report.headline_table(summary),
        "",
    ]
    gens = summary.get("generators", {})
    if len(gens) > 1:
        for g, glv in gens.items():
            lines += [f"### Generator {g}", "", report.headline_table({"levels": glv}), ""]
    if any(s.generator != "synth" for s in scenes):
        lines += ["Scenes of `benchmarks.generators` set their own views, camera path and point cloud (the Scenes "
                  "table below); their resolution is the benchmark's. Generators: docs/generators.md.", ""]
    for p in plot_paths:
        lines += [f"![{p.stem}]({p.name})", ""]
    if any("num_grasps" in r for r in records):
        lines += ["## Grasps (point2act, top grasp judged against the true meshes)", "",
                  report.grasp_table(records, levels), ""]
        if len(gens) > 1:
            for g in gens:
                lines += [f"### Generator {g}", "",
                          report.grasp_table([r for r in records if report.generator_of(r) == g], levels), ""]
    seed_md = report.train_seed_table(summary)
    if seed_md:
        lines += ["## Training seeds (the reconstruction trained once per `--machine.seed`)", "",
                  f"Seeds {summary['train_seeds']['seeds']}; the tables above are the first seed's. Hit rate per "
                  "seed, their median and the worst seed.", "", seed_md, ""]
    rc_recs = all_records if all_records is not None else records
    if report.selective(rc_recs) is not None:
        lines += ["## Knowing when not to act (confidence, candidates)", "",
                  "Runs flagged `weak` (confidence < 0.95) would ask again instead of acting. Coverage: the share of "
                  "runs not flagged; the hit rate among them; the hit rate over all runs; how often the target is "
                  "among the first two candidates. Then the reliability of the confidence: per bin, its mean and "
                  "the hit rate (all levels pooled).", ""]
        for g in sorted({report.generator_of(r) for r in rc_recs}):
            lines += [f"### Generator {g}", "",
                      report.risk_coverage_md([r for r in rc_recs if report.generator_of(r) == g], levels), ""]
        if (out_dir / "risk_coverage.png").is_file():
            lines += ["Risk against coverage over every confidence threshold, all levels pooled (the dot: the `weak` "
                      "threshold 0.95):", "", "![risk against coverage](risk_coverage.png)", ""]
    lines += ["## point2act misses (action point farther than 1 cm from the target)", "",
              "The part whose true surface is nearest to the action point, and the distance to it; the answers' "
              "kinds (target, outlier, twin, hidden, ...).", "",
              report.misses_table(all_records if all_records is not None else records), ""]
    if report.majority_rows(records, levels):
        lines += ["## What the answers allowed (point2act runs by answer majority)", "",
                  "A run has a target majority when more views answered on the target than on the wrong object "
                  "(the confuser or the twin).", "", report.majority_table(records, levels), ""]
    for lvl in [x for x in ("out40", "same40", "twin30", "spread") if x in levels] or levels[:1]:
        lines += [f"## Per scene at {lvl}", "", report.per_scene_table(records, [s.name for s in scenes], lvl), ""]
    lines += ["## Time per stage", "", report.timing_table(results), ""]
    lines += ["## Scenes", "", "| scene | split | generator | what | views, camera path, point cloud | scene folder |",
              "|---|---|---|---|---|---|"]
    for s, r in zip(scenes, results):
        ov = s.overrides
        cap = (f"{bc['num_views']}, synth hemisphere, yes" if s.generator == "synth" else
               f"{ov.get('num_views', 20)}, {ov.get('path', 'handheld')}, {'yes' if ov.get('point_cloud', True) else 'no'}")
        lines.append(f"| {s.name} | {s.split} | {s.generator} | {s.description} | {cap} | "
                     f"`{Path(r['scene_dir']).name}` |")
    lines.append("")
    if coke:
        lines += ["## Real data: coke pull tab", "",
                  f"Action point {coke.get('distance_units', float('nan')):.3f} units from the triangulated pull tab "
                  f"in reference.json (target < 0.1; the can is about 1 unit tall), {coke.get('iterations')} iterations, "
                  f"training {coke.get('train_seconds')} s. Source: {coke['source']}.", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    from .pointer import LEVELS, PROTOCOL_LEVELS
    from .run import BenchConfig
    from .suite import QUICK, SPLITS, all_specs

    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=tuple(SPLITS), default="dev",
                    help="scene split: dev (rules are chosen here), val ... val4 (checks) or test (held out; "
                    "writes summary.json + README); kitchen_dev, kitchen_test, studio_dev, studio_test: the other "
                    "generators' scenes (docs/generators.md), results in benchmarks/results/accuracy/GENERATOR/")
    ap.add_argument("--scenes", default="all", help="comma-separated scene names of the split, 'all', "
                    f"'first:N' (the split's first N) or 'quick' ({','.join(QUICK)})")
    ap.add_argument("--levels", default="protocol", help=f"'protocol' ({','.join(PROTOCOL_LEVELS)}), 'all' or "
                    f"comma-separated levels: {','.join(LEVELS)}")
    ap.add_argument("--seeds", default="0,1,2", help="pointer seeds per level")
    ap.add_argument("--iterations", type=int, default=BenchConfig.iterations)
    ap.add_argument("--views", type=int, default=BenchConfig.num_views)
    ap.add_argument("--width", type=int, default=BenchConfig.width)
    ap.add_argument("--height", type=int, default=BenchConfig.height)
    ap.add_argument("--no-grasps", action="store_true", help="skip the grasp head")
    ap.add_argument("--no-support", action="store_true", help="export without the multi-view support")
    ap.add_argument("--retrain", action="store_true", help="retrain cached geometry runs (implies --rerun)")
    ap.add_argument("--rerun", action="store_true", help="rerun scenes whose results are cached")
    ap.add_argument("--coke", action="store_true", help="rerun python -m benchmarks.coke (~10 min) for the real-data row")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default: benchmarks/results/accuracy "
                    "for the test split, .../accuracy/SPLIT for the others)")
    ap.add_argument("--no-readme", action="store_true", help="do not rewrite the README's accuracy block "
                    "(rewritten only for the test split)")
    ap.add_argument("--cache", type=Path, default=None, help="scene/run cache (default $POINT2ACT_BENCH_CACHE or "
                    "~/.cache/point2act/bench/accuracy)")
    ap.add_argument("--train-seeds", type=int, nargs="+", default=None, metavar="SEED",
                    help="reconstruct each scene once per seed (ns-train --machine.seed SEED, each its own cached run); "
                    "the first seed runs all levels, the others --seed-levels; default: the method's seed, one run")
    ap.add_argument("--seed-levels", default="clean", help="levels the training seeds after the first run "
                    "(comma-separated; default clean)")
    ap.add_argument("--cloud", choices=("scene", "triangulated", "none"), default="scene",
                    help="the point cloud training starts from: 'scene', the scene's own (its generator's, "
                    "or none where the scene has none); 'triangulated', the capture loaded without it, as a "
                    "robot capture has it: training triangulates one from the images (the default path); "
                    "'none', without it and without triangulation (a random start). Results of the last two "
                    "go to OUT/clouds/CLOUD/")
    ap.add_argument("--depth", choices=("none", "sensor"), default="none",
                    help="'sensor': the kitchen and studio scenes carry RGB-D sensor depth, which training reads "
                    "(results go to OUT/depth-sensor/)")
    a = ap.parse_args(argv)
    split = SPLITS[a.split]
    by_name = {s.name: s for s in split}
    if a.scenes == "all":
        names = [s.name for s in split]
    elif a.scenes == "quick":
        names = list(QUICK)
    elif a.scenes.startswith("first:"):
        names = [s.name for s in split[: int(a.scenes.split(":", 1)[1])]]
    else:
        names = a.scenes.split(",")
    other = [n for n in names if n not in by_name and n in all_specs()]
    if other:
        sys.exit(f"scenes of the other split: {', '.join(other)} (use --split)")
    unknown = [n for n in names if n not in by_name]
    lv_names = list(PROTOCOL_LEVELS) if a.levels == "protocol" else list(LEVELS) if a.levels == "all" else a.levels.split(",")
    unknown += [n for n in lv_names if n not in LEVELS]
    if unknown:
        sys.exit(f"unknown scene or level: {', '.join(unknown)}")
    bc = BenchConfig(width=a.width, height=a.height, num_views=a.views, iterations=a.iterations,
                     seeds=tuple(int(s) for s in a.seeds.split(",")), grasps=not a.no_grasps, retrain=a.retrain,
                     cache_root=a.cache, support=not a.no_support, cloud=a.cloud, depth=a.depth)
    from .suite import results_subdir

    out = a.out or (RESULTS / results_subdir(a.split))
    if a.cloud != "scene" and a.out is None:
        out = RESULTS / "clouds" / a.cloud / results_subdir(a.split)
    if a.depth != "none" and a.out is None:
        out = out / f"depth-{a.depth}"
    from point2act.errors import Point2ActError

    try:
        run([by_name[n] for n in names], [LEVELS[n] for n in lv_names], bc, out, coke=a.coke,
            resume=not (a.rerun or a.retrain), update_readme=a.split == "test" and not a.no_readme, split=a.split,
            train_seeds=a.train_seeds, seed_levels=tuple(a.seed_levels.split(",")))
    except Point2ActError as e:  # a known problem (missing test data, ...): the message, no traceback
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
