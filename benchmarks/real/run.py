"""The real-capture benchmark: train each hand-annotated target with the method's defaults, export,
and score the exported action point against the held-out hand points.

Per target and seed (the user path, nothing tuned)::

    ns-train point2act --data CAPTURE --pipeline.datamanager.points-file OUT/TARGET/points.json \\
        --machine.seed S --vis tensorboard --output-dir OUT --experiment-name TARGET --timestamp seedS \\
        [--max-num-iterations N] <the target's dataparser arguments>
    point2act export --load-config OUT/TARGET/point2act/seedS/config.yml --output OUT/TARGET/seedS.grasps.json

Scores (full-resolution pixels, capture units):

- ``px``: the median over the target's held-out views of the distance between the exported
  ``action_point`` projected with the view's calibrated camera (lens distortion included) and the
  hand point;
- ``dist3d_units``: the distance from ``action_point`` to the triangulated hand position;
- coke also: the distance to ``real/coke/reference.json``.

A target's ``median_px`` is the median of its seeds' ``px``, ``worst_seed_px`` their maximum.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from benchmarks.real.cameras import CameraError
from benchmarks.real.targets import (CAPTURES, DATA, ROOT, Target, TargetError, all_targets, cameras_of, load_target,
                                     split_of, TARGETS_DIR)

BIN = Path(sys.executable).parent
DEFAULT_ITERATIONS = 2000  # ns-train point2act's own default


class BenchmarkError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[real {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------
def select_targets(names: Sequence[str] | None) -> List[Target]:
    if not TARGETS_DIR.is_dir():
        raise BenchmarkError(f"{TARGETS_DIR}: no target files")
    if not names:
        return all_targets()
    out = []
    for name in names:
        p = Path(name)
        if not p.suffix:
            p = TARGETS_DIR / f"{name}.json"
        if not p.is_file():
            known = ", ".join(sorted(q.stem for q in TARGETS_DIR.glob("*.json")))
            raise BenchmarkError(f"{p}: target file not found (known targets: {known})")
        out.append(load_target(p))
    return out


def check_target(t: Target) -> List[str]:
    """Problems that make a target unusable (names the file and the entry); warnings are printed."""
    spec = CAPTURES[t.capture]
    if not spec.path.is_dir():
        raise BenchmarkError(f"{t.path}: capture folder {spec.path} not found (shared data missing?)")
    cams = cameras_of(t.capture)
    for where, pts in (("supervised", t.supervised), ("held_out", t.held_out)):
        for key, p in pts.items():
            if key not in cams:
                raise BenchmarkError(f"{t.path}: {where}[{key!r}] is not an image of the {t.capture} capture "
                                     f"(keys look like {next(iter(cams))!r})")
            for x, y in p:
                if not (0 <= x <= cams[key].width and 0 <= y <= cams[key].height):
                    raise BenchmarkError(f"{t.path}: {where}[{key!r}] point [{x}, {y}] is outside the "
                                         f"{cams[key].width}x{cams[key].height} image")
    if not t.held_out:
        raise BenchmarkError(f"{t.path}: no held-out views to score against")
    if t.position is None:
        raise BenchmarkError(f"{t.path}: no triangulated 'position' (run: python -m benchmarks.real.annotate check "
                             f"{t.path} --write)")
    train, _ = split_of(t.capture)
    warnings = [f"{t.path}: supervised view {k} is in nerfstudio's eval split: it will not supervise"
                for k in t.supervised if k not in set(train)]
    return warnings


PARSER_EXTRA: List[str] = []
"""Dataparser flags appended to every target's (``--cloud none``: ``--load-3D-points False``)."""


def dataparser_args(t: Target) -> List[str]:
    return list(t.dataparser or CAPTURES[t.capture].parser_args) + PARSER_EXTRA


# ----------------------------------------------------------------------------------------------
# one run
# ----------------------------------------------------------------------------------------------
def run_dir(out: Path, t: Target, seed: int) -> Path:
    return out / t.name / "point2act" / f"seed{seed}"


def train_command(t: Target, points: Path, out: Path, seed: int, iterations: int, extra: Sequence[str] = ()) -> List[str]:
    cmd = [str(BIN / "ns-train"), "point2act",
           "--data", str(CAPTURES[t.capture].path),
           "--pipeline.datamanager.points-file", str(points),
           "--machine.seed", str(seed),
           "--vis", "tensorboard",  # no viewer: the run ends when training does
           "--output-dir", str(out), "--experiment-name", t.name, "--timestamp", f"seed{seed}"]
    if iterations != DEFAULT_ITERATIONS:
        cmd += ["--max-num-iterations", str(iterations)]
    cmd += list(extra)
    return cmd + dataparser_args(t)


def export_command(config: Path, output: Path, grasps: bool, metres_per_unit: float | None = None) -> List[str]:
    """``point2act export``; grasps only where the capture's metric scale is known (the gripper's size
    in capture units depends on it)."""
    cmd = [str(BIN / "point2act"), "export", "--load-config", str(config), "--output", str(output)]
    if grasps and metres_per_unit is not None:
        return cmd + ["--metres-per-unit", f"{metres_per_unit:g}"]
    return cmd + ["--no-grasps"]


def grasp_record(t: Target, exported: Dict, metres_per_unit: float | None) -> Dict:
    """The top grasp against the hand-annotated position: its TCP's distance (capture units and cm)
    and whether point2act calls it on the target."""
    gl = exported.get("grasps") or []
    rec: Dict = {"num_grasps": len(gl)}
    if gl and t.position is not None:
        d = float(np.linalg.norm(np.asarray(gl[0]["position"], dtype=np.float64) - np.asarray(t.position)))
        rec.update(grasp_dist_units=round(d, 4), grasp_on_target=bool(gl[0].get("on_target", False)))
        if metres_per_unit is not None:
            rec["grasp_dist_cm"] = round(100.0 * d * metres_per_unit, 2)
    return rec


def _run_logged(cmd: List[str], logfile: Path, what: str) -> float:
    logfile.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(logfile, "a") as f:
        f.write("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n")
        f.flush()
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        tail = logfile.read_text().splitlines()[-15:]
        raise BenchmarkError(f"{what} failed (exit {p.returncode}) after {dt:.0f} s; log {logfile}:\n  "
                             + "\n  ".join(tail))
    return dt


def score(t: Target, action_point: Sequence[float]) -> Dict:
    """Held-out reprojection errors (px) and 3D distances of an exported action point."""
    cams = cameras_of(t.capture)
    X = np.asarray(action_point, dtype=np.float64).reshape(1, 3)
    per_view = {}
    for key, pts in t.held_out.items():
        cam = cams[key]
        if cam.depth(X)[0] <= 0:
            per_view[key] = float("inf")  # behind the camera
            continue
        uv = cam.project(X)[0]
        per_view[key] = float(np.linalg.norm(uv - np.asarray(pts[0], dtype=np.float64)))
    vals = np.array(list(per_view.values()))
    out = {"px": float(np.median(vals)), "held_out_px": {k: round(v, 2) for k, v in per_view.items()},
           "dist3d_units": float(np.linalg.norm(X[0] - np.asarray(t.position)))}
    if t.capture == "coke":
        ref_file = CAPTURES["coke"].path / "reference.json"
        if ref_file.is_file():
            ref = np.asarray(json.loads(ref_file.read_text())["pull_tab"]["position"], dtype=np.float64)
            out["dist_reference_units"] = float(np.linalg.norm(X[0] - ref))
    return out


def overlay(t: Target, action_point: Sequence[float], path: Path) -> Path:
    """The exported action point (magenta) and the hand point (cyan) in each held-out view, side by side."""
    from PIL import Image

    from benchmarks.real.annotate import load_rgb, render_crop

    cams = cameras_of(t.capture)
    X = np.asarray(action_point, dtype=np.float64).reshape(1, 3)
    tiles = []
    for key, pts in t.held_out.items():
        cam = cams[key]
        uv = cam.project(X)[0]
        hand = tuple(pts[0])
        half = max(60.0, 0.6 * float(np.linalg.norm(uv - np.asarray(hand))), 0.08 * max(cam.width, cam.height))
        c = (np.asarray(hand) + uv) / 2 if np.isfinite(uv).all() else np.asarray(hand)
        tiles.append(render_crop(load_rgb(cam.path), float(c[0]), float(c[1]), half, 300.0 / half,
                                 [tuple(uv), hand], ["export", "hand"]))
    w, h = max(x.width for x in tiles), max(x.height for x in tiles)
    sheet = Image.new("RGB", (w * len(tiles), h), (255, 255, 255))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i * w, 0))
    sheet.save(path)
    return path


def write_points(t: Target, out: Path) -> Path:
    path = out / t.name / "points.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(t.points_file(), indent=1) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def run_one(t: Target, seed: int, out: Path, iterations: int, export_only: bool, grasps: bool,
            extra: Sequence[str] = (), check_frame: bool = False) -> Dict:
    rd = run_dir(out, t, seed)
    config = rd / "config.yml"
    logfile = out / t.name / f"seed{seed}.log"
    rec: Dict = {}
    if not export_only:
        if rd.exists():  # a fresh run: no stale checkpoint or weights cache of an earlier one
            shutil.rmtree(rd)
        if logfile.exists():
            logfile.unlink()
        points = write_points(t, out)
        cmd = train_command(t, points, out, seed, iterations, extra)
        log(f"{t.name} seed {seed}: training ({' '.join(dataparser_args(t))}), log {logfile}")
        rec["train_seconds"] = round(_run_logged(cmd, logfile, f"ns-train ({t.name}, seed {seed})"), 1)
        rec["train_command"] = " ".join(shlex.quote(c) for c in cmd)
    elif not config.is_file():
        raise BenchmarkError(f"{config}: no trained run to re-export (train it first, without --export-only)")
    grasps_json = out / t.name / f"seed{seed}.grasps.json"
    log(f"{t.name} seed {seed}: exporting {config}")
    mpu = CAPTURES[t.capture].metres_per_unit
    rec["export_seconds"] = round(_run_logged(export_command(config, grasps_json, grasps, mpu), logfile,
                                              f"point2act export ({t.name}, seed {seed})"), 1)
    exported = json.loads(grasps_json.read_text())
    if "action_point" not in exported or exported["action_point"] is None:
        raise BenchmarkError(f"{grasps_json}: no action_point")
    rec["action_point"] = [round(float(v), 5) for v in exported["action_point"]]
    rec.update(score(t, exported["action_point"]))
    rec["support"] = exported.get("support")
    rec.update(grasp_record(t, exported, mpu if grasps else None))
    if exported.get("warning"):
        rec["warning"] = exported["warning"]
    try:
        rec["overlay"] = str(overlay(t, exported["action_point"], out / t.name / f"seed{seed}.overlay.png"))
    except Exception as e:  # a picture to look at; never fails the benchmark
        log(f"{t.name} seed {seed}: no overlay ({e})")
    if check_frame:
        from benchmarks.real.frames import check_run_frame

        rec["frame_check"] = check_run_frame(config, cameras_of(t.capture))
    log(f"{t.name} seed {seed}: held-out {rec['px']:.1f} px (median of {len(t.held_out)}), "
        f"3D {rec['dist3d_units']:.4f} units" + (f", reference {rec['dist_reference_units']:.4f}"
                                                 if "dist_reference_units" in rec else ""))
    return rec


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------
def summarise(t: Target, per_seed: Dict[str, Dict]) -> Dict:
    ok = {s: r for s, r in per_seed.items() if "px" in r}
    entry: Dict = {"capture": t.capture, "prompt": t.prompt, "dataparser": dataparser_args(t),
                   "per_seed": per_seed}
    if ok:
        px = [r["px"] for r in ok.values()]
        d3 = [r["dist3d_units"] for r in ok.values()]
        entry.update(median_px=round(float(np.median(px)), 2), worst_seed_px=round(float(np.max(px)), 2),
                     dist3d_units=round(float(np.median(d3)), 4), worst_seed_dist3d_units=round(float(np.max(d3)), 4))
        ref = [r["dist_reference_units"] for r in ok.values() if "dist_reference_units" in r]
        if ref:
            entry["dist_reference_units"] = round(float(np.median(ref)), 4)
    return entry


def write_results(results: Dict, res_dir: Path, command: str) -> None:
    res_dir.mkdir(parents=True, exist_ok=True)
    path = res_dir / "real.json"
    doc = {"real": {}}
    if path.is_file():
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError:
            log(f"{path}: unreadable, rewritten")
    doc.setdefault("real", {}).update(results)
    doc["command"] = command
    doc["data"] = str(DATA)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    (res_dir / "real.md").write_text(markdown(doc))
    log(f"wrote {path} and {res_dir / 'real.md'}")
    summary = res_dir.parent / "accuracy" / "summary.json"
    if summary.is_file():  # the benchmarks' summary gains "real": TARGET -> median and worst seed
        from benchmarks.accuracy.report import merge_summary

        merge_summary(summary, real=summary_real(doc))
        log(f"updated {summary} (\"real\")")


def summary_real(doc: Dict) -> Dict[str, Dict]:
    """summary.json's ``"real"``: per target with a result, ``median_px``, ``worst_seed_px`` and the
    seeds they are over (and the 3D error to the reference where the capture has one)."""
    out: Dict[str, Dict] = {}
    for name, e in sorted(doc.get("real", {}).items()):
        if "median_px" not in e:
            continue
        seeds = sorted(int(s[4:]) for s, r in e.get("per_seed", {}).items() if "px" in r)
        out[name] = {"median_px": e["median_px"], "worst_seed_px": e["worst_seed_px"], "seeds": seeds}
        if "dist_reference_units" in e:
            out[name]["dist_reference_units"] = e["dist_reference_units"]
    return out


def _fmt(v, nd=1):
    return "-" if v is None else f"{v:.{nd}f}"


def markdown(doc: Dict) -> str:
    commands = sorted({r.get("command") for e in doc.get("real", {}).values() for r in e.get("per_seed", {}).values()
                       if r.get("command")}) or [doc.get("command", "python -m benchmarks.real")]
    lines = ["# Real captures: held-out reprojection error of the exported action point", "",
             "```", *commands, "```", "",
             "Hand-annotated targets (`benchmarks/real/targets/`, docs/real-benchmark.md); `ns-train point2act` "
             "defaults, then `point2act export`. px: the median over the held-out views of the distance between "
             "the exported action point projected into the view (full resolution, calibrated camera with "
             "distortion) and the hand point; per target the median and the worst over seeds. 3D: the distance "
             "to the triangulated hand position (capture units; median over seeds).", "",
             "| target | capture | median px | worst-seed px | per-seed px | 3D error (units) | cameras' distance (units) |",
             "|---|---|---:|---:|---|---:|---:|"]
    for name, e in sorted(doc.get("real", {}).items()):
        per = ", ".join(f"{s}: {_fmt(r.get('px'))}" if "px" in r else f"{s}: failed"
                        for s, r in sorted(e.get("per_seed", {}).items()))
        dist = e.get("camera_distance_units")
        d3 = _fmt(e.get("dist3d_units"), 3)
        if "dist_reference_units" in e:
            d3 += f" (reference.json: {e['dist_reference_units']:.3f})"
        lines.append(f"| {name} | {e.get('capture', '')} | {_fmt(e.get('median_px'))} | {_fmt(e.get('worst_seed_px'))} "
                     f"| {per} | {d3} | {_fmt(dist, 2)} |")
    lines += ["", "## The top grasp", "",
              "Where the capture's metric scale is known (`CaptureSpec.metres_per_unit`: coke about 0.1 m per "
              "unit from the can's size, tools 0.991 from the robot's poses); the others have none, so no "
              "grasp is exported. Per seed: the top grasp's TCP distance from the hand-annotated position (cm), "
              "`*` where point2act calls it on the target, `none` where no grasp was found.", "",
              "| target | per seed: top grasp to the hand point (cm) |", "|---|---|"]
    for name, e in sorted(doc.get("real", {}).items()):
        if CAPTURES.get(e.get("capture", "")) is None or CAPTURES[e["capture"]].metres_per_unit is None:
            continue
        cells = []
        for s_, r in sorted(e.get("per_seed", {}).items()):
            if "grasp_dist_cm" in r:
                cells.append(f"{s_}: {r['grasp_dist_cm']:.1f}{'*' if r.get('grasp_on_target') else ''}")
            elif "num_grasps" in r and "grasp_dist_units" not in r and r.get("num_grasps") == 0 and "px" in r:
                cells.append(f"{s_}: none")
        if cells:
            lines.append(f"| {name} | {', '.join(cells)} |")
    lines += ["", "Failures and export warnings, if any, are in real.json (`per_seed`)."]
    return "\n".join(lines) + "\n"


def camera_distance(t: Target) -> float:
    cams = cameras_of(t.capture)
    X = np.asarray(t.position)
    return float(np.median([np.linalg.norm(cams[k].center - X) for k in t.supervised]))


def run_benchmark(targets: List[Target], seeds: Sequence[int], out: Path, res_dir: Path, iterations: int,
                  export_only: bool, grasps: bool, command: str, extra: Sequence[str] = (),
                  check_frame: bool = True) -> Dict:
    for t in targets:
        for w in check_target(t):
            log("warning: " + w)
    log(f"{len(targets)} targets x {len(seeds)} seeds -> {out}")
    results: Dict[str, Dict] = {}
    prev = {}
    if (res_dir / "real.json").is_file():
        try:
            prev = json.loads((res_dir / "real.json").read_text()).get("real", {})
        except json.JSONDecodeError:
            prev = {}
    for t in targets:
        if t.path is not None:  # re-read: the file may have been edited while earlier targets trained
            t = load_target(t.path)
            check_target(t)
        per_seed: Dict[str, Dict] = {}
        for i, seed in enumerate(seeds):
            try:
                rec = run_one(t, seed, out, iterations, export_only, grasps, extra,
                              check_frame=check_frame and i == 0)
                if export_only:  # keep the timing of the run that trained it
                    old = prev.get(t.name, {}).get("per_seed", {}).get(f"seed{seed}", {})
                    rec.update({k: old[k] for k in ("train_seconds", "train_command") if k in old})
            except (BenchmarkError, CameraError, TargetError, OSError, json.JSONDecodeError) as e:
                log(f"ERROR {e}")
                rec = {"error": str(e)}
            rec["command"] = command
            per_seed[f"seed{seed}"] = rec
        # seeds run by an earlier invocation (same iterations, run still on disk) are kept: `--seeds 1 2`
        # after `--seeds 0` gives the three-seed table
        old_entry = prev.get(t.name, {})
        if old_entry.get("iterations") == iterations:
            for name, old in old_entry.get("per_seed", {}).items():
                if name not in per_seed and "px" in old and (out / t.name / "point2act" / name / "config.yml").is_file():
                    per_seed[name] = old
        per_seed = dict(sorted(per_seed.items()))
        entry = summarise(t, per_seed)
        entry["camera_distance_units"] = round(camera_distance(t), 3)
        entry["iterations"] = iterations
        results[t.name] = entry
        write_results({t.name: entry}, res_dir, command)  # after every target: partial results survive
    return results
