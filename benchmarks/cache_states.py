"""``python -m benchmarks.cache_states``: one export answer whatever the run cache's history, on every generator and
real capture.

Each capture is trained once (``ns-train point2act``, its default schedule), then exported in six states of the
run's cache (``RUN/point2act_cache.npz``), each a new ``point2act export`` process writing the same output path:

1. ``trained``: the cache as training wrote it;
2. ``touched``: every file of the cache's key touched (same bytes: config.yml, the checkpoint, the answers, the
   capture's camera files); the cache must stay as it was (no rebuild);
3. ``deleted``: the cache deleted, so the export rebuilds it from the checkpoint;
4. ``rebuilt``: the cache that export wrote;
5. ``killed``: the cache deleted, an export SIGKILLed as soon as the cache's temporary file appears, then an export;
6. ``threads 1`` / ``threads 2``: the cache deleted before each, ``OMP_NUM_THREADS`` 1, then 2.

The outcome is whether every state's ``grasps.json`` has the same bytes as the first. Writes
``benchmarks/results/cache_states.md`` and ``.json`` with the command, the commit and the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

from benchmarks.faults.common import BIN, RESULTS, ROOT, commit, env, export_cmd, kill, machine, run, start, wait_for

DATA = Path(os.environ.get("POINT2ACT_SHARED_DATA", ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Capture:
    """One capture to train: its folder, its answers, the dataparser's arguments and the start cloud."""

    name: str
    data: Path
    points: Path
    dataparser: Sequence[str]
    cloud: str
    """``triangulated`` (the default path of a capture without a cloud) or ``none`` (a random start); the
    capture's own cloud, where it has one, is not loaded."""


def _generated(out: Path, generator: str, kind: str) -> Path:
    scene = out / "scenes" / f"{generator}-{kind}"
    if not (scene / "transforms.json").is_file():
        if generator == "synth":
            subprocess.run([str(BIN / "point2act"), "synth", "--out", str(scene)], check=True, capture_output=True)
        else:
            subprocess.run([sys.executable, "-m", "benchmarks.generators", generator, kind, str(scene),
                            "--no-point-cloud"], check=True, capture_output=True, cwd=ROOT)
    return scene


def _real_points(out: Path, target: str) -> Path:
    from benchmarks.real.targets import load_target

    t = load_target(ROOT / "benchmarks" / "real" / "targets" / f"{target}.json")
    path = out / "points" / f"{target}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(t.points_file(), indent=1) + "\n")
    return path


def captures(out: Path, names: Sequence[str]) -> List[Capture]:
    """The captures of ``names`` (``synth``, ``kitchen``, ``studio``, ``objects``, ``tools``, ``coke``), each
    without a point cloud (random start) and with a triangulated one."""
    found: List[Capture] = []
    for name in names:
        if name in ("synth", "kitchen", "studio", "objects"):
            kind = {"synth": "", "kitchen": "pan", "studio": "pan", "objects": "tool"}[name]
            scene = _generated(out, name, kind)
            parser = ["nerfstudio-data"]
            pts = scene / "points" / "oracle.json"
            data = scene
        elif name == "tools":
            data, pts = DATA / "real" / "tools", _real_points(out, "tools-mug_handle")
            parser = ["colmap", "--colmap-path", "sparse/0", "--downscale-factor", "4"]
        elif name == "coke":
            data, pts = DATA / "real" / "coke", DATA / "real" / "coke" / "points" / "pull_tab.json"
            parser = ["nerfstudio-data", "--downscale-factor", "4"]
        else:
            raise SystemExit(f"unknown capture {name!r}")
        for cloud in ("none", "triangulated"):
            found.append(Capture(f"{name}-{cloud}", data, pts, parser, cloud))
    return found


def train(c: Capture, out: Path, log: Path) -> Path:
    """Train ``c`` into OUT/runs/NAME; its config.yml."""
    dm, parser = (["--pipeline.datamanager.triangulate", str(c.cloud == "triangulated")],
                  ["--load-3D-points", "False"])
    cmd = [str(BIN / "ns-train"), "point2act", "--data", str(c.data),
           "--pipeline.datamanager.points-file", str(c.points), "--vis", "tensorboard",
           "--output-dir", str(out / "runs"), "--experiment-name", c.name, "--timestamp", "run", *dm,
           *c.dataparser[:1], *parser, *c.dataparser[1:]]
    p = run(cmd, log)
    if p.returncode:
        raise SystemExit(f"training {c.name} failed (exit {p.returncode}); see {log}")
    return out / "runs" / c.name / "point2act" / "run" / "config.yml"


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def states(c: Capture, config: Path, out: Path, log: Path) -> Dict:
    """Export ``config`` in each cache state; each state's grasps.json sha256 and seconds."""
    run_dir = config.parent
    cache = run_dir / "point2act_cache.npz"
    target = out / "exports" / c.name / "grasps.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    rec: Dict = {"states": {}}

    def export(state: str, **environ: str) -> None:
        t0 = time.perf_counter()
        p = run(export_cmd(config, target), log, env(**environ))
        if p.returncode:
            raise SystemExit(f"{c.name}: the export ({state}) failed (exit {p.returncode}); see {log}")
        rec["states"][state] = {"sha256": _sha(target), "seconds": round(time.perf_counter() - t0, 1)}
        shutil.copyfile(target, target.with_name(f"grasps-{state.replace(' ', '')}.json"))

    export("trained")
    before = _sha(cache)
    key_files = [run_dir / "config.yml", *sorted((run_dir / "nerfstudio_models").glob("*.ckpt")),
                 run_dir / "points.json", c.points, *(p for p in (c.data / "transforms.json",
                                                                  c.data / "sparse" / "0" / "images.txt") if p.is_file())]
    for f in key_files:
        os.utime(f)
    export("touched")
    rec["touch_rebuilt"] = _sha(cache) != before
    cache.unlink()
    export("deleted")
    export("rebuilt")
    cache.unlink()
    p = start(export_cmd(config, target), log)
    rec["killed_in_write"] = wait_for(lambda: any(run_dir.glob(".point2act_cache.npz.*.tmp")), 600, p, every=0.002)
    kill(p)
    export("killed")
    for n in ("1", "2"):
        cache.unlink(missing_ok=True)
        export(f"threads {n}", OMP_NUM_THREADS=n)
    shas = {s["sha256"] for s in rec["states"].values()}
    rec["identical"] = len(shas) == 1
    return rec


def markdown(doc: Dict) -> str:
    m = doc["_meta"]
    lines = [
        "# One export answer whatever the run cache's history", "",
        f"`{m['command']}` at commit {m['commit']}, {m['started']}: {m['cpu']} ({m['isa']}), {m['cores']} cores. "
        "Each capture trained once (`ns-train point2act`, default schedule), then `point2act export` in each state "
        "of the run cache (see `benchmarks/cache_states.py`); the outcome compares the grasps.json bytes.", "",
        "| capture | states with the first state's bytes | touch rebuilt the cache | kill landed in the write |"
        " export seconds (trained / deleted / rebuilt) |",
        "|---|---|---|---|---|",
    ]
    for name, r in doc["captures"].items():
        st = r["states"]
        first = st["trained"]["sha256"]
        same = sum(s["sha256"] == first for s in st.values())
        secs = " / ".join(str(st[k]["seconds"]) for k in ("trained", "deleted", "rebuilt"))
        lines.append(f"| {name} | {same} of {len(st)}{'' if r['identical'] else ' (differs: ' + ', '.join(k for k, s in st.items() if s['sha256'] != first) + ')'} "
                     f"| {'yes' if r['touch_rebuilt'] else 'no'} | {'yes' if r['killed_in_write'] else 'no'} | {secs} |")
    return "\n".join(lines) + "\n"


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cache_states", description=__doc__.splitlines()[0])
    ap.add_argument("--captures", nargs="+", default=["synth", "kitchen", "studio", "objects", "tools", "coke"])
    ap.add_argument("--out", type=Path, default=Path("outputs/cache_states"))
    ap.add_argument("--name", default="cache_states")
    args = ap.parse_args(argv)
    meta = {"command": "python -m benchmarks.cache_states " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
            "commit": commit(), **machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    doc: Dict = {"_meta": meta, "captures": {}}
    for c in captures(args.out, args.captures):
        log = args.out / "logs" / f"{c.name}.log"
        t0 = time.perf_counter()
        config = train(c, args.out, log)
        rec = states(c, config, args.out, log)
        rec["train_and_states_s"] = round(time.perf_counter() - t0, 1)
        doc["captures"][c.name] = rec
        print(f"{c.name}: {'identical' if rec['identical'] else 'DIFFERS'} in {len(rec['states'])} states; "
              f"touch rebuilt: {rec['touch_rebuilt']}; kill in write: {rec['killed_in_write']}", flush=True)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{args.name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        (RESULTS / f"{args.name}.md").write_text(markdown(doc))
    return 0 if all(r["identical"] and not r["touch_rebuilt"] for r in doc["captures"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
