"""The stereo step's depth maps against the generators' true depth, scene by scene.

For each generated scene (``transforms.json`` with ``true_depth_path`` and ``part_mask_path``), runs
:func:`point2act.startcloud.stereo.stereo_points` on all its views with the poses and intrinsics as given (scene depths from
:func:`point2act.startcloud.stereo.scene_depths`, not the SIFT cloud's, so no COLMAP run is needed) and compares each view's
depth map (:attr:`point2act.startcloud.stereo.StereoCloud.depths`) with the true z-depth where both exist: the share of
pixels within 1 % and 2 % of the true depth, the 95th percentile of the relative error, and on the target part's
pixels the median absolute error and the share within 1 cm. It also counts the pairs and the views that got any
depth. Scenes default to the gate's (``benchmarks.gate``'s scene cache; run the gate once first).

    python -m benchmarks.stereo_accuracy [SCENE_DIR ...] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List

import numpy as np


def load_scene(scene: Path):
    """Images (RGB uint8), intrinsics [C, 3, 3], world-to-camera [C, 4, 4] (OpenCV axes), true depths (metres)
    and part masks of a generated scene, and its target's part id."""
    import cv2

    t = json.loads((scene / "transforms.json").read_text())
    gt = json.loads((scene / "ground_truth.json").read_text())
    K = np.array([[t["fl_x"], 0, t["cx"]], [0, t["fl_y"], t["cy"]], [0, 0, 1.0]])
    images, viewmats, depths, masks = [], [], [], []
    for f in t["frames"]:
        images.append(np.ascontiguousarray(cv2.imread(str(scene / f["file_path"]))[..., ::-1]))
        c2w = np.asarray(f["transform_matrix"], dtype=np.float64)
        c2w[:3, 1:3] *= -1  # nerfstudio's OpenGL camera axes to OpenCV's
        viewmats.append(np.linalg.inv(c2w))
        depths.append(cv2.imread(str(scene / f["true_depth_path"]), cv2.IMREAD_UNCHANGED).astype(np.float32) / 1000.0)
        masks.append(cv2.imread(str(scene / f["part_mask_path"]), cv2.IMREAD_UNCHANGED))
    Ks = np.repeat(K[None], len(images), 0)
    return images, Ks, np.stack(viewmats), depths, masks, int(gt["target_part_id"])


def measure(scene: Path) -> Dict:
    """The figures of the module docstring for one scene."""
    from point2act.startcloud.stereo import stereo_points

    images, Ks, viewmats, true, masks, target = load_scene(scene)
    cloud = stereo_points(images, Ks, viewmats, max_points=10000)
    rel: List[np.ndarray] = []
    tgt: List[np.ndarray] = []
    views = 0
    for d, t, m in zip(cloud.depths, true, masks):
        ok = (d > 0) & (t > 0)
        views += bool(ok.any())
        rel.append(np.abs(d[ok] - t[ok]) / t[ok])
        on = ok & (m == target)
        tgt.append(np.abs(d[on] - t[on]))
    r, a = np.concatenate(rel), np.concatenate(tgt)
    nan = float("nan")
    return {"scene": scene.name, "views": len(images), "pairs": cloud.pairs, "views_with_depth": views,
            "pixels": int(r.size), "within_1pct": float(np.mean(r < 0.01)) if r.size else nan,
            "within_2pct": float(np.mean(r < 0.02)) if r.size else nan,
            "p95_rel": float(np.quantile(r, 0.95)) if r.size else nan, "target_pixels": int(a.size),
            "target_median_mm": float(np.median(a) * 1000) if a.size else nan,
            "target_within_1cm": float(np.mean(a < 0.01)) if a.size else nan}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenes", nargs="*", type=Path, help="generated scene folders (default: the gate's)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    scenes = args.scenes
    if not scenes:
        from benchmarks.gate.cache import cache_root

        scenes = sorted(p for p in (cache_root() / "scenes").iterdir() if (p / "ground_truth.json").exists())
        if not scenes:
            raise SystemExit(f"no scenes under {cache_root() / 'scenes'}: run `python -m benchmarks.gate` first")
    rows = []
    print("| scene | views | pairs | views with depth | within 1 % / 2 % | p95 relative | target px | "
          "target median mm | target within 1 cm |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in scenes:
        r = measure(Path(s))
        rows.append(r)
        print(f"| {r['scene']} | {r['views']} | {r['pairs']} | {r['views_with_depth']} | "
              f"{r['within_1pct']:.2f} / {r['within_2pct']:.2f} | {r['p95_rel']:.3f} | {r['target_pixels']} | "
              f"{r['target_median_mm']:.1f} | {r['target_within_1cm']:.2f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
