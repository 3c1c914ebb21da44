"""The real-capture benchmark's hand annotations, camera models and points files (benchmarks/real).

Skips when the shared data (``../shared/data``) is absent. No training: cameras, triangulation, the
points files the runner writes, and nerfstudio's own image lists.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POINT2ACT_SHARED_DATA", ROOT.parent / "shared" / "data"))
TARGET_FILES = sorted((ROOT / "benchmarks" / "real" / "targets").glob("*.json"))

needs_data = pytest.mark.skipif(not (SHARED / "real").is_dir(), reason=f"shared test data not found at {SHARED}")


def _targets():
    from benchmarks.real.targets import load_target

    return [load_target(p) for p in TARGET_FILES]


# ----------------------------------------------------------------------------------------------
# camera model: closed forms and OpenCV
# ----------------------------------------------------------------------------------------------
def test_projection_pinhole_closed_form():
    from benchmarks.real.cameras import Camera

    K = np.array([[500.0, 0, 320.5], [0, 480.0, 240.25], [0, 0, 1]])
    cam = Camera("images/x.png", 640, 480, K, np.eye(3), np.zeros(3))
    X = np.array([[0.1, -0.2, 2.0], [0.0, 0.0, 1.0], [-1.0, 0.5, 4.0]])
    expect = np.stack([500.0 * X[:, 0] / X[:, 2] + 320.5, 480.0 * X[:, 1] / X[:, 2] + 240.25], axis=1)
    np.testing.assert_allclose(cam.project(X), expect, atol=1e-12)
    # a rotated, translated camera: a point on its optical axis lands on the principal point
    from scipy.spatial.transform import Rotation

    R = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()
    C = np.array([1.0, 2.0, -3.0])
    cam2 = Camera("images/y.png", 640, 480, K, R, -R @ C)
    on_axis = C + 3.0 * R.T @ np.array([0, 0, 1.0])
    np.testing.assert_allclose(cam2.project(on_axis[None])[0], [320.5, 240.25], atol=1e-9)
    np.testing.assert_allclose(cam2.center, C, atol=1e-12)


def test_distortion_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    from benchmarks.real.cameras import Camera, undistort

    rng = np.random.default_rng(0)
    K = np.array([[569.1, 0, 280.7], [0, 571.1, 486.4], [0, 0, 1]])
    for dist in ([-0.106, 0.0139, 0.0169, -0.0024, 0.0], [0.05, -0.02, -0.004, 0.003, 0.01]):
        rvec = rng.normal(size=3) * 0.3
        tvec = rng.normal(size=3) * 0.2
        R, _ = cv2.Rodrigues(rvec)
        cam = Camera("images/x.jpg", 540, 960, K, R, tvec, np.asarray(dist))
        X = rng.uniform([-0.6, -0.9, 2.0], [0.6, 0.9, 3.0], size=(50, 3))
        X = (X - tvec) @ R  # the same points in front of the camera, written in world coordinates
        ref, _ = cv2.projectPoints(X, rvec, tvec, K, np.asarray(dist))
        np.testing.assert_allclose(cam.project(X), ref.reshape(-1, 2), atol=1e-6)
        # undistortion inverts distortion (as cv2.undistortPoints)
        uv = ref.reshape(-1, 2)
        ref_n = cv2.undistortPoints(uv.reshape(-1, 1, 2), K, np.asarray(dist)).reshape(-1, 2)
        np.testing.assert_allclose(cam.normalized(uv), ref_n, atol=1e-6)
        xy_d = (uv - K[:2, 2]) / np.diag(K)[:2]
        np.testing.assert_allclose(undistort(xy_d, dist), ref_n, atol=1e-6)


def test_triangulation_recovers_a_point():
    from benchmarks.real.cameras import Camera, triangulate

    K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
    X = np.array([0.1, -0.05, 0.2])
    cams, uvs = [], []
    for i, az in enumerate(np.linspace(0, 300, 6)):
        C = X + 2.0 * np.array([math.cos(math.radians(az)), math.sin(math.radians(az)), 0.8])
        z = (X - C) / np.linalg.norm(X - C)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])  # rows: camera axes in the world
        cam = Camera(f"images/{i}.png", 640, 480, K, R, -R @ C, np.array([-0.1, 0.01, 0.001, -0.002, 0]))
        cams.append(cam)
        uvs.append(cam.project(X[None])[0] + (1.5 if i == 0 else 0.0))
    Xt, err = triangulate(cams, uvs)
    assert np.linalg.norm(Xt - X) < 5e-3
    assert err.max() < 2.0


# ----------------------------------------------------------------------------------------------
# the captures' own cameras (conventions checked against independent data)
# ----------------------------------------------------------------------------------------------
@needs_data
def test_transforms_json_convention_reproduces_the_coke_projections():
    """15 of coke's pull_tab.json points are reference.json's position projected with the calibrated
    camera and distortion (by whoever made the file): the OpenGL->OpenCV pose and the distortion
    model here must give the same pixels."""
    from benchmarks.real.targets import cameras_of

    coke = SHARED / "real" / "coke"
    ref = json.loads((coke / "reference.json").read_text())["pull_tab"]
    pts = json.loads((coke / "points" / "pull_tab.json").read_text())["points"]
    cams = cameras_of("coke")
    X = np.asarray([ref["position"]])
    for key in ref["projected_from_position"]:
        np.testing.assert_allclose(cams[key].project(X)[0], pts[key][0], atol=0.11)


@needs_data
@pytest.mark.parametrize("capture,points_file", [("tools", "sparse/0/points3D.txt"), ("mouse", None)])
def test_colmap_points_reproject_onto_their_observations(capture, points_file):
    """COLMAP's own 3D points land on their 2D observations (median < 1 px) with these cameras."""
    from benchmarks.real.targets import CAPTURES, cameras_of

    spec = CAPTURES[capture]
    model = spec.path / spec.colmap_path
    cams = cameras_of(capture)
    res = []
    if points_file is not None:  # text model
        xyz = {}
        for line in (spec.path / points_file).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                s = line.split()
                xyz[int(s[0])] = np.array(list(map(float, s[1:4])))
        lines = [ln for ln in (model / "images.txt").read_text().splitlines() if not ln.startswith("#")]
        for i in range(0, len(lines) - 1, 2):
            name = lines[i].split()[9]
            obs = np.array(lines[i + 1].split(), dtype=float).reshape(-1, 3)
            obs = obs[[int(j) in xyz for j in obs[:, 2]]]
            X = np.array([xyz[int(j)] for j in obs[:, 2]])
            res.append(np.linalg.norm(cams[f"images/{name}"].project(X) - obs[:, :2], axis=1))
    else:  # binary model: read it with nerfstudio's reader (an independent implementation)
        from nerfstudio.data.utils.colmap_parsing_utils import read_images_binary, read_points3D_binary

        pts = read_points3D_binary(model / "points3D.bin")
        for im in read_images_binary(model / "images.bin").values():
            m = im.point3D_ids >= 0
            X = np.array([pts[j].xyz for j in im.point3D_ids[m]])
            res.append(np.linalg.norm(cams[f"images/{im.name}"].project(X) - im.xys[m], axis=1))
    r = np.concatenate(res)
    assert len(r) > 1000
    assert np.median(r) < 1.0


# ----------------------------------------------------------------------------------------------
# the annotations
# ----------------------------------------------------------------------------------------------
def test_target_files_parse_and_have_the_protocols_shape():
    targets = _targets()
    assert len(targets) >= 9
    assert {t.capture for t in targets} >= {"coke", "fruit", "gum", "mouse", "tools"}
    wrong = 0
    for t in targets:
        kinds = [e["kind"] for e in t.errors.values()]
        assert kinds.count("empty") == 1, t.name
        wrong += "wrong_object" in kinds
        n_correct = sum(1 for k, v in t.supervised.items() if k not in t.errors and v)
        assert n_correct >= 5 and n_correct > len(t.errors), t.name
        assert len(t.held_out) >= 3, t.name
        assert t.position is not None and len(t.reprojection_px) == len(t.correct_points()), t.name
    assert wrong >= 4


@needs_data
@pytest.mark.parametrize("path", TARGET_FILES, ids=lambda p: p.stem)
def test_triangulated_position_reprojects_onto_every_hand_point(path):
    from benchmarks.real.targets import annotation_problems, load_target

    assert annotation_problems(load_target(path)) == []


@needs_data
def test_a_bad_annotation_is_caught():
    """Moving one hand point (a slip, a wrong object) must make the check fail."""
    from benchmarks.real.targets import annotation_problems, cameras_of, load_target, reprojection_bound

    t = load_target(TARGET_FILES[0])
    key = next(iter(t.held_out))
    bound = reprojection_bound(cameras_of(t.capture)[key])
    x, y = t.held_out[key][0]
    t.held_out[key] = [[x + 2.5 * bound, y]]
    problems = annotation_problems(t)
    assert any(key in p for p in problems), problems
    # a wrong-object "error" that sits on the target is caught too
    t = load_target(TARGET_FILES[0])
    good = next(k for k, v in t.supervised.items() if v and k not in t.errors)
    t.errors[good] = {"kind": "wrong_object", "note": "test"}
    assert any("not a wrong object" in p for p in annotation_problems(t))


# ----------------------------------------------------------------------------------------------
# points files written by the runner, against point2act's loader and nerfstudio's image lists
# ----------------------------------------------------------------------------------------------
def _nerfstudio_keys(capture: str):
    """(train keys, eval keys, stored sizes) as point2act's datamanager names the images of the
    capture, from nerfstudio's own dataparser (downscale 1: the keys do not depend on it)."""
    from nerfstudio.data.dataparsers.colmap_dataparser import ColmapDataParserConfig
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from benchmarks.real.targets import CAPTURES

    spec = CAPTURES[capture]
    if spec.parser == "nerfstudio-data":
        cfg = NerfstudioDataParserConfig(data=spec.path, downscale_factor=1)
    else:
        cfg = ColmapDataParserConfig(data=spec.path, colmap_path=Path(spec.colmap_path), downscale_factor=1)
    parser = cfg.setup()
    out = {}
    sizes = {}
    for split in ("train", "val"):
        dpo = parser.get_dataparser_outputs(split)
        keys = [Path(f).relative_to(spec.path).as_posix() for f in dpo.image_filenames]
        out[split] = keys
        for k, w, h in zip(keys, dpo.cameras.width[:, 0].tolist(), dpo.cameras.height[:, 0].tolist()):
            sizes[k] = (int(w), int(h))
    return out["train"], out["val"], sizes


@needs_data
@pytest.mark.parametrize("capture", ["coke", "fruit", "gum", "mouse", "tools"])
def test_runner_points_files_parse_with_point2act_against_the_image_list(capture, tmp_path):
    from benchmarks.real.run import write_points
    from benchmarks.real.targets import split_of
    from point2act.points import load_points_file

    train, evals, sizes = _nerfstudio_keys(capture)
    # the benchmark's own split replica agrees with nerfstudio's
    assert split_of(capture) == (train, evals)
    targets = [t for t in _targets() if t.capture == capture]
    assert targets
    for t in targets:
        path = write_points(t, tmp_path)
        pf = load_points_file(path)
        pf.validate_against(sizes)  # every key an image of the capture, every point inside it
        assert pf.prompt == t.prompt
        assert set(pf.points) == set(t.supervised)
        assert set(pf.points) <= set(train), f"{t.name}: supervised views outside nerfstudio's training split"
        assert not set(pf.points) & set(t.held_out)
        assert set(t.held_out) <= set(train) | set(evals)
        assert any(v == [] for v in pf.points.values())


@needs_data
def test_score_of_the_triangulated_position_is_its_annotation_spread():
    """The runner's score of an action point exactly at the triangulated position: the held-out
    errors are the stored reprojection errors, the 3D error is 0 (and coke's reference is close)."""
    from benchmarks.real.run import markdown, score, summarise

    for t in _targets():
        s = score(t, t.position)
        assert s["dist3d_units"] < 1e-9
        for k, px in s["held_out_px"].items():
            assert abs(px - t.reprojection_px[k]) < 0.02
        assert s["px"] == pytest.approx(float(np.median([t.reprojection_px[k] for k in t.held_out])), abs=0.02)
        if t.capture == "coke":
            assert s["dist_reference_units"] < 0.05
        entry = summarise(t, {"seed0": s, "seed1": {"error": "failed"}})
        assert entry["median_px"] == entry["worst_seed_px"] == round(s["px"], 2)
        assert t.name in markdown({"real": {t.name: entry}, "command": "python -m benchmarks.real"})


def test_scale_fit_recovers_a_known_similarity_and_hand_eye_offset():
    """benchmarks.real.scale against a closed form: poses built from a known (R, s, t, o)."""
    from scipy.spatial.transform import Rotation

    from benchmarks.real.scale import fit_scale

    rng = np.random.default_rng(3)
    R, s, t, o = Rotation.random(random_state=5).as_matrix(), 0.73, np.array([0.2, -0.1, 0.4]), np.array([0.05, -0.03, -0.08])
    C = rng.normal(size=(15, 3))
    P = np.tile(np.eye(4), (15, 1, 1))
    P[:, :3, :3] = Rotation.random(15, random_state=7).as_matrix()
    P[:, :3, 3] = s * C @ R.T + t - P[:, :3, :3] @ o
    s_fit, o_fit, rms = fit_scale(C, P)
    assert s_fit == pytest.approx(s, rel=1e-6) and np.allclose(o_fit, o, atol=1e-6) and rms < 1e-6


def test_export_command_exports_grasps_only_with_a_metric_scale(tmp_path):
    from benchmarks.real.run import export_command

    with_scale = export_command(tmp_path / "config.yml", tmp_path / "g.json", True, 0.1)
    assert with_scale[-2:] == ["--metres-per-unit", "0.1"] and "--no-grasps" not in with_scale
    assert export_command(tmp_path / "config.yml", tmp_path / "g.json", True, None)[-1] == "--no-grasps"
