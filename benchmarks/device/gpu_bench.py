"""The demo's training and the step's stage table on the machine this runs on (run by benchmarks/device/run.sh).

    python .gpu/gpu_bench.py demo ITERATIONS REPEATS   # nerfstudio's training loop, the demo's schedule
    python .gpu/gpu_bench.py step STEPS WARMUP         # benchmarks.bench_train_step's stage table, per variant
    python .gpu/gpu_bench.py capture SCENE ITERATIONS  # a generated capture's training, the default schedule

demo and step train on the demo's scene in .gpu/scene (benchmarks/device/pack.sh makes it, and .gpu/scene640, a
40-view 640x480 capture, for capture); each writes JSON to $OUT. demo and capture record every step's wall time
(GPU synchronised), so the run's wall splits into imports, setup, the first steps, the steady steps and the end;
PROFILE=A:B adds torch.profiler's operator table of steps A..B of the last repeat ($OUT/profile_*.txt; its table
takes seconds to build, inside that repeat's wall; PROFILE=none for a clean timing); CPROFILE=1
runs the last repeat under cProfile, its functions by cumulative time in $OUT/cprofile_*.txt."""
import json, os, sys, time, platform, tempfile, shutil
from pathlib import Path

T_START = time.perf_counter()

OUT = Path(os.environ.get("OUT", "/tmp/out"))
HERE = Path(__file__).resolve().parent
SCENE = HERE / "scene"
what = sys.argv[1]

import torch
T_TORCH = time.perf_counter() - T_START
if torch.cuda.is_available():
    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
T_CUDA = time.perf_counter() - T_START - T_TORCH
info = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "cpus": os.cpu_count(), "python": platform.python_version()}
print(info, flush=True)
print(f"import torch {T_TORCH:.2f} s, CUDA context {T_CUDA:.2f} s", flush=True)


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def step_timer(cls, steps, profile=None):
    """Wrap ``cls.train_iteration`` to append each step's wall time (GPU synchronised) to ``steps``; with
    ``profile`` = (a, b, path), torch.profiler records steps a..b and writes its operator tables to ``path``."""
    fn = cls.train_iteration
    state = {}

    def timed(self, step, _fn=fn):
        if profile and step == profile[0]:
            acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA]
                                                             if torch.cuda.is_available() else [])
            state["prof"] = torch.profiler.profile(activities=acts)
            state["prof"].__enter__()
        sync()
        t0 = time.perf_counter()
        try:
            return _fn(self, step)
        finally:
            sync()
            steps.append(time.perf_counter() - t0)
            if profile and step == profile[1] and "prof" in state:
                prof = state.pop("prof")
                prof.__exit__(None, None, None)
                ka = prof.key_averages()
                n = profile[1] - profile[0] + 1
                text = [f"steps {profile[0]}..{profile[1]} ({n} steps)"]
                for key in ("self_cpu_time_total", "self_device_time_total"):
                    try:
                        text.append(f"\n## sorted by {key}\n" + ka.table(sort_by=key, row_limit=30, max_name_column_width=60))
                    except Exception as e:  # noqa: BLE001
                        text.append(f"{key}: {e}")
                Path(profile[2]).write_text("\n".join(text))

    cls.train_iteration = timed


def step_summary(steps):
    """The steps' wall times split: the first 10, the slowest, the steady median."""
    import statistics
    s = sorted(steps)
    return {"n": len(steps), "sum_s": sum(steps), "first10_s": [round(x, 4) for x in steps[:10]],
            "first10_sum_s": sum(steps[:10]), "median_ms": statistics.median(steps) * 1e3,
            "p90_ms": s[int(0.9 * (len(s) - 1))] * 1e3, "over_50ms": sum(1 for x in steps if x > 0.05),
            "over_50ms_s": sum(x for x in steps if x > 0.05), "slowest": sorted(
                ((round(x, 4), i) for i, x in enumerate(steps)), reverse=True)[:8]}


def profile_arg(tag):
    p = os.environ.get("PROFILE")
    if not p or p == "none":
        return None
    a, b = (int(x) for x in p.split(":"))
    return (a, b, str(OUT / f"profile_{tag}.txt"))

def stage_timer(cls, names, totals):
    """Wrap ``cls``'s methods ``names`` to add their wall time (GPU synchronised) to ``totals``."""
    for name in names:
        fn = getattr(cls, name)

        def timed(self, *a, _fn=fn, _name=name, **k):
            t0 = time.perf_counter()
            try:
                return _fn(self, *a, **k)
            finally:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                totals[_name] = totals.get(_name, 0.0) + time.perf_counter() - t0

        setattr(cls, name, timed)


if what in ("demo", "capture"):
    t0 = time.perf_counter()
    from point2act.method.schedule import short_schedule
    from point2act.method.train import registered_config, train
    from point2act.method.trainer import Point2ActTrainer
    t_import = time.perf_counter() - t0
    print(f"import point2act.method (nerfstudio) {t_import:.2f} s", flush=True)

    totals = {}  # save_checkpoint's time includes _fit_to_consensus and _write_run_info, which it calls
    stage_timer(Point2ActTrainer, ("setup", "save_checkpoint", "_fit_to_consensus", "_write_run_info",
                                   "_write_export_inputs"), totals)
    steps = []
    if what == "demo":
        scene, iters, reps, tag = SCENE, int(sys.argv[2]), int(sys.argv[3]), "demo"
    else:
        scene, iters, reps, tag = HERE / sys.argv[2], int(sys.argv[3]), 1, "capture_" + sys.argv[2]
    step_timer(Point2ActTrainer, steps, None)
    res = {"info": info, "import_torch_s": T_TORCH, "cuda_context_s": T_CUDA, "import_method_s": t_import,
           "scene": str(scene.name), "runs": []}
    outs = []
    for rep in range(reps):
        if rep == reps - 1 and profile_arg(tag):
            step_timer(Point2ActTrainer, [], profile_arg(tag))  # around the timed step: its steps time the profiler too
        out = Path(tempfile.mkdtemp())
        config = short_schedule(registered_config("point2act"), scene, scene / "points" / "oracle.json", out / "runs", iters, False)
        steps.clear()
        cprof = None
        if rep == reps - 1 and os.environ.get("CPROFILE"):
            import cProfile
            cprof = cProfile.Profile()
            cprof.enable()
        t0 = time.perf_counter()
        trainer = train(config)
        sync()
        dt = time.perf_counter() - t0
        if cprof is not None:
            import io, pstats
            cprof.disable()
            buf = io.StringIO()
            pstats.Stats(cprof, stream=buf).sort_stats("cumulative").print_stats(70)
            (OUT / f"cprofile_{tag}.txt").write_text(buf.getvalue())
        n = int(trainer.pipeline.model.means.shape[0])
        res["runs"].append({"iterations": iters, "train_s": dt, "it_per_min": iters / dt * 60, "num_gaussians": n,
                            "device": str(trainer.pipeline.device), "stages_s": dict(totals),
                            "steps": step_summary(steps) if steps else None})
        totals.clear()
        print(json.dumps(res["runs"][-1]), flush=True)
        outs.append(out)  # removed at the end: nerfstudio's event writers are global and outlive a run
    for out in outs:
        shutil.rmtree(out, ignore_errors=True)
    (OUT / f"{tag}_train_{info['device'].replace(' ', '_')}.json").write_text(json.dumps(res, indent=1))
elif what == "step":
    sys.path.insert(0, str(HERE.parent))
    from benchmarks import bench_train_step as b
    b._scene = lambda kind, tmp: (SCENE, SCENE / "points" / "oracle.json", 1)
    steps, warmup = int(sys.argv[2]), int(sys.argv[3])
    variants = tuple(os.environ.get("VARIANTS", "default,relevancy-second-pass,splatfacto").split(","))
    results = b.run("synth", steps, warmup, "gpu", variants)
    for r in results:
        r["info"] = info
        print(f"{r['variant']}: {r['iteration_ms']:.2f} ms/it (median {r['iteration_median_ms']:.2f}), {r['num_gaussians']} Gaussians, {r['device']}")
        for k, v in r["stages_ms"].items():
            print(f"  {k:45s} {v:8.2f}")
    (OUT / "train_step_gpu.json").write_text(json.dumps(results, indent=1))
