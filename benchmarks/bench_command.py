"""Where a `point2act export` or `point2act query` process's time goes: its stages, timed in one new process.

The command runs as the console script runs it (``point2act.cli.entrypoint``); the imports it needs are timed
first (numpy and the CLI; with ``--run-layer``, the run layer: torch and nerfstudio's pieces), then the
functions that make up the command are wrapped and timed where it calls them. An export of a run's own field
reads the run's cache (:mod:`point2act.export.cached_inputs`) and imports no torch: its stages are reading
the inputs and building the document, and within it the views' consensus, where to act, the fused surface and
the grasp plans. ``--run-layer`` also times the run layer's stages (loading the run, the refit of a query,
its export, the depth views); a query needs it, as does an export whose inputs are missing or stale. ``other``
is the command's time outside the top-level stages. ``torch_imported`` says whether the command imported
torch.

    python -m benchmarks.bench_command --label coke-export -- export --load-config RUN/config.yml \\
        --output /tmp/grasps.json --metres-per-unit 0.1
    python -m benchmarks.bench_command --label demo-query --run-layer -- query --load-config RUN/config.yml \\
        --prompt "Point to the handle" --points-file POINTS.json --name tq

Writes ``benchmarks/results/command_stages.json`` (one entry per ``--label``, the others kept).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "command_stages.json"
# (module, function, stage): the functions the export and query paths call. The top-level stages ("export from
# the cache", "load the run", "refit", "export") do not overlap; the indented
# ones are their parts (where to act: every call, the query's own included). The plain modules' functions
# are wrapped before the run layer is imported, so that its names for them are the wrapped ones.
PLAIN_STAGES = (
    ("point2act.export", "export_from_cache", "export from the cache"),
    ("point2act.export.cached_inputs", "load", "  read the cached export inputs"),
    ("point2act.export", "export_inputs", "  the export's inputs in the capture frame, every call"),
    ("point2act.export.inputs", "consensus_in_capture", "  the views' consensus, every call"),
    ("point2act.export", "export", "  the export's stages, every call"),
    ("point2act.export", "answer", "  where to act, every call"),
    ("point2act.export", "planning_scene", "  fused surface and occupancy"),
    ("point2act.export", "plan", "  grasp plans"),
)
RUN_STAGES = (
    ("point2act.method.run_layer", "open_run", "load the run"),
    ("point2act.method.requery_run", "query_run", "refit (query, with its own where)"),
    ("point2act.method.export_run", "export_run", "export"),
    ("point2act.method.supervision", "supervised_views", "  the supervised views, every call"),
    ("point2act.method.export_run", "depth_views_of", "  depth views"),
)
TOP = ("export from the cache", "load the run", "refit (query, with its own where)", "export")


def time_calls(owner, name: str, key: str, seconds: dict) -> None:
    """Replace ``owner.name`` by a wrapper that adds each call's wall time to ``seconds[key]``."""
    f = getattr(owner, name)

    @functools.wraps(f)
    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t

    setattr(owner, name, timed)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    except OSError:
        return ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", required=True, help="name of this entry in command_stages.json")
    ap.add_argument("--run-layer", action="store_true",
                    help="import the run layer (torch) first and time its stages: query, or an export without "
                         "current export inputs")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the point2act arguments")
    args = ap.parse_args()
    argv = [a for a in args.command if a != "--"]
    imports = {}
    t = time.perf_counter()
    import importlib

    import numpy  # noqa: F401

    import point2act.cli as cli

    plain = {name: importlib.import_module(name) for name, _, _ in PLAIN_STAGES}
    imports["numpy, the CLI and the export"] = time.perf_counter() - t
    seconds: dict = {}
    for name, fn, key in PLAIN_STAGES:
        time_calls(plain[name], fn, key, seconds)
    if args.run_layer:
        t = time.perf_counter()
        run = {name: importlib.import_module(name) for name, _, _ in RUN_STAGES}
        imports["the run layer (torch, nerfstudio's pieces)"] = time.perf_counter() - t
        for name, fn, key in RUN_STAGES:
            time_calls(run[name], fn, key, seconds)
    t = time.perf_counter()
    cli.entrypoint(argv)
    command = time.perf_counter() - t
    listed = sum(seconds.get(k, 0.0) for k in TOP)
    entry = {
        "command": ["point2act", *argv],
        "wall_s": round(time.perf_counter() - T0, 2),
        "imports_s": {k: round(v, 2) for k, v in imports.items()},
        "command_s": round(command, 2),
        "stages_s": {**{k: round(v, 2) for k, v in seconds.items()}, "other": round(command - listed, 2)},
        "torch_imported": "torch" in sys.modules,
        "commit": _commit(),
        "machine": {"cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "machine": platform.machine()},
    }
    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    data[args.label] = entry
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")
    print(json.dumps({k: entry[k] for k in ("wall_s", "imports_s", "command_s", "stages_s", "torch_imported")}, indent=1))
    print(f"-> {RESULTS}")


if __name__ == "__main__":
    main()
