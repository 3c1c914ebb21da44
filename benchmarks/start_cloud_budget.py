"""The start cloud's pixel budget on generated captures larger than it, against the true depth.

    python -m benchmarks.start_cloud_budget [--seeds 0 1 2] [--views 20] [--size 1280x960] [--out outputs/start_cloud_budget]

For each seed a capture is generated (``point2act.synth``, the cost curve's generator) and, on its views with
their true poses and intrinsics:

- the stereo step (:func:`point2act.startcloud.stereo.stereo_points`, at most 10000 points as the start cloud
  takes them) matches the views at the budget (:data:`point2act.startcloud.stereo.MAX_PIXELS`) and at their own
  size; its depth maps (what supervises a capture without a cloud) are compared with the generator's true
  z-depth, on every pixel with a depth and on the target part's;
- the SIFT triangulation (:func:`point2act.startcloud.triangulate.triangulate_posed_images`) extracts its features
  at most at :data:`point2act.startcloud.triangulate.MAX_IMAGE_SIZE` pixels a side and at 1024; its points are
  compared with the true depth in every view that sees them (within 5 cm of the true surface there: not
  occluded).

Seconds are one run each, in this order, on the cores the machine has. Writes
``benchmarks/results/start_cloud_budget.md`` (its records as JSON lines on standard output).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
FULL_IMAGE_SIZE = 1024
"""The long side the SIFT features are compared at besides the budget's."""


def _stats(err: np.ndarray) -> Dict:
    if not len(err):
        return {"pixels": 0}
    return {"pixels": int(len(err)), "median_mm": round(1e3 * float(np.median(err)), 2),
            "p90_mm": round(1e3 * float(np.percentile(err, 90)), 2), "within_1cm": round(float(np.mean(err < 0.01)), 4)}


def map_errors(depths, truth, masks) -> Dict:
    """The depth maps' error against the true depth on every pixel with both, and on the target's."""
    out = {}
    for name, on_target in (("all", False), ("target", True)):
        err = []
        for d, tr, m in zip(depths, truth, masks):
            ok = (d > 0) & (tr > 0) & (m if on_target else True)
            err.append(np.abs(d[ok] - tr[ok]))
        out[name] = _stats(np.concatenate(err))
    return out


def point_errors(points: np.ndarray, Ks, vms, truth) -> Dict:
    """Points' depth error in every view they project into where the true surface lies within 5 cm of them."""
    err = []
    for K, V, tr in zip(Ks, vms, truth):
        cam = points @ V[:3, :3].T + V[:3, 3]
        z = cam[:, 2]
        uv = cam[:, :2] / np.maximum(z[:, None], 1e-9) @ K[:2, :2].T + K[:2, 2]
        u, v = np.floor(uv[:, 0]).astype(np.int64), np.floor(uv[:, 1]).astype(np.int64)
        h, w = tr.shape
        ok = (z > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        d = tr[v[ok], u[ok]]
        seen = (d > 0) & (np.abs(z[ok] - d) < 0.05)
        err.append(np.abs(z[ok][seen] - d[seen]))
    return _stats(np.concatenate(err) if err else np.zeros(0))


def measure(scene: Path) -> Dict:
    import point2act.startcloud.triangulate as triangulate
    from point2act.startcloud.stereo import MAX_PIXELS, stereo_points

    from benchmarks.stereo_accuracy import load_scene

    images, Ks, vms, truth, parts, target = load_scene(scene)
    masks = [m == target for m in parts]
    rec: Dict = {"stereo": {}, "sift": {}}
    for label, budget in (("budget", MAX_PIXELS), ("own size", None)):
        t = time.perf_counter()
        cloud = stereo_points(images, Ks, vms, max_points=triangulate.STEREO_POINTS, max_pixels=budget)
        rec["stereo"][label] = {"seconds": round(time.perf_counter() - t, 1), "pairs": cloud.pairs,
                                "points": len(cloud), **map_errors(cloud.depths, truth, masks)}
    budget_side = triangulate.MAX_IMAGE_SIZE
    for label, side in (("budget", budget_side), ("1024", FULL_IMAGE_SIZE)):
        triangulate.MAX_IMAGE_SIZE = side
        try:
            t = time.perf_counter()
            sparse = triangulate.triangulate_posed_images(images, Ks, vms)
            rec["sift"][label] = {"seconds": round(time.perf_counter() - t, 1), "points": len(sparse.points),
                                  **point_errors(sparse.points, Ks, vms, truth)}
        finally:
            triangulate.MAX_IMAGE_SIZE = budget_side
    return rec


def markdown(doc: Dict) -> str:
    m = doc["_meta"]
    lines = [f"# The start cloud's pixel budget on {m['views']}-view {m['size']} captures", "",
             f"```\n{m['command']}\n```", "",
             f"Commit {m['commit']}, {m['cpu']}, {m['cores']} cores, {m['started']}. A capture generated per seed "
             "(`point2act.synth`), its true poses and intrinsics; seconds one run each. Stereo: the depth maps "
             "(every confirmed stereo point at its pixel in both views of its pair) against the true z-depth, on "
             "every pixel with both and on the target's. SIFT: the triangulated points' depth against the true "
             "depth in every view where the true surface lies within 5 cm of them.", "",
             "| seed | stage | read at | seconds | points | median mm | p90 mm | within 1 cm | target: pixels, median mm, within 1 cm |",
             "|---:|---|---|---:|---:|---:|---:|---:|---|"]
    for r in doc["seeds"]:
        for stage in ("stereo", "sift"):
            for label, x in r[stage].items():
                a = x.get("all", x)
                tgt = x.get("target")
                tcell = (f"{tgt['pixels']}, {tgt.get('median_mm')}, {100 * tgt['within_1cm']:.1f} %"
                         if tgt and tgt.get("pixels") else "")
                lines.append(f"| {r['seed']} | {stage} | {label} | {x['seconds']} | {x['points']} | "
                             f"{a.get('median_mm')} | {a.get('p90_mm')} | {100 * a['within_1cm']:.1f} % | {tcell} |")
    return "\n".join(lines) + "\n"


def main(argv: List[str] | None = None) -> int:
    from benchmarks.bench_command import _commit
    from benchmarks.gate.__main__ import cpu_model
    from point2act.synth import SynthConfig, generate_scene

    ap = argparse.ArgumentParser(prog="python -m benchmarks.start_cloud_budget", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--views", type=int, default=20)
    ap.add_argument("--size", default="1280x960")
    ap.add_argument("--out", type=Path, default=Path("outputs/start_cloud_budget"))
    args = ap.parse_args(argv)
    import os
    import sys

    w, h = (int(v) for v in args.size.split("x"))
    doc: Dict = {"_meta": {"command": "python -m benchmarks.start_cloud_budget " + " ".join(sys.argv[1:] if argv is None else argv),
                           "commit": _commit(), "cpu": cpu_model(), "cores": os.cpu_count(),
                           "started": time.strftime("%Y-%m-%d %H:%M:%S"), "views": args.views, "size": args.size},
                 "seeds": []}
    for seed in args.seeds:
        scene = args.out.resolve() / f"s{seed}_{args.views}_{args.size}"
        if not (scene / "transforms.json").is_file():
            generate_scene(scene, SynthConfig(seed=seed, num_views=args.views, width=w, height=h))
        rec = {"seed": seed, **measure(scene)}
        print(json.dumps(rec), flush=True)
        doc["seeds"].append(rec)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "start_cloud_budget.md").write_text(markdown(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
