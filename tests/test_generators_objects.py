"""The "objects" generator (benchmarks/generators/objects.py): PyBullet's random_urdfs meshes on the
kitchen's table. The held-out rule (dev scenes draw even ids, test scenes odd ids), determinism, the files
the accuracy protocol reads, and the geometry (the table top at z = 0, objects resting on it, ground-truth
points on the target's mesh). Only dev scenes are generated here: a test scene's ids are drawn, never its
meshes read or its images rendered. Small images, few views: seconds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest.importorskip("open3d")

from benchmarks.generators import objects  # noqa: E402
from benchmarks.generators.common import GenConfig  # noqa: E402

TINY = dict(width=96, height=72, num_seed_points=600, num_gt_points=400, distractors=2)


def _need_meshes() -> Path:
    try:
        return objects.data_root()
    except objects.MissingMeshes as e:
        pytest.skip(f"pybullet_data's random_urdfs meshes are not installed ({e})")


@pytest.fixture(scope="module")
def dev_scene(tmp_path_factory):
    """One tiny dev scene (a ring of 8 views, a point cloud)."""
    _need_meshes()
    d = tmp_path_factory.mktemp("objects")
    cfg = GenConfig("objects", "dev", 9000, "ring", 8, **TINY)
    objects.generate(d / "a", cfg)
    return d / "a", cfg


def test_missing_pybullet_data_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pybullet_data", None)  # import pybullet_data -> ImportError
    with pytest.raises(objects.MissingMeshes, match="pip install pybullet"):
        objects.data_root()


def test_halves_dev_even_test_odd() -> None:
    """The held-out rule, from the seeds alone (no mesh read): every dev scene's ids even, every test scene's
    odd, different ids within a scene; the suite's splits name their halves."""
    from benchmarks.accuracy.suite import OBJECTS_DEV_SEEDS, OBJECTS_TEST_SEEDS, SPLITS

    assert objects.half_ids("dev") == list(range(0, 1000, 2))
    assert objects.half_ids("test") == list(range(1, 1000, 2))
    with pytest.raises(ValueError):
        objects.half_ids("pan")
    for half, seeds in (("dev", OBJECTS_DEV_SEEDS), ("test", OBJECTS_TEST_SEEDS)):
        for seed in seeds:
            ids = objects.pick_ids(GenConfig("objects", half, seed, distractors=3))
            assert len(ids) == len(set(ids)) == 4
            assert all(objects.half_of(i) == half and i % 2 == (half == "test") for i in ids)
        first = GenConfig("objects", half, seeds[0])
        assert objects.pick_ids(first) == objects.pick_ids(GenConfig(**first.__dict__))
    for split, half in (("objects_dev", "dev"), ("objects_test", "test")):
        assert SPLITS[split]
        assert all(s.generator == "objects" and s.overrides["kind"] == half for s in SPLITS[split])


def test_suite_dispatches_objects_scenes() -> None:
    from benchmarks.accuracy.suite import (SEEN_SPLITS, SPLITS, TEST_SPLITS, results_subdir, scene_config,
                                           scene_dir, split_generator)

    common = {"num_views": 24, "width": 256, "height": 192, "num_seed_points": 8000, "sensor_depth": False}
    assert [s.name for s in SPLITS["objects_dev"]][0] == "od_obj_s9000" and len(SPLITS["objects_dev"]) == 32
    assert [s.name for s in SPLITS["objects_test"]][0] == "ot_obj_s9100" and len(SPLITS["objects_test"]) == 6
    assert "objects_test" in TEST_SPLITS and "objects_test" not in SEEN_SPLITS
    assert "objects_dev" in SEEN_SPLITS
    assert split_generator("objects_dev") == "objects" and results_subdir("objects_dev") == "objects/dev"
    for s in SPLITS["objects_dev"] + SPLITS["objects_test"]:
        c = scene_config(s, common)
        assert c.generator == "objects" and c.num_views == s.overrides["num_views"]
        assert scene_dir(s, common, Path("/x")).name.startswith(s.name + "-")
    assert {s.overrides.get("point_cloud", True) for s in SPLITS["objects_test"]} == {True, False}
    assert {s.overrides["path"] for s in SPLITS["objects_test"]} == {"ring", "handheld", "fewview"}


def test_fit_object_scales_turns_and_rests() -> None:
    root = _need_meshes()
    v0, t, piece = objects.load_obj(root / "000" / "000.obj")
    assert len(t) > 100 and piece.max() >= 1 and t.max() < len(v0)
    v, fit = objects.fit_object(v0, np.random.default_rng(3))
    assert objects.SIDE_M[0] <= fit["side_m"] <= objects.SIDE_M[1]
    assert np.isclose(fit["scale"] * np.ptp(v0, axis=0).max(), fit["side_m"])
    assert abs(v[:, 2].min()) < 1e-12 and np.isclose(np.ptp(v[:, 2]), fit["scale"] * np.ptp(v0[:, 2]))
    lo, hi = v.min(0), v.max(0)
    assert np.allclose(lo[:2] + hi[:2], 0.0, atol=1e-12)  # its bounding box centred on the z axis


def test_scene_folder_has_what_the_protocol_reads(dev_scene) -> None:
    sd, cfg = dev_scene
    for f in ("transforms.json", "ground_truth.json", "ground_truth_points.npy", "points/oracle.json",
              "target_alone.npz", "meshes.npz", "sparse_pc.ply"):
        assert (sd / f).is_file(), f
    meta = json.loads((sd / "transforms.json").read_text())
    gt = json.loads((sd / "ground_truth.json").read_text())
    assert len(meta["frames"]) == 8 and meta["w"] == 96 and meta["h"] == 72 and meta["ply_file_path"]
    for f in meta["frames"]:
        for key in ("file_path", "true_depth_path", "part_mask_path"):
            assert (sd / f[key]).is_file()
    assert gt["generator"] == "objects" and gt["half"] == "dev"
    ids = gt["object_ids"]
    assert ids == objects.pick_ids(cfg)[: len(ids)] and all(i % 2 == 0 for i in ids) and len(ids) == 3
    roles = {o["name"]: o["role"] for o in gt["objects"]}
    assert roles[gt["target"]] == "target" and gt["target"] == f"urdf_{ids[0]:03d}"
    assert sum(r == "distractor" for r in roles.values()) == 2
    colour = next(o["colour"] for o in gt["external_objects"] if o["id"] == ids[0])
    assert gt["prompt"] == f"Point to the {colour} object"
    assert np.load(sd / "target_alone.npz")["alone"].shape == (8, 72, 96)


def test_target_is_seen_in_most_views(dev_scene) -> None:
    from PIL import Image

    sd, _ = dev_scene
    gt = json.loads((sd / "ground_truth.json").read_text())
    meta = json.loads((sd / "transforms.json").read_text())
    tid = gt["target_part_id"]
    px = [(np.asarray(Image.open(sd / f["part_mask_path"])) == tid).sum() for f in meta["frames"]]
    assert np.mean(np.asarray(px) >= 3) >= 0.75, px
    pts = json.loads((sd / "points" / "oracle.json").read_text())["points"]
    assert sum(bool(a) for a in pts.values()) >= 4


def test_table_top_at_zero_and_objects_rest_on_it(dev_scene) -> None:
    """The table top at z = 0; every object's lowest vertex on it, its largest side (own frame) 5-12 cm,
    its footprint clear of the others'."""
    sd, _ = dev_scene
    gt = json.loads((sd / "ground_truth.json").read_text())
    m = np.load(sd / "meshes.npz")
    table = int(m["table"][0])
    assert abs(m[f"v{table}"][:, 2].max()) < 1e-12
    feet = []
    for o in gt["external_objects"]:
        v = m[f"v{o['part_id']}"]
        assert abs(v[:, 2].min()) < 1e-9
        side = o["side_m"]
        assert objects.SIDE_M[0] <= side <= objects.SIDE_M[1]
        # turned about z by its yaw: the world box's largest side is within sqrt(2) of the own frame's
        assert side / 2**0.5 - 1e-9 <= np.ptp(v, axis=0).max() <= side * 2**0.5 + 1e-9
        lo, hi = v.min(0), v.max(0)
        c = 0.5 * (lo[:2] + hi[:2])
        feet.append((c, np.linalg.norm(v[:, :2] - c, axis=1).max()))
    assert len(feet) == 3
    for i, (ca, ra) in enumerate(feet):
        for cb, rb in feet[i + 1 :]:
            assert np.linalg.norm(ca - cb) > ra + rb


def test_ground_truth_points_lie_on_the_target_mesh(dev_scene) -> None:
    import open3d as o3d

    sd, _ = dev_scene
    gt = json.loads((sd / "ground_truth.json").read_text())
    tid = gt["target_part_id"]
    m = np.load(sd / "meshes.npz")
    pts = np.load(sd / "ground_truth_points.npy").astype(np.float64)
    assert len(pts) == TINY["num_gt_points"] and pts[:, 2].min() > 0
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(m[f"v{tid}"].astype(np.float32)),
                     o3d.core.Tensor(m[f"t{tid}"].astype(np.uint32)))
    d = rc.compute_distance(o3d.core.Tensor(pts.astype(np.float32))).numpy()
    assert d.max() < 2e-5
    np.testing.assert_allclose(pts.mean(0), gt["centroid"], atol=1e-6)
    # none is buried inside another convex piece of the object
    root = _need_meshes()
    _, t, piece = objects.load_obj(root / f"{gt['object_ids'][0]:03d}" / f"{gt['object_ids'][0]:03d}.obj")
    assert not objects.self_buried(pts, m[f"v{tid}"], t, piece, margin=1e-4).any()


def test_same_config_gives_identical_files(dev_scene, tmp_path: Path) -> None:
    sd, cfg = dev_scene
    objects.generate(tmp_path / "b", cfg)
    files = sorted(p.relative_to(sd) for p in sd.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for f in files:
        assert (sd / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    other = GenConfig(**{**cfg.__dict__, "seed": cfg.seed + 2})
    objects.generate(tmp_path / "c", other)
    first = "images/frame_0000.png"
    assert (tmp_path / "c" / first).read_bytes() != (sd / first).read_bytes()


def test_scene_goes_through_the_harness_loaders(dev_scene) -> None:
    """The accuracy harness's loaders read the scene unchanged; the clean pointer answers on the target."""
    from benchmarks.accuracy.metrics import mesh_surface_labelled
    from benchmarks.accuracy.pointer import LEVELS, simulate
    from benchmarks.accuracy.run import load_scene

    sd, cfg = dev_scene
    sc = load_scene(sd, cfg)
    assert sc.twin is None and len(sc.distractor_objects) == 2
    assert sc.target.distance(np.load(sd / "ground_truth_points.npy")[0]) < 1e-6
    pts, kinds = simulate(sc.views, sc.file_paths, LEVELS["clean"], 0, sc.target_id, sc.target.centroid,
                          sc.distractor_objects, sc.prompt, sc.object_spots, sc.twin, scene_seed=cfg.seed,
                          confuser=sc.confuser)
    assert set(kinds) <= {"target", "hidden", "out_of_view"} and "target" in kinds
    surf, labels = mesh_surface_labelled(sd)
    assert sc.target_id in set(labels.tolist())


def test_point2act_never_imports_pybullet() -> None:
    for f in (ROOT / "point2act").rglob("*.py"):
        assert "pybullet" not in f.read_text(), f
