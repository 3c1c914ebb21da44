"""Where the first steps' rasterization goes: the Gaussians a run starts from, the start cloud's and the random
ones beside it, by count, size and tile intersections at the first steps' resolution.

    python -m benchmarks.start_tile_load                      # real/tools without its cloud (bench_capture's run)
    python -m benchmarks.start_tile_load -- ARGS...           # ns-train point2act's arguments for another run

Sets the run up as ``ns-train point2act`` does (the start cloud from ``POINT2ACT_CACHE`` when it holds the
capture's, else made), then projects the starting Gaussians into every training view at the resolution of the
first steps (splatfacto's downscale at step 0) and counts the tiles each one's footprint touches
(:func:`point2act.render.isect_tiles`): the rasterizer's forward and backward passes walk one tile list entry per
tile intersection. Prints the table; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

from benchmarks.bench_capture import tools_run


def set_up(args: List[str], out: Path):
    """The trainer ``ns-train point2act ARGS`` builds, set up (data, start cloud, model) but not trained."""
    import tyro
    from nerfstudio.scripts import train as ns_train

    config = tyro.cli(ns_train.AnnotatedBaseConfigUnion,
                      args=["point2act", "--vis", "tensorboard", "--output-dir", str(out), *args])
    config.set_timestamp()  # ns-train's main and train_loop up to the trainer's setup
    if config.data is not None:  # its --data alias
        config.pipeline.datamanager.data = config.data
    ns_train._set_random_seed(config.machine.seed)
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    return trainer


def tile_load(trainer) -> Dict[str, Dict[str, float]]:
    """Per group of starting Gaussians (``cloud``: the start cloud's, ``random``: the random ones added beside it,
    the model's last ``random_points``): count, median largest scale (capture units) and tile intersections summed
    over the training views at the first steps' resolution."""
    import inspect

    import torch

    from point2act.method.run_layer import camera_views
    from point2act.render import fully_fused_projection, isect_tiles, rasterization

    model = trainer.pipeline.model
    gp = model.gauss_params
    n = int(gp["means"].shape[0])
    n_random = int(getattr(model, "random_points", 0))
    groups = {"cloud": slice(0, n - n_random), "random": slice(n - n_random, n)}
    downscale = int(model._get_downscale_factor())
    vms, Ks, sizes = camera_views(trainer.pipeline.datamanager.train_dataset.cameras, downscale)
    tiles = torch.zeros(n, dtype=torch.float64)
    ts = int(inspect.signature(rasterization).parameters["tile_size"].default)  # splatfacto passes none
    with torch.no_grad():
        quats = gp["quats"] / gp["quats"].norm(dim=-1, keepdim=True)
        scales = torch.exp(gp["scales"])
        for c, (h, w) in enumerate(sizes):
            radii, means2d, depths, _conics, _ = fully_fused_projection(
                gp["means"], None, quats, scales, vms[c : c + 1], Ks[c : c + 1], w, h)
            per, _offsets, _ids, _ = isect_tiles(means2d, radii, depths, ts, (w + ts - 1) // ts, (h + ts - 1) // ts)
            tiles += per[0].double()
        largest = scales.max(-1).values
    return {name: {"gaussians": float(s.stop - s.start),
                   "median_scale": float(largest[s].median()) if s.stop > s.start else float("nan"),
                   "tile_intersections": float(tiles[s].sum())}
            for name, s in groups.items()} | {"_views": {"views": float(len(sizes)), "downscale": float(downscale)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("args", nargs="*", help="ns-train point2act's arguments (default: real/tools without its cloud)")
    ns = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="p2a-start-tiles-"))
    load = tile_load(set_up(ns.args or tools_run(out, seed=0)[1], out))
    views = load.pop("_views")
    total = sum(g["tile_intersections"] for g in load.values()) or 1.0
    print(f"{int(views['views'])} training views at 1/{int(views['downscale'])} of their resolution")
    print("| group | Gaussians | median largest scale | tile intersections | share |")
    print("|---|---:|---:|---:|---:|")
    for name, g in load.items():
        print(f"| {name} | {int(g['gaussians'])} | {g['median_scale']:.4f} | {int(g['tile_intersections'])} | "
              f"{100 * g['tile_intersections'] / total:.0f} % |")


if __name__ == "__main__":
    sys.exit(main())
