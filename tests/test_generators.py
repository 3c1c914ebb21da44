"""The benchmark's scene generators (benchmarks/generators): closed forms for their renderers, the files
the accuracy protocol reads, determinism, and a tiny scene through the protocol's pointer simulation.
Small images (64 x 48) and few views: seconds per test."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytest.importorskip("open3d")

from benchmarks.generators import GenConfig, generate  # noqa: E402
from benchmarks.generators.common import (GenScene, Intr, Part, box_mesh, is_closed, look_at, rays,  # noqa: E402
                                          revolve, sphere_mesh)

GENS = ("kitchen", "studio")
TINY = dict(width=64, height=48, num_seed_points=600, num_gt_points=400, distractors=2)


def _renderer(gen: str, parts, target: int):
    scene = GenScene(parts, target, parts[-1].name, "p", np.array([0.0, 0.0, 0.03]), np.zeros((1, 3)),
                     {"part_id": 1, "x": (-1, 1), "y": (-1, 1)})
    if gen == "kitchen":
        from benchmarks.generators.kitchen import KitchenRenderer

        return KitchenRenderer(scene, 0)
    from benchmarks.generators.studio import StudioRenderer

    return StudioRenderer(scene, 0, "plain")


def _part(gen: str, pid: int, name: str, shape_kind: str, size, centre):
    """A table box (top at z = 0) or a sphere, as each generator represents it."""
    centre = np.asarray(centre, float)
    if gen == "kitchen":
        from benchmarks.generators.kitchen import Material, flat

        v, t = box_mesh(size) if shape_kind == "box" else sphere_mesh(size, 64, 128)
        return Part(pid, name, name, "context", v + centre, t, (0.5, 0.5, 0.5), Material(flat((0.5, 0.5, 0.5))))
    from benchmarks.generators.studio import Box, Placed, Sphere

    sh = Placed(Box(tuple(size)) if shape_kind == "box" else Sphere(size), np.eye(3), centre)
    v, t = sh.mesh()
    return Part(pid, name, name, "context", v, t, (0.5, 0.5, 0.5), lambda p: np.full((len(p), 3), 0.5), [sh])


@pytest.mark.parametrize("gen", GENS)
def test_depth_of_the_table_plane_is_the_closed_form(gen: str) -> None:
    """A tilted camera over the table top (z = 0): every pixel's z-depth is -o_z / d_z of its ray."""
    r = _renderer(gen, [_part(gen, 1, "table", "box", (3.0, 3.0, 0.01), (0, 0, -0.01))], 1)
    k = Intr(60.0, 60.0, 32.0, 24.0, 64, 48)
    c2w = look_at(np.array([0.1, -0.25, 0.4]), np.array([0.0, 0.05, 0.0]), roll=0.2)
    v = r.render(k, c2w)
    o, d = rays(k, c2w)
    expect = (-o[:, 2] / d[:, 2]).reshape(48, 64)
    assert v.hit.all() and (v.part == 1).all()
    np.testing.assert_allclose(v.depth, expect, rtol=2e-5, atol=2e-6)
    assert np.abs(v.xyz[..., 2]).max() < 1e-5


@pytest.mark.parametrize("gen", GENS)
def test_sphere_silhouette_and_nearest_depth(gen: str) -> None:
    """A sphere of radius r seen from distance D along its centre's ray: a disk of radius f tan(asin(r/D))
    pixels; the depth at the centre is D - r."""
    rad, dist = 0.05, 0.4
    r = _renderer(gen, [_part(gen, 1, "ball", "sphere", rad, (0, 0, 0.2))], 1)
    k = Intr(120.0, 120.0, 32.0, 24.0, 64, 48)
    c2w = look_at(np.array([0.0, -dist * math.cos(0.6), 0.2 + dist * math.sin(0.6)]), np.array([0.0, 0.0, 0.2]))
    v = r.render(k, c2w)
    rho = k.fx * math.tan(math.asin(rad / dist))
    jj, ii = np.meshgrid(np.arange(64) + 0.5, np.arange(48) + 0.5)
    rr = np.hypot(jj - k.cx, ii - k.cy)
    tol = 0.05 if gen == "studio" else 0.6  # exact conic vs a tessellated sphere
    assert v.hit[rr < rho - tol].all() and not v.hit[rr > rho + tol].any()
    assert abs(v.hit.sum() - math.pi * rho**2) < 2 * math.pi * rho * (tol + 0.5)
    # every pixel's depth: the nearest root of |o + t d - c| = r (z-depth: d has a unit axial component)
    o, d = rays(k, c2w)
    oc = o - np.array([0.0, 0.0, 0.2])
    a_, b_, c_ = np.sum(d * d, 1), 2 * np.sum(oc * d, 1), np.sum(oc * oc, 1) - rad**2
    t = ((-b_ - np.sqrt(np.maximum(b_ * b_ - 4 * a_ * c_, 0))) / (2 * a_)).reshape(48, 64)
    inner = rr < rho - 1.0
    np.testing.assert_allclose(v.depth[inner], t[inner], atol=4e-4 if gen == "kitchen" else 1e-6)
    assert abs(v.depth[rr < 1.0].min() - (dist - rad)) < (4e-4 if gen == "kitchen" else 1e-4)


def test_revolve_and_box_meshes_are_closed_and_outward() -> None:
    for v, t in (box_mesh((0.1, 0.2, 0.3)), revolve([(0, 0), (0.1, 0), (0.1, 0.05), (0.09, 0.05), (0.09, 0.01),
                                                     (0, 0.01)], 32), sphere_mesh(0.1)):
        assert is_closed(v, t)
        a, b, c = v[t[:, 0]], v[t[:, 1]], v[t[:, 2]]
        assert np.sum(np.einsum("ij,ij->i", a, np.cross(b, c))) / 6 > 0  # positive volume: outward normals


@pytest.fixture(scope="module")
def tiny_scenes(tmp_path_factory):
    """One tiny two-pans scene per generator (the richest: a twin and a named confuser)."""
    out = {}
    for gen in GENS:
        d = tmp_path_factory.mktemp(gen)
        cfg = GenConfig(gen, "two_pans", 3, "fewview", 8, point_cloud=(gen == "kitchen"), **TINY)
        generate(d / "a", cfg)
        out[gen] = (d / "a", cfg)
    return out


@pytest.mark.parametrize("gen", GENS)
def test_scene_folder_has_what_the_protocol_reads(gen: str, tiny_scenes) -> None:
    sd, cfg = tiny_scenes[gen]
    meta = json.loads((sd / "transforms.json").read_text())
    gt = json.loads((sd / "ground_truth.json").read_text())
    assert len(meta["frames"]) == 8 and meta["w"] == 64 and meta["h"] == 48
    assert ("ply_file_path" in meta) == cfg.point_cloud == (sd / "sparse_pc.ply").is_file()
    for f in meta["frames"]:
        for key in ("file_path", "true_depth_path", "part_mask_path"):
            assert (sd / f[key]).is_file()
        assert np.allclose(np.asarray(f["transform_matrix"])[3], [0, 0, 0, 1])
    roles = {o["name"]: o["role"] for o in gt["objects"]}
    assert roles["pan_grip"] == "target" and roles["pan_b_grip"] == "confuser"
    assert gt["target_part_id"] == next(o["part_id"] for o in gt["objects"] if o["name"] == "pan_grip")
    assert gt["twin"]["part_id"] == next(o["part_id"] for o in gt["objects"] if o["name"] == "pan_b_grip")
    assert gt["confuser"]["object"] == "pan_b"
    alone = np.load(sd / "target_alone.npz")["alone"]
    assert alone.shape == (8, 48, 64)
    m = np.load(sd / "meshes.npz")
    assert set(int(i) for i in m["ids"]) == {p["id"] for p in gt["parts"]} - {0}
    assert is_closed(m[f"v{gt['target_part_id']}"], m[f"t{gt['target_part_id']}"])


@pytest.mark.parametrize("gen", GENS)
def test_oracle_points_lie_on_the_target_mask(gen: str, tiny_scenes) -> None:
    from PIL import Image

    sd, _ = tiny_scenes[gen]
    gt = json.loads((sd / "ground_truth.json").read_text())
    meta = json.loads((sd / "transforms.json").read_text())
    pts = json.loads((sd / "points" / "oracle.json").read_text())["points"]
    answered = 0
    for f in meta["frames"]:
        mask = np.asarray(Image.open(sd / f["part_mask_path"]))
        for x, y in pts[f["file_path"]]:
            assert mask[int(y), int(x)] == gt["target_part_id"]
            answered += 1
        if not pts[f["file_path"]]:
            assert (mask == gt["target_part_id"]).sum() < 12
    assert answered >= 3


@pytest.mark.parametrize("gen", GENS)
def test_ground_truth_points_lie_on_the_target_surface(gen: str, tiny_scenes) -> None:
    """On the target's mesh (within 1 µm: float32 in the file), off the table, and their projection into every view lies on
    the target's silhouette rendered alone (grown by a pixel: a thin grip at 64 x 48 is mostly edge)."""
    import open3d as o3d

    from benchmarks.generators.common import project

    sd, _ = tiny_scenes[gen]
    gt = json.loads((sd / "ground_truth.json").read_text())
    tid = gt["target_part_id"]
    m = np.load(sd / "meshes.npz")
    pts = np.load(sd / "ground_truth_points.npy").astype(np.float64)
    assert len(pts) == TINY["num_gt_points"] and pts[:, 2].min() > 0
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(o3d.core.Tensor(m[f"v{tid}"].astype(np.float32)), o3d.core.Tensor(m[f"t{tid}"].astype(np.uint32)))
    # float64: each point lies in the plane of a triangle whose inside holds its projection (open3d's
    # float32 distances are off by tens of µm on a grip's long thin triangles)
    v, t = m[f"v{tid}"], m[f"t{tid}"]
    a, e1, e2 = v[t[:, 0]], v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]]
    nrm = np.cross(e1, e2)
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    rel = pts[:, None, :] - a[None]  # [N, T, 3]
    dist = np.abs(np.einsum("ntk,tk->nt", rel, nrm))
    g = np.stack([np.einsum("tk,tk->t", e1, e1), np.einsum("tk,tk->t", e1, e2), np.einsum("tk,tk->t", e2, e2)], 1)
    r1, r2 = np.einsum("ntk,tk->nt", rel, e1), np.einsum("ntk,tk->nt", rel, e2)
    det = g[:, 0] * g[:, 2] - g[:, 1] ** 2
    u = (g[:, 2] * r1 - g[:, 1] * r2) / det
    w = (g[:, 0] * r2 - g[:, 1] * r1) / det
    inside = (u >= -1e-6) & (w >= -1e-6) & (u + w <= 1 + 1e-6)
    assert np.where(inside, dist, np.inf).min(axis=1).max() < 1e-6  # the file holds float32
    np.testing.assert_allclose(pts.mean(0), gt["centroid"], atol=1e-6)
    meta = json.loads((sd / "transforms.json").read_text())
    k = Intr(meta["fl_x"], meta["fl_y"], meta["cx"], meta["cy"], meta["w"], meta["h"])
    from scipy.ndimage import binary_dilation

    alone = np.load(sd / "target_alone.npz")["alone"]
    alone = np.stack([binary_dilation(a, iterations=1) for a in alone])  # a point may fall in an edge pixel
    on = []
    for i, f in enumerate(meta["frames"]):
        xy, z = project(pts, k, np.asarray(f["transform_matrix"]))
        ok = (z > 0) & (xy[:, 0] >= 0) & (xy[:, 0] < 64) & (xy[:, 1] >= 0) & (xy[:, 1] < 48)
        on.append(alone[i][xy[ok, 1].astype(int), xy[ok, 0].astype(int)])
    assert np.mean(np.concatenate(on)) > 0.99


@pytest.mark.parametrize("gen", GENS)
def test_same_seed_gives_identical_files(gen: str, tiny_scenes, tmp_path: Path) -> None:
    sd, cfg = tiny_scenes[gen]
    generate(tmp_path / "b", cfg)
    files = sorted(p.relative_to(sd) for p in sd.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for f in files:
        assert (sd / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    other = GenConfig(**{**cfg.__dict__, "seed": cfg.seed + 1})
    generate(tmp_path / "c", other)
    assert (tmp_path / "c" / "images" / "frame_0000.png").read_bytes() != (sd / "images" / "frame_0000.png").read_bytes()


@pytest.mark.parametrize("gen", GENS)
def test_tiny_scene_goes_through_the_pointer_simulation(gen: str, tiny_scenes) -> None:
    """load_scene reads the generator's files; the simulated pointer answers on the target at clean, on the
    other pan's same spot at same40, on its grip at twin30; the judge's surface samples carry the parts."""
    from benchmarks.accuracy.metrics import mesh_surface_labelled
    from benchmarks.accuracy.pointer import LEVELS, simulate
    from benchmarks.accuracy.run import load_scene

    sd, cfg = tiny_scenes[gen]
    sc = load_scene(sd, cfg)
    assert sc.confuser == "pan_b" and sc.twin is not None and "pan_b" in sc.distractor_objects
    assert sc.target.closed and sc.target.distance(sc.target.centroid) == 0.0
    grip_b = sc.twin[1]
    for lvl, allowed in (("clean", {"target", "hidden", "out_of_view"}), ("same40", {"target", "outlier", "hidden",
                                                                                     "out_of_view"}),
                         ("twin30", {"target", "twin", "hidden", "out_of_view"})):
        pts, kinds = simulate(sc.views, sc.file_paths, LEVELS[lvl], 0, sc.target_id, sc.target.centroid,
                              sc.distractor_objects, sc.prompt, sc.object_spots, sc.twin, scene_seed=cfg.seed,
                              confuser=sc.confuser)
        assert set(kinds) <= allowed, kinds
        for (fp, ans), v, kd in zip(pts["points"].items(), sc.views, kinds):
            for x, y in ans:
                pid = int(v.mask[min(int(y), 47), min(int(x), 63)])
                if kd == "target":
                    assert pid == sc.target_id
                elif kd == "outlier":
                    assert pid in sc.distractor_objects["pan_b"]
                elif kd == "twin":
                    assert pid == grip_b
    # same-spot outliers aim at the other pan's grip
    spot = sc.object_spots["pan_b"]
    gt = json.loads((sd / "ground_truth.json").read_text())
    grip_b_obj = next(o for o in gt["objects"] if o["part_id"] == grip_b)
    assert np.all(spot >= np.asarray(grip_b_obj["bbox_min"]) - 1e-6) and np.all(spot <= np.asarray(grip_b_obj["bbox_max"]) + 1e-6)
    pts, labels = mesh_surface_labelled(sd)
    assert sc.target_id in set(labels.tolist()) and grip_b in set(labels.tolist())
    assert np.abs(pts[labels == 1][:, 2]).max() < 1e-12  # the table top


def test_acronym_mug_handle_split(shared_data: Path) -> None:
    from benchmarks.accuracy.suite import ACRONYM_SCALE
    from benchmarks.generators.kitchen import load_acronym

    m = load_acronym(str(shared_data / "meshes" / "acronym_mug" / "mug.obj"), ACRONYM_SCALE)
    hv = m["handle"][0]
    assert 0.03 < m["body_radius"] < 0.06 and len(m["handle"][1]) > 50
    assert hv[:, 0].min() > 0.0 and hv[:, 0].max() > m["body_radius"] + 0.01  # the handle sticks out along +x


def test_suite_specs_and_splits_of_the_generators(tmp_path: Path) -> None:
    """Generator scenes hash by their GenConfig; the splits name one generator each; results folders."""
    from benchmarks.accuracy.suite import (SEEN_SPLITS, SPLITS, TEST_SPLITS, SceneSpec, results_subdir, scene_config,
                                           scene_dir, split_generator)

    common = {"num_views": 24, "width": 256, "height": 192, "num_seed_points": 8000}
    for split in ("kitchen_dev", "kitchen_test", "studio_dev", "studio_test"):
        gen = split.split("_")[0]
        assert split_generator(split) == gen and all(s.generator == gen for s in SPLITS[split])
        assert any(s.twin for s in SPLITS[split])
        for s in SPLITS[split]:
            c = scene_config(s, common) if s.overrides.get("mug_mesh") != "acronym" else None
            if c is not None:
                assert c.generator == gen and c.num_views == s.overrides["num_views"]
    assert results_subdir("kitchen_test") == "kitchen" and results_subdir("studio_dev") == "studio/dev"
    assert results_subdir("test") == "" and results_subdir("dev") == "dev"
    assert "kitchen_test" in TEST_SPLITS and "kitchen_test" not in SEEN_SPLITS and "kitchen_dev" in SEEN_SPLITS
    a = SceneSpec("x", "", {"seed": 1, "kind": "pan"}, generator="studio")
    b = SceneSpec("x", "", {"seed": 1, "kind": "pan"}, generator="kitchen")
    assert scene_dir(a, common, tmp_path) != scene_dir(b, common, tmp_path)
    assert SceneSpec("y", "").generator == "synth"


def test_summary_per_generator_and_training_seeds() -> None:
    from benchmarks.accuracy.report import check_summary, misses_table, summary_json, train_seed_table

    recs = []
    for gen, sc in (("kitchen", "k1"), ("studio", "s1")):
        for ts in (0, 1, 2):
            for m in ("point2act", "ransac"):
                hit = not (gen == "studio" and ts == 1 and m == "point2act")
                recs.append({"scene": sc, "seed": 0, "level": "clean", "method": m, "weight": 1.0, "hit": hit,
                             "error_m": 0.0 if hit else 0.026, "generator": gen, "train_seed": ts,
                             "grasp_success": hit, "nearest_part": None if hit else "pan_neck",
                             "nearest_part_m": None if hit else 0.001})
    s = summary_json(recs, ["clean"], "studio_test", [0], ["k1", "s1"], train_seeds=[0, 1, 2])
    check_summary(s)
    assert set(s["generators"]) == {"kitchen", "studio"} and s["levels"]["clean"]["point2act"]["hit"] == 1.0
    p = s["train_seeds"]["generators"]["studio"]["clean"]["point2act"]
    assert p["hit"] == {"0": 1.0, "1": 0.0, "2": 1.0} and p["median"] == 1.0 and p["worst"] == 0.0
    assert p["grasp_ok_worst"] == 0.0
    assert "| studio | clean | point2act hit | 100 % | 0 % | 100 % | 100 % | 0 % |" in train_seed_table(s)
    assert "pan_neck, 0.1" in misses_table(recs)
    bad = dict(s, train_seeds={"seeds": [0], "generators": {"studio": {"clean": {"point2act": {
        "hit": {}, "median": 0.2, "worst": 0.5}}}}})
    with pytest.raises(ValueError):
        check_summary(bad)


@pytest.mark.parametrize("gen", GENS)
def test_perfect_views_see_the_true_meshes(gen: str, tiny_scenes) -> None:
    """The grasp oracle's depth views (benchmarks.accuracy.oracle: the scene's true depth PNGs with its poses
    and intrinsics) back-projected lie on the scene's meshes, within the PNGs' millimetre."""
    import open3d as o3d

    from benchmarks.accuracy.oracle import perfect_views
    from benchmarks.accuracy.run import load_scene
    from point2act.fusion import view_points

    sd, cfg = tiny_scenes[gen]
    views, centres = perfect_views(load_scene(sd, cfg), max_views=4)
    assert views.depths.shape == (4, 48, 64) and centres.shape == (8, 3)
    P = view_points(views, stride=1)
    assert len(P) > 0.9 * views.depths.size
    m = np.load(sd / "meshes.npz")
    scene = o3d.t.geometry.RaycastingScene()
    for pid in m["ids"]:
        scene.add_triangles(o3d.core.Tensor(m[f"v{int(pid)}"].astype(np.float32)),
                            o3d.core.Tensor(m[f"t{int(pid)}"].astype(np.uint32)))
    d = scene.compute_distance(o3d.core.Tensor(P.astype(np.float32))).numpy()
    assert np.percentile(d, 99) < 1e-3


@pytest.mark.parametrize("gen", GENS)
def test_oracle_tells_a_tab_beyond_the_hand_from_a_grip_it_holds(gen: str, tmp_path: Path) -> None:
    """benchmarks.accuracy.oracle on the truth of small scenes (8 views at 128 x 96): a pan's grip, a bar 2.8 cm
    wide, is held on target and collision-free by the true meshes; a pull tab 2 mm proud of its lid is beyond
    the hand (no candidate holds mostly tab between its fingers) and gets no on-target grasp. And
    benchmarks.accuracy.margins on the grip: on-target grasps that clear the scene by the planner's 2 mm margin;
    shrinking the judge's boxes can only pass more of them (1 mm inside >= at the surface >= grown by 2 mm)."""
    from benchmarks.accuracy.margins import room_at_target
    from benchmarks.accuracy.metrics import mesh_surface_labelled
    from benchmarks.accuracy.oracle import oracle_grasp
    from benchmarks.accuracy.run import load_scene

    out = {}
    for kind in ("pan", "can_tab"):
        d = tmp_path / kind
        cfg = GenConfig(gen, kind, 3, "fewview", 8, point_cloud=False, **dict(TINY, width=128, height=96))
        generate(d, cfg)
        scene, surf = load_scene(d, cfg), mesh_surface_labelled(d)
        out[kind] = oracle_grasp(scene, surf)
        if kind == "pan":
            room = room_at_target(scene, surf, oracle=out[kind], listed=30)
    assert not out["pan"]["beyond_hand"] and out["pan"]["graspable"] and out["pan"]["top"]["success"]
    f = room["free"]
    assert room["oracle_top_ok"] and room["on_target_candidates_listed"] > 0
    assert room["on_target_candidates_listed"] >= f["judge_1mm"] >= f["judge_0mm"] >= f["grown_by_margin"] > 0
    assert out["can_tab"]["beyond_hand"] and not out["can_tab"]["graspable"]
    assert out["can_tab"]["top_on_target_flag"] is not True and out["can_tab"]["warning"]


def test_sensor_depth_noise_grows_with_distance_and_drops_edges():
    """``sensor_depth``: the structured-light noise model's standard deviation at 0.5 m and 1.5 m, no
    return across a depth jump, none where there is no surface, millimetre steps."""
    from benchmarks.generators.common import sensor_depth

    rng = np.random.default_rng(0)
    near, far = np.full((200, 200), 0.5), np.full((200, 200), 1.5)
    for z in (near, far):
        d = sensor_depth(z, rng).astype(np.float64) / 1000.0
        inner = d[1:-1, 1:-1]
        sigma = 0.0012 + 0.0019 * (z[0, 0] - 0.4) ** 2
        assert abs(inner.mean() - z[0, 0]) < 3 * sigma / 100 + 5e-4
        assert inner.std() == pytest.approx(np.sqrt(sigma**2 + 1e-6 / 12), rel=0.1)
    step = np.full((20, 20), 0.6)
    step[:, 10:] = 0.9
    step[0, 0] = 0.0
    d = sensor_depth(step, rng)
    assert (d[:, 9] == 0).all() and (d[:, 10] == 0).all()  # both sides of the jump
    assert d[0, 0] == 0 and (d[5:, 2:8] > 0).all()
    assert d.dtype == np.uint16


def test_clouds_block_gathers_conditions(tmp_path) -> None:
    """benchmarks.accuracy.clouds: each condition's summary.json lands under "clouds"/COND/GENERATOR/LEVEL with
    the first seed's rows and the median and worst over the training seeds of the holdable, hit runs' grasps;
    the main summary's other keys stay, and a later summary rewrite keeps the block."""
    from benchmarks.accuracy import clouds
    from benchmarks.accuracy.report import check_summary, merge_summary, summary_json

    for cond, miss_seed in (("triangulated", 1), ("sensor", 2), ("exact", None)):
        recs = []
        for ts in (0, 1, 2):
            for sc, holdable in (("k1", True), ("k2", True), ("k3", False)):
                ok = not (ts == miss_seed and sc == "k1")
                recs.append({"scene": sc, "seed": 0, "level": "clean", "method": "point2act", "weight": 1.0,
                             "hit": True, "error_m": 0.0, "generator": "kitchen", "train_seed": ts,
                             "num_grasps": 1, "grasp_on_target": ok, "grasp_collision_free": True,
                             "grasp_success": ok and holdable, "target_beyond_hand": not holdable})
        s = summary_json(recs, ["clean"], "kitchen_test", [0], ["k1", "k2", "k3"], train_seeds=[0, 1, 2])
        d = tmp_path / "clouds" / cond / "kitchen"
        d.mkdir(parents=True)
        (d / "summary.json").write_text(__import__("json").dumps(s))
        for i, r in enumerate(recs):
            r.update(field_region_m=0.001 * i, field_peak_m=0.002 * i)
        (d / "results.json").write_text(__import__("json").dumps({"records": recs}))
    # an experiment kept inside a condition's folder is not read: it would replace the condition's rows
    (tmp_path / "clouds" / "exact" / "kitchen" / "wide-stereo").mkdir()
    (tmp_path / "clouds" / "exact" / "kitchen" / "wide-stereo" / "summary.json").write_text(__import__("json").dumps(
        summary_json([dict(r, hit=False) for r in recs], ["clean"], "kitchen_test", [0], ["k1"])))
    main = tmp_path / "summary.json"
    base = summary_json(recs, ["clean"], "test", [0], ["k1"])
    main.write_text(__import__("json").dumps(dict(base, real={})))
    block = clouds.write(tmp_path / "clouds", main)
    tri = block["triangulated"]["kitchen"]["clean"]["train_seeds"]
    assert tri["seeds"] == [0, 1, 2] and tri["holdable_hit_grasp_ok"] == {"median": 1.0, "worst": 0.5}
    assert block["exact"]["kitchen"]["clean"]["train_seeds"]["holdable_hit_grasp_ok"]["worst"] == 1.0
    assert block["exact"]["kitchen"]["clean"]["point2act_grasp"]["holdable"]["success_when_hit"] == 1.0
    assert "none" not in block and block["exact"]["kitchen"]["clean"]["point2act"]["hit"] == 1.0
    assert block["sensor"]["kitchen"]["clean"]["train_seeds"]["holdable_hit_grasp_ok"] == {"median": 1.0, "worst": 0.5}
    assert block["exact"]["kitchen"]["field"] == {"runs": 9, "region_cm_median": 0.4, "region_cm_worst": 0.8,
                                                  "peak_cm_median": 0.8, "peak_cm_worst": 1.6}
    written = __import__("json").loads(main.read_text())
    assert written["clouds"] == block and "real" in written
    check_summary(written)
    kept = merge_summary(main, base)
    assert kept["clouds"] == block
    assert "| triangulated | kitchen | clean | 100 % | 100 % / 100 % | 100 % | 100 % / 50 % | [0, 1, 2] |" in \
        (tmp_path / "clouds" / "clouds.md").read_text()
