"""The real captures, and the hand-annotated target files in ``benchmarks/real/targets/``.

A target file (``<capture>-<target>.json``)::

    {"capture": "coke", "target": "pull_tab",
     "dataparser": ["nerfstudio-data", "--downscale-factor", "4"],   # appended to ns-train
     "prompt": "Point to the pull tab of the can",
     "supervised": {"images/0001.jpg": [[262.0, 165.0]], "images/0031.jpg": [], ...},   # a points file's "points"
     "errors": {"images/0031.jpg": {"kind": "empty", "note": "..."},
                "images/0090.jpg": {"kind": "wrong_object", "note": "..."}},
     "held_out": {"images/0005.jpg": [[x, y]], ...},                  # never given to training
     "position": [x, y, z],                                           # triangulated, capture frame
     "frame": "...", "reprojection_px": {key: px, ...}}               # per correct hand point

Supervised keys are the image keys point2act's datamanager matches (``images/NAME``: the path in
``transforms.json``, or ``images/`` + the COLMAP image name), all in nerfstudio's *training* split
(views in the eval split would be validated but never supervise). Every point is in pixels of the
stored full-resolution image.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from benchmarks.real.cameras import Camera, export_frame_note, load_cameras, triangulate

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("POINT2ACT_SHARED_DATA", ROOT.parent / "shared" / "data"))
TARGETS_DIR = Path(__file__).resolve().parent / "targets"

ERROR_KINDS = ("empty", "wrong_object")


@dataclass(frozen=True)
class CaptureSpec:
    name: str
    folder: str  # relative to DATA
    parser: str  # nerfstudio-data | colmap
    parser_args: Tuple[str, ...]  # what follows the method's flags on the ns-train line
    colmap_path: str = "colmap/sparse/0"
    eval_mode: str = "fraction"  # nerfstudio's default for the parser
    eval_interval: int = 8
    train_split_fraction: float = 0.9
    metres_per_unit: float | None = None
    """Metres per capture unit (``point2act export --metres-per-unit``), where measured; None: the
    capture has no metric scale, so its grasps (the gripper's size in capture units) are not exported."""

    @property
    def path(self) -> Path:
        return DATA / self.folder


CAPTURES: Dict[str, CaptureSpec] = {
    # downscale factors chosen for ~240-540 px images (one 2000-step training in 1-2 min on a CPU)
    # the can is about 1 unit tall and a small can about 10 cm: 0.1 m per unit (to some 10 %)
    "coke": CaptureSpec("coke", "real/coke", "nerfstudio-data", ("nerfstudio-data", "--downscale-factor", "4"),
                        metres_per_unit=0.1),
    # 605x806 / 3 = 201x268 (no images_3/: point2act downscales on load)
    "fruit": CaptureSpec("fruit", "real/fruit", "nerfstudio-data", ("nerfstudio-data", "--downscale-factor", "3")),
    "gum": CaptureSpec("gum", "real/gum", "nerfstudio-data", ("nerfstudio-data", "--downscale-factor", "4")),
    # COLMAP binary, 1440x1920 / 1920x1440 -> 240x320 / 320x240; no images_6/: point2act downscales on
    # load (the capture is read-only; nerfstudio's own parser would ask to write images_6/ into it)
    "mouse": CaptureSpec("mouse", "real/mouse", "colmap", ("colmap", "--downscale-factor", "6"),
                         eval_mode="interval"),
    # COLMAP text model in sparse/0, RGBA PNGs (alpha all 255), 1280x720 -> 320x180
    "tools": CaptureSpec("tools", "real/tools", "colmap",
                         ("colmap", "--colmap-path", "sparse/0", "--downscale-factor", "4"),
                         colmap_path="sparse/0", eval_mode="interval",
                         # a similarity fit of the COLMAP camera centres to the robot's poses/N.npy with a
                         # hand-eye offset (benchmarks/real/scale.py): 0.991 m per unit, 2.9 mm rms over 23
                         metres_per_unit=0.991),
}


class TargetError(ValueError):
    """A target file that cannot be used; the message names the file and the entry."""


@dataclass
class Target:
    capture: str
    target: str
    prompt: str
    supervised: Dict[str, List[List[float]]]
    held_out: Dict[str, List[List[float]]]
    errors: Dict[str, Dict[str, str]] = field(default_factory=dict)
    dataparser: List[str] = field(default_factory=list)
    position: List[float] | None = None
    reprojection_px: Dict[str, float] = field(default_factory=dict)
    notes: str = ""
    path: Path | None = None

    @property
    def name(self) -> str:
        return f"{self.capture}-{self.target}"

    @property
    def spec(self) -> CaptureSpec:
        return CAPTURES[self.capture]

    def correct_points(self) -> Dict[str, Tuple[float, float]]:
        """Every hand point on the target: the correct supervised views and the held-out ones."""
        out = {}
        for k, pts in self.supervised.items():
            if k in self.errors or not pts:
                continue
            out[k] = tuple(pts[0])
        for k, pts in self.held_out.items():
            out[k] = tuple(pts[0])
        return out

    def points_file(self) -> dict:
        """The points file handed to ns-train (supervised views only, errors included)."""
        return {"prompt": self.prompt, "coordinates": "pixels",
                "points": {k: [[float(x), float(y)] for x, y in v] for k, v in self.supervised.items()}}

    def to_dict(self) -> dict:
        d = {"capture": self.capture, "target": self.target, "dataparser": list(self.dataparser or self.spec.parser_args),
             "prompt": self.prompt, "supervised": self.supervised, "errors": self.errors, "held_out": self.held_out}
        if self.position is not None:
            d["position"] = [round(float(v), 5) for v in self.position]
            d["frame"] = export_frame_note(self.spec.parser)
            d["reprojection_px"] = self.reprojection_px
        if self.notes:
            d["notes"] = self.notes
        return d


def _fail(path, what):
    raise TargetError(f"{path}: {what}")


def _check_points(path, where, value, allow_empty: bool) -> List[List[float]]:
    if not isinstance(value, list):
        _fail(path, f"{where} must be a list of [x, y] points, got {value!r}")
    if not value and not allow_empty:
        _fail(path, f"{where} is empty: a held-out view needs the hand point")
    for i, p in enumerate(value):
        if not (isinstance(p, list) and len(p) == 2 and all(isinstance(c, (int, float)) and math.isfinite(c) for c in p)):
            _fail(path, f"{where}, point {i}: expected [x, y], got {p!r}")
    return value


def parse_target(data: dict, path: Path | str = "<target>") -> Target:
    if not isinstance(data, dict):
        _fail(path, "the top level must be a JSON object")
    for k in ("capture", "target", "prompt", "supervised", "held_out"):
        if k not in data:
            _fail(path, f"missing the {k!r} field")
    if data["capture"] not in CAPTURES:
        _fail(path, f"unknown capture {data['capture']!r} (known: {', '.join(CAPTURES)})")
    sup = {k: _check_points(path, f"supervised[{k!r}]", v, True) for k, v in data["supervised"].items()}
    held = {k: _check_points(path, f"held_out[{k!r}]", v, False) for k, v in data["held_out"].items()}
    errors = data.get("errors", {})
    for k, e in errors.items():
        if k not in sup:
            _fail(path, f"errors[{k!r}] names a view that is not supervised")
        if not isinstance(e, dict) or e.get("kind") not in ERROR_KINDS:
            _fail(path, f"errors[{k!r}] must be {{'kind': one of {ERROR_KINDS}, 'note': ...}}, got {e!r}")
        if e["kind"] == "empty" and sup[k]:
            _fail(path, f"errors[{k!r}] is 'empty' but the view has points")
    both = set(sup) & set(held)
    if both:
        _fail(path, f"views both supervised and held out: {sorted(both)}")
    return Target(capture=data["capture"], target=data["target"], prompt=data["prompt"], supervised=sup, held_out=held,
                  errors=errors, dataparser=list(data.get("dataparser", [])), position=data.get("position"),
                  reprojection_px=data.get("reprojection_px", {}), notes=data.get("notes", ""), path=Path(path))


def load_target(path: Path | str) -> Target:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise TargetError(f"{path}: target file not found") from None
    except json.JSONDecodeError as e:
        raise TargetError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    return parse_target(data, path)


def write_target(t: Target, path: Path | str) -> None:
    Path(path).write_text(json.dumps(t.to_dict(), indent=1) + "\n")


def all_targets() -> List[Target]:
    return [load_target(p) for p in sorted(TARGETS_DIR.glob("*.json"))]


@lru_cache(maxsize=None)
def cameras_of(capture: str) -> Dict[str, Camera]:
    spec = CAPTURES[capture]
    return load_cameras(spec.path, spec.parser, spec.colmap_path)


def triangulate_target(t: Target) -> Tuple[np.ndarray, Dict[str, float]]:
    cams = cameras_of(t.capture)
    pts = t.correct_points()
    missing = [k for k in pts if k not in cams]
    if missing:
        raise TargetError(f"{t.path}: views not in the {t.capture} capture: {missing}")
    keys = list(pts)
    X, err = triangulate([cams[k] for k in keys], [pts[k] for k in keys])
    return X, dict(zip(keys, err.tolist()))


def split_of(capture: str) -> Tuple[List[str], List[str]]:
    """(training keys, eval keys) as nerfstudio's parser splits the capture (its default eval mode)."""
    spec = CAPTURES[capture]
    cams = cameras_of(capture)
    if spec.parser == "nerfstudio-data":
        keys = sorted(cams, key=lambda k: str(spec.path / k))  # nerfstudio sorts the frames by file name
    else:
        keys = list(cams)  # COLMAP image id order (load_colmap keeps it)
    n = len(keys)
    idx = np.arange(n)
    if spec.eval_mode == "fraction":
        n_train = math.ceil(n * spec.train_split_fraction)
        i_train = np.linspace(0, n - 1, n_train, dtype=int)
    elif spec.eval_mode == "interval":
        i_train = idx[idx % spec.eval_interval != 0]
    else:
        raise ValueError(spec.eval_mode)
    i_eval = np.setdiff1d(idx, i_train)
    return [keys[i] for i in i_train], [keys[i] for i in i_eval]


REPROJECTION_BOUND_FRAC = 0.0125
"""A hand point may sit at most this fraction of its image's diagonal from the triangulated position's
projection (540x960: 13.8 px, 1280x720: 18.4 px, 1440x1920: 30 px); beyond, it is a bad annotation."""


def reprojection_bound(cam: Camera) -> float:
    return REPROJECTION_BOUND_FRAC * math.hypot(cam.width, cam.height)


def annotation_problems(t: Target) -> List[str]:
    """What is wrong with a target's annotations (empty list: nothing). Checks the stored triangulated
    position against the hand points, the deliberate errors against the target, and the split."""
    problems: List[str] = []
    cams = cameras_of(t.capture)
    where = f"{t.path or t.name}"
    for k in list(t.supervised) + list(t.held_out):
        if k not in cams:
            problems.append(f"{where}: {k} is not an image of the {t.capture} capture")
    if problems:
        return problems
    if t.position is None:
        return [f"{where}: no triangulated position stored"]
    X = np.asarray(t.position, dtype=np.float64).reshape(1, 3)
    for k, uv in t.correct_points().items():
        cam = cams[k]
        if cam.depth(X)[0] <= 0:
            problems.append(f"{where}: {k}: the stored position is behind the camera")
            continue
        err = float(np.linalg.norm(cam.project(X)[0] - np.asarray(uv)))
        if err > reprojection_bound(cam):
            problems.append(f"{where}: {k}: hand point {list(uv)} is {err:.1f} px from the stored position's "
                            f"projection (bound {reprojection_bound(cam):.1f} px)")
        stored = t.reprojection_px.get(k)
        if stored is None or abs(stored - err) > 0.05:
            problems.append(f"{where}: {k}: stored reprojection_px {stored} disagrees with {err:.2f} px "
                            "(re-run annotate check --write)")
    X2, _ = triangulate_target(t)
    if np.linalg.norm(X2 - X[0]) > 1e-3 * max(1.0, float(np.linalg.norm(X[0]))):
        problems.append(f"{where}: stored position {t.position} is not the triangulation of the hand points "
                        f"({np.round(X2, 5).tolist()}); re-run annotate check --write")
    for k, e in t.errors.items():
        cam = cams[k]
        uv_t = cam.project(X)[0]
        if not (cam.depth(X)[0] > 0 and cam.in_image(uv_t[None])[0]):
            problems.append(f"{where}: error view {k}: the target is not in the view, so it is no error")
        if e["kind"] == "wrong_object":
            far = [float(np.linalg.norm(np.asarray(p) - uv_t)) for p in t.supervised[k]]
            if not far or min(far) < 3 * reprojection_bound(cam):
                problems.append(f"{where}: wrong-object view {k}: its point is within "
                                f"{min(far) if far else 0:.0f} px of the target: not a wrong object")
    n_correct = sum(1 for k, v in t.supervised.items() if k not in t.errors and v)
    if n_correct <= len(t.errors) or n_correct < 5:
        problems.append(f"{where}: {n_correct} correct supervised views against {len(t.errors)} errors")
    if len(t.held_out) < 3:
        problems.append(f"{where}: {len(t.held_out)} held-out views (3 needed)")
    return problems
