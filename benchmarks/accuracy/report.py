"""Aggregate the benchmark's records: summary.json (hit rates with bootstrap intervals), Markdown
tables and the plot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from .metrics import bootstrap_ci_clustered, unit_values, weighted_median
from .suite import SPLITS

METHODS = ("point2act", "lift_recon_depth", "lift_true_depth", "ransac", "best_view")
LABELS = {"point2act": "point2act", "lift_recon_depth": "one-view lift, recon depth",
          "lift_true_depth": "one-view lift, TRUE depth (upper bound)", "ransac": "triangulation + RANSAC",
          "best_view": "best view (first), recon depth"}
N_BOOT = 2000


def _sel(records, level, method, scene=None):
    return [r for r in records if r["level"] == level and r["method"] == method and (scene is None or r["scene"] == scene)]


def summarise(records: Sequence[Dict[str, Any]], level: str, method: str, scene: str | None = None,
              n_boot: int = N_BOOT) -> Dict[str, float]:
    """Hit rate, its 95 % bootstrap interval (scenes, then pointer seeds within them, resampled) and
    the median error (m) of one method at one level (all scenes, or one scene).

    Every (scene, seed) unit counts equally: the one-view lifts of a unit carry weight
    1 / (views that answered), i.e. the expected result of one random answered view."""
    rs = _sel(records, level, method, scene)
    if not rs:
        return {"hit": float("nan"), "lo": float("nan"), "hi": float("nan"), "median_m": float("nan"), "n": 0}
    uv = unit_values(rs, "hit")
    hit, lo, hi = bootstrap_ci_clustered(uv, n_boot=n_boot)
    # unit weights sum to 1 per unit, so the weighted median counts units equally
    tot = {}
    for r in rs:
        tot[(r["scene"], r["seed"])] = tot.get((r["scene"], r["seed"]), 0.0) + float(r["weight"])
    w = np.array([float(r["weight"]) / tot[(r["scene"], r["seed"])] for r in rs])
    return {"hit": hit, "lo": lo, "hi": hi, "median_m": weighted_median([r["error_m"] for r in rs], w), "n": len(uv)}


def _level_rows(records: Sequence[Dict[str, Any]], levels: Sequence[str], methods: Sequence[str]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for lvl in levels:
        row = {}
        for m in methods:
            s = summarise(records, lvl, m)
            if s["n"] == 0:
                continue
            med = s["median_m"]
            row[m] = {"hit": round(s["hit"], 4), "lo": round(s["lo"], 4), "hi": round(s["hi"], 4),
                      "median_cm": round(100 * med, 3) if math.isfinite(med) else None}
        sel = selective(records, lvl)
        if sel is not None:
            row["point2act_confident"] = {"coverage": sel["coverage"], "hit": sel["hit"]}
            row["point2act_top2"] = {"hit": sel["top2_hit"]}
        gr = grasp_rows(records, [lvl]).get(lvl)
        if gr is not None:
            row["point2act_grasp"] = {"hit": round(gr["success"], 4), "lo": round(gr["lo"], 4), "hi": round(gr["hi"], 4)}
            if "holdable" in gr:  # the same over the runs whose target the hand can hold, beside their action-point hit
                row["point2act_grasp"]["holdable"] = {k: (round(v, 4) if isinstance(v, float) else v)
                                                      for k, v in gr["holdable"].items()}
        if row:
            out[lvl] = row
    return out


SELECTIVE_KEYS = ("point2act_confident", "point2act_top2", "point2act_grasp")
"""Per-level keys of the summary beside the methods: the confidence's coverage and selective hit rate, the
top-2 candidates' hit rate (:func:`selective`), and the top grasp's rate on the target and collision-free
against the true meshes with its interval (:func:`grasp_rows`)."""


def selective(records: Sequence[Dict[str, Any]], level: str | None = None) -> Dict[str, Any] | None:
    """Risk and coverage of point2act's confidence at one level (all levels: None): the share of runs not
    flagged weak (``coverage``), the hit rate among them (``hit``; NaN when every run is flagged), the hit
    rate of "the target is among the top-2 candidates" (``top2_hit``) and the mean confidence; None when
    the records carry no confidence (runs before the views' consensus)."""
    rs = [r for r in records if r.get("method") == "point2act" and "confidence" in r
          and (level is None or r["level"] == level)]
    if not rs:
        return None
    kept = [r for r in rs if not r.get("weak")]
    return {"coverage": round(len(kept) / len(rs), 4),
            "hit": round(float(np.mean([r["hit"] for r in kept])), 4) if kept else float("nan"),
            "top2_hit": round(float(np.mean([r.get("top2_hit", r["hit"]) for r in rs])), 4),
            "mean_confidence": round(float(np.mean([r["confidence"] for r in rs])), 4), "n": len(rs)}


def reliability(records: Sequence[Dict[str, Any]], bins: Sequence[float] = (0.0, 0.5, 0.8, 0.95, 0.99, 1.0001)):
    """Reliability of point2act's confidence: per confidence bin, the runs, their mean confidence and their hit
    rate (calibrated: the two agree)."""
    rs = [r for r in records if r.get("method") == "point2act" and "confidence" in r]
    out = []
    for lo, hi in zip(bins[:-1], bins[1:]):
        b = [r for r in rs if lo <= r["confidence"] < hi]
        if b:
            out.append({"bin": [lo, min(hi, 1.0)], "n": len(b), "mean_confidence": round(float(np.mean([r["confidence"] for r in b])), 4),
                        "hit": round(float(np.mean([r["hit"] for r in b])), 4)})
    return out


def risk_coverage_md(records: Sequence[Dict[str, Any]], levels: Sequence[str]) -> str:
    """Markdown: per level, coverage, selective hit rate, plain hit rate and top-2 hit rate; then the
    reliability bins."""
    lines = ["| level | runs | not flagged (coverage) | hit, not flagged | hit, all | target in top 2 |",
             "|---|---:|---:|---:|---:|---:|"]
    for lvl in levels:
        s = selective(records, lvl)
        if s is None:
            continue
        allhit = np.mean([r["hit"] for r in records if r.get("method") == "point2act" and r["level"] == lvl])
        sh = "–" if not math.isfinite(s["hit"]) else f"{100 * s['hit']:.0f} %"
        lines.append(f"| {lvl} | {s['n']} | {100 * s['coverage']:.0f} % | {sh} | {100 * allhit:.0f} % | "
                     f"{100 * s['top2_hit']:.0f} % |")
    rel = reliability(records)
    if rel:
        lines += ["", "| confidence bin | runs | mean confidence | hit rate |", "|---|---:|---:|---:|"]
        lines += [f"| {b['bin'][0]:.2f}–{b['bin'][1]:.2f} | {b['n']} | {b['mean_confidence']:.3f} | {100 * b['hit']:.0f} % |"
                  for b in rel]
    return "\n".join(lines) + "\n"


def risk_coverage_curve(records: Sequence[Dict[str, Any]]) -> Dict[str, np.ndarray]:
    """point2act's risk against coverage over every confidence threshold (all levels pooled): acting only
    on runs with ``confidence >= thr`` covers ``coverage`` of them and misses ``risk`` of those. Arrays,
    one entry per distinct confidence, thresholds decreasing (coverage increasing)."""
    rs = [r for r in records if r.get("method") == "point2act" and "confidence" in r]
    if not rs:
        return {"threshold": np.zeros(0), "coverage": np.zeros(0), "risk": np.zeros(0)}
    conf = np.array([float(r["confidence"]) for r in rs])
    miss = np.array([0.0 if r["hit"] else 1.0 for r in rs])
    thr = np.unique(conf)[::-1]
    acted = conf[None, :] >= thr[:, None]  # [thresholds, runs]
    n = acted.sum(1)
    return {"threshold": thr, "coverage": n / len(rs), "risk": (acted * miss[None, :]).sum(1) / n}


def risk_coverage_plot(records: Sequence[Dict[str, Any]], out_dir: Path, threshold: float = 0.95) -> List[Path]:
    """risk_coverage.png: per generator, point2act's risk (miss rate among the runs it acts on) against
    coverage (the share it acts on), all levels pooled, with the ``weak`` threshold's operating point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gens = sorted({generator_of(r) for r in records if r.get("method") == "point2act" and "confidence" in r})
    if not gens:
        return []
    fig, ax = plt.subplots(figsize=(5.2, 3.9))
    for g in gens:
        rs = [r for r in records if generator_of(r) == g and r.get("method") == "point2act" and "confidence" in r]
        c = risk_coverage_curve(rs)
        line, = ax.step(100 * c["coverage"], 100 * c["risk"], where="post", label=f"{g} ({len(rs)} runs)")
        at = c["threshold"] >= threshold
        if at.any():
            k = int(np.flatnonzero(at)[-1])
            ax.plot([100 * c["coverage"][k]], [100 * c["risk"][k]], "o", color=line.get_color())
    ax.set(xlabel="coverage: runs acted on (%)", ylabel="risk: misses among them (%)", xlim=(0, 102), ylim=(-2, None),
           title=f"point2act, all levels pooled (dot: confidence ≥ {threshold})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    p = out_dir / "risk_coverage.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]


def generator_of(r: Dict[str, Any]) -> str:
    """The generator of a record's scene (records before the generators existed: "synth")."""
    return r.get("generator") or "synth"


def primary_records(records: Sequence[Dict[str, Any]], train_seeds: Sequence[Any] | None) -> List[Dict[str, Any]]:
    """The records of the first training seed (all records when no training seeds were given)."""
    if not train_seeds:
        return list(records)
    return [r for r in records if r.get("train_seed") == train_seeds[0]]


def train_seed_rows(records: Sequence[Dict[str, Any]], levels: Sequence[str], train_seeds: Sequence[Any],
                    methods: Sequence[str] = METHODS) -> Dict[str, Any]:
    """Per generator, per level run on every training seed, per method: the hit rate of each seed
    (``"hit": {"SEED": rate}``), their median and the worst; for point2act also its top grasp's rate
    (``"grasp_ok"``, ``"grasp_ok_median"``, ``"grasp_ok_worst"``)."""
    out: Dict[str, Any] = {}
    for g in sorted({generator_of(r) for r in records}):
        rg = [r for r in records if generator_of(r) == g]
        gl: Dict[str, Any] = {}
        for lvl in levels:
            row = {}
            for m in methods:
                per, grasp, held_hit = {}, {}, {}
                for ts in train_seeds:
                    rs = [r for r in rg if r.get("train_seed") == ts and r["level"] == lvl and r["method"] == m]
                    if not rs:
                        break
                    per[str(ts)] = round(float(np.mean(list(unit_values(rs, "hit").values()))), 4)
                    if m == "point2act" and all("grasp_success" in r for r in rs):
                        grasp[str(ts)] = round(float(np.mean([bool(r["grasp_success"]) for r in rs])), 4)
                        held = success_when_hit([r for r in rs if r.get("target_beyond_hand") is False])
                        if held is not None:
                            held_hit[str(ts)] = round(held, 4)
                if len(per) != len(train_seeds):
                    continue
                v = list(per.values())
                row[m] = {"hit": per, "median": round(float(np.median(v)), 4), "worst": round(float(min(v)), 4)}
                if grasp and len(grasp) == len(train_seeds):
                    gv = list(grasp.values())
                    row[m].update(grasp_ok=grasp, grasp_ok_median=round(float(np.median(gv)), 4),
                                  grasp_ok_worst=round(float(min(gv)), 4))
                if held_hit and len(held_hit) == len(train_seeds):
                    hv = list(held_hit.values())
                    row[m].update(holdable_hit_grasp_ok=held_hit,
                                  holdable_hit_grasp_ok_median=round(float(np.median(hv)), 4),
                                  holdable_hit_grasp_ok_worst=round(float(min(hv)), 4))
            if row:
                gl[lvl] = row
        if gl:
            out[g] = gl
    return out


def summary_json(records: Sequence[Dict[str, Any]], levels: Sequence[str], split: str, seeds: Sequence[int],
                 scenes: Sequence[str], methods: Sequence[str] = METHODS,
                 train_seeds: Sequence[Any] | None = None) -> Dict[str, Any]:
    """``{"levels": {LEVEL: {METHOD: {"hit", "lo", "hi", "median_cm"}}}, "split", "seeds", "scenes",
    "generators": {GENERATOR: {LEVEL: {METHOD: {...}}}}}``: fractions in [0, 1], median error in cm (null
    when more than half the units have no answer); "levels" over all scenes, "generators" per scene
    generator. With several ``train_seeds`` (the reconstruction trained with each ``--machine.seed``)
    the tables are the first seed's, and ``"train_seeds": {"seeds": [...], "generators": GENERATOR ->
    LEVEL -> METHOD -> {"hit": {SEED: rate}, "median", "worst"}}`` (:func:`train_seed_rows`) is added."""
    prim = primary_records(records, train_seeds)
    out = {"levels": _level_rows(prim, levels, methods), "split": split, "seeds": [int(s) for s in seeds],
           "scenes": list(scenes)}
    out["generators"] = {g: _level_rows([r for r in prim if generator_of(r) == g], levels, methods)
                         for g in sorted({generator_of(r) for r in prim})}
    if train_seeds and len(train_seeds) > 1:
        out["train_seeds"] = {"seeds": [None if t is None else int(t) for t in train_seeds],
                              "generators": train_seed_rows(records, levels, train_seeds, methods)}
    return out


KEPT_KEYS = ("real", "clouds")
"""summary.json keys written by other benchmarks (``"real"``: ``python -m benchmarks.real``; ``"clouds"``:
``python -m benchmarks.accuracy.clouds``): a rewrite keeps them."""


def merge_summary(path: Path, summary: Dict[str, Any] | None = None, **keys: Any) -> Dict[str, Any]:
    """Write ``summary`` (or the file's own content) to ``path`` with ``keys`` set, keeping the file's
    :data:`KEPT_KEYS` and, for the test split's top-level file, the other generators' rows under
    ``"generators"`` (each generator's split writes its own folder; the top-level file gathers them).
    Checked with :func:`check_summary` before it is written; returns what was written."""
    old: Dict[str, Any] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = {}
    out = dict(summary if summary is not None else old)
    for k in KEPT_KEYS:
        if k in old and k not in out:
            out[k] = old[k]
    gens = dict(old.get("generators", {}))
    gens.update(out.get("generators", {}))
    gens.update(keys.pop("generators", {}))
    if gens:
        out["generators"] = gens
    out.update(keys)
    check_summary(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    return out


def check_summary(d: Dict[str, Any]) -> None:
    """Raise ValueError unless ``d`` has summary.json's schema ("generators", "train_seeds", "real" and "clouds"
    optional)."""
    if not {"levels", "split", "seeds", "scenes"} <= set(d) <= {"levels", "split", "seeds", "scenes", "generators",
                                                                 "train_seeds", "real", "clouds"}:
        raise ValueError(f"summary keys {sorted(d)}")
    for t, v in d.get("real", {}).items():
        if not isinstance(t, str) or not {"median_px", "worst_seed_px", "seeds"} <= set(v):
            raise ValueError(f"real/{t}: {v}")
        if not (0.0 <= v["median_px"] <= v["worst_seed_px"]) or not v["seeds"]:
            raise ValueError(f"real/{t}: median {v['median_px']} worst {v['worst_seed_px']} seeds {v['seeds']}")
    if d["split"] not in SPLITS or not all(isinstance(s, int) for s in d["seeds"]):
        raise ValueError("split / seeds")
    if not all(isinstance(s, str) for s in d["scenes"]):
        raise ValueError("scenes")
    for g, levels in d.get("generators", {}).items():
        if not isinstance(g, str):
            raise ValueError("generators")
        check_summary({"levels": levels, "split": d["split"], "seeds": d["seeds"], "scenes": d["scenes"]})
    if "train_seeds" in d:
        ts = d["train_seeds"]
        if set(ts) != {"seeds", "generators"}:
            raise ValueError(f"train_seeds keys {sorted(ts)}")
        for g, levels in ts["generators"].items():
            for lvl, row in levels.items():
                for m, v in row.items():
                    if m not in METHODS or not {"hit", "median", "worst"} <= set(v):
                        raise ValueError(f"train_seeds/{g}/{lvl}/{m}")
                    if not (0.0 <= v["worst"] <= v["median"] <= 1.0):
                        raise ValueError(f"train_seeds/{g}/{lvl}/{m}: worst {v['worst']} median {v['median']}")
    for lvl, row in d["levels"].items():
        for m, v in row.items():
            if m in SELECTIVE_KEYS:
                v = dict(v)
                held = v.pop("holdable", None) if m == "point2act_grasp" else None
                if held is not None and (not {"runs", "success", "hit"} <= set(held) <= {"runs", "success", "hit",
                                                                                      "success_when_hit"}
                                         or int(held["runs"]) < 1
                                         or not all(held.get(k) is None or 0.0 <= held[k] <= 1.0
                                                    for k in ("success", "hit", "success_when_hit"))):
                    raise ValueError(f"{lvl}/{m}/holdable: {held}")
                if not set(v) <= {"coverage", "hit", "lo", "hi"} or not all(
                        x is None or not math.isfinite(x) or 0.0 <= x <= 1.0 for x in v.values()):
                    raise ValueError(f"{lvl}/{m}: {v}")
                continue
            if m not in METHODS:
                raise ValueError(f"{lvl}: unknown method {m}")
            if set(v) != {"hit", "lo", "hi", "median_cm"}:
                raise ValueError(f"{lvl}/{m}: keys {sorted(v)}")
            if not (0.0 <= v["lo"] <= v["hit"] + 1e-9 <= v["hi"] + 2e-9 <= 1.0 + 2e-9):
                raise ValueError(f"{lvl}/{m}: interval {v}")
            if v["median_cm"] is not None and not (isinstance(v["median_cm"], (int, float)) and v["median_cm"] >= 0):
                raise ValueError(f"{lvl}/{m}: median_cm {v['median_cm']}")


def _cm(v) -> str:
    if v is None:
        return "∞"
    return "∞" if math.isinf(v) else ("–" if math.isnan(v) else f"{v:.1f}")


def _hit_cells(row: Dict[str, Any], ms: Sequence[str], detail: bool) -> List[str]:
    """One level's cells: "hit %" per method (the best hit rate a user has in bold: not the true-depth
    upper bound), with ``detail`` " [lo–hi] / median cm"; "–" for a method without a value."""
    best = max((row[m]["hit"] for m in ms if m in row and m != "lift_true_depth"), default=None)
    cells = []
    for m in ms:
        if m not in row:
            cells.append("–")
            continue
        v = row[m]
        h = f"{100 * v['hit']:.0f} %"
        if best is not None and m != "lift_true_depth" and abs(v["hit"] - best) < 1e-9:
            h = f"**{h}**"
        cells.append(f"{h} [{100 * v['lo']:.0f}–{100 * v['hi']:.0f}] / {_cm(v['median_cm'])}" if detail else h)
    return cells


def headline_table(summary: Dict[str, Any], methods: Sequence[str] = METHODS) -> str:
    """Markdown: one row per level, per method "hit % [lo–hi] / median cm"; the best hit rate bold."""
    ms = [m for m in methods if any(m in row for row in summary["levels"].values())]
    lines = ["| pointer errors | " + " | ".join(LABELS[m] for m in ms) + " |", "|---|" + "---:|" * len(ms)]
    for lvl, row in summary["levels"].items():
        lines.append(f"| {lvl} | " + " | ".join(_hit_cells(row, ms, True)) + " |")
    return "\n".join(lines)


def compact_table(summary: Dict[str, Any], grasps: Dict[str, Dict[str, float]] | None = None,
                  methods: Sequence[str] = ("point2act", "lift_recon_depth", "ransac", "lift_true_depth")) -> str:
    """Markdown for the main README: per level the hit rates only (the best a user has in bold) and,
    with ``grasps`` (:func:`grasp_rows`), point2act's top grasp on target and collision-free."""
    ms = [m for m in methods if any(m in row for row in summary["levels"].values())]
    head = [LABELS[m] for m in ms] + (["point2act top grasp OK"] if grasps else [])
    lines = ["| pointer errors | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for lvl, row in summary["levels"].items():
        cells = _hit_cells(row, ms, False)
        if grasps:
            g = grasps.get(lvl)
            cells.append("–" if g is None else f"{100 * g['success']:.0f} %")
        lines.append(f"| {lvl} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_scene_table(records: Sequence[Dict[str, Any]], scenes: Sequence[str], level: str,
                    methods: Sequence[str] = METHODS) -> str:
    lines = [f"| scene ({level}) | " + " | ".join(f"{LABELS[m]}: hit / median cm" for m in methods) + " |",
             "|---|" + "---:|" * len(methods)]
    for sc in scenes:
        cells = []
        for m in methods:
            s = summarise(records, level, m, sc, n_boot=1)
            cells.append("–" if s["n"] == 0 else f"{s['hit'] * 100:.0f} % / {_cm(100 * s['median_m'])}")
        lines.append(f"| {sc} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: Answer kinds that name one wrong object: a systematic confusion that can out-vote the target.
WRONG_KINDS = ("outlier", "twin")


def majority_rows(records: Sequence[Dict[str, Any]], levels: Sequence[str]) -> Dict[str, Dict[str, int]]:
    """Per level with confusions: point2act's runs split by what the answers allowed. A run has a
    *target majority* when more views answered on the target than on the wrong object (``kinds``:
    "outlier" or "twin"). No rule that trusts the answers' majority can hit the other runs except by
    luck; the lifts' rate is the share of target answers, which stays near 1 - rate."""
    out = {}
    for lvl in levels:
        rs = [r for r in records if r["level"] == lvl and r["method"] == "point2act" and "kinds" in r]
        if not rs or not any(r["kinds"].get(k, 0) for r in rs for k in WRONG_KINDS):
            continue
        is_maj = [r["kinds"].get("target", 0) > max(r["kinds"].get(k, 0) for k in WRONG_KINDS) for r in rs]
        maj = [r for r, m in zip(rs, is_maj) if m]
        other = [r for r, m in zip(rs, is_maj) if not m]
        out[lvl] = {"runs": len(rs), "majority": len(maj), "majority_hit": sum(bool(r["hit"]) for r in maj),
                    "other": len(other), "other_hit": sum(bool(r["hit"]) for r in other)}
    return out


def majority_table(records: Sequence[Dict[str, Any]], levels: Sequence[str]) -> str:
    """Markdown of :func:`majority_rows`."""
    rows = majority_rows(records, levels)
    lines = ["| level | runs | target majority: runs, point2act hits | wrong object as many or more: runs, hits |",
             "|---|---:|---:|---:|"]
    for lvl, r in rows.items():
        lines.append(f"| {lvl} | {r['runs']} | {r['majority']}, {r['majority_hit']} | {r['other']}, {r['other_hit']} |")
    return "\n".join(lines)


def grasp_rows(records: Sequence[Dict[str, Any]], levels: Sequence[str]) -> Dict[str, Dict[str, float]]:
    """Per level: the rate at which point2act's top grasp is on the target part and collision-free
    against the true meshes (judge_grasp), with its bootstrap interval, and the parts of it."""
    out = {}
    for lvl in levels:
        rs = [r for r in records if r["level"] == lvl and r["method"] == "point2act" and "num_grasps" in r]
        if not rs:
            continue
        for r in rs:
            r.setdefault("grasp_success", bool(r.get("grasp_on_target") and r.get("grasp_collision_free")))
        ok, lo, hi = bootstrap_ci_clustered(unit_values(rs, "grasp_success"))
        out[lvl] = {"success": ok, "lo": lo, "hi": hi, "runs": len(rs),
                    "returned": float(np.mean([r["num_grasps"] > 0 for r in rs])),
                    "on_target": float(np.mean([r["grasp_on_target"] for r in rs])),
                    "collision_free": float(np.mean([r["grasp_collision_free"] for r in rs])),
                    "hit": float(np.mean([bool(r["hit"]) for r in rs]))}
        # the runs whose target this hand can hold at all (.oracle: not every target is a parallel-jaw grasp)
        held = [r for r in rs if r.get("target_beyond_hand") is False]
        if held:
            out[lvl]["holdable"] = {"runs": len(held), "success": float(np.mean([bool(r["grasp_success"]) for r in held])),
                                    "hit": float(np.mean([bool(r["hit"]) for r in held])),
                                    "success_when_hit": success_when_hit(held)}
    return out


def success_when_hit(records: Sequence[Dict[str, Any]]) -> float | None:
    """The top grasp's success over the ``records`` whose action point hit (None when none hit): the grasp
    head's own rate, apart from the pointing's misses."""
    hit = [r for r in records if r.get("hit")]
    return float(np.mean([bool(r.get("grasp_success")) for r in hit])) if hit else None


def grasp_table(records: Sequence[Dict[str, Any]], levels: Sequence[str]) -> str:
    rows = grasp_rows(records, levels)
    lines = ["| pointer errors | runs | planner returned grasps | top grasp on target | top grasp collision-free "
             "| on target AND collision-free [95 % CI] | action point hit | targets the hand can hold: runs, grasp OK, "
             "action point hit |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for lvl, g in rows.items():
        h = g.get("holdable")
        held = f"{h['runs']}, {100 * h['success']:.0f} %, {100 * h['hit']:.0f} %" if h else "-"
        lines.append(f"| {lvl} | {g['runs']} | {100 * g['returned']:.0f} % | {100 * g['on_target']:.0f} % | "
                     f"{100 * g['collision_free']:.0f} % | {100 * g['success']:.0f} % [{100 * g['lo']:.0f}–{100 * g['hi']:.0f}] | "
                     f"{100 * g['hit']:.0f} % | {held} |")
    return "\n".join(lines)


def timing_table(scene_results: Sequence[Dict[str, Any]]) -> str:
    keys = [("scene_generation", "scene generation (cached after the first run)"),
            ("reconstruction", "reconstruction (ns-train, once per scene)"),
            ("recon_depth", "reconstruction depth renders (lift baselines, once per scene)"),
            ("pointing", "pointing (simulated pointer, all levels)"),
            ("weights_cache", "relevancy: weights cache (built once per scene, then loaded)"),
            ("refit", "relevancy: refit (points, heatmaps, fit; all levels)"),
            ("export", "export incl. support and grasp head (all levels)"),
            ("grasp", "grasp head (planner, all levels)"),
            ("baselines", "baselines (lifts + RANSAC, all levels)")]
    n_runs = max(1, int(np.mean([sr.get("runs", 1) for sr in scene_results])))
    lines = ["| stage | mean per scene (s) | per level run (s) |", "|---|---:|---:|"]
    for k, label in keys:
        per = float(np.mean([sr["timings_s"].get(k, 0.0) for sr in scene_results]))
        per_run = "" if k in ("scene_generation", "reconstruction", "weights_cache", "recon_depth") else f"{per / n_runs:.2f}"
        lines.append(f"| {label} | {per:.1f} | {per_run} |")
    return "\n".join(lines)


def plots(summary: Dict[str, Any], out_dir: Path, sweeps: Dict[str, Sequence[str]]) -> List[Path]:
    """accuracy_vs_outliers.png: hit rate (with 95 % intervals) against the outlier rate, one panel per
    outlier kind (random confuser pixel; the same confuser spot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweeps = {k: [lv for lv in v if lv in summary["levels"]] for k, v in sweeps.items()}
    sweeps = {k: v for k, v in sweeps.items() if len(v) >= 2}
    if not sweeps:
        return []
    fig, axes = plt.subplots(1, len(sweeps), figsize=(5.2 * len(sweeps), 3.9), squeeze=False)
    marks = dict(zip(METHODS, ("o", "v", "x", "s", "D")))
    for ax, (title, lvls) in zip(axes[0], sweeps.items()):
        rates = [0 if lv == "clean" else int("".join(c for c in lv if c.isdigit())) for lv in lvls]
        for k, m in enumerate(METHODS):
            pts = [(r, summary["levels"][lv].get(m)) for r, lv in zip(rates, lvls)]
            pts = [(r, v) for r, v in pts if v is not None]
            if not pts:
                continue
            x = np.array([r for r, _ in pts], dtype=float) + (k - 2) * 0.7
            y = np.array([100 * v["hit"] for _, v in pts])
            err = np.array([[100 * (v["hit"] - v["lo"]) for _, v in pts], [100 * (v["hi"] - v["hit"]) for _, v in pts]])
            ax.errorbar(x, y, yerr=np.maximum(err, 0), marker=marks[m], capsize=3, label=LABELS[m],
                        ls="--" if m == "lift_true_depth" else "-", alpha=0.9)
        ax.set(title=f"outliers: {title}", xlabel="outlier rate (%)", ylabel="hit rate (%), 95 % CI", ylim=(-3, 103))
        ax.set_xticks(rates)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{summary['split']} split: {len(summary['scenes'])} scenes × pointer seeds {summary['seeds']}", fontsize=9)
    fig.tight_layout()
    p = out_dir / "accuracy_vs_outliers.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return [p]


def train_seed_table(summary: Dict[str, Any], methods: Sequence[str] = ("point2act", "lift_recon_depth", "ransac")) -> str:
    """Markdown: per generator, level and method, the hit rate of every training seed, the median and
    the worst (and point2act's top grasp OK rate likewise); "" without training seeds."""
    ts = summary.get("train_seeds")
    if not ts:
        return ""
    seeds = [str(s) for s in ts["seeds"]]
    lines = ["| generator | level | method | " + " | ".join(f"seed {s}" for s in seeds) + " | median | worst |",
             "|---|---|---|" + "---:|" * (len(seeds) + 2)]
    for g, levels in ts["generators"].items():
        for lvl, row in levels.items():
            for m in methods:
                if m not in row:
                    continue
                v = row[m]
                lines.append(f"| {g} | {lvl} | {LABELS[m]} hit | " + " | ".join(f"{100 * v['hit'][s]:.0f} %" for s in seeds)
                             + f" | {100 * v['median']:.0f} % | {100 * v['worst']:.0f} % |")
                if "grasp_ok" in v:
                    lines.append(f"| {g} | {lvl} | point2act top grasp OK | "
                                 + " | ".join(f"{100 * v['grasp_ok'][s]:.0f} %" for s in seeds)
                                 + f" | {100 * v['grasp_ok_median']:.0f} % | {100 * v['grasp_ok_worst']:.0f} % |")
    return "\n".join(lines)


def misses_table(records: Sequence[Dict[str, Any]], levels: Sequence[str] | None = None) -> str:
    """Markdown: every point2act run that missed (action point farther than 1 cm from the target): scene,
    level, pointer seed, training seed, error, the part nearest the action point and its distance, the
    answers' kinds."""
    rs = [r for r in records if r["method"] == "point2act" and not r["hit"] and (levels is None or r["level"] in levels)]
    if not rs:
        return "No misses."
    lines = ["| scene | level | seed | training seed | error (cm) | nearest part, distance (cm) | answers |",
             "|---|---|---:|---:|---:|---|---|"]
    for r in sorted(rs, key=lambda r: (r["scene"], str(r.get("train_seed")), r["level"], r["seed"])):
        e = r.get("error_m")
        err = "∞" if e is None or (isinstance(e, float) and math.isinf(e)) or e == "inf" else f"{100 * float(e):.1f}"
        near = r.get("nearest_part")
        nd = r.get("nearest_part_m")
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.get("kinds", {}).items()))
        lines.append(f"| {r['scene']} | {r['level']} | {r['seed']} | {r.get('train_seed', '')} | {err} | "
                     f"{near or '–'}{'' if nd is None else f', {100 * float(nd):.1f}'} | {kinds} |")
    return "\n".join(lines)
