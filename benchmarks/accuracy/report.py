"""Aggregate the benchmark's records into Markdown tables and PNG plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from .metrics import weighted_median

METHODS = ("single_view", "triangulation", "point2act")
LABELS = {"single_view": "single-view lift (MLLM*)", "triangulation": "triangulation + RANSAC", "point2act": "point2act"}


def summarise(records: Sequence[Dict[str, Any]], level: str, method: str, scene: str | None = None) -> Dict[str, float]:
    """Hit rate and median error (m) of one method at one level (all scenes, or one scene).

    Every (scene, seed) counts equally: single-view records of a (scene, seed) carry weight
    1 / (views that answered), i.e. the expected result of one random answered view.
    """
    rs = [r for r in records if r["level"] == level and r["method"] == method and (scene is None or r["scene"] == scene)]
    if not rs:
        return {"hit": float("nan"), "median_m": float("nan"), "n": 0}
    w = np.array([r["weight"] for r in rs])
    hit = float(np.sum(w * np.array([r["hit"] for r in rs], dtype=float)) / w.sum())
    return {"hit": hit, "median_m": weighted_median([r["error_m"] for r in rs], w),
            "n": len({(r["scene"], r["seed"]) for r in rs})}


def _cm(v: float) -> str:
    return "∞" if math.isinf(v) else ("–" if math.isnan(v) else f"{v * 100:.1f}")


def headline_table(records: Sequence[Dict[str, Any]], levels: Sequence[str]) -> str:
    head = "| pointer errors | " + " | ".join(f"{LABELS[m]}: hit / median cm" for m in METHODS) + " |"
    lines = [head, "|---|" + "---:|" * len(METHODS)]
    for lvl in levels:
        cells = []
        for m in METHODS:
            s = summarise(records, lvl, m)
            cells.append(f"{s['hit'] * 100:.0f} % / {_cm(s['median_m'])}")
        lines.append(f"| {lvl} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_scene_table(records: Sequence[Dict[str, Any]], scenes: Sequence[str], level: str) -> str:
    lines = [f"| scene ({level}) | " + " | ".join(f"{LABELS[m]}: hit / median cm" for m in METHODS) + " |",
             "|---|" + "---:|" * len(METHODS)]
    for sc in scenes:
        cells = []
        for m in METHODS:
            s = summarise(records, level, m, sc)
            cells.append(f"{s['hit'] * 100:.0f} % / {_cm(s['median_m'])}")
        lines.append(f"| {sc} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def grasp_table(records: Sequence[Dict[str, Any]], levels: Sequence[str]) -> str:
    lines = ["| pointer errors | runs | planner returned grasps | top grasp on target | top grasp collision-free (true meshes) "
             "| penetration ≤ 2 mm | on target and collision-free | median penetration (mm) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for lvl in levels:
        rs = [r for r in records if r["level"] == lvl and r["method"] == "point2act" and "num_grasps" in r]
        if not rs:
            continue
        some = np.mean([r["num_grasps"] > 0 for r in rs])
        on = np.mean([r["grasp_on_target"] for r in rs])
        cf = np.mean([r["grasp_collision_free"] for r in rs])
        both = np.mean([r["grasp_on_target"] and r["grasp_collision_free"] for r in rs])
        pen = [r["grasp_penetration_m"] for r in rs if r.get("grasp_penetration_m") is not None]
        le2 = np.mean([r.get("grasp_penetration_m", 1.0) <= 0.002 if r["num_grasps"] else False for r in rs])
        med = f"{1000 * float(np.median(pen)):.1f}" if pen else "–"
        lines.append(f"| {lvl} | {len(rs)} | {some * 100:.0f} % | {on * 100:.0f} % | {cf * 100:.0f} % | {le2 * 100:.0f} % "
                     f"| {both * 100:.0f} % | {med} |")
    return "\n".join(lines)


def timing_table(scene_results: Sequence[Dict[str, Any]]) -> str:
    keys = [("scene_generation", "scene generation (cached after the first run)"),
            ("pointing", "pointing (simulated pointer, all levels)"),
            ("reconstruction", "reconstruction (ns-train, once per scene)"),
            ("weights_cache", "relevancy: weights cache (built once per scene, then loaded)"),
            ("refit", "relevancy: refit (points, heatmaps, fit; all levels)"),
            ("grasp", "grasp head (planner, all levels)"),
            ("export", "export incl. grasp head (all levels)"),
            ("baselines", "baselines (lift + RANSAC, all levels)")]
    n_runs = max(1, int(np.mean([sr["runs"] for sr in scene_results])))
    lines = ["| stage | mean per scene (s) | per level run (s) |", "|---|---:|---:|"]
    for k, label in keys:
        vals = [sr["timings_s"].get(k, 0.0) for sr in scene_results]
        per = np.mean(vals)
        per_run = "" if k in ("scene_generation", "reconstruction", "weights_cache") else f"{per / n_runs:.2f}"
        lines.append(f"| {label} | {per:.1f} | {per_run} |")
    return "\n".join(lines)


def plots(records: Sequence[Dict[str, Any]], out_dir: Path, outlier_levels: Sequence[str]) -> List[Path]:
    """error_vs_outliers.png and hit_vs_outliers.png (per method)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = []
    for lvl in outlier_levels:
        rs = [r for r in records if r["level"] == lvl]
        rates.append(100 * rs[0]["outlier_rate"] if rs else float("nan"))
    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for m, mk in zip(METHODS, ("o", "s", "^")):
        s = [summarise(records, lvl, m) for lvl in outlier_levels]
        hits = [100 * x["hit"] for x in s]
        errs = [100 * x["median_m"] for x in s]
        axes[0].plot(rates, hits, marker=mk, label=LABELS[m])
        finite = [e if math.isfinite(e) else np.nan for e in errs]
        axes[1].plot(rates, finite, marker=mk, label=LABELS[m])
    axes[0].set(xlabel="outlier rate (%)", ylabel="hit rate (%): within 1 cm of the target", ylim=(-3, 103))
    axes[1].set(xlabel="outlier rate (%)", ylabel="median action-point error (cm; gap: no answer)")
    axes[1].set_yscale("symlog", linthresh=1.0)
    axes[1].set_ylim(bottom=0.0)
    axes[1].axhline(1.0, color="grey", lw=0.8, ls="--")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_xticks(rates)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    p = out_dir / "accuracy_vs_outliers.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths
