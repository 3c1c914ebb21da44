"""Stereo depth maps of the gate's generated scenes recomputed at several cross-pair consistency tolerances, against
the true depth (benchmarks/results/stereo_depth.md).

    python -m benchmarks.stereo_consistency [SEED]

For each gate scene trained at SEED (default 2), the training views as the run's dataparser gives them (images,
intrinsics, poses in nerfstudio's frame), :func:`point2act.stereo.stereo_points` with ``CONSISTENCY_PX`` 2 (the
default), 1 and 0.5 pixel footprints, and each map's error in metres on the target's pixels and the others'.
The pairs' scene depth is :func:`point2act.stereo.scene_depths` (training uses the SIFT points' median depth)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

import point2act.stereo as stereo
from benchmarks.gate.cache import cache_root
from point2act.geometry import viewmat_from_c2w

TOLERANCES = (2.0, 1.0, 0.5)


def _views(scene: Path, seed: int):
    runs = list((scene / f"recon_it2000_seed{seed}_cloudtriangulated").rglob("config.yml"))
    if not runs:
        return None
    cfg = yaml.load(runs[0].read_text(), Loader=yaml.Loader)
    parser = cfg.pipeline.datamanager.dataparser
    parser.data = scene
    outs = parser.setup()._generate_dataparser_outputs("train")
    Ks = outs.cameras.get_intrinsics_matrices().double().numpy()
    viewmats = viewmat_from_c2w(outs.cameras.camera_to_worlds.double()).numpy()
    images = [np.asarray(Image.open(f).convert("RGB")) for f in outs.image_filenames]
    target = json.loads((scene / "ground_truth.json").read_text())["target_part_id"]
    frames = {Path(f["file_path"]).name: f for f in json.loads((scene / "transforms.json").read_text())["frames"]}
    truth = [(np.asarray(Image.open(scene / frames[Path(n).name]["true_depth_path"]), dtype=np.float64) / 1000.0,
              np.asarray(Image.open(scene / frames[Path(n).name]["part_mask_path"])) == target)
             for n in outs.image_filenames]
    return images, Ks, viewmats, truth, float(outs.dataparser_scale)


def main(seed: int) -> None:
    default = stereo.CONSISTENCY_PX
    try:
        for scene in sorted((cache_root() / "scenes").iterdir()):
            views = _views(scene, seed)
            if views is None:
                continue
            images, Ks, viewmats, truth, scale = views
            line = [f"{scene.name.rsplit('-', 1)[0]:24s}"]
            for tol in TOLERANCES:
                stereo.CONSISTENCY_PX = tol
                maps = stereo.stereo_points(images, Ks, viewmats).depths
                et, eo, n_target = [], [], 0
                for depth, (true, on) in zip(maps, truth):
                    d = depth / scale
                    has = (d > 0) & (true > 0)
                    et.append(np.abs(d - true)[has & on])
                    eo.append(np.abs(d - true)[has & ~on])
                    n_target += int(on.sum())
                t, o = (np.concatenate(et), np.concatenate(eo)) if maps else (np.zeros(0), np.zeros(0))
                line.append(f"{tol:g} px: none" if not len(t) else
                            f"{tol:g} px: target {len(t) / max(n_target, 1):.0%} covered, median {np.median(t) * 1e3:.1f}"
                            f" p90 {np.percentile(t, 90) * 1e3:.1f} mm; others median {np.median(o) * 1e3:.1f} p90 "
                            f"{np.percentile(o, 90) * 1e3:.1f} mm")
            print(" | ".join(line), flush=True)
    finally:
        stereo.CONSISTENCY_PX = default


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
