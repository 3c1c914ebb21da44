"""The demo's training and the step's stage table on the machine this runs on (run by benchmarks/device/run.sh).

    python .gpu/gpu_bench.py demo ITERATIONS REPEATS   # nerfstudio's training loop, the demo's schedule
    python .gpu/gpu_bench.py step STEPS WARMUP         # benchmarks.bench_train_step's stage table

Both train on the demo's scene in .gpu/scene (benchmarks/device/pack.sh makes it) and write JSON to $OUT."""
import json, os, sys, time, platform, tempfile, shutil
from pathlib import Path

OUT = Path(os.environ.get("OUT", "/tmp/out"))
HERE = Path(__file__).resolve().parent
SCENE = HERE / "scene"
what = sys.argv[1]

import torch
info = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "cpus": os.cpu_count(), "python": platform.python_version()}
print(info, flush=True)

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


if what == "demo":
    from point2act.method.schedule import short_schedule
    from point2act.method.train import registered_config, train
    from point2act.method.trainer import Point2ActTrainer

    totals = {}  # save_checkpoint's time includes _fit_to_consensus and _write_run_info, which it calls
    stage_timer(Point2ActTrainer, ("setup", "train_iteration", "save_checkpoint", "_fit_to_consensus",
                                   "_write_run_info"), totals)
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    res = {"info": info, "runs": []}
    for rep in range(int(sys.argv[3]) if len(sys.argv) > 3 else 2):
        out = Path(tempfile.mkdtemp())
        config = short_schedule(registered_config("point2act"), SCENE, SCENE / "points" / "oracle.json", out / "runs", iters, False)
        t0 = time.perf_counter()
        trainer = train(config)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        n = int(trainer.pipeline.model.means.shape[0])
        res["runs"].append({"iterations": iters, "train_s": dt, "it_per_min": iters / dt * 60, "num_gaussians": n,
                            "device": str(trainer.pipeline.device), "stages_s": dict(totals)})
        totals.clear()
        print(res["runs"][-1], flush=True)
        shutil.rmtree(out, ignore_errors=True)
    (OUT / f"demo_train_{info['device'].replace(' ', '_')}.json").write_text(json.dumps(res, indent=1))
elif what == "step":
    sys.path.insert(0, str(HERE.parent))
    from benchmarks import bench_train_step as b
    b._scene = lambda kind, tmp: (SCENE, SCENE / "points" / "oracle.json", 1)
    steps, warmup = int(sys.argv[2]), int(sys.argv[3])
    results = b.run("synth", steps, warmup, "gpu", ("default",))
    for r in results:
        r["info"] = info
        print(f"{r['iteration_ms']:.2f} ms/it (median {r['iteration_median_ms']:.2f}), {r['num_gaussians']} Gaussians, {r['device']}")
        for k, v in r["stages_ms"].items():
            print(f"  {k:45s} {v:8.2f}")
    (OUT / "train_step_gpu.json").write_text(json.dumps(results, indent=1))
