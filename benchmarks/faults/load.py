"""Load cases: ``point2act demo`` (a new process each time) idle and beside each load program, alternated in one
run (idle, busy, idle, two busy, ...), each load started before its timed run and killed after it; and
``ns-train point2act`` with its viser viewer, without and with a headless Chromium on the viewer's page. With
``--train-capture PATH``, ``ns-train point2act`` on that capture is timed under the same loads instead of the demo.
"""

from __future__ import annotations

import re
import shutil
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from benchmarks.faults.common import BIN, Row, env, kill, run, start, wait_for

PY = sys.executable
BUSY = ["python3", "-c", "while True: pass"]
LOADS: Dict[str, List[List[str]]] = {
    "busy": [BUSY],
    "two-busy": [BUSY, BUSY],
    "torch-2-threads": [[PY, "-m", "benchmarks.faults.loads", "torch"]],
    "simulation": [[PY, "-m", "benchmarks.faults.loads", "sim"]],
}
"""Each load case's programs (started together, killed together)."""
LOAD_WARMUP_S = 2.0
"""Seconds a load runs before the timed command starts (its imports done, its loop running)."""
WALL = re.compile(r"wall time:\s+([\d.]+) s")


def _with_load(name: str, logs: Path, timed: Callable[[], float]) -> float:
    """``timed()``'s seconds with the load ``name``'s programs running (none for ``idle``)."""
    procs = [start(cmd, logs / f"load-{name}.log", cwd=str(Path(__file__).resolve().parents[2]))
             for cmd in LOADS.get(name, [])]
    try:
        if procs:
            time.sleep(LOAD_WARMUP_S)
            dead = [p for p in procs if p.poll() is not None]
            if dead:
                raise SystemExit(f"load {name} ended early (exit {dead[0].returncode}); see {logs}/load-{name}.log")
        return timed()
    finally:
        for p in procs:
            kill(p)


def _demo(out: Path, k: int) -> Callable[[], float]:
    """``point2act demo --out OUT/demo-K``; the wall time it prints."""

    def timed() -> float:
        d = out / f"demo-{k}"
        p = run([str(BIN / "point2act"), "demo", "--out", str(d)], out / "demo.log")
        m = WALL.search(p.stdout)
        if p.returncode or m is None:
            raise SystemExit(f"point2act demo failed ({p.returncode}); see {out / 'demo.log'}")
        if k > 0:
            shutil.rmtree(d, ignore_errors=True)  # the first keeps its scene for the viewer case
        return float(m.group(1))

    return timed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _viewer_train(scene: Path, out: Path, k: int, browser: bool) -> Callable[[], float]:
    """``ns-train point2act`` on ``scene`` with the demo's schedule (1000 steps) and its viewer (``--vis viewer``,
    quitting when training completes); ``browser``: a headless Chromium opened on the viewer's page once it serves,
    closed when training ends. Its seconds, timed from outside."""

    def timed() -> float:
        port = _free_port()
        run_out = out / f"viewer-{k}"
        cmd = [str(BIN / "ns-train"), "point2act", "--data", str(scene),
               "--pipeline.datamanager.points-file", str(scene / "points" / "oracle.json"),
               "--max-num-iterations", "1000", "--steps-per-save", "1000", "--save-only-latest-checkpoint", "True",
               "--steps-per-eval-image", "1000000000", "--steps-per-eval-batch", "1000000000",
               "--steps-per-eval-all-images", "1000000000", "--vis", "viewer",
               "--viewer.quit-on-train-completion", "True", "--viewer.websocket-host", "127.0.0.1",
               "--viewer.websocket-port", str(port), "--output-dir", str(run_out), "--experiment-name", "demo",
               "--timestamp", "run"]
        t = time.perf_counter()
        p = start(cmd, out / "viewer.log")
        b = None
        try:
            if browser:
                if not wait_for(lambda: _serving(port), 300, p, every=0.05):
                    raise SystemExit(f"the viewer never served on port {port}; see {out / 'viewer.log'}")
                b = start([chromium(), "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
                           f"--user-data-dir={out / f'chromium-{k}'}", f"http://127.0.0.1:{port}/"],
                          out / "chromium.log")
            rc = p.wait(timeout=1800)
        finally:
            if b is not None:
                kill(b)
            kill(p)
        seconds = time.perf_counter() - t
        if rc:
            raise SystemExit(f"ns-train with the viewer failed ({rc}); see {out / 'viewer.log'}")
        shutil.rmtree(run_out, ignore_errors=True)
        shutil.rmtree(out / f"chromium-{k}", ignore_errors=True)
        return seconds

    return timed


def capture_train_cmd(capture: Path, out: Path, points: Path | None, downscale: int) -> List[str]:
    """``ns-train point2act`` on a real capture as ``benchmarks.bench_capture`` trains it: its dataparser at
    ``downscale``, without its point cloud, its first hand-annotated target's answers (or ``points``)."""
    from benchmarks.real.run import write_points
    from benchmarks.real.targets import CAPTURES, TARGETS_DIR, load_target

    capture = Path(capture).resolve()
    spec = next((c for c in CAPTURES.values() if c.path.resolve() == capture), None)
    if spec is None and points is None:
        raise SystemExit(f"{capture}: not one of benchmarks/real's captures ({', '.join(CAPTURES)}); give "
                         "--train-points FILE")
    parser = list(spec.parser_args) if spec is not None else ["nerfstudio-data", "--downscale-factor", "1"]
    parser[parser.index("--downscale-factor") + 1] = str(downscale)
    if points is None:
        t = load_target(sorted(TARGETS_DIR.glob(f"{spec.name}-*.json"))[0])
        points = write_points(t, out)
    return [str(BIN / "ns-train"), "point2act", "--data", str(capture), "--pipeline.datamanager.points-file",
            str(points), "--machine.seed", "0", "--vis", "tensorboard", "--output-dir", str(out / "capture-runs"),
            "--experiment-name", "run", *parser, "--load-3D-points", "False"]


def _capture_train(cmd: List[str], out: Path, k: int) -> Callable[[], float]:
    def timed() -> float:
        c = list(cmd)
        c[c.index("--experiment-name") + 1] = f"run-{k}"
        p = run(c, out / "capture.log")
        if p.returncode:
            raise SystemExit(f"ns-train on the capture failed ({p.returncode}); see {out / 'capture.log'}")
        shutil.rmtree(out / "capture-runs" / f"run-{k}", ignore_errors=True)
        return p.seconds

    return timed


def load_cases(out: Path, repeats: int, loads: Sequence[str], viewer: bool, train_capture: Path | None = None,
               train_points: Path | None = None, downscale: int = 2, say=print) -> List[Row]:
    """The load cases: per round, idle then each load (``loads``), ``repeats`` rounds; then the viewer without and
    with the browser, alternated ``repeats`` times. Rows: per case the median and worst seconds and their ratio to
    the idle median of this run."""
    out.mkdir(parents=True, exist_ok=True)
    what = "point2act demo"
    cap_cmd = None
    if train_capture is not None:
        cap_cmd = capture_train_cmd(train_capture, out, train_points, downscale)
        what = f"ns-train point2act on {train_capture}"
    times: Dict[str, List[float]] = {"idle": []}
    k = 0
    for r in range(repeats):
        for name in loads:
            for case in ("idle", name):  # idle, busy, idle, two-busy, ...
                timed = _capture_train(cap_cmd, out, k) if cap_cmd else _demo(out, k)
                s = _with_load(case, out, timed)
                k += 1
                times.setdefault(case, []).append(s)
                say(f"  {what}, {case}: {s:.1f} s")
    rows = _rows("load", what, times, "idle")
    if viewer and cap_cmd is None:
        if chromium() is None:
            rows.append(Row("load", "viewer + chromium", "skipped: no chromium", ok=True))
        else:
            scene = out / "demo-0" / "scene"
            if not (scene / "transforms.json").is_file():
                _demo(out, 0)()
            vt: Dict[str, List[float]] = {}
            for r in range(repeats):
                for case, browser in (("viewer, no browser", False), ("viewer + headless chromium", True)):
                    s = _with_load("idle", out, _viewer_train(scene, out, k, browser))
                    k += 1
                    vt.setdefault(case, []).append(s)
                    say(f"  ns-train point2act --vis viewer, {case}: {s:.1f} s")
            rows += _rows("load", "ns-train point2act --vis viewer (demo scene, 1000 steps)", vt, "viewer, no browser")
    return rows


def _rows(group: str, what: str, times: Dict[str, List[float]], base: str) -> List[Row]:
    base_med = statistics.median(times[base])
    rows = []
    for case, ts in times.items():
        med = statistics.median(ts)
        rows.append(Row(group, f"{what}: {case}",
                        f"median {med:.1f} s, worst {max(ts):.1f} s, {med / base_med:.2f}x the {base} median "
                        f"({len(ts)} runs)", seconds=ts,
                        detail={"median_s": round(med, 2), "worst_s": round(max(ts), 2),
                                "ratio_to_base_median": round(med / base_med, 3), "base": base}))
    return rows
