"""The gate (benchmarks/gate): its cache of trained runs is current exactly while nothing that trained them
changed, its scenes exist, and its comparison counts the verdicts a change loses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.gate import cache  # noqa: E402
from benchmarks.gate.report import compare, markdown, totals, verdicts  # noqa: E402
from benchmarks.gate.scenes import GATE_SCENES, REAL_TARGETS, jobs  # noqa: E402


def _tree(tmp_path: Path) -> Path:
    """A stand-in repository: a ``point2act`` package of two modules, importable under another name."""
    pkg = tmp_path / "repo" / "point2act"
    pkg.mkdir(parents=True)
    (pkg / "trained.py").write_text("X = 1\n")
    (pkg / "exported.py").write_text("Y = 1\n")
    return tmp_path / "repo"


def _load(path: Path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[name] = mod
    return mod


def test_manifest_lists_the_loaded_sources_and_stales_on_their_change(tmp_path, monkeypatch):
    root = _tree(tmp_path)
    monkeypatch.delitem(sys.modules, "_gate_trained", raising=False)
    _load(root / "point2act" / "trained.py", "_gate_trained")
    run = tmp_path / "run"
    run.mkdir()
    ident = {"kind": "scene", "name": "s", "seed": 0}
    cache.write_manifest(run, ident, root=root)
    files = json.loads((run / cache.MANIFEST).read_text())["files"]
    assert "point2act/trained.py" in files and "point2act/exported.py" not in files  # only what was loaded
    sys.modules.pop("_gate_trained")
    assert cache.is_current(run, ident, root=root) == (True, "")
    (root / "point2act" / "exported.py").write_text("Y = 2\n")  # code training never loaded: still current
    assert cache.is_current(run, ident, root=root)[0]
    assert not cache.is_current(run, {**ident, "seed": 1}, root=root)[0]  # another run
    (root / "point2act" / "trained.py").write_text("X = 2\n")
    assert cache.is_current(run, ident, root=root) == (False, "point2act/trained.py changed")


def test_a_run_without_manifest_or_in_another_environment_is_not_current(tmp_path, monkeypatch):
    root = _tree(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    assert cache.is_current(run, {"a": 1}, root=root) == (False, "no manifest")
    cache.write_manifest(run, {"a": 1}, root=root)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")  # thread counts change reduction orders: another environment
    ok, why = cache.is_current(run, {"a": 1}, root=root)
    assert not ok and "omp_threads" in why
    (run / cache.MANIFEST).write_text("{not json")
    assert not cache.is_current(run, {"a": 1}, root=root)[0]


def test_the_training_loads_no_export_or_judging_module():
    """A training process's imports at the gate's entry: the evaluation's modules are not among them, so a change
    to them leaves the cached runs current."""
    code = ("import sys; import benchmarks.gate.worker, benchmarks.accuracy.train, benchmarks.accuracy.suite;"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('benchmarks', 'point2act')))))")
    mods = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for m in ("benchmarks.accuracy.run", "benchmarks.accuracy.metrics", "benchmarks.accuracy.target_geometry",
              "point2act.grasp", "point2act.export", "benchmarks.real.run"):
        assert m not in mods


def test_the_gate_scenes_exist_and_cover_every_generator():
    from benchmarks.accuracy.suite import TEST_SPLITS, all_specs

    specs = all_specs()
    gens = {}
    for n in GATE_SCENES:  # the held-out external objects are never shown one by one: their dev half only
        assert specs[n].split in TEST_SPLITS or specs[n].split == "objects_dev"
        gens[specs[n].generator] = gens.get(specs[n].generator, 0) + 1
    assert gens == {"synth": 4, "kitchen": 4, "studio": 4, "objects": 2}
    from benchmarks.real.targets import TARGETS_DIR

    for t in REAL_TARGETS:
        assert (TARGETS_DIR / f"{t}.json").is_file()
    assert len(jobs(1)) == len(GATE_SCENES) + len(REAL_TARGETS) and {j.seed for j in jobs(1)} == {1}


def _doc(seed, levels_by_name, kinds=None):
    return {"commit": "c", "isa": "avx2", "seed": seed, "command": "python -m benchmarks.gate", "cpu": "cpu",
            "cores": 2, "workers": 2, "threads_per_worker": 1, "started": "now", "wall_s": 60.0,
            "jobs": [{"kind": (kinds or {}).get(n, "scene"), "name": n, "generator": "synth", "train_seconds": 1.0,
                      "trained_now": True, "gaussians": 10, "levels": lv} for n, lv in levels_by_name.items()]}


def _v(hit, grasp, beyond=False):
    return {"hit": hit, "grasp_ok": grasp, "error_cm": 0.5, "beyond_hand": beyond}


def test_compare_counts_lost_and_gained_verdicts_and_names_lost_real_targets():
    base = _doc(0, {"a": {"clean": _v(True, True), "out40": _v(True, False)}, "r": {"clean": _v(True, True)}},
                {"r": "real"})
    new = _doc(1, {"a": {"clean": _v(True, False), "out40": _v(True, True)}, "r": {"clean": _v(False, True)}},
               {"r": "real"})
    d = compare(base, new)
    assert d["lost"] == ["a/clean/grasp_ok", "r/clean/hit"]
    assert d["gained"] == ["a/out40/grasp_ok"]
    assert d["real_lost"] == ["r/clean/hit"]
    assert compare(base, base) == {"lost": [], "gained": [], "real_lost": []}
    failed = {**new, "jobs": [{"kind": "scene", "name": "a", "seed": 1, "error": "exit 1"}]}
    assert set(compare(base, failed)["lost"]) == {k for k, v in verdicts(base).items() if v}  # a crash loses all


def test_totals_and_table():
    doc = _doc(0, {"a": {"clean": _v(True, True), "out40": _v(False, False)},
                   "tab": {"clean": _v(True, False, beyond=True), "out40": _v(True, False, beyond=True)}})
    t = totals(doc)
    assert t["clean"] == {"runs": 2, "hits": 2, "grasps": 1, "holdable_hits": 1, "grasps_of_those": 1}
    assert t["out40"]["holdable_hits"] == 0
    md = markdown(doc, doc)
    assert "| a (synth) | hit (0.5 cm), grasp ✓ | MISS (0.5 cm), grasp ✗ |" in md
    assert "beyond hand" in md and "0 verdicts lost" in md


@pytest.mark.parametrize("flags,expected", [("avx512f avx2 fma", "avx512"), ("avx2 fma sse4_2", "avx2"),
                                            ("sse2 neon", "generic")])
def test_isa_label(monkeypatch, flags, expected):
    from point2act import _cpp

    monkeypatch.setattr(_cpp, "cpu_features", lambda: flags)
    assert cache.isa() == expected


@pytest.mark.parametrize("cpuinfo,expected", [
    ("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: avx512f\n", "intel"),
    ("processor\t: 0\nvendor_id\t: AuthenticAMD\n", "amd"),
    ("vendor_id\t: HygonGenuine\n", "hygongenuine"),
    ("processor\t: 0\nCPU implementer\t: 0x41\n", "cpu"),
])
def test_cpu_vendor(cpuinfo, expected):
    assert cache.cpu_vendor(cpuinfo) == expected


def test_cpu_class_names_results_and_the_cache(monkeypatch, tmp_path):
    """The CPU class (vendor and ISA) names the results file and the cache's folder: an Intel and an AMD AVX-512
    machine keep apart what they train."""
    from point2act import _cpp

    monkeypatch.setattr(_cpp, "cpu_features", lambda: "avx2 avx512f fma")
    monkeypatch.setattr(cache, "cpu_vendor", lambda cpuinfo=None: "amd")
    monkeypatch.setenv("POINT2ACT_GATE_CACHE", str(tmp_path))
    assert cache.cpu_class() == "amd-avx512"
    assert cache.cache_root() == tmp_path / "amd-avx512"
    assert cache.environment()["cpu_class"] == "amd-avx512"
    import benchmarks.gate.__main__ as gate

    assert gate.result_name(cache.cpu_class(), 1) == "amd-avx512-seed1"
    monkeypatch.setattr(cache, "cpu_vendor", lambda cpuinfo=None: "intel")
    assert cache.cache_root() == tmp_path / "intel-avx512"
    doc = {k: v for k, v in _doc(0, {"a": {"clean": _v(True, True)}}).items() if k != "isa"}
    assert markdown({**doc, "cpu_class": "amd-avx512"}).startswith("# Gate: commit c, amd-avx512, training seed 0")


def test_geometry_figures_take_the_median_and_the_worst_run_per_generator():
    """summary.json's "clouds"/COND/GENERATOR/LEVEL/"geometry": over the runs with a measurement, the median and the
    worst (lowest completeness, highest share behind and depth error); failed or NaN measurements are left out."""
    from benchmarks.accuracy.clouds import geometry_figures

    nan = float("nan")
    scenes = [{"generator": "kitchen", "geometry": {"completeness": c, "behind_train": b, "depth_mm_train": d}}
              for c, b, d in ((0.9, 0.1, 3.0), (0.5, 0.3, 9.0), (1.0, 0.0, nan))]
    scenes += [{"generator": "kitchen", "geometry": {"error": "ValueError: no run"}}, {"generator": "studio"}]
    g = geometry_figures(scenes)
    assert list(g) == ["kitchen"]
    assert g["kitchen"] == {"runs": 3, "completeness": {"median": 0.9, "worst": 0.5},
                            "behind": {"median": 0.1, "worst": 0.3}, "depth_mm": {"median": 6.0, "worst": 9.0}}


def test_geometry_figures_give_the_worst_seeds_median_over_training_seeds():
    """With several training seeds, each figure's ``worst_seed`` is the worst of the seeds' medians over the
    generator's scenes: here seed 1's completeness median (0.6) and its share behind (0.4), not the worst run's."""
    from benchmarks.accuracy.clouds import geometry_figures

    runs = {0: ((0.95, 0.0), (0.9, 0.1), (1.0, 0.0)), 1: ((0.5, 0.6), (0.6, 0.4), (0.99, 0.0))}
    scenes = [{"generator": "synth", "train_seed": t, "geometry": {"completeness": c, "behind_train": b}}
              for t, rs in runs.items() for c, b in rs]
    g = geometry_figures(scenes)["synth"]
    assert g["completeness"] == {"median": 0.925, "worst": 0.5, "worst_seed": 0.6}
    assert g["behind"] == {"median": 0.05, "worst": 0.6, "worst_seed": 0.4}
    assert "depth_mm" not in g


def test_the_training_modules_load_neither_the_planner_nor_the_target_surface():
    """What a training process imports: the method, the run layer and the export's inputs, but not the grasp
    planner or the target's surface, so a change to them leaves the gate's runs current (it only re-exports)."""
    code = ("import sys; import point2act.method.trainer, point2act.method.model, point2act.method.datamanager, "
            "point2act.method.run_layer, point2act.method.export_run;"
            "print(' '.join(m for m in sys.modules if m.startswith('point2act')))")
    mods = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert "point2act.method.model" in mods
    for m in ("point2act.grasp.planner", "point2act.grasp.box_hits", "point2act.grasp.part_scans", "point2act.grasp.target"):
        assert m not in mods


def test_one_result_per_cpu_class_and_seed_and_the_base_from_a_file_or_a_git_revision(tmp_path, monkeypatch):
    """The gate writes CLASS[-seedS].json (one current result per CPU class and seed, history in git); ``--compare``
    reads a base from a JSON file or from the same result committed at a git revision."""
    import benchmarks.gate.__main__ as gate

    assert gate.result_name("intel-avx512", 0) == "intel-avx512" and gate.result_name("avx2", 1) == "avx2-seed1"
    base = _doc(1, {"a": {"clean": _v(True, True)}})
    f = tmp_path / "base.json"
    f.write_text(json.dumps(base))
    assert gate.load_base(str(f), "avx2-seed1") == base

    repo = tmp_path / "repo"
    (repo / "benchmarks" / "results" / "gate").mkdir(parents=True)
    (repo / "benchmarks" / "results" / "gate" / "avx2-seed1.json").write_text(json.dumps(base))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(git[:5] + ["init", "-q", str(repo)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "base"], check=True)
    monkeypatch.setattr(gate, "ROOT", repo)
    monkeypatch.setattr(gate, "RESULTS", repo / "benchmarks" / "results" / "gate")
    assert gate.load_base("HEAD", "avx2-seed1") == base
    with pytest.raises(SystemExit, match="neither a file nor a git revision"):
        gate.load_base("HEAD", "avx512")
