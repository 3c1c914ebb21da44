"""Compare region rules offline: ``python -m benchmarks.accuracy.rules``.

The accuracy benchmark's point2act column depends on the field (fitted once per level and seed) and on
the rule that turns it into an action point (:func:`point2act.grasp.region.relevant_region` with a
:class:`~point2act.grasp.RegionConfig` and the level's multi-view support). This module stores, per
scene and level run of a split that the benchmark already ran, the Gaussians' centres, opacities,
distances to the target part, the refit relevancy and the support arrays (``SCENE/rule_fields/``), and
then scores rule variants on them in seconds, without refitting or planning grasps::

    python -m benchmarks.accuracy.rules --split dev --iterations 1000 \\
        old=choose_region:consensus,support_min_agreement:0.5,peak_weight:agreement,peak_min_own:0 \\
        new=

A variant is ``NAME=FIELD:VALUE,...`` (``RegionConfig`` fields; ``NAME=`` is the defaults). Prints hit
rates (action point within 1 cm of the target part) per level and variant, next to the benchmark's
own point2act, RANSAC and one-view-lift columns of that split's ``results.json``. Used to choose the
default rule on the dev split (docs/accuracy.md); never on the test split.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

import numpy as np

from .metrics import HIT_RADIUS_M

ROOT = Path(__file__).resolve().parents[2]


SUPPORT_FIELDS = ("support_tau", "support_positive", "support_share", "support_depth_gate")
"""``RegionConfig`` fields that change the support itself (dumped once per distinct setting)."""


def support_key(rc) -> str:
    """Sub-folder of a dump holding the support computed with ``rc``'s support fields, named by all of
    them (a change of defaults never reuses a support made with others)."""
    return "support_" + "_".join(f"{f.removeprefix('support_')}{getattr(rc, f):g}" for f in SUPPORT_FIELDS)


def dump_split(split: str, iterations: int, log=print, support_configs=()) -> List[Path]:
    """Store the rule inputs of every level run of ``split`` already in the cache; the folders:
    ``FOLDER/geom.npz`` (Gaussian centres, opacities, distances to the target part), ``FOLDER/LEVEL.npz``
    (the refit relevancy ``rel``) and, for the default ``RegionConfig`` and each of
    ``support_configs``, ``FOLDER/KEY/LEVEL.npz`` (the support: :func:`support_key`)."""
    from point2act.channels import load_channel
    from point2act.grasp import GraspConfig
    from point2act.method import run as mrun

    from .run import BenchConfig, load_scene
    from .suite import SPLITS, ensure_scene, scene_config

    bc = BenchConfig(iterations=iterations)
    wanted = {support_key(r): dataclasses.replace(r, support_downscale=bc.downscale())
              for r in (GraspConfig().region, *support_configs)}
    out = []
    for spec in SPLITS[split]:
        sd, _ = ensure_scene(spec, bc.common(), bc.cache_root)
        cfg_path = sd / f"recon_it{iterations}" / "demo" / "point2act" / "run" / "config.yml"
        if not cfg_path.is_file():
            log(f"{spec.name}: no geometry run for {iterations} iterations (run the benchmark first)")
            continue
        od = sd / f"rule_fields_it{iterations}"
        od.mkdir(exist_ok=True)
        levels = sorted(p for p in (sd / "bench_points").glob("*.json") if not p.name.startswith("grasps_"))
        fields = (od / "geom.npz").is_file() and all(_has(od / f"{p.stem}.npz", "rel", p) for p in levels)
        todo = {k: r for k, r in wanted.items()
                if not all(_has(od / k / f"{p.stem}.npz", "vw_indptr", p) for p in levels)}
        if fields and not todo:
            out.append(od)
            continue
        scene = load_scene(sd, scene_config(spec, bc.common()))
        config, pipeline = mrun.load_run(cfg_path)
        arrays = mrun.gaussian_arrays(pipeline.model)
        means = mrun.run_frame(config).to_capture(arrays["means"])
        if not fields:
            dist = np.array([scene.target.distance(p) for p in means])
            np.savez(od / "geom.npz", means=means, opac=arrays["opacities"].reshape(-1), dist=dist)
            for pf in levels:
                rec = load_channel(cfg_path, pf.stem, means.shape[0])
                np.savez(od / f"{pf.stem}.npz", rel=1.0 / (1.0 + np.exp(-rec["logits"].double().numpy())))
        for key, rc in todo.items():
            (od / key).mkdir(exist_ok=True)
            for pf in levels:
                cfg2 = copy.deepcopy(config)
                cfg2.pipeline.datamanager.points_file = pf
                sup, _ = mrun.support_of(cfg_path, cfg2, pipeline.model, rc)
                vw = sup.view_weight
                np.savez(od / key / f"{pf.stem}.npz", seen=sup.views_seen, agree=sup.views_agree, votes=sup.votes,
                         views=sup.supervised_views, vw_data=vw.data, vw_indices=vw.indices, vw_indptr=vw.indptr,
                         vw_shape=np.array(vw.shape))
        log(f"{spec.name}: {len(levels)} level runs stored ({', '.join(todo) or 'fields'})")
        out.append(od)
    return out


def _has(path: Path, key: str, source: Path | None = None) -> bool:
    """``path`` is an ``.npz`` holding ``key``, written after ``source`` (the level's points file: a
    benchmark rerun with other pointer draws rewrites it, and the dump made from the old points is stale)."""
    if not path.is_file() or (source is not None and path.stat().st_mtime < source.stat().st_mtime):
        return False
    return key in np.load(path).files


def load_support(path: Path):
    """The :class:`~point2act.grasp.support.Support` stored in a dump's level file."""
    from scipy.sparse import csr_matrix

    from point2act.grasp.support import Support

    s = np.load(path)
    vw = None
    if "vw_indptr" in s.files:
        vw = csr_matrix((s["vw_data"], s["vw_indices"], s["vw_indptr"]), shape=tuple(s["vw_shape"]))
    return Support(s["seen"], s["agree"], int(s["views"]), None, s["votes"], vw)


def parse_variant(text: str):
    """``NAME=FIELD:VALUE,...`` -> (name, RegionConfig)."""
    from point2act.grasp import RegionConfig

    name, _, spec = text.partition("=")
    rc = RegionConfig()
    for item in filter(None, spec.split(",")):
        k, _, v = item.partition(":")
        cur = getattr(rc, k)  # AttributeError names an unknown field
        val = (v.lower() in ("1", "true", "yes")) if isinstance(cur, bool) else type(cur)(v)
        rc = dataclasses.replace(rc, **{k: val})
    return name, rc


def score(folders: List[Path], variants: Dict[str, object]) -> Dict[str, Dict[str, List[bool]]]:
    """Per variant, per level: the hits of every (scene, seed) run."""
    from point2act.grasp import GraspConfig
    from point2act.grasp.region import relevant_region

    hits: Dict[str, Dict[str, List[bool]]] = {v: defaultdict(list) for v in variants}
    for od in folders:
        g = np.load(od / "geom.npz")
        for f in sorted(od.glob("*.npz")):
            if f.stem == "geom":
                continue
            level = f.stem.rsplit("_s", 1)[0]
            d = np.load(f)
            sups: Dict[str, object] = {}  # variants sharing a support setting load it once
            for name, rc in variants.items():
                key = support_key(rc)
                if key not in sups:
                    sups[key] = load_support(od / key / f.name)
                sup = sups[key]
                try:
                    r = relevant_region(g["means"], g["opac"], d["rel"], GraspConfig(region=rc), support=sup)
                    if r.action_index is None:  # the centroid: distance to the nearest target sample
                        on = g["means"][g["dist"] <= 1e-3]
                        e = float(np.linalg.norm(on - r.action_point, axis=1).min()) if len(on) else np.inf
                    else:
                        e = float(g["dist"][r.action_index])
                except ValueError:
                    e = np.inf
                hits[name][level].append(e <= HIT_RADIUS_M)
    return hits


def baselines(split_dir: Path) -> Dict[str, Dict[str, float]]:
    """Per level, the hit rate of point2act (as the benchmark ran it), RANSAC and the recon-depth lift
    (:func:`.report.summarise`: every (scene, seed) unit counts equally)."""
    from .report import summarise

    records = json.loads((split_dir / "results.json").read_text())["records"]
    return {lvl: {m: summarise(records, lvl, m, n_boot=1)["hit"] for m in ("point2act", "ransac", "lift_recon_depth")}
            for lvl in {r["level"] for r in records}}


def main(argv=None) -> None:
    from .pointer import PROTOCOL_LEVELS
    from .suite import SEEN_SPLITS

    ap = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.rules", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=SEEN_SPLITS, default="dev", help="never the test split")
    ap.add_argument("--iterations", type=int, default=1000, help="the geometry runs' iterations")
    ap.add_argument("variants", nargs="*", default=["default="], help="NAME=FIELD:VALUE,...")
    a = ap.parse_args(argv)
    variants = dict(parse_variant(v) for v in a.variants)
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):  # loading runs prints nerfstudio's logs: keep the table clean
        folders = dump_split(a.split, a.iterations, log=lambda m: print(m, file=sys.stderr),
                             support_configs=list(variants.values()))
    hits = score(folders, variants)
    from .suite import results_subdir

    base_path = ROOT / "benchmarks" / "results" / "accuracy" / results_subdir(a.split)
    base = baselines(base_path) if (base_path / "results.json").is_file() else {}
    cols = list(variants) + ["bench p2a", "ransac", "lift recon"]
    print("| level | " + " | ".join(cols) + " |\n|---|" + "---:|" * len(cols))
    allh: Dict[str, List[bool]] = defaultdict(list)
    for lvl in PROTOCOL_LEVELS:
        if not any(hits[v].get(lvl) for v in variants):
            continue
        cells = []
        for v in variants:
            h = hits[v].get(lvl, [])
            allh[v] += h
            cells.append(f"{100 * np.mean(h):.0f} %" if h else "–")
        b = base.get(lvl, {})
        cells += [f"{100 * b[m]:.0f} %" if m in b else "–" for m in ("point2act", "ransac", "lift_recon_depth")]
        print(f"| {lvl} | " + " | ".join(cells) + " |")
    print("| all | " + " | ".join(f"{100 * np.mean(allh[v]):.1f} %" for v in variants) + " | | | |")


if __name__ == "__main__":
    main()
