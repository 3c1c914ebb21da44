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
TWIN_VERSION = 1  # bump when the twin's construction changes
SCENE_VERSION = 2  # bump when the generator's output for the same config changes

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
    twin: bool = False
    """Add a twin of the target's object (an identical mug, same yaw, beside it) as a distractor
    ("mug_twin"): the pointer's "wrong twin" error model points at its matching part."""
    split: str = "dev"
    """"dev" (scenes the rules were developed on), "val" ... "val4" (former test splits, seen;
    checks of a rule chosen on dev) or "test" (held out: layout seeds never used while developing);
    the other generators' "GEN_dev" and "GEN_test"."""
    generator: str = "synth"
    """What writes the scene: "synth" (:mod:`point2act.synth`, ``overrides`` are SynthConfig fields) or
    one of :data:`benchmarks.generators.GENERATORS` ("kitchen", "studio": ``overrides`` are
    :class:`benchmarks.generators.common.GenConfig` fields; ``twin`` marks the two-pans scenes, whose
    generator builds the twin itself)."""


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
#: Twin scenes of the development split (seeds 20-21: not used before the fair protocol either).
SUITE += [
    SceneSpec("twin_handle_s20", "mug handle, an identical mug beside it", {"seed": 20, "distractors": ("ball", "can")},
              twin=True),
    SceneSpec("twin_rim_s21", "mug rim, an identical mug beside it",
              {"seed": 21, "target": "mug_rim", "distractors": ("box", "ball")}, twin=True),
]
#: Layout seeds of the development split (everything developed and tuned so far used seeds 0-99).
DEV_SEEDS = range(0, 100)
#: Layout seeds of the validation split: the first test split (v1), whose results were looked at
#: (once, at 128x96) while the support rules were developed; now a second development check.
VAL_SEEDS = range(1000, 1100)
#: Layout seeds of the second validation split: the second test split (v2), run once with the votes rule
#: and reported; seen since, so a second check of later rules.
VAL2_SEEDS = range(2000, 2100)
#: Layout seeds of the third validation split: the third test split (v3), run once with the first depth
#: gate and reported; seen since.
VAL3_SEEDS = range(3000, 3100)
#: Layout seeds of the fourth validation split: the fourth test split (v4), run once with the final depth
#: gate and reported; seen since (its pointer streams were shared by all scenes, see ``pointer.simulate``).
VAL4_SEEDS = range(4000, 4100)
#: Layout seeds of the held-out test split (v5): disjoint from the others, never run while developing.
TEST_SEEDS = range(5000, 5100)


def _test_suite(seeds: range = TEST_SEEDS, prefix: str = "test5", split: str = "test") -> List[SceneSpec]:
    """A held-out split: the dev suite's scene kinds on the layout seeds ``seeds``."""
    kinds = [  # (name, description, overrides without the seed, twin)
        ("handle", "mug handle, 3 distractors", {}, False),
        ("tool_handle", "hammer handle (vs its head)", {"target": "tool_handle"}, False),
        ("rim", "mug rim (region target)", {"target": "mug_rim"}, False),
        ("twin_handle", "mug handle, an identical mug beside it", {"distractors": ("ball", "can")}, True),
        ("tool_head_occluded", "hammer head behind a tall box in some views",
         {"target": "tool_head", "occluder": True}, False),
        ("acronym", "ACRONYM mug handle", {"mug_mesh": "acronym"}, False),
        ("handle_clutter", "mug handle, 5 distractors", {"distractors": CLUTTER}, False),
        ("twin_rim", "mug rim, an identical mug beside it", {"target": "mug_rim", "distractors": ("box", "ball")}, True),
        ("tool_head", "hammer head (vs its handle)", {"target": "tool_head"}, False),
        ("handle_occluded", "mug handle behind a tall box in some views", {"occluder": True}, False),
        ("rim_clutter", "mug rim, 5 distractors", {"target": "mug_rim", "distractors": CLUTTER}, False),
        ("tool_handle_clutter", "hammer handle, 5 distractors", {"target": "tool_handle", "distractors": CLUTTER}, False),
    ]
    out = []
    for i, (name, desc, ov, twin) in enumerate(kinds):
        seed = seeds[0] + i
        out.append(SceneSpec(f"{prefix}_{name}_s{seed}", desc, {"seed": seed, **ov}, twin=twin, split=split))
    return out


#: The held-out test split (in run order: one of each kind first).
TEST_SUITE: List[SceneSpec] = _test_suite()
#: The validation split (the first test split: its layout seeds 1000+).
VAL_SUITE: List[SceneSpec] = _test_suite(VAL_SEEDS, "val", "val")
#: The second validation split (the second test split, seeds 2000+; its scenes keep their names, and so
#: their cached reconstructions).
VAL2_SUITE: List[SceneSpec] = _test_suite(VAL2_SEEDS, "test", "val2")
#: The third validation split (the third test split, seeds 3000+, names ``test3_*``).
VAL3_SUITE: List[SceneSpec] = _test_suite(VAL3_SEEDS, "test3", "val3")
#: The fourth validation split (the fourth test split, seeds 4000+, names ``test4_*``).
VAL4_SUITE: List[SceneSpec] = _test_suite(VAL4_SEEDS, "test4", "val4")
SPLITS: Dict[str, List[SceneSpec]] = {"dev": SUITE, "val": VAL_SUITE, "val2": VAL2_SUITE, "val3": VAL3_SUITE,
                                      "val4": VAL4_SUITE, "test": TEST_SUITE}

# ------------------------------------------------------------------------ the other generators' splits
#: Layout seeds per generator split (disjoint from the synth splits' and from each other).
KITCHEN_DEV_SEEDS, KITCHEN_TEST_SEEDS = range(7000, 7100), range(7100, 7200)
STUDIO_DEV_SEEDS, STUDIO_TEST_SEEDS = range(8000, 8100), range(8100, 8200)
GENERATOR_SEEDS = {"kitchen_dev": KITCHEN_DEV_SEEDS, "kitchen_test": KITCHEN_TEST_SEEDS,
                   "studio_dev": STUDIO_DEV_SEEDS, "studio_test": STUDIO_TEST_SEEDS}


def _gen_split(generator: str, split: str, kinds) -> List[SceneSpec]:
    """``kinds``: (name, description, GenConfig overrides without the seed, twin); seeds in order."""
    seeds = GENERATOR_SEEDS[split]
    return [SceneSpec(f"{generator[0]}{'d' if split.endswith('dev') else 't'}_{name}_s{seeds[0] + i}", desc,
                      {"seed": seeds[0] + i, **ov}, twin=twin, split=split, generator=generator)
            for i, (name, desc, ov, twin) in enumerate(kinds)]


KITCHEN_DEV: List[SceneSpec] = _gen_split("kitchen", "kitchen_dev", [
    ("pan", "frying pan grip, hand-held arc, table edge", {"kind": "pan", "path": "handheld", "num_views": 20}, False),
    ("two_pans", "grip of one of two identical pans, hand-held arc",
     {"kind": "two_pans", "path": "handheld", "num_views": 20}, True),
    ("tool", "spatula handle beside a knife, few views, no point cloud",
     {"kind": "tool", "path": "fewview", "num_views": 12, "point_cloud": False}, False),
])
KITCHEN_TEST: List[SceneSpec] = _gen_split("kitchen", "kitchen_test", [
    ("pan", "frying pan grip, hand-held arc, table edge", {"kind": "pan", "path": "handheld", "num_views": 20}, False),
    ("two_pans", "grip of one of two identical pans, hand-held arc",
     {"kind": "two_pans", "path": "handheld", "num_views": 20}, True),
    ("lid_knob", "pot lid knob, few views, counter against a wall",
     {"kind": "lid_knob", "path": "fewview", "num_views": 10, "background": "wall"}, False),
    ("can_tab", "can pull tab, hand-held arc, no point cloud",
     {"kind": "can_tab", "path": "handheld", "num_views": 20, "point_cloud": False}, False),
    ("acronym", "ACRONYM mug handle, few views", {"kind": "acronym_mug", "path": "fewview", "num_views": 12,
                                                  "mug_mesh": "acronym"}, False),
])
STUDIO_DEV: List[SceneSpec] = _gen_split("studio", "studio_dev", [
    ("pan", "frying pan grip (elliptic bar), ring, plain board", {"kind": "pan", "path": "ring", "num_views": 24}, False),
    ("two_pans", "grip of one of two identical pans, two rings",
     {"kind": "two_pans", "path": "rings2", "num_views": 24}, True),
    ("can_tab", "can pull tab, few views, table edge", {"kind": "can_tab", "path": "fewview", "num_views": 10,
                                                        "background": "edge"}, False),
])
STUDIO_TEST: List[SceneSpec] = _gen_split("studio", "studio_test", [
    ("pan", "frying pan grip (elliptic bar), ring, plain board, no point cloud",
     {"kind": "pan", "path": "ring", "num_views": 24, "point_cloud": False}, False),
    ("two_pans", "grip of one of two identical pans, two rings, table edge",
     {"kind": "two_pans", "path": "rings2", "num_views": 24, "background": "edge"}, True),
    ("lid_knob", "pot lid ball knob, few views, table edge", {"kind": "lid_knob", "path": "fewview", "num_views": 12,
                                                              "background": "edge"}, False),
    ("can_tab", "can pull tab, ring, no point cloud", {"kind": "can_tab", "path": "ring", "num_views": 24,
                                                      "point_cloud": False}, False),
    ("tool", "screwdriver handle beside a wrench, two rings", {"kind": "tool", "path": "rings2", "num_views": 24}, False),
])

# ------------------------------------------------------------------------ external objects (random_urdfs)
#: Layout seeds of the "objects" generator's splits (:mod:`benchmarks.generators.objects`: PyBullet's
#: random_urdfs meshes, which nobody here designed). Which objects a scene shows follows from its seed, drawn
#: from its half of random_urdfs only: the dev scenes' from the even ids, the held-out test scenes' from
#: the odd ids (``GenConfig.kind`` "dev" / "test"); nobody inspects the odd ids or the test scenes one by one.
OBJECTS_DEV_SEEDS, OBJECTS_TEST_SEEDS = range(9000, 9100), range(9100, 9200)
GENERATOR_SEEDS.update({"objects_dev": OBJECTS_DEV_SEEDS, "objects_test": OBJECTS_TEST_SEEDS})
#: The dev kinds, four times: layout seeds 9000-9031 (each eight draw other even-id objects).
_OBJECTS_DEV_KINDS = [
    ("obj", "random_urdfs object (even id) named by its colour, 3 others, ring",
     {"kind": "dev", "path": "ring", "num_views": 24, "distractors": 3}, False),
    ("obj", "random_urdfs object (even id) named by its colour, 2 others, hand-held arc",
     {"kind": "dev", "path": "handheld", "num_views": 20, "distractors": 2}, False),
    ("obj", "random_urdfs object (even id) named by its colour, 3 others, few views, no point cloud",
     {"kind": "dev", "path": "fewview", "num_views": 12, "distractors": 3, "point_cloud": False}, False),
    ("obj", "random_urdfs object (even id) named by its colour, 2 others, ring, no point cloud",
     {"kind": "dev", "path": "ring", "num_views": 24, "distractors": 2, "point_cloud": False}, False),
    ("obj", "random_urdfs object (even id) named by its colour, 3 others, hand-held arc, no point cloud",
     {"kind": "dev", "path": "handheld", "num_views": 20, "distractors": 3, "point_cloud": False}, False),
    ("obj", "random_urdfs object (even id) named by its colour, 2 others, few views",
     {"kind": "dev", "path": "fewview", "num_views": 12, "distractors": 2}, False),
    ("obj", "random_urdfs object (even id) named by its colour, 3 others, ring, no point cloud",
     {"kind": "dev", "path": "ring", "num_views": 24, "distractors": 3, "point_cloud": False}, False),
    ("obj", "random_urdfs object (even id) named by its colour, 2 others, hand-held arc",
     {"kind": "dev", "path": "handheld", "num_views": 20, "distractors": 2}, False),
]
OBJECTS_DEV: List[SceneSpec] = _gen_split("objects", "objects_dev", _OBJECTS_DEV_KINDS * 4)
OBJECTS_TEST: List[SceneSpec] = _gen_split("objects", "objects_test", [
    ("obj", "random_urdfs object (odd id) named by its colour, 3 others, ring",
     {"kind": "test", "path": "ring", "num_views": 24, "distractors": 3}, False),
    ("obj", "random_urdfs object (odd id) named by its colour, 2 others, hand-held arc",
     {"kind": "test", "path": "handheld", "num_views": 20, "distractors": 2}, False),
    ("obj", "random_urdfs object (odd id) named by its colour, 3 others, few views, no point cloud",
     {"kind": "test", "path": "fewview", "num_views": 12, "distractors": 3, "point_cloud": False}, False),
    ("obj", "random_urdfs object (odd id) named by its colour, 2 others, ring, no point cloud",
     {"kind": "test", "path": "ring", "num_views": 24, "distractors": 2, "point_cloud": False}, False),
    ("obj", "random_urdfs object (odd id) named by its colour, 3 others, hand-held arc, no point cloud",
     {"kind": "test", "path": "handheld", "num_views": 20, "distractors": 3, "point_cloud": False}, False),
    ("obj", "random_urdfs object (odd id) named by its colour, 2 others, few views",
     {"kind": "test", "path": "fewview", "num_views": 12, "distractors": 2}, False),
])

SPLITS.update({"kitchen_dev": KITCHEN_DEV, "kitchen_test": KITCHEN_TEST, "studio_dev": STUDIO_DEV,
               "studio_test": STUDIO_TEST, "objects_dev": OBJECTS_DEV, "objects_test": OBJECTS_TEST})
#: Held-out splits: run to report, never to choose a rule.
TEST_SPLITS = ("test", "kitchen_test", "studio_test", "objects_test")
#: The splits whose results were seen (every split but the held-out test splits).
SEEN_SPLITS = tuple(k for k in SPLITS if k not in TEST_SPLITS)


def split_generator(split: str) -> str:
    """The generator of a split's scenes ("synth" for the synth splits)."""
    gens = {s.generator for s in SPLITS[split]}
    return gens.pop() if len(gens) == 1 else "mixed"


def results_subdir(split: str) -> str:
    """Where a split's results go under benchmarks/results/accuracy: "" (the synth test split), the
    split's name (the other synth splits), GENERATOR (a generator's test split) or GENERATOR/dev."""
    gen = split_generator(split)
    if gen == "synth":
        return "" if split == "test" else split
    return gen if split in TEST_SPLITS else f"{gen}/{split.rsplit('_', 1)[-1]}"
#: The CI subset (tests/test_accuracy.py).
QUICK = ["handle_s0", "tool_handle_s5"]


def all_specs() -> Dict[str, SceneSpec]:
    """Every scene of all splits, by name."""
    return {s.name: s for split in SPLITS.values() for s in split}


def cache_root() -> Path:
    """``$POINT2ACT_BENCH_CACHE`` or ``~/.cache/point2act/bench/accuracy``."""
    env = os.environ.get("POINT2ACT_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "point2act" / "bench" / "accuracy"


def _acronym_missing(spec: SceneSpec):
    from point2act.errors import Point2ActError

    return Point2ActError(
        f"{ACRONYM_MUG}: the ACRONYM mug mesh of scene {spec.name!r} is missing; the benchmark reads it "
        "from ../shared/data/meshes/acronym_mug (never copied into the repo). Put the test data there, or "
        "leave the scene out with --scenes.")


#: Bump when a generator's output for the same GenConfig changes (the cached scenes are then remade).
GEN_VERSION = {"kitchen": 2, "studio": 2, "objects": 1}


def scene_config(spec: SceneSpec, common: Dict[str, Any]):
    """The scene's config: a :class:`SynthConfig` (:func:`synth_config`) for synth scenes, else a
    :class:`benchmarks.generators.common.GenConfig` (``common`` first, the scene's overrides win)."""
    if spec.generator == "synth":
        return synth_config(spec, common)
    from benchmarks.generators.common import GenConfig

    kw = {k: v for k, v in common.items() if k != "sensor_depth" or v}
    kw.update(spec.overrides)
    if kw.get("mug_mesh") == "acronym":
        if not ACRONYM_MUG.is_file():
            raise _acronym_missing(spec)
        kw["mug_mesh"], kw["mug_mesh_scale"] = str(ACRONYM_MUG), ACRONYM_SCALE
    return GenConfig(generator=spec.generator, **kw)


def synth_config(spec: SceneSpec, common: Dict[str, Any]):
    """The scene's :class:`SynthConfig` (the ACRONYM mesh resolved to ``../shared/data``)."""
    from point2act.errors import Point2ActError
    from point2act.synth import SynthConfig

    if spec.generator != "synth":
        raise ValueError(f"{spec.name}: a {spec.generator} scene has no SynthConfig (use scene_config)")
    kw = {k: v for k, v in common.items() if k != "sensor_depth"}  # synth scenes have no sensor model
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
    """The scene's cache folder: ``ROOT/NAME-HASH`` (hash of the config and SCENE_VERSION, or of the
    generator's config and GEN_VERSION)."""
    if spec.generator != "synth":
        d = scene_config(spec, common).to_dict()  # the mesh path by its name only
        key = hashlib.sha256(json.dumps({"v": GEN_VERSION[spec.generator], "config": d}, sort_keys=True)
                             .encode()).hexdigest()[:10]
        return (root or cache_root()) / f"{spec.name}-{key}"
    cfg = synth_config(spec, common).to_dict()
    if spec.twin:
        cfg["twin"] = TWIN_VERSION
    if "mug_mesh" in cfg:
        cfg["mug_mesh"] = Path(cfg["mug_mesh"]).name  # the same scene wherever ../shared is mounted
    key = hashlib.sha256(json.dumps({"v": SCENE_VERSION, "config": cfg}, sort_keys=True).encode()).hexdigest()[:10]
    return (root or cache_root()) / f"{spec.name}-{key}"


def ensure_scene(spec: SceneSpec, common: Dict[str, Any], root: Path | None = None) -> tuple[Path, float]:
    """Generate the scene into its cache folder unless it is there; (folder, seconds spent).

    The scene is written into a folder of its own beside the cache folder and renamed into place complete, so
    that runs sharing the cache (``--train-seeds 0`` and ``--train-seeds 1`` at once) never read a scene another
    one is still writing: the first to finish puts its folder in place, the others use it and drop theirs."""
    import shutil
    import time

    out = scene_dir(spec, common, root)
    if (out / ".complete").is_file():
        return out, 0.0
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{time.monotonic_ns()}")
    try:
        _generate_scene(spec, common, tmp)
        (tmp / ".complete").write_text("ok\n")
        if out.exists() and not (out / ".complete").is_file():
            shutil.rmtree(out, ignore_errors=True)  # left unfinished by a run that died
        try:
            os.rename(tmp, out)
        except OSError:
            if not (out / ".complete").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out, time.perf_counter() - t0


def _generate_scene(spec: SceneSpec, common: Dict[str, Any], out: Path) -> None:
    """Write the scene of ``spec`` into ``out``."""
    if spec.generator != "synth":  # the generator writes target_alone.npz itself
        from benchmarks.generators import generate

        generate(out, scene_config(spec, common))
        return
    from point2act.synth import generate_scene

    config = synth_config(spec, common)
    with twin_scenes(spec.twin):
        generate_scene(out, config)
        _write_target_alone(out, config)


def _write_target_alone(out: Path, config) -> None:
    """``target_alone.npz``: [V, H, W] bool, the target part rendered alone in every view."""
    from point2act.synth.camera import intrinsics, sample_cameras
    from point2act.synth.render import Renderer

    scene = build_bench_scene(config)  # the target alone: the twin does not matter
    alone = type(scene)(
        parts=[p for p in scene.parts if p.part_id == scene.target_part_id], mug_position=scene.mug_position,
        mug_yaw=scene.mug_yaw, handle_points=scene.handle_points, look_center=scene.look_center,
    )
    r = Renderer(alone, config)
    k = intrinsics(config)
    masks = [r.render(k, c2w).hit for c2w in sample_cameras(config, scene.look_center)]
    np.savez_compressed(out / "target_alone.npz", alone=np.stack(masks))


# ------------------------------------------------------------------------------------- twin scenes
TWIN_OBJECT = "mug_twin"
"""Object name of the target mug's twin in ground_truth.json."""
_TWIN_ACTIVE = [False]


def add_twin(scene, min_gap: float = 0.01, seed: int = 0):
    """A copy of ``scene`` with an identical twin of the mug (all its parts, translated, same yaw and
    colours) placed beside it on a free spot of the table, as distractor parts ("mug_twin_body",
    "mug_twin_handle", "mug_twin_rim": the part names of the mug with "mug" -> "mug_twin"), part ids
    after the scene's last one. The target stays on the original mug."""
    import math

    from point2act.synth.scene import Part

    mug = [p for p in scene.parts if p.object_name == "mug"]
    if not mug:
        raise ValueError("add_twin: the scene has no mug")
    mv = np.concatenate([p.vertices for p in mug])
    c = scene.mug_position[:2]
    r_mug = float(np.max(np.linalg.norm(mv[:, :2] - c, axis=1)))
    others = []
    for p in scene.parts:
        if p.object_name in ("mug", "table"):
            continue
        lo, hi = p.bbox
        others.append((0.5 * (lo[:2] + hi[:2]), 0.5 * float(np.linalg.norm(hi[:2] - lo[:2]))))
    rng = np.random.default_rng([int(seed), 0x7217])
    for trial in range(4000):
        ang = float(rng.uniform(0.0, 2 * math.pi))
        dist = 2 * r_mug + min_gap + 0.06 * trial / 4000
        xy = c + dist * np.array([math.cos(ang), math.sin(ang)])
        if all(np.linalg.norm(xy - oc) > r_mug + orad + min_gap for oc, orad in others):
            break
    else:  # pragma: no cover
        raise RuntimeError("could not place the twin mug")
    shift = np.array([xy[0] - c[0], xy[1] - c[1], 0.0])
    next_id = max(p.part_id for p in scene.parts) + 1
    parts = list(scene.parts)
    for k, p in enumerate(sorted(mug, key=lambda q: q.part_id)):
        alb = p.albedo
        parts.append(Part(next_id + k, p.name.replace("mug", TWIN_OBJECT, 1), TWIN_OBJECT, p.vertices + shift,
                          p.triangles, (lambda f, s: (lambda q: f(q - s)))(alb, shift), p.base_colour, role="distractor"))
    extra = dict(scene.extra)
    extra["twin"] = {"object": TWIN_OBJECT, "offset": shift.tolist()}
    return type(scene)(parts, scene.mug_position, scene.mug_yaw, scene.handle_points, scene.look_center,
                       list(scene.distractor_names) + [TWIN_OBJECT], target_points=scene.target_points,
                       target_part_id=scene.target_part_id, target_name=scene.target_name, extra=extra)


def build_bench_scene(config, twin: bool = False):
    """The scene of ``config`` (:func:`point2act.synth.scene.build_scene`), with the mug's twin added
    when ``twin``."""
    from point2act.synth import scene as scene_mod

    build = _ORIGINAL_BUILD[0] or scene_mod.build_scene
    sc = build(config)
    return add_twin(sc, seed=int(config.seed)) if twin else sc


_ORIGINAL_BUILD: list = [None]


class twin_scenes:
    """Context in which :func:`point2act.synth.scene.build_scene` (what the generator calls) adds the
    mug's twin (``enabled``); the generator itself is unchanged."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = bool(enabled)

    def __enter__(self):
        from point2act.synth import scene as scene_mod

        self._prev = (scene_mod.build_scene, _TWIN_ACTIVE[0], _ORIGINAL_BUILD[0])
        if self.enabled:
            _ORIGINAL_BUILD[0] = _ORIGINAL_BUILD[0] or scene_mod.build_scene
            orig = _ORIGINAL_BUILD[0]
            scene_mod.build_scene = lambda config: add_twin(orig(config), seed=int(config.seed))
            _TWIN_ACTIVE[0] = True
        return self

    def __exit__(self, *exc) -> None:
        from point2act.synth import scene as scene_mod

        scene_mod.build_scene, _TWIN_ACTIVE[0], _ORIGINAL_BUILD[0] = self._prev
