"""Benchmark of point2act's CPU Gaussian rasterizer.

Run as ``python -m benchmarks.bench_rasterizer``. Times forward + backward
(median of several repetitions after a warm-up) of

* ``full``: ``point2act.render.rasterization`` (torch projection + C++ kernel),
* ``kernel``: the C++ part alone (tile binning + rasterize forward/backward on
  already projected Gaussians),
* ``reference``: the dense pure-torch reference (same projection), only for
  the small configurations,

on a splatfacto-like random scene (Gaussians in front of the camera, log-normal
scales around 0.02, opacities in [0.1, 0.9]), one camera, ``render_mode="RGB+ED"``
(4 channels), ``packed=False``, ``absgrad=True``, float32. Prints a Markdown table
and writes it to ``benchmarks/results/rasterizer.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from point2act.render import _backend, rasterization
from point2act.render._testing import random_scene
from point2act.render.reference import rasterization_reference

SIZES_N = (5_000, 20_000, 50_000)
SIZES_WH = ((128, 96), (256, 192), (512, 384))
REFERENCE_AT = {(5_000, (128, 96)), (5_000, (256, 192))}
RESULTS = Path(__file__).resolve().parent / "results" / "rasterizer.md"


def _time(fn, reps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def _cpu_time_1thread(fn, reps: int, warmup: int = 1) -> float:
    """Median CPU time of ``fn`` run single-threaded (insensitive to machine load)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(warmup):
            fn()
        ts = []
        for _ in range(reps):
            t0 = time.thread_time()
            fn()
            ts.append(time.thread_time() - t0)
    finally:
        torch.set_num_threads(n)
    return statistics.median(ts) * 1e3


def _full_step(render_fn, scene):
    leaves = [
        scene[k].detach().clone().requires_grad_(True)
        for k in ("means", "quats", "scales", "opacities", "colors")
    ]

    def step():
        for t in leaves:
            t.grad = None
        rc, ra, meta = render_fn(
            *leaves,
            scene["viewmats"],
            scene["Ks"],
            scene["width"],
            scene["height"],
            packed=False,
            absgrad=True,
            render_mode="RGB+ED",
        )
        meta["means2d"].retain_grad()
        (rc.sum() + ra.sum()).backward()
        return meta

    return step


def _kernel_step(scene):
    with torch.no_grad():
        _, _, meta = rasterization(
            *(scene[k] for k in ("means", "quats", "scales", "opacities", "colors")),
            scene["viewmats"],
            scene["Ks"],
            scene["width"],
            scene["height"],
            packed=False,
            render_mode="RGB+ED",
        )
    W, H, ts = scene["width"], scene["height"], meta["tile_size"]
    N = scene["means"].shape[0]
    means2d = meta["means2d"].detach().clone().requires_grad_(True)
    conics = meta["conics"].detach().clone().requires_grad_(True)
    opac = meta["opacities"].detach().clone().requires_grad_(True)
    colors = torch.rand(1, N, 4).requires_grad_(True)
    radii, depths = meta["radii"], meta["depths"].detach()

    def step():
        _, _, flatten_ids, offsets = _backend.isect_tiles(
            means2d, radii, depths, ts, meta["tile_width"], meta["tile_height"]
        )
        rc, ra = _backend.rasterize_to_pixels(
            means2d, conics, colors, opac, W, H, ts, offsets, flatten_ids, absgrad=True
        )
        (rc.sum() + ra.sum()).backward()

    return step, int(meta["isect_ids"].numel()), int((radii > 0).sum())


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    _backend.load_extension()

    lines = [
        "| Gaussians | image | visible | tile isects | full fwd+bwd (ms) | kernel fwd+bwd (ms) "
        "| full, 1 thread CPU (ms) | kernel, 1 thread CPU (ms) | reference fwd+bwd (ms) | reference / full |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for N in SIZES_N:
        for W, H in SIZES_WH:
            scene = random_scene(N, W, H, seed=0, dtype=torch.float32)
            reps = args.reps if N * W * H <= 20_000 * 256 * 192 else max(3, args.reps // 2)
            full_ms = _time(_full_step(rasterization, scene), reps)
            kstep, n_isects, n_vis = _kernel_step(scene)
            kernel_ms = _time(kstep, reps)
            full_cpu = _cpu_time_1thread(_full_step(rasterization, scene), reps)
            kernel_cpu = _cpu_time_1thread(kstep, reps)
            ref_ms, ratio = "-", "-"
            if (N, (W, H)) in REFERENCE_AT:
                r = _time(_full_step(rasterization_reference, scene), reps=2, warmup=1)
                ref_ms, ratio = f"{r:.0f}", f"{r / full_ms:.0f}x"
            row = (
                f"| {N:,} | {W}x{H} | {n_vis:,} | {n_isects:,} | {full_ms:.1f} | "
                f"{kernel_ms:.1f} | {full_cpu:.1f} | {kernel_cpu:.1f} | {ref_ms} | {ratio} |"
            )
            print(row, flush=True)
            lines.append(row)

    try:
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    header = (
        "# CPU rasterizer benchmark\n\n"
        f"forward + backward, median of {args.reps} reps (3 for the largest sizes) after warm-up; "
        "1 camera, RGB+ED (4 channels), packed=False, absgrad=True, float32; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads "
        f"({os.cpu_count()} CPUs, load average at the end {load}), "
        f"{platform.processor() or platform.machine()}.\n"
        "`full` = `point2act.render.rasterization` (torch projection + C++ kernel); "
        "`kernel` = tile binning + rasterize forward/backward only; the `1 thread CPU` "
        "columns are single-threaded CPU times (`time.thread_time`), which do not "
        "depend on other load on the machine; the wall-clock columns do. "
        "`reference / full` compares the wall-clock columns of this run.\n\n"
    )
    table = header + "\n".join(lines) + "\n"
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(table)
    print()
    print(table)
    return table


if __name__ == "__main__":
    main()
