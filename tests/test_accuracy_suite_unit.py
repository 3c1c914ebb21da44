"""Fast unit tests of the accuracy benchmark's suite and runs (benchmarks/accuracy): its synthetic scenes
and targets (generated once, then cached; a cache shared by concurrent runs), the synth options it adds,
the ACRONYM mug's handle, the disjoint splits, the twin mug, the reconstruction settings users get, and
the keys that decide when a cached reconstruction or a cached scene result still stands for the code."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# ------------------------------------------------------------------------------------- synthetic scenes
def test_suite_scenes_and_new_targets(tmp_path: Path) -> None:
    pytest.importorskip("open3d")
    import json

    from benchmarks.accuracy.suite import SUITE, ensure_scene

    assert len(SUITE) >= 10 and len({s.name for s in SUITE}) == len(SUITE)
    common = {"num_views": 4, "width": 64, "height": 48, "num_seed_points": 300, "num_gt_points": 300}
    by = {s.name: s for s in SUITE}
    for name in ("rim_s3", "tool_head_s9_occluded"):
        d, dt = ensure_scene(by[name], common, tmp_path)
        assert dt > 0 and (d / ".complete").is_file()
        gt = json.loads((d / "ground_truth.json").read_text())
        roles = {p["name"]: p["role"] for p in gt["parts"]}
        assert roles[gt["target"]] == "target" and list(roles.values()).count("target") == 1
        alone = np.load(d / "target_alone.npz")["alone"]
        assert alone.shape == (4, 48, 64) and alone.any()
        assert ensure_scene(by[name], common, tmp_path) == (d, 0.0)  # cached
    assert roles["occluder"] == "distractor" and roles["tool_handle"] == "context" and roles["mug_handle"] == "distractor"


def test_new_synth_options_leave_the_default_config_record_unchanged() -> None:
    """transforms.json records SynthConfig.to_dict(): the options added for the benchmark appear only
    when set, so the default scene's files stay byte-identical."""
    from point2act.synth import SynthConfig

    d = SynthConfig().to_dict()
    assert not {"target", "mug_mesh", "mug_mesh_scale", "occluder"} & set(d)
    e = SynthConfig(target="tool_head", occluder=True).to_dict()
    assert e["target"] == "tool_head" and e["occluder"] is True and "mug_mesh" not in e


@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "meshes" / "acronym_mug" / "mug.obj").exists(),
                    reason="../shared/data/meshes/acronym_mug not present")
def test_acronym_mug_handle_is_split_from_the_body() -> None:
    pytest.importorskip("open3d")
    from benchmarks.accuracy.suite import ACRONYM_MUG, ACRONYM_SCALE
    from point2act.synth.meshes import load_mug_mesh

    m = load_mug_mesh(str(ACRONYM_MUG), ACRONYM_SCALE)
    hv = m["handle"][0]
    assert 0.035 < m["body_radius"] < 0.041 and 0.09 < m["height"] < 0.11  # an 8 cm mug, 10 cm tall
    assert hv[:, 0].min() > 0.03 and np.abs(hv[:, 1]).max() < 0.01  # the handle points along +x, thin in y
    assert 50 < len(m["handle"][1]) < len(m["body"][1])


# ------------------------------------------------------------------------------------- splits, twins, caches
def test_splits_are_disjoint_and_recorded() -> None:
    from benchmarks.accuracy.suite import (DEV_SEEDS, GENERATOR_SEEDS, SEEN_SPLITS, SPLITS, SUITE, TEST_SEEDS,
                                           TEST_SPLITS, VAL2_SEEDS, VAL3_SEEDS, VAL4_SEEDS, VAL_SEEDS, all_specs)

    by_split = {"dev": DEV_SEEDS, "val": VAL_SEEDS, "val2": VAL2_SEEDS, "val3": VAL3_SEEDS, "val4": VAL4_SEEDS,
                "test": TEST_SEEDS, **GENERATOR_SEEDS}
    assert set(by_split) == set(SPLITS) and SPLITS["dev"] is SUITE
    assert not set(TEST_SPLITS) & set(SEEN_SPLITS) and "test" in TEST_SPLITS
    seeds = [set(v) for v in by_split.values()]
    assert all(not a & b for i, a in enumerate(seeds) for b in seeds[i + 1 :])
    for split, suite in SPLITS.items():
        assert all(s.overrides["seed"] in by_split[split] and s.split == split for s in suite)
        assert any(s.twin for s in suite) or split.startswith("objects_")  # external objects have no twins
    names = [s.name for suite in SPLITS.values() for s in suite]
    assert len(names) == len(set(names)) == len(all_specs())
    from benchmarks.accuracy.__main__ import SPLIT_NOTES

    assert set(SPLIT_NOTES) == set(SPLITS)  # every split's tables have a header note


def test_benchmark_reconstructs_as_users_do() -> None:
    """The benchmark reconstructs what users get: the demo's scenes (resolution, views, seed points) and
    ``ns-train point2act``'s default iteration count."""
    from benchmarks.accuracy.run import BenchConfig
    from point2act.method.schedule import DEFAULT_ITERATIONS
    from point2act.synth import SynthConfig

    bc, sc = BenchConfig(), SynthConfig()
    assert (bc.width, bc.height, bc.num_views, bc.num_seed_points) == (sc.width, sc.height, sc.num_views,
                                                                       sc.num_seed_points)
    assert bc.iterations == DEFAULT_ITERATIONS


def test_twin_is_a_translated_copy_of_the_mug() -> None:
    pytest.importorskip("open3d")
    from benchmarks.accuracy.suite import TWIN_OBJECT, build_bench_scene, twin_scenes
    from point2act.synth import SynthConfig
    from point2act.synth import scene as scene_mod

    cfg = SynthConfig(seed=1003, distractors=("ball", "can"), num_gt_points=200)
    plain = scene_mod.build_scene(cfg)
    sc = build_bench_scene(cfg, twin=True)
    mug = [p for p in sc.parts if p.object_name == "mug"]
    tw = [p for p in sc.parts if p.object_name == TWIN_OBJECT]
    assert len(tw) == len(mug) == 2 and {p.role for p in tw} == {"distractor"}
    assert len({p.part_id for p in sc.parts}) == len(sc.parts) and sc.target_part_id == plain.target_part_id
    for a, b in zip(sorted(mug, key=lambda p: p.part_id), sorted(tw, key=lambda p: p.part_id)):
        d = b.vertices - a.vertices
        np.testing.assert_allclose(d, np.broadcast_to(d[0], d.shape), atol=1e-12)
        assert abs(d[0, 2]) < 1e-12 and np.linalg.norm(d[0]) > 0.1
        q = a.vertices[:5]
        np.testing.assert_allclose(b.albedo(q + d[0]), a.albedo(q))  # same texture
    # the generator's build_scene is patched only inside the context
    with twin_scenes(True):
        assert any(p.object_name == TWIN_OBJECT for p in scene_mod.build_scene(cfg).parts)
    assert not any(p.object_name == TWIN_OBJECT for p in scene_mod.build_scene(cfg).parts)


def test_cached_geometry_runs_are_keyed_by_the_method_defaults(tmp_path) -> None:
    """A cached reconstruction stands for this code's only if it was trained with the same method defaults,
    iterations and seed (the paths do not matter); one trained with another default is stale, one cached
    before fingerprints were kept is unknown."""
    import dataclasses

    from benchmarks.accuracy.run import cached_run_is_current, training_fingerprint
    from point2act.method.schedule import short_schedule
    from point2act.method.train import registered_config

    def cfg(scene: str, out: str, seed: int = 0):
        c = short_schedule(registered_config("point2act"), tmp_path / scene, tmp_path / scene / "points.json",
                           tmp_path / out, 2000)
        c.machine.seed = seed
        return c

    a = training_fingerprint(cfg("a", "out_a"))
    assert training_fingerprint(cfg("b", "out_b")) == a  # another scene folder and output: the same training
    assert training_fingerprint(cfg("a", "out_a", seed=1)) != a
    other = cfg("a", "out_a")
    other.pipeline.model = dataclasses.replace(other.pipeline.model, opacity_reg=0.05)
    assert training_fingerprint(other) != a
    assert cached_run_is_current({"seconds": 1.0, "fingerprint": a}, a) is True
    assert cached_run_is_current({"seconds": 1.0, "fingerprint": training_fingerprint(other)}, a) is False
    assert cached_run_is_current({"seconds": 1.0, "iterations": 2000}, a) is None


def test_cached_scene_results_are_keyed_on_the_code(tmp_path, monkeypatch) -> None:
    """A scene's cached result is reused only under the same code: the fingerprint changes with a source file
    of the package or the benchmark (not with a README beside them), and the result key follows it. Before,
    a rerun without --rerun reported the verdicts of whatever code had run the scene last."""
    from benchmarks.accuracy import __main__ as acc_main

    (tmp_path / "point2act" / "grasp").mkdir(parents=True)
    (tmp_path / "benchmarks" / "accuracy").mkdir(parents=True)
    src = tmp_path / "point2act" / "grasp" / "planner.py"
    src.write_text("MARGIN = 0.002\n")
    (tmp_path / "benchmarks" / "accuracy" / "run.py").write_text("pass\n")
    a = acc_main.code_fingerprint(tmp_path)
    (tmp_path / "point2act" / "README.md").write_text("notes\n")
    assert acc_main.code_fingerprint(tmp_path) == a
    src.write_text("MARGIN = 0.001\n")
    b = acc_main.code_fingerprint(tmp_path)
    assert b != a
    assert acc_main.code_fingerprint() == acc_main.code_fingerprint()  # the repository's own: stable

    from benchmarks.accuracy.pointer import LEVELS
    from benchmarks.accuracy.run import BenchConfig
    from benchmarks.accuracy.suite import SPLITS

    spec, lv, bc = SPLITS["dev"][0], [LEVELS["clean"]], BenchConfig()
    monkeypatch.setattr(acc_main, "code_fingerprint", lambda root=None: a)
    ka = acc_main._result_key(spec, lv, bc)
    monkeypatch.setattr(acc_main, "code_fingerprint", lambda root=None: b)
    assert acc_main._result_key(spec, lv, bc) != ka


def test_runs_sharing_the_scene_cache_never_read_a_scene_being_written(tmp_path, monkeypatch) -> None:
    """Two runs generating the same scene at once (``--train-seeds 0`` and ``--train-seeds 1`` side by side):
    each gets the folder complete, with every file whole, and no temporary folder is left beside it."""
    import threading
    import time

    from benchmarks.accuracy import suite

    spec = suite.SUITE[0]
    started = threading.Barrier(2)

    def slow_generate(spec_, common_, out):
        out.mkdir(parents=True)
        started.wait(timeout=10)
        for i in range(5):
            (out / f"view_{i}.bin").write_bytes(b"\x01" * 1000)
            time.sleep(0.02)

    monkeypatch.setattr(suite, "_generate_scene", slow_generate)
    seen, errors = [], []

    def run():
        try:
            d, _ = suite.ensure_scene(spec, {}, tmp_path)
            seen.append(sorted((p.name, p.stat().st_size) for p in d.iterdir()))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    whole = sorted([(".complete", 3)] + [(f"view_{i}.bin", 1000) for i in range(5)])
    assert seen == [whole, whole]
    assert [p.name for p in tmp_path.rglob("*") if p.is_dir() and p.name.startswith(".")] == []
    assert suite.ensure_scene(spec, {}, tmp_path)[1] == 0.0  # cached
