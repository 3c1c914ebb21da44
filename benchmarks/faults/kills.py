"""Fault cases: a SIGKILL during training (then ``--load-dir`` resumes it), during an export and during the run
cache's write (at the end of training, and in the first export: the kill comes as soon as the cache's temporary
file appears), then the next command; a full disk (``RLIMIT_FSIZE``, with ``SIGXFSZ`` ignored so that a write
fails with ``EFBIG``) during training and during an export. Outcome: the next command's grasps.json against an
undisturbed run's; the full disk's one-paragraph error (the path, the bytes it needed, no traceback, the exit
status), the earlier checkpoints and caches intact.
"""

from __future__ import annotations

import re
import resource
import signal
import time
from pathlib import Path
from typing import Callable, List

from benchmarks.faults.common import (Row, broken_files, config_of, env, export_cmd, kill, leftovers, run,
                                      same_grasps, start, synth_scene, train_cmd, wait_for)

SAVE_EVERY = 50
"""Checkpoints of the fault cases' trainings (the kill comes after the first, the full disk hits a later one)."""


def _ckpts(run_dir: Path) -> List[Path]:
    return sorted((run_dir / "nerfstudio_models").glob("step-*.ckpt"))


def _cache_tmp(run_dir: Path) -> bool:
    return any(run_dir.glob(".point2act_cache.npz.*.tmp"))


def fsize_limit(limit: int) -> Callable[[], None]:
    """A ``preexec_fn``: files larger than ``limit`` bytes cannot be written (``EFBIG``, not a SIGXFSZ kill)."""

    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return pre


def one_paragraph(p, path_hint: str) -> List[str]:
    """What is wrong with a full disk's error output: it must name a file, say what it needs, carry no traceback."""
    err = p.stderr
    problems = []
    if p.returncode == 0:
        problems.append("exit status 0")
    if "Traceback" in err:
        problems.append("a Python traceback on stderr")
    m = re.search(r"point2act: error: (\S+): could not write the file: .*?it needs", err, re.S)
    if m is None:
        problems.append("no 'point2act: error: FILE: could not write the file: ... it needs' paragraph")
    elif path_hint not in m.group(1):
        problems.append(f"the error names {m.group(1)}, not a {path_hint}")
    return problems


def _error_line(p) -> str:
    line = next((ln for ln in p.stderr.splitlines() if "point2act: error:" in ln), "")
    return line[:400]


class Faults:
    def __init__(self, out: Path, steps: int, say=print):
        self.out, self.steps, self.say = out, steps, say
        self.scene = synth_scene(out / "scene", 0, small=True)
        self.environ = env(POINT2ACT_CACHE=str(out / "cache" / "answers"))

    def train(self, name: str, log: str = "train.log") -> Path:
        p = run(train_cmd(self.scene, self.out / "runs", self.steps, timestamp=name, save_every=SAVE_EVERY),
                self.out / name / log, self.environ)
        if p.returncode:
            raise SystemExit(f"training {name} failed; see {self.out / name / log}")
        return self.out / "runs" / "run" / "point2act" / name

    def export(self, run_dir: Path, output: Path, **kw):
        return run(export_cmd(run_dir / "config.yml", output), output.parent / "export.log", self.environ, **kw)

    def reference(self) -> Path:
        """The undisturbed run and its grasps.json (and its checkpoints' sizes, for the full disk)."""
        ref = self.out / "ref" / "grasps.json"
        if not ref.is_file():
            run_dir = self.train("ref")
            self.ckpt_sizes = [c.stat().st_size for c in _ckpts(run_dir)]
            e = self.export(run_dir, ref)
            self.ref_export_s = e.seconds
            if e.returncode:
                raise SystemExit(f"the reference export failed; see {ref.parent / 'export.log'}")
        return ref

    def kill_training(self) -> Row:
        name = "kill-train"
        t0 = time.perf_counter()
        p = start(train_cmd(self.scene, self.out / "runs", self.steps, timestamp=name, save_every=SAVE_EVERY),
                  self.out / name / "train.log", self.environ)
        run_dir = self.out / "runs" / "run" / "point2act" / name
        hit = wait_for(lambda: bool(_ckpts(run_dir)), 900, p)
        kill(p)
        if not hit:
            return Row("faults", "SIGKILL during training, then resume", "training ended before its first "
                       "checkpoint; not killed", [time.perf_counter() - t0], ok=False)
        step = int(_ckpts(run_dir)[-1].stem.split("-")[1])
        r = run(train_cmd(self.scene, self.out / "runs", self.steps, "--load-dir", str(run_dir / "nerfstudio_models"),
                          timestamp=f"{name}-resumed", save_every=SAVE_EVERY), self.out / name / "resume.log",
                self.environ)
        resumed = self.out / "runs" / "run" / "point2act" / f"{name}-resumed"
        problems = [] if r.returncode == 0 else [f"the resume exited {r.returncode}"]
        equal = None
        if not problems:
            e = self.export(resumed, self.out / name / "grasps.json")
            problems += [] if e.returncode == 0 else [f"the export exited {e.returncode}"]
            if e.returncode == 0:
                equal = same_grasps(self.out / name / "grasps.json", self.reference())
        bad = broken_files([run_dir, resumed])
        problems += [f"torn: {bad[:2]}"] if bad else []
        problems += [] if equal in (None, True) else ["the resumed run's grasps.json differs from the undisturbed run's"]
        outcome = (f"killed after step {step}'s checkpoint; resumed from it, finished and exported; grasps.json "
                   "equal to the undisturbed run's" if not problems else "; ".join(problems))
        self.say(f"  {outcome}")
        return Row("faults", "SIGKILL during training, then resume", outcome, [time.perf_counter() - t0],
                   ok=not problems, detail={"killed_after_step": step, "grasps_equal_undisturbed": equal})

    def kill_export(self) -> Row:
        """A kill halfway through an export (the run trained as the reference was), then the export again."""
        name = "kill-export"
        run_dir = self.train(name)
        t0 = time.perf_counter()
        out = self.out / name / "grasps.json"
        ref_s = getattr(self, "ref_export_s", 8.0)
        p = start(export_cmd(run_dir / "config.yml", out), self.out / name / "export.log", self.environ)
        time.sleep(ref_s / 2)
        alive = p.poll() is None
        kill(p)
        return self._next_export(name, run_dir, out, t0, f"killed {ref_s / 2:.0f} s into the export"
                                 + ("" if alive else " (it had ended: not killed)"), alive)

    def kill_cache_write(self, during: str) -> Row:
        """A kill as soon as the run cache's temporary file appears: at the end of training (``training``) or in
        the first export (``export``); then an export."""
        name = f"kill-cache-{during}"
        t0 = time.perf_counter()
        run_dir = self.out / "runs" / "run" / "point2act" / name
        out = self.out / name / "grasps.json"
        if during == "training":
            p = start(train_cmd(self.scene, self.out / "runs", self.steps, timestamp=name, save_every=SAVE_EVERY),
                      self.out / name / "train.log", self.environ)
        else:
            self.train(name)
            for f in run_dir.glob("point2act_cache.npz"):
                f.unlink()  # the first export writes the cache again
            p = start(export_cmd(run_dir / "config.yml", out), self.out / name / "export.log", self.environ)
        hit = wait_for(lambda: _cache_tmp(run_dir), 900, p, every=0.002)
        kill(p)
        return self._next_export(name, run_dir, out, t0, "killed while point2act_cache.npz was being written"
                                 if hit else "the cache's temporary file was never seen (not killed in the write)",
                                 hit)

    def _next_export(self, name: str, run_dir: Path, out: Path, t0: float, what: str, hit: bool) -> Row:
        left = leftovers([run_dir])
        e = self.export(run_dir, out)
        problems = [] if e.returncode == 0 else [f"the next export exited {e.returncode}: {_error_line(e)}"]
        equal = e.returncode == 0 and same_grasps(out, self.reference())
        if e.returncode == 0 and not equal:
            problems.append("the next export's grasps.json differs from the undisturbed run's")
        bad = broken_files([run_dir])
        problems += [f"torn: {bad[:2]}"] if bad else []
        outcome = (f"{what}; the next export gives the undisturbed run's grasps.json"
                   + (f"; {len(left)} temporary file(s) left by the kill" if left else "")
                   if not problems else f"{what}; " + "; ".join(problems))
        self.say(f"  {name}: {outcome}")
        return Row("faults", {"kill-export": "SIGKILL during an export",
                              "kill-cache-training": "SIGKILL during the run cache's write (end of training)",
                              "kill-cache-export": "SIGKILL during the run cache's write (first export)"}[name],
                   outcome, [time.perf_counter() - t0], ok=hit and not problems,
                   detail={"temporary_files_left": [str(p) for p in left]})

    def full_disk_training(self) -> Row:
        """Training with a file-size limit between its first checkpoint's size and its last's."""
        self.reference()
        sizes = getattr(self, "ckpt_sizes", None) or [c.stat().st_size for c in _ckpts(
            self.out / "runs" / "run" / "point2act" / "ref")]
        name = "disk-train"
        limit = (min(sizes) + max(sizes)) // 2 if max(sizes) > min(sizes) else max(sizes) - 1
        t0 = time.perf_counter()
        p = run(train_cmd(self.scene, self.out / "runs", self.steps, timestamp=name, save_every=SAVE_EVERY),
                self.out / name / "train.log", self.environ, preexec_fn=fsize_limit(limit))
        run_dir = self.out / "runs" / "run" / "point2act" / name
        problems = one_paragraph(p, "")
        kept = _ckpts(run_dir)
        bad = broken_files([run_dir])
        if not kept:
            problems.append("no earlier checkpoint left")
        problems += [f"torn: {bad[:2]}"] if bad else []
        left = leftovers([run_dir])
        problems += [f"{len(left)} temporary files left"] if left else []
        outcome = (f"exit {p.returncode}, one paragraph: {_error_line(p)[:160]}...; {len(kept)} earlier "
                   "checkpoint(s) load" if not problems else "; ".join(problems))
        self.say(f"  {name} (file-size limit {limit} bytes): {outcome}")
        return Row("faults", "full disk during training (RLIMIT_FSIZE)", outcome, [time.perf_counter() - t0],
                   ok=not problems, detail={"limit_bytes": limit, "error": _error_line(p), "exit": p.returncode})

    def full_disk_export(self) -> Row:
        """An export onto an existing grasps.json with a file-size limit below its size: the error, then the old
        grasps.json and the run's cache unchanged."""
        ref = self.reference()
        run_dir = self.out / "runs" / "run" / "point2act" / "ref"
        out = self.out / "disk-export" / "grasps.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(ref.read_bytes())
        before = {f: f.read_bytes() for f in [out, *run_dir.glob("point2act_cache.npz")]}
        limit = len(ref.read_bytes()) // 2
        t0 = time.perf_counter()
        p = self.export(run_dir, out, preexec_fn=fsize_limit(limit))
        problems = one_paragraph(p, "grasps.json")
        if p.returncode not in (0, 2):
            problems.append(f"exit status {p.returncode}, not 2")
        changed = [str(f) for f, b in before.items() if not f.is_file() or f.read_bytes() != b]
        problems += [f"changed: {changed}"] if changed else []
        outcome = (f"exit {p.returncode}, one paragraph: {_error_line(p)[:160]}...; the earlier grasps.json and "
                   "the run cache unchanged" if not problems else "; ".join(problems))
        self.say(f"  disk-export (file-size limit {limit} bytes): {outcome}")
        return Row("faults", "full disk during an export (RLIMIT_FSIZE)", outcome, [time.perf_counter() - t0],
                   ok=not problems, detail={"limit_bytes": limit, "error": _error_line(p), "exit": p.returncode})


def fault_cases(out: Path, steps: int, say=print) -> List[Row]:
    out.mkdir(parents=True, exist_ok=True)
    f = Faults(out, steps, say)
    f.reference()
    return [f.kill_training(), f.kill_export(), f.kill_cache_write("training"), f.kill_cache_write("export"),
            f.full_disk_training(), f.full_disk_export()]
