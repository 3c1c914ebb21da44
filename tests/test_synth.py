"""Tests of the embedded synthetic scene generator (point2act.synth)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("open3d")
from PIL import Image  # noqa: E402

from point2act.synth import OracleSettings, SynthConfig, generate_scene, oracle_points  # noqa: E402
from point2act.synth.camera import Intrinsics, project, unproject  # noqa: E402
from point2act.synth.config import PART_FIRST_DISTRACTOR, PART_MUG_HANDLE  # noqa: E402

SMALL = SynthConfig(num_views=8, width=128, height=96, num_seed_points=2000, num_gt_points=500)


def _tree_hash(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, keyed by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _intrinsics(meta: dict) -> Intrinsics:
    return Intrinsics(meta["fl_x"], meta["fl_y"], meta["cx"], meta["cy"], meta["w"], meta["h"])


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """The default scene (24 views, 256x192), generated once for the module."""
    out = tmp_path_factory.mktemp("synth_default")
    summary = generate_scene(out, SynthConfig())
    return out, summary


@pytest.fixture(scope="module")
def meta(scene) -> dict:
    return json.loads((scene[0] / "transforms.json").read_text())


def test_layout_and_formats(scene, meta) -> None:
    out, summary = scene
    assert meta["camera_model"] == "OPENCV" and meta["w"] == 256 and meta["h"] == 192
    assert all(meta[k] == 0.0 for k in ("k1", "k2", "p1", "p2"))
    assert meta["ply_file_path"] == "sparse_pc.ply" and (out / "sparse_pc.ply").is_file()
    assert meta["point2act"]["prompt"] == "Point to the handle of the mug"
    assert meta["point2act"]["units"] == "metres"
    assert len(meta["frames"]) == 24
    for f in meta["frames"]:
        img = np.asarray(Image.open(out / f["file_path"]))
        depth = np.asarray(Image.open(out / f["true_depth_path"]))
        mask = np.asarray(Image.open(out / f["part_mask_path"]))
        assert img.shape == (192, 256, 3) and img.dtype == np.uint8
        assert depth.shape == (192, 256) and depth.dtype == np.uint16
        assert mask.shape == (192, 256) and mask.dtype == np.uint8
        assert np.all((depth == 0) == (mask == 0))  # misses have depth 0
        c2w = np.asarray(f["transform_matrix"])
        assert c2w.shape == (4, 4)
        np.testing.assert_allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3), atol=1e-6)
    gt = json.loads((out / "ground_truth.json").read_text())
    pts = np.load(out / gt["points_file"])
    assert gt["target"] == "mug_handle" and gt["frame"] == "capture"
    assert pts.shape == (gt["num_points"], 3) == (2000, 3)
    np.testing.assert_allclose(pts.mean(0), gt["centroid"], atol=1e-5)
    np.testing.assert_allclose(pts.min(0), gt["bbox_min"], atol=1e-6)
    np.testing.assert_allclose(pts.max(0), gt["bbox_max"], atol=1e-6)
    ids = {p["name"]: p["id"] for p in gt["parts"]}
    assert ids["background"] == 0 and ids["table"] == 1 and ids["mug_body"] == 2
    assert ids["mug_handle"] == 3 == gt["target_part_id"]
    assert sum(p["role"] == "distractor" for p in gt["parts"]) >= 2
    # handle sits on the side of the mug, between ~1.5 and ~8.5 cm above the table
    assert 0.01 < gt["bbox_min"][2] < gt["bbox_max"][2] < 0.09
    pf = json.loads((out / "points" / "oracle.json").read_text())
    assert set(pf) == {"prompt", "coordinates", "points"} and pf["coordinates"] == "pixels"
    assert list(pf["points"]) == [f["file_path"] for f in meta["frames"]]
    assert summary.empty_views == [k for k, v in pf["points"].items() if not v]


def test_deterministic_and_seed_dependent(tmp_path: Path) -> None:
    a = generate_scene(tmp_path / "a", SMALL).out_dir
    b = generate_scene(tmp_path / "b", SMALL).out_dir
    c = generate_scene(tmp_path / "c", replace(SMALL, seed=1)).out_dir
    ha, hb, hc = _tree_hash(a), _tree_hash(b), _tree_hash(c)
    assert len(ha) == 8 * 3 + 5  # images/depths/masks + ply, gt json, gt npy, transforms, points
    assert ha == hb
    assert ha["ground_truth.json"] != hc["ground_truth.json"]
    assert ha["images/frame_0000.png"] != hc["images/frame_0000.png"]
    ga = json.loads((a / "ground_truth.json").read_text())
    gc = json.loads((c / "ground_truth.json").read_text())
    assert [o["centroid"] for o in ga["objects"]] != [o["centroid"] for o in gc["objects"]]


def test_occlusion_gives_empty_answers(scene, meta) -> None:
    out, summary = scene
    pf = json.loads((out / "points" / "oracle.json").read_text())
    empty = [k for k, v in pf["points"].items() if not v]
    assert 1 <= len(empty) <= 12, empty
    gt = json.loads((out / "ground_truth.json").read_text())
    k = _intrinsics(meta)
    for f in meta["frames"]:
        if pf["points"][f["file_path"]]:
            continue
        # the handle is in front of the camera and inside the image, so it is hidden (occluded)
        mask = np.asarray(Image.open(out / f["part_mask_path"]))
        assert (mask == PART_MUG_HANDLE).sum() < 12
        xy, z = project(np.asarray([gt["centroid"]]), k, np.asarray(f["transform_matrix"]))
        assert z[0] > 0 and 0 <= xy[0, 0] < k.width and 0 <= xy[0, 1] < k.height


def test_oracle_point_on_projected_handle(scene, meta) -> None:
    out, _ = scene
    gt = json.loads((out / "ground_truth.json").read_text())
    hp = np.load(out / "ground_truth_points.npy").astype(np.float64)
    pf = json.loads((out / "points" / "oracle.json").read_text())
    k = _intrinsics(meta)
    checked = 0
    for f in meta["frames"]:
        ans = pf["points"][f["file_path"]]
        if not ans:
            continue
        (x, y), = ans
        c2w = np.asarray(f["transform_matrix"])
        xy, z = project(hp, k, c2w)
        assert np.all(z > 0)
        # the oracle point lies on the projected handle surface (within ~1.5 px) ...
        assert np.min(np.hypot(xy[:, 0] - x, xy[:, 1] - y)) < 1.5
        # ... and near the projected ground-truth centroid (handle is ~3.5 cm ~ 20 px)
        cxy, _ = project(np.asarray([gt["centroid"]]), k, c2w)
        assert np.hypot(cxy[0, 0] - x, cxy[0, 1] - y) < 20.0
        # and the mask agrees
        mask = np.asarray(Image.open(out / f["part_mask_path"]))
        assert mask[int(y), int(x)] == PART_MUG_HANDLE
        checked += 1
    assert checked >= 12


def test_depth_unprojects_onto_handle(scene, meta) -> None:
    out, _ = scene
    hp = np.load(out / "ground_truth_points.npy").astype(np.float64)
    pf = json.loads((out / "points" / "oracle.json").read_text())
    k = _intrinsics(meta)
    for f in meta["frames"]:
        ans = pf["points"][f["file_path"]]
        if not ans:
            continue
        x, y = ans[0]
        depth = np.asarray(Image.open(out / f["true_depth_path"])).astype(np.float64) * 1e-3
        z = depth[int(y), int(x)]
        assert z > 0.2
        p = unproject(np.array([[x, y]]), np.array([z]), k, np.asarray(f["transform_matrix"]))[0]
        assert np.min(np.linalg.norm(hp - p, axis=1)) < 0.01


def test_project_unproject_roundtrip(meta) -> None:
    k = _intrinsics(meta)
    c2w = np.asarray(meta["frames"][3]["transform_matrix"])
    rng = np.random.default_rng(0)
    pts = rng.uniform(-0.1, 0.1, (50, 3))
    xy, z = project(pts, k, c2w)
    np.testing.assert_allclose(unproject(xy, z, k, c2w), pts, atol=1e-9)


def test_oracle_outliers_and_noise(scene, meta) -> None:
    out, _ = scene
    clean = oracle_points(out)["points"]
    outl = oracle_points(out, OracleSettings(outlier_rate=1.0))["points"]
    noisy = oracle_points(out, OracleSettings(noise_px=3.0), seed=5)["points"]
    assert oracle_points(out, OracleSettings(noise_px=3.0), seed=5)["points"] == noisy  # seeded
    on_distractor = moved = 0
    for f in meta["frames"]:
        key = f["file_path"]
        assert bool(clean[key]) == bool(outl[key]) == bool(noisy[key])
        if not clean[key]:
            continue
        mask = np.asarray(Image.open(out / f["part_mask_path"]))
        x, y = outl[key][0]
        if (mask >= PART_FIRST_DISTRACTOR).any():
            assert mask[int(y), int(x)] >= PART_FIRST_DISTRACTOR
            on_distractor += 1
        (cx, cy), (nx, ny) = clean[key][0], noisy[key][0]
        assert 0 <= nx <= meta["w"] and 0 <= ny <= meta["h"]
        moved += (cx, cy) != (nx, ny)
        assert np.hypot(nx - cx, ny - cy) < 20.0
    assert on_distractor >= 10
    assert moved >= 10
    # fewer visible pixels required -> never fewer answers
    loose = oracle_points(out, OracleSettings(min_visible_px=1))["points"]
    assert sum(bool(v) for v in loose.values()) >= sum(bool(v) for v in clean.values())


def test_nerfstudio_parser_loads(scene) -> None:
    pytest.importorskip("torch")
    ns = pytest.importorskip("nerfstudio.data.dataparsers.nerfstudio_dataparser")
    out, _ = scene
    cfg = ns.NerfstudioDataParserConfig(data=out, load_3D_points=True)
    outputs = cfg.setup().get_dataparser_outputs("train")
    assert len(outputs.image_filenames) >= 20
    # the true depth is ground truth for tests, not a sensor's: nerfstudio (and so training) does not read it
    assert outputs.metadata["depth_filenames"] is None
    assert outputs.metadata["points3D_xyz"].shape[0] == 8000
    assert outputs.metadata["points3D_rgb"].shape == (8000, 3)
    cams = outputs.cameras
    assert int(cams.width[0, 0]) == 256 and int(cams.height[0, 0]) == 192


def test_contact_sheet(scene, tmp_path: Path) -> None:
    from point2act.synth.preview import contact_sheet

    out, _ = scene
    png = contact_sheet(out, tmp_path / "sheet.png", views=[0, 1, 2, 3, 4, 5], cols=3)
    assert Image.open(png).size == (3 * 256, 2 * 192)


def test_cli_module(tmp_path: Path) -> None:
    from point2act.synth.__main__ import cli

    cli(["--out", str(tmp_path / "s"), "--num-views", "2", "--width", "64", "--height", "48",
         "--num-seed-points", "100", "--num-gt-points", "50", "--seed", "3"])
    meta = json.loads((tmp_path / "s" / "transforms.json").read_text())
    assert len(meta["frames"]) == 2 and meta["w"] == 64
    assert meta["point2act"]["config"]["seed"] == 3


def test_marker_and_capture_units(tmp_path: Path) -> None:
    """The optional ArUco marker is printed on the table (and nowhere else), its true pose is in
    ground_truth.json; capture_units_per_metre scales everything in the capture frame, not the images."""
    from point2act.synth.camera import project

    cfg = replace(SMALL, num_views=4, marker_size=0.08, marker_id=5, marker_yaw_deg=20.0)
    plain = generate_scene(tmp_path / "plain", replace(SMALL, num_views=4)).out_dir
    m1 = generate_scene(tmp_path / "m1", cfg).out_dir
    m4 = generate_scene(tmp_path / "m4", replace(cfg, capture_units_per_metre=4.0)).out_dir
    metas = [json.loads((d / "transforms.json").read_text()) for d in (plain, m1, m4)]
    gts = [json.loads((d / "ground_truth.json").read_text()) for d in (plain, m1, m4)]
    assert "marker" not in gts[0] and "marker_size" not in metas[0]["point2act"]["config"]
    assert metas[1]["point2act"]["config"]["marker_size"] == 0.08 and metas[2]["point2act"]["units"] != "metres"
    gm = gts[1]["marker"]
    assert gm["id"] == 5 and gm["dictionary"] == "DICT_4X4_50" and gm["size_m"] == 0.08 and gm["metres_per_unit"] == 1.0
    cfm = np.asarray(gm["capture_from_marker"])
    np.testing.assert_allclose(cfm[:3, 3], [0.0, -0.2, 0.0], atol=1e-7)
    np.testing.assert_allclose(cfm[:3, 0], [np.cos(np.radians(20)), np.sin(np.radians(20)), 0.0], atol=1e-7)
    corners = np.asarray(gm["corners_capture"])
    np.testing.assert_allclose(np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1), 0.08, atol=1e-6)
    np.testing.assert_allclose(corners[0], cfm[:3, :3] @ [-0.04, 0.04, 0.0] + cfm[:3, 3], atol=1e-7)  # top-left
    k = _intrinsics(metas[1])
    grow = 1 + 2 / 6 + 0.05  # the white sheet is one cell (of 6) wider on every side
    for f0, f1, f4 in zip(*(m["frames"] for m in metas)):
        im0, im1, im4 = (np.asarray(Image.open(d / f["file_path"])).astype(int) for d, f in
                         ((plain, f0), (m1, f1), (m4, f4)))
        np.testing.assert_array_equal(im1, im4)  # the units change no pixel
        assert np.array_equal(np.asarray(Image.open(m1 / f1["part_mask_path"])),
                              np.asarray(Image.open(plain / f0["part_mask_path"])))  # no new part
        changed = np.argwhere(np.any(im0 != im1, axis=2))  # (row, col)
        xy, _ = project(cfm[:3, 3] + (corners - cfm[:3, 3]) * grow, k, np.asarray(f1["transform_matrix"]))
        if len(changed):
            assert changed[:, 1].min() >= np.floor(xy[:, 0].min()) - 1 and changed[:, 1].max() <= xy[:, 0].max() + 1
            assert changed[:, 0].min() >= np.floor(xy[:, 1].min()) - 1 and changed[:, 0].max() <= xy[:, 1].max() + 1
        c1, c4 = np.asarray(f1["transform_matrix"]), np.asarray(f4["transform_matrix"])
        np.testing.assert_allclose(c4[:3, :3], c1[:3, :3], atol=1e-9)
        np.testing.assert_allclose(c4[:3, 3], 4 * c1[:3, 3], atol=1e-8)
        d1, d4 = (np.asarray(Image.open(d / f["true_depth_path"])).astype(float) for d, f in ((m1, f1), (m4, f4)))
        assert np.abs(d4 - 4 * d1).max() <= 2.0  # millimetres then 1/1000 capture units, each rounded
    assert any(np.any(np.asarray(Image.open(m1 / f["file_path"])) != np.asarray(Image.open(plain / f["file_path"])))
               for f in metas[1]["frames"])
    g4 = gts[2]["marker"]
    assert g4["metres_per_unit"] == 0.25 and g4["size_m"] == 0.08
    np.testing.assert_allclose(g4["corners_capture"], 4 * corners, atol=1e-6)
    np.testing.assert_allclose(np.asarray(g4["capture_from_marker"])[:3, 3], 4 * cfm[:3, 3], atol=1e-6)
    np.testing.assert_allclose(gts[2]["centroid"], 4 * np.asarray(gts[1]["centroid"]), atol=1e-5)
    np.testing.assert_allclose(np.load(m4 / "ground_truth_points.npy"), 4 * np.load(m1 / "ground_truth_points.npy"),
                               atol=1e-5)
    o3d = pytest.importorskip("open3d")
    p1, p4 = (np.asarray(o3d.io.read_point_cloud(str(d / "sparse_pc.ply")).points) for d in (m1, m4))
    np.testing.assert_allclose(p4, 4 * p1, atol=1e-5)


def test_marker_options_checked(tmp_path: Path) -> None:
    from point2act.errors import Point2ActError

    with pytest.raises(Point2ActError, match="DICT_NOPE"):
        generate_scene(tmp_path / "a", replace(SMALL, num_views=1, marker_size=0.05, marker_dictionary="DICT_NOPE"))
    with pytest.raises(Point2ActError, match="marker_id 50 is not in DICT_4X4_50"):
        generate_scene(tmp_path / "b", replace(SMALL, num_views=1, marker_size=0.05, marker_id=50))
    with pytest.raises(ValueError, match="capture_units_per_metre"):
        generate_scene(tmp_path / "c", replace(SMALL, num_views=1, capture_units_per_metre=0.0))


def test_true_surface_parts_index_the_sorted_part_names(scene) -> None:
    """The demo's judge gets the true surface as a part index into the sorted part names: the same points and
    the same name per point as the per-point names, and the index numpy's ``unique`` gives them."""
    from point2act.demo import true_surface, true_surface_parts

    root = scene[0]
    pts, part, names = true_surface_parts(root, density=2e4)
    pts2, per_point = true_surface(root, density=2e4)
    assert np.array_equal(pts, pts2) and part.dtype == np.int32
    assert names == sorted(names) and len(set(names)) == len(names) >= 3
    expect_names, expect_index = np.unique(per_point.astype(str), return_inverse=True)
    assert names == expect_names.tolist() and np.array_equal(part, expect_index)
    assert (np.asarray(names, dtype=object)[part] == per_point).all()
