"""Side-by-side cases: two ``ns-train point2act`` at once on two captures and on the same capture (nerfstudio's
run folder is named by the second the run started), sharing the start-cloud cache (each case with a cache of its
own, empty: ``POINT2ACT_CACHE``'s folder), then their exports at once; and two first-time builds of the C++
extensions at once (an empty ``TORCH_EXTENSIONS_DIR``). Outcome: both finish, in folders of their own; each
grasps.json says what the same run alone says (timings and paths aside); every cached npz/ply/json/ckpt loads.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

from benchmarks.faults.common import (Row, broken_files, config_of, env, export_cmd, kill, run, same_grasps, start,
                                      synth_scene, train_cmd)


def _cache_env(root: Path) -> Dict[str, str]:
    """A start-cloud and answer cache of its own under ``root`` (the clouds go to ``root/clouds``)."""
    return env(POINT2ACT_CACHE=str(root / "answers"))


def _together(cmds: List[List[str]], logs: List[Path], environ: Dict[str, str], timeout: float = 1800) \
        -> Tuple[List[int], List[float]]:
    """Start every command at once; their exit statuses and seconds."""
    t0 = time.perf_counter()
    procs = [start(c, log, environ) for c, log in zip(cmds, logs)]
    codes, secs = [], []
    try:
        for p in procs:
            codes.append(p.wait(timeout=timeout))
            secs.append(time.perf_counter() - t0)
    finally:
        for p in procs:
            kill(p)
    return codes, secs


def _alone(scene: Path, out: Path, steps: int, cache: Path) -> Path:
    """The run of ``scene`` alone (its own cache) and its grasps.json."""
    grasps = out / "grasps.json"
    if grasps.is_file():
        return grasps
    p = run(train_cmd(scene, out, steps, triangulate=True), out / "log.txt", _cache_env(cache))
    if p.returncode:
        raise SystemExit(f"training alone failed; see {out / 'log.txt'}")
    p = run(export_cmd(config_of(out)[0], grasps), out / "log.txt", _cache_env(cache))
    if p.returncode:
        raise SystemExit(f"export alone failed; see {out / 'log.txt'}")
    return grasps


def two_trainings(root: Path, steps: int, same: bool, say=print) -> Row:
    """Two trainings at once (``same``: on one capture, into one experiment folder, nerfstudio's timestamps; else
    on two captures), then their two exports at once."""
    scenes = [synth_scene(root / "scene-0", 0, small=True), synth_scene(root / "scene-1", 1, small=True)]
    pair = [scenes[0], scenes[0]] if same else scenes
    alone = {s: _alone(s, root / f"alone-{s.name}", steps, root / f"cache-alone-{s.name}") for s in set(pair)}
    name = "same-capture" if same else "two-captures"
    case, cache = root / name, root / name / "cache"
    environ = _cache_env(cache)
    outs = [case / "runs"] * 2 if same else [case / "runs-a", case / "runs-b"]
    cmds = [train_cmd(s, o, steps, timestamp=None, triangulate=True) for s, o in zip(pair, outs)]
    codes, secs = _together(cmds, [case / "train-a.log", case / "train-b.log"], environ)
    configs = sorted({c for o in set(outs) for c in config_of(o)})
    problems = []
    if any(codes):
        problems.append(f"training exit statuses {codes} (logs in {case})")
    if len(configs) != 2:
        problems.append(f"{len(configs)} run folders for 2 runs: {[str(c.parent) for c in configs]}")
    same_bytes = []
    if not problems:
        grasps = [case / f"grasps-{i}.json" for i in range(2)]
        ecodes, esecs = _together([export_cmd(c, g) for c, g in zip(configs, grasps)],
                                  [case / "export-a.log", case / "export-b.log"], environ)
        secs += esecs
        if any(ecodes):
            problems.append(f"export exit statuses {ecodes}")
        else:
            for c, g in zip(configs, grasps):  # on two captures, each run's scene by its output folder
                scene = pair[0] if same else pair[outs.index(c.parents[3])]
                same_bytes.append(same_grasps(g, alone[scene]))
            if not all(same_bytes):
                problems.append(f"grasps.json equal to the run alone: {same_bytes}")
    bad = broken_files([cache, *set(outs)])
    if bad:
        problems.append(f"{len(bad)} torn or left-over files: {bad[:3]}")
    folders = ", ".join(c.parent.name for c in configs)
    outcome = ("both finished (folders " + folders + "), grasps.json as alone, every cached file loads"
               if not problems else "; ".join(problems))
    say(f"  side by side, {name}: {outcome}")
    return Row("side", f"two ns-train at once, {'same capture' if same else 'two captures'}", outcome, secs,
               ok=not problems, detail={"folders": [str(c.parent) for c in configs], "exit": codes})


BUILD = ("from point2act.grasp import _kernel; _kernel.load_extension(); "
         "from point2act.requery import fit_numpy; fit_numpy.load_extension(); "
         "from point2act.render import _backend; _backend.load_extension(); print('loaded')")
"""What each of the two build processes loads: the grasp kernels and the refit's (pybind11), the rasterizer
(a torch extension)."""


def two_builds(root: Path, say=print) -> Row:
    """Two processes that load the extensions at once, on an empty extensions folder; then a third that must load
    their builds without compiling."""
    ext = root / "builds" / "torch_extensions"
    environ = env(TORCH_EXTENSIONS_DIR=str(ext))
    logs = [root / "builds" / f"build-{i}.log" for i in range(2)]
    codes, secs = _together([[sys.executable, "-c", BUILD]] * 2, logs, environ)
    problems = [f"exit statuses {codes}"] if any(codes) else []
    built = sum("building" in log.read_text() for log in logs)
    third = run([sys.executable, "-c", BUILD], root / "builds" / "third.log", environ)
    if third.returncode or "loaded" not in third.stdout:
        problems.append("a third process could not load the builds")
    elif "building" in third.stderr:
        problems.append("a third process built again")
    outcome = (f"both loaded ({built} of 2 announced a build; the other waited for it), a third loads without "
               "building" if not problems else "; ".join(problems))
    say(f"  two first-time builds at once: {outcome}")
    return Row("side", "two first-time extension builds at once", outcome, secs, ok=not problems)


def side_cases(out: Path, steps: int, builds: bool = True, say=print) -> List[Row]:
    out.mkdir(parents=True, exist_ok=True)
    rows = [two_trainings(out, steps, same=False, say=say), two_trainings(out, steps, same=True, say=say)]
    if builds:
        rows.append(two_builds(out, say=say))
    return rows
