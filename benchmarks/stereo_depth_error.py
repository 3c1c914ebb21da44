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
from point2act.triangulate import depth_maps_path, read_depth_maps


def _maps_of(run: Path):
    digest = hashlib.md5((run / "triangulated.ply").read_bytes()).hexdigest()
    for ply in sorted((Path.home() / ".cache" / "point2act" / "clouds").glob("*.ply")):
        if depth_maps_path(ply).is_file() and hashlib.md5(ply.read_bytes()).hexdigest() == digest:
            return read_depth_maps(depth_maps_path(ply))
    return None


def scene_errors(scene: Path, seed: int):
    """(target errors [M], other errors [M'], target pixels) in metres, or None without maps."""
    runs = list((scene / f"recon_it2000_seed{seed}_cloudtriangulated").rglob("config.yml"))
    if not runs:
        return None
    run = runs[0].parent
    maps = _maps_of(run) if (run / "triangulated.ply").is_file() else None
    if maps is None:
        return None
    cfg = yaml.load((run / "config.yml").read_text(), Loader=yaml.Loader)
    parser = cfg.pipeline.datamanager.dataparser
    parser.data = scene
    outs = parser.setup()._generate_dataparser_outputs("train")
    target = json.loads((scene / "ground_truth.json").read_text())["target_part_id"]
    frames = {Path(f["file_path"]).name: f for f in json.loads((scene / "transforms.json").read_text())["frames"]}
    tgt_err, other_err, n_target = [], [], 0
    for name, depth in zip(outs.image_filenames, maps):
        f = frames[Path(name).name]
        true = np.asarray(Image.open(scene / f["true_depth_path"]), dtype=np.float64) / 1000.0
        part = np.asarray(Image.open(scene / f["part_mask_path"]))
        d = depth / float(outs.dataparser_scale)
        has = (d > 0) & (true > 0)
        on = part == target
        tgt_err.append(np.abs(d - true)[has & on])
        other_err.append(np.abs(d - true)[has & ~on])
        n_target += int(on.sum())
    return np.concatenate(tgt_err), np.concatenate(other_err), n_target


def main(seed: int) -> None:
    for scene in sorted((cache_root() / "scenes").iterdir()):
        got = scene_errors(scene, seed)
        if got is None or not len(got[0]):
            print(f"{scene.name.rsplit('-', 1)[0]:26s} no depth maps (no stereo pair, or none in the cloud cache)")
            continue
        t, o, n = got
        print(f"{scene.name.rsplit('-', 1)[0]:26s} target: {len(t) / max(n, 1):4.0%} of its pixels, |error| median "
              f"{np.median(t) * 1e3:4.1f} mm, p90 {np.percentile(t, 90) * 1e3:5.1f} mm, > 5 mm {np.mean(t > 0.005):4.0%}"
              f" | others: median {np.median(o) * 1e3:4.1f} mm, p90 {np.percentile(o, 90) * 1e3:5.1f} mm, "
              f"> 5 mm {np.mean(o > 0.005):4.0%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
