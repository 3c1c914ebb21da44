"""The support plane's cost (``python -m benchmarks.bench_plane``): :func:`point2act.startcloud.plane_sweep.support_plane` and
:func:`point2act.startcloud.plane_sweep.plane_depths` on a generated 40-view 640x480 capture (``point2act synth``, seed 0; the
first seven of every eight views, about nerfstudio's training share), timed in this process, with the plane's
error against the generator's table (z = 0) and the pixels given a depth. Prints one line; writes nothing.

    python -m benchmarks.bench_plane [--scene DIR]
    python -m benchmarks.bench_plane --tools

``--tools``: the real capture ``real/tools`` instead, its training views as ``ns-train point2act`` loads them
for :mod:`benchmarks.bench_capture`'s run (640x360, without its cloud); no table error (its table is not at a
known height).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def load_capture(scene: Path):
    """Images (RGB uint8), intrinsics [C, 3, 3] and world-to-camera matrices [C, 4, 4] (OpenCV axes) of a
    nerfstudio ``transforms.json`` capture without lens distortion."""
    import cv2

    t = json.loads((scene / "transforms.json").read_text())
    images, Ks, viewmats = [], [], []
    for f in t["frames"]:
        images.append(cv2.cvtColor(cv2.imread(str(scene / f["file_path"])), cv2.COLOR_BGR2RGB))
        fx, fy = f.get("fl_x", t["fl_x"]), f.get("fl_y", t.get("fl_y", t["fl_x"]))
        Ks.append(np.array([[fx, 0, f.get("cx", t["cx"])], [0, fy, f.get("cy", t["cy"])], [0, 0, 1.0]]))
        c2w = np.array(f["transform_matrix"], dtype=np.float64)
        c2w[:3, 1:3] *= -1  # OpenGL to OpenCV axes
        viewmats.append(np.linalg.inv(c2w))
    return images, np.stack(Ks), np.stack(viewmats)


def main(argv=None) -> int:
    from point2act.startcloud.plane_sweep import plane_depths, support_plane

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scene", type=Path, default=Path("outputs/bench_plane/synth640"))
    ap.add_argument("--tools", action="store_true", help="real/tools' training views instead of a generated scene")
    args = ap.parse_args(argv)
    if args.tools:
        import tempfile

        from benchmarks.bench_capture import tools_run
        from benchmarks.start_tile_load import set_up

        out = Path(tempfile.mkdtemp(prefix="p2a-bench-plane-"))
        images, Ks, viewmats = set_up(tools_run(out, seed=0)[1], out).pipeline.datamanager.training_views()
    else:
        if not (args.scene / "transforms.json").is_file():
            from point2act.synth import SynthConfig, generate_scene

            generate_scene(args.scene, SynthConfig(seed=0, num_views=40, width=640, height=480))
        images, Ks, viewmats = load_capture(args.scene)
        keep = [i for i in range(len(images)) if i % 8 != 7]
        images, Ks, viewmats = [images[i] for i in keep], Ks[keep], viewmats[keep]
    t0 = time.perf_counter()
    found = support_plane(images, Ks, viewmats)
    t1 = time.perf_counter()
    if found is None:
        print(f"no plane found ({t1 - t0:.1f} s)")
        return 1
    depths = plane_depths(images, Ks, viewmats, found.plane)
    t2 = time.perf_counter()
    n = found.plane[:3]
    tilt = float(np.degrees(np.arccos(min(1.0, abs(n[2])))))
    h, w = images[0].shape[:2]
    error = "" if args.tools else f"; plane {tilt:.2f} deg and {abs(found.plane[3] / n[2]) * 1e3:.1f} mm from the table"
    print(f"{len(images)} views {w}x{h}: sweep {t1 - t0:.1f} s, depths {t2 - t1:.1f} s{error}; "
          f"{sum(int((d > 0).sum()) for d in depths)} pixels given its depth")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
