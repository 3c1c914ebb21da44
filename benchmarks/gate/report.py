"""The gate's verdicts, their comparison with another gate's, and its table."""

from __future__ import annotations

import math
from typing import Any, Dict, List

VERDICTS = ("hit", "grasp_ok")
"""Per job and level: the action point within 1 cm of the target (``hit``), and the top grasp on the target and
collision-free by the true meshes (``grasp_ok``; on a real target: called on target by point2act and within 3 cm
of the hand point)."""


def verdicts(doc: Dict[str, Any]) -> Dict[str, bool]:
    """``NAME/LEVEL/VERDICT`` -> bool for every job of a gate's document (a failed job: every verdict False)."""
    out: Dict[str, bool] = {}
    for j in doc["jobs"]:
        for lv, v in (j.get("levels") or {}).items():
            for k in VERDICTS:
                out[f"{j['name']}/{lv}/{k}"] = bool(v.get(k, False))
    return out


def compare(base: Dict[str, Any], new: Dict[str, Any]) -> Dict[str, List[str]]:
    """The verdicts ``new`` loses (True in ``base``, False or missing in ``new``) and gains, and the lost ones that
    belong to real targets (a real target lost fails the rule whatever the count)."""
    a, b = verdicts(base), verdicts(new)
    real = {j["name"] for j in new["jobs"] + base["jobs"] if j.get("kind") == "real"}
    lost = sorted(k for k, v in a.items() if v and not b.get(k, False))
    gained = sorted(k for k, v in b.items() if v and not a.get(k, False))
    return {"lost": lost, "gained": gained, "real_lost": [k for k in lost if k.split("/")[0] in real]}


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f} %"


def _mm(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def _cell(v: Dict[str, Any] | None) -> str:
    if not v:
        return "-"
    err = "-" if v.get("error_cm") is None else f"{v['error_cm']:.1f} cm"
    grasp = "grasp ✓" if v["grasp_ok"] else ("beyond hand" if v.get("beyond_hand") else "grasp ✗")
    return f"{'hit' if v['hit'] else 'MISS'} ({err}), {grasp}"


def totals(doc: Dict[str, Any]) -> Dict[str, Dict[str, int]]:
    """Per level: runs, hits, grasps OK, and grasps OK among hits on a holdable target."""
    out: Dict[str, Dict[str, int]] = {}
    for j in doc["jobs"]:
        for lv, v in (j.get("levels") or {}).items():
            t = out.setdefault(lv, {"runs": 0, "hits": 0, "grasps": 0, "holdable_hits": 0, "grasps_of_those": 0})
            t["runs"] += 1
            t["hits"] += v["hit"]
            t["grasps"] += v["grasp_ok"]
            if v["hit"] and not v.get("beyond_hand"):
                t["holdable_hits"] += 1
                t["grasps_of_those"] += v["grasp_ok"]
    return out


def markdown(doc: Dict[str, Any], base: Dict[str, Any] | None = None) -> str:
    lines = [f"# Gate: commit {doc['commit']}, {doc.get('cpu_class') or doc['isa']}, training seed {doc['seed']}", "",
             "```", doc["command"], "```", "",
             f"{doc['cpu']}, {doc['cores']} cores, {doc['workers']} jobs at a time with {doc['threads_per_worker']} "
             f"thread(s) each; started {doc['started']}; **wall {doc['wall_s'] / 60:.1f} min**. Every job on the default "
             "path without a point cloud, at most 2000 steps (training stops once the target's depth has "
             "converged). Hit: the action point within 1 cm of the target (real: of the hand point). Grasp ✓: the top grasp on the target and collision-free by the true meshes (real: called "
             "on target and within 3 cm of the hand point). Geometry at the target (training views; "
             "`benchmarks.accuracy.target_geometry`): completeness, the share of the target's surface seen by two "
             "views that lies within 5 mm of the fused median-depth surface; depth, the median |rendered − true| "
             "over the target's pixels, training / held-out views; behind, the share of target pixels rendered more "
             "than 1 cm behind the truth (or not at all); room raised, the share of the other surfaces' pixels within "
             "a finger's length of the target rendered more than 1 cm in front of the truth (matter where a finger "
             "goes).", "",
             "| job | clean | out40 | completeness | depth mm (train / held-out) | behind | room raised | train s | steps "
             "| Gaussians |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for j in doc["jobs"]:
        if "error" in j:
            lines.append(f"| {j['name']} | FAILED ({j['error']}) | | | | | | | | |")
            continue
        g = j.get("geometry") or {}
        lv = j["levels"]
        lines.append(f"| {j['name']} ({j['generator']}) | {_cell(lv.get('clean'))} | {_cell(lv.get('out40'))} | "
                     f"{_pct(g.get('completeness'))} | {_mm(g.get('depth_mm_train'))} / {_mm(g.get('depth_mm_heldout'))} "
                     f"| {_pct(g.get('behind_train'))} | {_pct(g.get('room_raised_train'))} "
                     f"| {j['train_seconds']:.0f}{'' if j['trained_now'] else ' (cached)'} "
                     f"| {j.get('steps') or '-'} | {j.get('gaussians', '-')} |")
    lines += ["", "| level | runs | hits | grasps ✓ | grasps ✓ of the hits on a holdable target |", "|---|---:|---:|---:|---:|"]
    for lv, t in totals(doc).items():
        lines.append(f"| {lv} | {t['runs']} | {t['hits']} | {t['grasps']} | {t['grasps_of_those']} / {t['holdable_hits']} |")
    if base is not None:
        d = compare(base, doc)
        lines += ["", f"Against commit {base['commit']} (seed {base['seed']}): {len(d['lost'])} verdicts lost, "
                  f"{len(d['gained'])} gained; real targets lost: {len(d['real_lost'])}.", ""]
        lines += [f"- lost: `{k}`" for k in d["lost"]] + [f"- gained: `{k}`" for k in d["gained"]]
    return "\n".join(lines) + "\n"
