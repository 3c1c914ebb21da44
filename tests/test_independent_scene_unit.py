"""The independent synthetic generator (tests/independent_scene.py) checked against its own closed
forms: the ray caster, the camera model, the points file and the written capture. Fast (no torch)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import independent_scene as ind


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    out = tmp_path_factory.mktemp("independent") / "scene"
    gt = ind.generate_independent_scene(out)
    return out, gt


def _view(out, i):
    meta = json.loads((out / "transforms.json").read_text())
    c2w = np.asarray(meta["frames"][i]["transform_matrix"])
    K = {k: meta[k] for k in ("fl_x", "fl_y", "cx", "cy")}
    labels = np.load(out / f"labels/{i:03d}.npy")
    depth = np.load(out / f"depth/{i:03d}.npy").astype(np.float64)
    return c2w, K, labels, depth


def _unproject(c2w, K, ii, jj, depth):
    """Pixels (row, column) at z-depth -> world points, with the generator's (nerfstudio's) convention."""
    x = (jj + 0.5 - K["cx"]) / K["fl_x"] * depth
    y = -(ii + 0.5 - K["cy"]) / K["fl_y"] * depth
    pc = np.stack([x, y, -depth], axis=1)
    return pc @ c2w[:3, :3].T + c2w[:3, 3]


def test_capture_layout_as_users_have_it(capture):
    out, gt = capture
    meta = json.loads((out / "transforms.json").read_text())
    assert "ply_file_path" not in meta and not list(out.glob("*.ply"))
    assert meta["w"] == 160 and meta["h"] == 120 and meta["camera_model"] == "OPENCV"
    assert len(meta["frames"]) == 24 and all((out / f["file_path"]).is_file() for f in meta["frames"])
    for f in meta["frames"]:
        m = np.asarray(f["transform_matrix"])
        assert np.allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-9) and np.allclose(m[3], [0, 0, 0, 1])
    # two rings at two heights, not a hemisphere of jittered cameras
    heights = sorted({round(float(f["transform_matrix"][2][3]), 3) for f in meta["frames"]})
    assert len(heights) == 2
    # the background is one plain colour
    from PIL import Image

    c2w, K, labels, _ = _view(out, 0)
    img = np.asarray(Image.open(out / "images/000.png"))
    bg = img[labels == ind.BACKGROUND]
    assert len(bg) > 100 and (bg == bg[0]).all()
    # the points file is valid for point2act and has both kinds of views
    from point2act.checks.capture import validate_capture
    from point2act.points import load_points_file

    s = validate_capture(out)
    pf = load_points_file(out / "points.json")
    pf.validate_against(s.sizes)
    n_pos = sum(1 for v in pf.points.values() if v)
    assert 8 <= n_pos < len(pf.points) == 24 and gt["views_with_target"] == n_pos


def test_sphere_and_box_closed_forms():
    o = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.5, 0.0, 1.0]])
    d = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
    t, n = ind._sphere(o, d, (0.0, 0.0, 0.0), 0.25)
    assert np.allclose(t[:2], 0.75) and np.isinf(t[2]) and np.allclose(n[0], [0, 0, 1])
    t, n = ind._box(o, d, (-0.1, -0.1, 0.0), (0.1, 0.1, 0.2))
    assert np.allclose(t[:2], 0.8) and np.isinf(t[2]) and np.allclose(n[0], [0, 0, 1])
    # the cone, from the side at half height: radius halves
    t, n = ind._cone(np.array([[1.0, 0.0, 0.05]]), np.array([[-1.0, 0.0, 0.0]]), (0.0, 0.0, 0.0), 0.04, 0.1)
    assert np.isclose(t[0], 1.0 - 0.02)


def test_projected_target_points_land_on_target_pixels(capture):
    """Every visible knob pixel, unprojected with its depth and projected back, lands in the same
    knob-labelled pixel; the points file's point is a knob pixel; views with [] see no (or almost no) knob."""
    out, gt = capture
    pts = json.loads((out / "points.json").read_text())["points"]
    for i in range(24):
        c2w, K, labels, depth = _view(out, i)
        ii, jj = np.nonzero(labels == ind.TARGET)
        key = f"images/{i:03d}.png"
        if not pts[key]:
            assert len(ii) < 6
            continue
        X = _unproject(c2w, K, ii, jj, depth[ii, jj])
        # on the knob's sphere, inside its bbox
        r = np.linalg.norm(X - np.asarray(gt["centre"]), axis=1)
        assert np.allclose(r, 0.018, atol=1e-6)
        assert np.all(X >= np.asarray(gt["bbox_min"]) - 1e-9) and np.all(X <= np.asarray(gt["bbox_max"]) + 1e-9)
        uv, z = ind.project(X, c2w, K)
        assert np.array_equal(np.floor(uv[:, 0]).astype(int), jj) and np.array_equal(np.floor(uv[:, 1]).astype(int), ii)
        assert np.allclose(z, depth[ii, jj])
        x, y = pts[key][0]
        assert labels[int(y), int(x)] == ind.TARGET


def test_depth_is_consistent_between_views(capture):
    """A surface point seen in view a, projected into view b where it is in front of everything
    else, has view b's depth there (the depth maps agree, so the poses and intrinsics do)."""
    out, _ = capture
    ca, K, la, da = _view(out, 0)
    rng = np.random.default_rng(0)
    fg = np.argwhere(np.isfinite(da))
    sel = fg[rng.choice(len(fg), 400, replace=False)]
    X = _unproject(ca, K, sel[:, 0], sel[:, 1], da[sel[:, 0], sel[:, 1]])
    checked = 0
    for b in (1, 5, 13, 20):
        cb, _, lb, db = _view(out, b)
        uv, z = ind.project(X, cb, K)
        # sample at pixel centres only: compare against the exact ray of that pixel instead
        jj, ii = np.floor(uv[:, 0]).astype(int), np.floor(uv[:, 1]).astype(int)
        inside = (jj >= 0) & (jj < 160) & (ii >= 0) & (ii < 120) & (z > 0)
        o, d, zlen = ind.pixel_rays(cb, K, 160, 120)
        for k in np.nonzero(inside)[0]:
            # the depth of X along view b's camera axis vs. the cast depth of the pixel X falls in:
            # where X is visible (not occluded) they agree to within the pixel's footprint
            if z[k] <= db[ii[k], jj[k]] + 1e-3 and lb[ii[k], jj[k]] == la[sel[k, 0], sel[k, 1]]:
                foot = z[k] / K["fl_x"] * 4  # a few pixels of slope on a tilted surface
                assert abs(db[ii[k], jj[k]] - z[k]) < max(foot, 1e-3), (b, k, db[ii[k], jj[k]], z[k])
                checked += 1
    assert checked > 200


def test_generation_is_deterministic(tmp_path):
    a = ind.generate_independent_scene(tmp_path / "a")
    b = ind.generate_independent_scene(tmp_path / "b")
    assert a == b
    for name in ("transforms.json", "points.json", "images/000.png", "images/017.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_nerfstudio_reads_the_cameras_as_written(capture):
    """nerfstudio's own parser and camera model give, for every pixel of a view, the ray the
    generator cast (after its orientation / centring / scale of the world): the capture's poses,
    intrinsics and pixel convention are nerfstudio's."""
    import torch
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    out, _ = capture
    dp = NerfstudioDataParserConfig(data=out).setup()
    outputs = dp.get_dataparser_outputs("train")
    T = outputs.dataparser_transform.numpy().astype(np.float64)
    s = float(outputs.dataparser_scale)
    meta = json.loads((out / "transforms.json").read_text())
    K = {k: meta[k] for k in ("fl_x", "fl_y", "cx", "cy")}
    for idx in (0, 7, len(outputs.image_filenames) - 1):
        i = int(outputs.image_filenames[idx].stem)
        c2w = np.asarray(meta["frames"][i]["transform_matrix"])
        o, d, _ = ind.pixel_rays(c2w, K, 160, 120)
        with torch.no_grad():
            rays = outputs.cameras.generate_rays(camera_indices=idx, keep_shape=True)
        o_ns = rays.origins.reshape(-1, 3).numpy().astype(np.float64)
        d_ns = rays.directions.reshape(-1, 3).numpy().astype(np.float64)
        assert np.allclose(o_ns, s * (o @ T[:3, :3].T + T[:3, 3]), atol=1e-5)
        assert np.allclose(d_ns, d @ T[:3, :3].T, atol=1e-5)
