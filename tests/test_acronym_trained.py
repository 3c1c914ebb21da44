"""benchmarks.acronym_trained: ACRONYM's grasps placed in the accuracy suite's scenes, where the scene put the mug."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
MUG = ROOT.parent / "shared" / "data" / "meshes" / "acronym_mug"
pytestmark = pytest.mark.skipif(not (MUG / "grasps.h5").exists(), reason=f"{MUG} not present")


@pytest.mark.parametrize("name", ["test5_acronym_s5005", "kt_acronym_s7104"])
def test_acronym_grasps_land_on_the_scenes_mug(name):
    """The mesh, moved by ``mug_world @ mesh_to_local``, is the scene's mug (its vertices on the scene's mug
    parts); a successful ACRONYM grasp, moved the same way and written as grasps.json writes it, matches
    (distance 0), and the same grasp 30 cm away does not."""
    import open3d as o3d

    from benchmarks import acronym_trained as A
    from benchmarks.bench_acronym import SCALE, acronym_grasps, as_grasp_dicts, mesh_to_local
    from benchmarks.accuracy.run import BenchConfig
    from benchmarks.accuracy.suite import all_specs, scene_config

    M = A.mug_world(name) @ mesh_to_local()
    v = np.asarray(o3d.io.read_triangle_mesh(str(MUG / "mug.obj")).vertices) * SCALE
    moved = v @ M[:3, :3].T + M[:3, 3]
    spec = all_specs()[name]
    cfg = scene_config(spec, BenchConfig().common())
    if spec.generator == "synth":
        from point2act.synth.scene import build_scene
    else:
        from benchmarks.generators.kitchen import build_scene
    parts = [p for p in build_scene(cfg).parts if p.name.startswith("mug")]
    from scipy.spatial import cKDTree

    d, _ = cKDTree(np.concatenate([p.vertices for p in parts])).query(moved)
    assert np.median(d) < 1e-6
    T_all, ok = acronym_grasps()
    k = int(np.flatnonzero(ok)[0])
    g = as_grasp_dicts((M @ T_all[k])[None], 0.08)[0]
    rec = {"method": "point2act", "scene": name, "level": "clean", "train_seed": 0, "hit": True, "grasp_success": True}
    row = A.judge_runs([dict(rec, top_grasp=g)], T_all, ok, mesh_to_local())[0]
    assert row["match"] and row["nearest_m"] < 1e-6
    far = dict(g, position=(np.asarray(g["position"]) + [0.3, 0.0, 0.0]).tolist())
    assert not A.judge_runs([dict(rec, top_grasp=far)], T_all, ok, mesh_to_local())[0]["match"]


def test_records_folder_reads_each_conditions_per_seed_files(tmp_path, monkeypatch):
    """``--records DIR --name NAME``: the runs of ``DIR/COND-*.json`` (the default-path layout), judged as the
    clouds layout's are, written to ``NAME.json`` / ``NAME.md``; a condition with no file is left out."""
    import json

    from benchmarks import acronym_trained as A
    from benchmarks.bench_acronym import acronym_grasps, as_grasp_dicts, mesh_to_local

    name = "test5_acronym_s5005"
    T_all, ok = acronym_grasps()
    g = as_grasp_dicts((A.mug_world(name) @ mesh_to_local() @ T_all[int(np.flatnonzero(ok)[0])])[None], 0.08)[0]
    rec = {"method": "point2act", "scene": name, "level": "clean", "train_seed": 1, "hit": True,
           "grasp_success": True, "top_grasp": g}
    (tmp_path / "triangulated-synth-seed1.json").write_text(json.dumps({"records": [rec]}))
    monkeypatch.setattr(A, "OUT", tmp_path / "out")
    assert A.main(["--records", str(tmp_path), "--name", "t", "--conditions", "triangulated", "none"]) == 0
    got = json.loads((tmp_path / "out" / "t.json").read_text())
    assert list(got) == ["triangulated"] and got["triangulated"][0]["match"] is True
    assert "| triangulated | 1 | 1/1 (100 %) | 1/1 (100 %) |" in (tmp_path / "out" / "t.md").read_text()
