"""Benchmark of point2act's CPU Gaussian rasterizer: today's kernels vs the frozen baseline.

Run as ``python -m benchmarks.bench_rasterizer`` (``--quick``: only 20k Gaussians at 256x192).
``OMP_WAIT_POLICY`` (read by OpenMP at start-up) is recorded and names the results files when set.
Both extensions are built and timed in the same process, measurements interleaved (old, new, old,
new, ...) so that the load of a shared machine hits both alike:

* ``new``: ``point2act.render.rasterization`` (C++ projection, tile intersection, rasterization,
  compiled for this CPU);
* ``old``: the pipeline as it was before the rewrite: torch projection
  (``_torch_impl._fully_fused_projection``, the former production code) and the frozen
  ``benchmarks/csrc_baseline/rasterize.cpp`` built with its original flags (``-O3 -fopenmp``).

For each, forward + backward of the whole call (``full``) and of the C++ part alone on already
projected Gaussians (``kernel``: tile intersection + rasterize forward/backward), median wall-clock
of several repetitions after a warm-up with the default thread count, and median single-threaded
CPU time (``time.thread_time``, less sensitive to other load). Scene: splatfacto-like random
Gaussians (log-normal scales around 0.02, opacities in [0.1, 0.9]), one camera,
``render_mode="RGB+ED"`` (4 channels), ``packed=False``, ``absgrad=True``, float32. Writes
``benchmarks/results/rasterizer.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from point2act.render import _backend, rasterization
from point2act.render import _torch_impl
from point2act.render.tiles import TileLists
from point2act.render._testing import SceneSpec, random_scene
from point2act.render.rasterization import _rasterization_cpu

SIZES_N = (5_000, 20_000, 50_000)
SIZES_WH = ((128, 96), (256, 192), (512, 384))
TARGET = (20_000, (256, 192))
LEAVES = ("means", "quats", "scales", "opacities", "colors")
RESULTS = Path(__file__).resolve().parent / "results"
BASELINE_SRC = Path(__file__).resolve().parent / "csrc_baseline" / "rasterize.cpp"
BASELINE_FLAGS = ["-O3", "-fopenmp"]


def load_baseline():
    """The frozen pre-rewrite kernel (``benchmarks/csrc_baseline/rasterize.cpp``), built with its old flags."""
    from torch.utils.cpp_extension import load

    h = hashlib.sha256(BASELINE_SRC.read_bytes() + torch.__version__.encode() + sys.version.encode())
    key = h.hexdigest()[:16]
    build_dir = _backend.extension_build_dir().parent / f"baseline-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    return load(name=f"point2act_rasterize_baseline_{key}", sources=[str(BASELINE_SRC)],
                extra_cflags=BASELINE_FLAGS, extra_ldflags=["-fopenmp"], build_directory=str(build_dir))


class _BaselineRasterize(torch.autograd.Function):
    """The pre-rewrite autograd wrapper of the baseline kernel (its fwd/bwd signatures)."""

    @staticmethod
    def forward(ctx, ext, means2d, conics, colors, opacities, width, height, tile_size, isect_offsets,
                flatten_ids, absgrad_target):
        nt = torch.get_num_threads()
        m, c, col, o = (t.contiguous() for t in (means2d, conics, colors, opacities))
        rc, ra, T, last = ext.rasterize_fwd(m, c, col, o, None, width, height, tile_size,
                                            isect_offsets.contiguous(), flatten_ids.contiguous(), nt)
        ctx.save_for_backward(m, c, col, o, isect_offsets, flatten_ids, T, last)
        ctx.args = (ext, width, height, tile_size, absgrad_target)
        return rc, ra

    @staticmethod
    def backward(ctx, v_rc, v_ra):
        m, c, col, o, offs, fid, T, last = ctx.saved_tensors
        ext, width, height, tile_size, absgrad_target = ctx.args
        v_abs, v_m, v_c, v_col, v_o = ext.rasterize_bwd(
            m, c, col, o, None, width, height, tile_size, offs, fid, T, last, v_rc.contiguous(),
            v_ra.contiguous(), True, torch.get_num_threads())
        target, index = absgrad_target
        target.absgrad = v_abs if index is None else v_abs[index]
        return None, v_m, v_c, v_col, v_o, None, None, None, None, None, None


def _stage_fns(ext, baseline=False):
    """(isect_fn, rasterize_fn) with the signatures of point2act.render's stages, on ``ext``."""

    def isect(means2d, radii, depths, tile_size, tile_width, tile_height, conics=None, opacities=None):
        # the baseline lists every Gaussian in its 3-sigma rectangle; point2act's narrows it where given the
        # conics and opacities (point2act.render.isect_tiles)
        extent = () if baseline else tuple(None if t is None else t.detach().to(means2d.dtype).contiguous()
                                           for t in (conics, opacities))
        return tuple(ext.isect_tiles(means2d.detach().contiguous(), radii.to(torch.int32).contiguous(),
                                     depths.detach().to(means2d.dtype).contiguous(), *extent, int(tile_size),
                                     int(tile_width), int(tile_height), torch.get_num_threads()))

    def rasterize(means2d, conics, colors, opacities, w, h, ts, isect_offsets, flatten_ids, backgrounds=None,
                  absgrad=False, absgrad_target=None):
        if absgrad_target is None:
            absgrad_target = (means2d, None)
        if baseline:
            assert backgrounds is None and absgrad
            return _BaselineRasterize.apply(ext, means2d, conics, colors, opacities, w, h, ts, isect_offsets,
                                            flatten_ids, absgrad_target)
        call = _backend._RasterizeCall(ext, TileLists(w, h, ts, isect_offsets, flatten_ids), absgrad,
                                       absgrad_target, -1)
        return _backend._RasterizeToPixelsCPU.apply(means2d, conics, colors, opacities, backgrounds, call)

    return isect, rasterize


def old_rasterization(old_ext):
    isect, rasterize = _stage_fns(old_ext, baseline=True)

    def fn(means, quats, scales, opacities, colors, viewmats, Ks, width, height, **kw):
        args = dict(near_plane=0.01, far_plane=1e10, radius_clip=0.0, eps2d=0.3, sh_degree=None, packed=True,
                    tile_size=16, backgrounds=None, render_mode="RGB", sparse_grad=False, absgrad=False,
                    rasterize_mode="classic", distributed=False, camera_model="pinhole", covars=None)
        args.update(kw)
        return _rasterization_cpu(means, quats, scales, opacities, colors, viewmats, Ks, width, height,
                                  **args, project_fn=_torch_impl._fully_fused_projection, isect_fn=isect,
                                  rasterize_fn=rasterize)

    return fn


def _full_step(render_fn, scene):
    leaves = [scene[k].detach().clone().requires_grad_(True) for k in LEAVES]

    def step():
        for t in leaves:
            t.grad = None
        rc, ra, meta = render_fn(*leaves, scene["viewmats"], scene["Ks"], scene["width"], scene["height"],
                                 packed=False, absgrad=True, render_mode="RGB+ED")
        meta["means2d"].retain_grad()
        (rc.sum() + ra.sum()).backward()
        return meta

    return step


def _kernel_step(ext, proj, baseline=False):
    isect, rasterize = _stage_fns(ext, baseline)
    W, H, ts, tw, th = proj["W"], proj["H"], 16, proj["tw"], proj["th"]
    means2d = proj["means2d"].clone().requires_grad_(True)
    conics = proj["conics"].clone().requires_grad_(True)
    opac = proj["opacities"].clone().requires_grad_(True)
    colors = proj["colors"].clone().requires_grad_(True)

    def step():
        _, _, flatten_ids, offsets = isect(means2d, proj["radii"], proj["depths"], ts, tw, th)
        rc, ra = rasterize(means2d, conics, colors, opac, W, H, ts, offsets, flatten_ids, absgrad=True)
        (rc.sum() + ra.sum()).backward()

    return step


def _interleaved(fns, reps, clock, threads=None):
    """Median time (ms) of each fn, measured round-robin after one warm-up each."""
    n = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        for f in fns:
            f()
        ts = [[] for _ in fns]
        for _ in range(reps):
            for i, f in enumerate(fns):
                t0 = clock()
                f()
                ts[i].append(clock() - t0)
    finally:
        torch.set_num_threads(n)
    return [statistics.median(t) * 1e3 for t in ts]


def _check_same_result(new_step, old_step):
    """The two pipelines render the same image (float32 rounding apart)."""
    a, b = new_step(), old_step()
    return float((a["means2d"].grad - b["means2d"].grad).abs().max()), int((a["radii"] != b["radii"]).sum())


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="only 20k Gaussians at 256x192")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    new_ext = _backend.load_extension()
    old_ext = load_baseline()
    old_fn = old_rasterization(old_ext)
    load0 = os.getloadavg()

    configs = [TARGET] if args.quick else [(N, wh) for N in SIZES_N for wh in SIZES_WH]
    rows = []
    for N, (W, H) in configs:
        scene = random_scene(SceneSpec(N, W, H, seed=0, dtype=torch.float32))
        reps = args.reps if N * W * H <= 20_000 * 256 * 192 else max(3, args.reps // 2)
        with torch.no_grad():
            _, _, meta = rasterization(*(scene[k] for k in LEAVES), scene["viewmats"], scene["Ks"], W, H,
                                       packed=False, render_mode="RGB+ED")
        proj = dict(W=W, H=H, tw=meta["tile_width"], th=meta["tile_height"], radii=meta["radii"],
                    means2d=meta["means2d"].detach(), conics=meta["conics"].detach(),
                    opacities=meta["opacities"].detach().contiguous(), depths=meta["depths"].detach(),
                    colors=torch.rand(1, N, 4, generator=torch.Generator().manual_seed(0)))
        full_new, full_old = _full_step(rasterization, scene), _full_step(old_fn, scene)
        k_new, k_old = _kernel_step(new_ext, proj), _kernel_step(old_ext, proj, baseline=True)
        grad_diff, radii_diff = _check_same_result(full_new, full_old)
        fns = [full_new, full_old, k_new, k_old]
        fw_new, fw_old, kw_new, kw_old = _interleaved(fns, reps, time.perf_counter)
        fc_new, fc_old, kc_new, kc_old = _interleaved(fns, reps, time.thread_time, threads=1)
        row = dict(gaussians=N, width=W, height=H, visible=int((meta["radii"] > 0).sum()),
                   isects=int(meta["isect_ids"].numel()), reps=reps,
                   full_ms_new=fw_new, full_ms_old=fw_old, kernel_ms_new=kw_new, kernel_ms_old=kw_old,
                   full_cpu1_ms_new=fc_new, full_cpu1_ms_old=fc_old, kernel_cpu1_ms_new=kc_new,
                   kernel_cpu1_ms_old=kc_old, max_abs_means2d_grad_diff=grad_diff, radii_diff=radii_diff)
        rows.append(row)
        print(f"{N:>6} {W}x{H}: full {fw_new:.1f} ms (old {fw_old:.1f}, {fw_old / fw_new:.1f}x) | kernel "
              f"{kw_new:.1f} ms (old {kw_old:.1f}, {kw_old / kw_new:.1f}x) | 1-thread CPU full {fc_new:.1f} "
              f"(old {fc_old:.1f}, {fc_old / fc_new:.1f}x), kernel {kc_new:.1f} (old {kc_old:.1f}, "
              f"{kc_old / kc_new:.1f}x)", flush=True)

    load1 = os.getloadavg()
    info = dict(
        command="python -m benchmarks.bench_rasterizer" + (" --quick" if args.quick else ""),
        torch=torch.__version__, threads=torch.get_num_threads(), cpus=os.cpu_count(),
        machine=platform.machine(), simd=new_ext.simd(), cflags=_backend.cflags(),
        baseline_cflags=BASELINE_FLAGS, loadavg_start=list(load0), loadavg_end=list(load1),
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
    )
    if info["omp_wait_policy"]:
        info["command"] = f"OMP_WAIT_POLICY={info['omp_wait_policy']} " + info["command"]
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["cpu"] = cpu_model or platform.processor()
    lines = [
        "| Gaussians | image | visible | tile isects | full new (ms) | full old (ms) | full old/new "
        "| kernel new (ms) | kernel old (ms) | kernel old/new | full 1-thr CPU new / old (ms) "
        "| kernel 1-thr CPU new / old (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['gaussians']:,} | {r['width']}x{r['height']} | {r['visible']:,} | {r['isects']:,} "
            f"| {r['full_ms_new']:.1f} | {r['full_ms_old']:.1f} | {r['full_ms_old'] / r['full_ms_new']:.1f}x "
            f"| {r['kernel_ms_new']:.1f} | {r['kernel_ms_old']:.1f} "
            f"| {r['kernel_ms_old'] / r['kernel_ms_new']:.1f}x "
            f"| {r['full_cpu1_ms_new']:.1f} / {r['full_cpu1_ms_old']:.1f} "
            f"| {r['kernel_cpu1_ms_new']:.1f} / {r['kernel_cpu1_ms_old']:.1f} |"
        )
    la = lambda v: " / ".join(f"{x:.2f}" for x in v)  # noqa: E731
    md = (
        "# CPU rasterizer benchmark: new kernels vs the frozen baseline\n\n"
        f"`{info['command']}` on {info['date']}: forward + backward, median of {args.reps} reps "
        "(3 for the largest sizes) after a warm-up, old and new interleaved in one process; 1 camera, "
        "RGB+ED (4 channels), packed=False, absgrad=True, float32; "
        f"torch {info['torch']}, {info['threads']} threads ({info['cpus']} CPUs: {info['cpu']}); "
        f"new built with `{' '.join(info['cflags'])}` ({info['simd']}), "
        f"old with `{' '.join(BASELINE_FLAGS)}`. "
        f"Load average (1/5/15 min) at start {la(load0)}, at end {la(load1)}: the machine is shared, so "
        "wall-clock columns carry that noise; the 1-thread CPU columns (`time.thread_time`) less so.\n"
        "`full` = the whole `rasterization` call (new: C++ projection + kernels; old: torch projection + "
        "`csrc_baseline/rasterize.cpp`); `kernel` = tile intersection + rasterize forward/backward on "
        "projected Gaussians.\n\n"
    ) + "\n".join(lines) + "\n"
    out = dict(info=info, rows=rows)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stem = "rasterizer_quick" if args.quick else "rasterizer"
        if info["omp_wait_policy"]:
            stem += "_omp_" + info["omp_wait_policy"].lower()
        (RESULTS / f"{stem}.md").write_text(md)
        (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=1) + "\n")
    print()
    print(md)
    return out


if __name__ == "__main__":
    main()
