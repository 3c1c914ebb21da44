"""Stereo depth maps of the gate's generated scenes recomputed at several cross-pair consistency tolerances, against
the true depth (benchmarks/results/stereo_depth.md).

    python -m benchmarks.stereo_consistency [SEED]

For each gate scene trained at SEED (default 2), the training views as the run's dataparser gives them (images,
intrinsics, poses in nerfstudio's frame), :func:`point2act.startcloud.stereo.stereo_points` with ``CONSISTENCY_PX`` 2 (the
default), 1 and 0.5 pixel footprints, and each map's error in metres on the target's pixels and the others'
(:mod:`benchmarks.stereo_depth_error`). The pairs' scene depth is :func:`point2act.startcloud.stereo.scene_depths` (training
uses the SIFT points' median depth)."""
from __future__ import annotations

import sys

import numpy as np
from PIL import Image

import point2act.startcloud.stereo as stereo
from benchmarks.gate.cache import cache_root
from benchmarks.stereo_depth_error import map_errors, trained_views, truth_of
from point2act.geometry import viewmat_from_c2w

TOLERANCES = (2.0, 1.0, 0.5)


def main(seed: int) -> None:
    default = stereo.CONSISTENCY_PX
    try:
        for scene in sorted((cache_root() / "scenes").iterdir()):
            views = trained_views(scene, seed)
            if views is None:
                continue
            outs = views[1]
            Ks = outs.cameras.get_intrinsics_matrices().double().numpy()
            viewmats = viewmat_from_c2w(outs.cameras.camera_to_worlds.double()).numpy()
            images = [np.asarray(Image.open(f).convert("RGB")) for f in outs.image_filenames]
            truth = truth_of(scene, outs)
            line = [f"{scene.name.rsplit('-', 1)[0]:24s}"]
            for tol in TOLERANCES:
                stereo.CONSISTENCY_PX = tol
                t, o, n = map_errors(stereo.stereo_points(images, Ks, viewmats).depths, truth,
                                     float(outs.dataparser_scale))
                line.append(f"{tol:g} px: none" if not len(t) else
                            f"{tol:g} px: target {len(t) / max(n, 1):.0%} covered, median {np.median(t) * 1e3:.1f}"
                            f" p90 {np.percentile(t, 90) * 1e3:.1f} mm; others median {np.median(o) * 1e3:.1f} p90 "
                            f"{np.percentile(o, 90) * 1e3:.1f} mm")
            print(" | ".join(line), flush=True)
    finally:
        stereo.CONSISTENCY_PX = default


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
