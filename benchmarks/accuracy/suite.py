"""The fixed, seeded scene suite of the accuracy benchmark, generated once and cached on disk.

Every scene is a :class:`point2act.synth.SynthConfig` (layout seed, target part, distractors,
occluder, ACRONYM mug mesh) at the benchmark's resolution. Scenes are written to
``$POINT2ACT_BENCH_CACHE`` (default ``~/.cache/point2act/bench/accuracy``), one folder per scene
named by the scene and a hash of its config, and reused while the config is unchanged. Next to the
generator's files each scene gets ``target_alone.npz``: per view, the pixels the target covers when
rendered alone (no occluders), for the occlusion error model.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
ACRONYM_MUG = ROOT.parent / "shared" / "data" / "meshes" / "acronym_mug" / "mug.obj"
ACRONYM_SCALE = 0.0002682457830986903  # metres per mesh unit (ACRONYM's scale for this mug)
SCENE_VERSION = 1  # bump when the generator's output for the same config changes

PROMPTS = {
    "mug_handle": "Point to the handle of the mug",
    "mug_rim": "Point to the rim of the mug",
    "tool_handle": "Point to the handle of the hammer",
    "tool_head": "Point to the head of the hammer",
}
CLUTTER = ("box", "ball", "can", "box", "ball")


@dataclass(frozen=True)
class SceneSpec:
    """One benchmark scene."""

    name: str
    """Unique short name (table rows, folder names)."""
    description: str
    """What the scene tests, in a few words."""
    overrides: Dict[str, Any] = field(default_factory=dict)
    """:class:`point2act.synth.SynthConfig` fields besides the benchmark's common ones."""


SUITE: List[SceneSpec] = [  # in run order: one of each kind first
    SceneSpec("handle_s0", "mug handle, 3 distractors", {"seed": 0}),
    SceneSpec("tool_handle_s5", "hammer handle (vs its head)", {"seed": 5, "target": "tool_handle"}),
    SceneSpec("rim_s3", "mug rim", {"seed": 3, "target": "mug_rim"}),
    SceneSpec("acronym_s10", "ACRONYM mug handle", {"seed": 10, "mug_mesh": "acronym"}),
    SceneSpec("handle_s8_occluded", "mug handle behind a tall box in some views", {"seed": 8, "occluder": True}),
    SceneSpec("tool_head_s6", "hammer head (vs its handle)", {"seed": 6, "target": "tool_head"}),
    SceneSpec("tool_head_s9_occluded", "hammer head behind a tall box in some views",
              {"seed": 9, "target": "tool_head", "occluder": True}),
    SceneSpec("handle_s1_clutter", "mug handle, 5 distractors", {"seed": 1, "distractors": CLUTTER}),
    SceneSpec("rim_s4_clutter", "mug rim, 5 distractors", {"seed": 4, "target": "mug_rim", "distractors": CLUTTER}),
    SceneSpec("tool_handle_s7_clutter", "hammer handle, 5 distractors",
              {"seed": 7, "target": "tool_handle", "distractors": CLUTTER}),
    SceneSpec("acronym_s11_occluded", "ACRONYM mug handle, occluder", {"seed": 11, "mug_mesh": "acronym", "occluder": True}),
    SceneSpec("handle_s2", "mug handle, balls and can", {"seed": 2, "distractors": ("ball", "ball", "can")}),
]
#: The CI subset (tests/test_accuracy.py).
QUICK = ["handle_s0", "tool_handle_s5"]


def cache_root() -> Path:
    """``$POINT2ACT_BENCH_CACHE`` or ``~/.cache/point2act/bench/accuracy``."""
    env = os.environ.get("POINT2ACT_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "point2act" / "bench" / "accuracy"


def synth_config(spec: SceneSpec, common: Dict[str, Any]):
    """The scene's :class:`SynthConfig` (the ACRONYM mesh resolved to ``../shared/data``)."""
    from point2act.errors import Point2ActError
    from point2act.synth import SynthConfig

    kw = dict(common)
    kw.update(spec.overrides)
    kw.setdefault("prompt", PROMPTS[kw.get("target", "mug_handle")])
    if kw.get("mug_mesh") == "acronym":
        if not ACRONYM_MUG.is_file():
            raise Point2ActError(
                f"{ACRONYM_MUG}: the ACRONYM mug mesh of scene {spec.name!r} is missing; the benchmark reads it "
                "from ../shared/data/meshes/acronym_mug (never copied into the repo). Put the test data there, or "
                "leave the scene out with --scenes."
            )
        kw["mug_mesh"], kw["mug_mesh_scale"] = str(ACRONYM_MUG), ACRONYM_SCALE
    return SynthConfig(**kw)


def scene_dir(spec: SceneSpec, common: Dict[str, Any], root: Path | None = None) -> Path:
    """The scene's cache folder: ``ROOT/NAME-HASH`` (hash of the config and SCENE_VERSION)."""
    cfg = synth_config(spec, common).to_dict()
    if "mug_mesh" in cfg:
        cfg["mug_mesh"] = Path(cfg["mug_mesh"]).name  # the same scene wherever ../shared is mounted
    key = hashlib.sha256(json.dumps({"v": SCENE_VERSION, "config": cfg}, sort_keys=True).encode()).hexdigest()[:10]
    return (root or cache_root()) / f"{spec.name}-{key}"


def ensure_scene(spec: SceneSpec, common: Dict[str, Any], root: Path | None = None) -> tuple[Path, float]:
    """Generate the scene into its cache folder unless it is there; (folder, seconds spent)."""
    import time

    out = scene_dir(spec, common, root)
    if (out / ".complete").is_file():
        return out, 0.0
    t0 = time.perf_counter()
    from point2act.synth import generate_scene

    config = synth_config(spec, common)
    generate_scene(out, config)
    _write_target_alone(out, config)
    (out / ".complete").write_text("ok\n")
    return out, time.perf_counter() - t0


def _write_target_alone(out: Path, config) -> None:
    """``target_alone.npz``: [V, H, W] bool, the target part rendered alone in every view."""
    from point2act.synth.camera import intrinsics, sample_cameras
    from point2act.synth.render import Renderer
    from point2act.synth.scene import build_scene

    scene = build_scene(config)
    alone = type(scene)(
        parts=[p for p in scene.parts if p.part_id == scene.target_part_id], mug_position=scene.mug_position,
        mug_yaw=scene.mug_yaw, handle_points=scene.handle_points, look_center=scene.look_center,
    )
    r = Renderer(alone, config)
    k = intrinsics(config)
    masks = [r.render(k, c2w).hit for c2w in sample_cameras(config, scene.look_center)]
    np.savez_compressed(out / "target_alone.npz", alone=np.stack(masks))
