"""``python -m benchmarks.generators GENERATOR KIND OUT``: write one scene (see the package docstring)."""

from __future__ import annotations

import argparse
import time

from . import GENERATORS, GenConfig, generate


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.generators")
    ap.add_argument("generator", choices=GENERATORS)
    ap.add_argument("kind", help="pan, two_pans, lid_knob, can_tab, acronym_mug (kitchen), tool")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--path", default="handheld", help="handheld, fewview, ring, rings2")
    ap.add_argument("--views", type=int, default=20)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--height", type=int, default=192)
    ap.add_argument("--background", default="")
    ap.add_argument("--no-point-cloud", action="store_true")
    ap.add_argument("--mug-mesh", default="")
    ap.add_argument("--mug-mesh-scale", type=float, default=1.0)
    a = ap.parse_args(argv)
    cfg = GenConfig(a.generator, a.kind, a.seed, a.path, a.views, a.width, a.height, point_cloud=not a.no_point_cloud,
                    background=a.background, mug_mesh=a.mug_mesh, mug_mesh_scale=a.mug_mesh_scale)
    t0 = time.perf_counter()
    gt = generate(a.out, cfg)
    print(f"{a.generator}/{a.kind}: {a.out} in {time.perf_counter() - t0:.1f} s; target {gt['target']} "
          f"centroid {gt['centroid']}")


if __name__ == "__main__":
    main()
