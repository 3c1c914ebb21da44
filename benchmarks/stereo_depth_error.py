"""The stereo depth maps that supervised a gate run, against the generator's true depth (benchmarks/results/stereo_depth.md).

    python -m benchmarks.stereo_depth_error [SEED]

For each generated gate scene trained at SEED (default 2) in the gate's cache, finds the start cloud's cached depth
maps (``<hash>.depths.npz`` beside the cloud whose bytes the run's ``triangulated.ply`` has), takes the training
views in the dataparser's order, converts the maps to metres (the dataparser's scale) and compares them with the
true z-depth on the target part's pixels and on the others. Prints one line per scene."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from benchmarks.gate.cache import cache_root
from point2act.startcloud.triangulate import depth_maps_path, read_depth_maps


def trained_views(scene: Path, seed: int):
    """(the run's folder, the dataparser's training outputs) of the scene's gate run at ``seed``, or None."""
    runs = list((scene / f"recon_it2000_seed{seed}_cloudtriangulated").rglob("config.yml"))
    if not runs:
        return None
    cfg = yaml.load(runs[0].read_text(), Loader=yaml.Loader)
    parser = cfg.pipeline.datamanager.dataparser
    parser.data = scene
    return runs[0].parent, parser.setup()._generate_dataparser_outputs("train")


def truth_of(scene: Path, outs) -> list:
    """Per training view, (true z-depth [H, W] metres, 0 where no surface; the target part's mask [H, W])."""
    target = json.loads((scene / "ground_truth.json").read_text())["target_part_id"]
    frames = {Path(f["file_path"]).name: f for f in json.loads((scene / "transforms.json").read_text())["frames"]}
    return [(np.asarray(Image.open(scene / frames[Path(n).name]["true_depth_path"]), dtype=np.float64) / 1000.0,
             np.asarray(Image.open(scene / frames[Path(n).name]["part_mask_path"])) == target)
            for n in outs.image_filenames]


def map_errors(maps, truth, scale: float):
    """(|error| [M] on the target's pixels with a depth, |error| [M'] on the others', the target's pixel count),
    metres; ``maps`` in the dataparser's units (``scale`` of them a metre)."""
    tgt_err, other_err, n_target = [np.zeros(0)], [np.zeros(0)], 0
    for depth, (true, on) in zip(maps, truth):
        d = depth / scale
        has = (d > 0) & (true > 0)
        tgt_err.append(np.abs(d - true)[has & on])
        other_err.append(np.abs(d - true)[has & ~on])
        n_target += int(on.sum())
    return np.concatenate(tgt_err), np.concatenate(other_err), n_target


def summary(t: np.ndarray, o: np.ndarray, n_target: int) -> str:
    """One line of :func:`map_errors`' figures."""
    return (f"target: {len(t) / max(n_target, 1):4.0%} of its pixels, |error| median {np.median(t) * 1e3:4.1f} mm, "
            f"p90 {np.percentile(t, 90) * 1e3:5.1f} mm, > 5 mm {np.mean(t > 0.005):4.0%} | others: median "
            f"{np.median(o) * 1e3:4.1f} mm, p90 {np.percentile(o, 90) * 1e3:5.1f} mm, > 5 mm {np.mean(o > 0.005):4.0%}")


def _maps_of(run: Path):
    digest = hashlib.md5((run / "triangulated.ply").read_bytes()).hexdigest()
    for ply in sorted((Path.home() / ".cache" / "point2act" / "clouds").glob("*.ply")):
        if depth_maps_path(ply).is_file() and hashlib.md5(ply.read_bytes()).hexdigest() == digest:
            return read_depth_maps(depth_maps_path(ply))
    return None


def main(seed: int) -> None:
    for scene in sorted((cache_root() / "scenes").iterdir()):
        views = trained_views(scene, seed)
        maps = _maps_of(views[0]) if views is not None and (views[0] / "triangulated.ply").is_file() else None
        name = f"{scene.name.rsplit('-', 1)[0]:26s}"
        if maps is None:
            print(f"{name} no depth maps (no stereo pair, or none in the cloud cache)")
            continue
        t, o, n = map_errors(maps, truth_of(scene, views[1]), float(views[1].dataparser_scale))
        print(f"{name} " + (summary(t, o, n) if len(t) else "no depth on the target"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
