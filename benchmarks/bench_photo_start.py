"""The points the views agree on (``point2act/photo_start.py``), the start of a capture that SIFT cannot
triangulate: how many, how far from the true surfaces, and their cost
(``python -m benchmarks.bench_photo_start [--splits test kitchen_test studio_test] [--captures tools coke]``).

Generator scenes (the accuracy benchmark's, cached): every view of the scene, as rendered, with its camera;
the distance of each kept point to the surfaces the views' true depth maps show (the generator's ground
truth, which training never reads). Real captures: loaded as ``ns-train point2act`` loads them without their
cloud (``benchmarks/bench_triangulate.py``'s datamanager), the count and seconds only (no true surface).
Writes ``benchmarks/results/photo_start.json`` and ``photo_start.md`` with the command and the commit.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_views(scene: Path):
    """(images uint8 [H, W, 3] list, Ks [C, 3, 3], viewmats [C, 4, 4] OpenCV, true surface points [M, 3]) of a
    generator's scene folder (transforms.json, OpenGL camera-to-world, ``true_depth_path`` in millimetres)."""
    from PIL import Image

    meta = json.loads((scene / "transforms.json").read_text())
    images, Ks, vms, surface = [], [], [], []
    for f in meta["frames"]:
        g = lambda k: f.get(k, meta.get(k))  # noqa: E731
        K = np.array([[g("fl_x"), 0, g("cx")], [0, g("fl_y"), g("cy")], [0, 0, 1.0]])
        c2w = np.array(f["transform_matrix"], dtype=np.float64)
        c2w[:3, 1:3] *= -1  # OpenGL -> OpenCV axes
        images.append(np.asarray(Image.open(scene / f["file_path"]).convert("RGB")))
        Ks.append(K)
        vms.append(np.linalg.inv(c2w))
        d = np.asarray(Image.open(scene / f["true_depth_path"]), np.float64) / 1000.0
        i, j = np.nonzero(d > 0)
        z = d[i, j]
        cam = np.stack([(j + 0.5 - K[0, 2]) / K[0, 0] * z, (i + 0.5 - K[1, 2]) / K[1, 1] * z, z], -1)
        surface.append(cam[::5] @ c2w[:3, :3].T + c2w[:3, 3])
    return images, np.stack(Ks), np.stack(vms), np.concatenate(surface)


def measure_scene(scene: Path) -> dict:
    from scipy.spatial import cKDTree

    from point2act.photo_start import photo_consistent_points

    images, Ks, vms, surface = load_views(scene)
    cloud = photo_consistent_points(images, Ks, vms)
    rec = {"views": len(images), "size": [int(images[0].shape[1]), int(images[0].shape[0])], "points": len(cloud),
           "seconds": round(cloud.seconds, 2)}
    if len(cloud):
        d, _ = cKDTree(surface).query(cloud.points)
        rec.update(median_mm=round(1000 * float(np.median(d)), 1), within_1cm=round(float(np.mean(d < 0.01)), 3),
                   within_3cm=round(float(np.mean(d < 0.03)), 3))
    return rec


def measure_capture(capture: str) -> dict:
    from benchmarks.bench_triangulate import _datamanager
    from point2act.photo_start import photo_consistent_points

    dm, _ = _datamanager(capture)
    arrays, Ks, viewmats = dm.training_views()
    cloud = photo_consistent_points(arrays, Ks, viewmats)
    return {"capture": capture, "views": len(arrays), "size": [int(arrays[0].shape[1]), int(arrays[0].shape[0])],
            "points": len(cloud), "seconds": round(cloud.seconds, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_photo_start", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--splits", nargs="+", default=["test", "kitchen_test", "studio_test"])
    ap.add_argument("--captures", nargs="*", default=["tools", "coke"])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    a = ap.parse_args(argv)
    from benchmarks.accuracy.run import BenchConfig
    from benchmarks.accuracy.suite import SPLITS, ensure_scene

    command = "python -m benchmarks.bench_photo_start " + " ".join(argv if argv is not None else sys.argv[1:])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    bc = BenchConfig()
    rows, real = [], []
    for split in a.splits:
        for spec in SPLITS[split]:
            sd, _ = ensure_scene(spec, bc.common(), bc.cache_root)
            rows.append({"split": split, "scene": spec.name, **measure_scene(sd)})
            print(json.dumps(rows[-1]), flush=True)
    for c in a.captures:
        real.append(measure_capture(c))
        print(json.dumps(real[-1]), flush=True)
    doc = {"command": command, "commit": commit, "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
           "scenes": rows, "captures": real}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "photo_start.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = ["# The points the views agree on: the start of a capture SIFT cannot triangulate", "", "```", command,
             "```", "", f"Commit {commit}. Distance: each kept point to the nearest surface the views' true depth "
             "maps show. Fewer than 100 points: training starts at random instead.", "",
             "| split | scene | views | size | points | median (mm) | within 1 cm | within 3 cm | seconds |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['split']} | {r['scene']} | {r['views']} | {r['size'][0]}x{r['size'][1]} | {r['points']} | "
                     f"{r.get('median_mm', '-')} | {r.get('within_1cm', '-')} | {r.get('within_3cm', '-')} | {r['seconds']} |")
    if real:
        lines += ["", "| real capture (no cloud) | views | size | points | seconds |", "|---|---:|---|---:|---:|"]
        for r in real:
            lines.append(f"| {r['capture']} | {r['views']} | {r['size'][0]}x{r['size'][1]} | {r['points']} | {r['seconds']} |")
    (a.out / "photo_start.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
