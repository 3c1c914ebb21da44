"""RUN/run_info.pt's light cameras (point2act.method.viewcameras.ViewCameras) against nerfstudio's own
``Cameras``: the same matrices, bit for bit, through point2act.method.run_layer.camera_views and the points
mapping. The end-to-end check on a trained run is tests/e2e/test_run_info.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def _cameras(n: int = 5, seed: int = 0):
    from nerfstudio.cameras.cameras import Cameras, CameraType

    g = torch.Generator().manual_seed(seed)
    c2w = torch.randn(n, 3, 4, generator=g)
    dist = torch.zeros(n, 6)
    dist[:, 0] = torch.rand(n, generator=g) * 0.2 - 0.1
    dist[:, 4] = torch.rand(n, generator=g) * 0.01
    types = torch.full((n, 1), CameraType.PERSPECTIVE.value)
    types[1] = CameraType.FISHEYE.value
    return Cameras(camera_to_worlds=c2w, fx=torch.rand(n, 1, generator=g) * 500 + 300,
                   fy=torch.rand(n, 1, generator=g) * 500 + 300, cx=torch.rand(n, 1, generator=g) * 100 + 100,
                   cy=torch.rand(n, 1, generator=g) * 100 + 80, width=torch.randint(200, 541, (n, 1), generator=g),
                   height=torch.randint(150, 961, (n, 1), generator=g), distortion_params=dist, camera_type=types)


def test_fisheye_constant_is_nerfstudios():
    from nerfstudio.cameras.cameras import CameraType

    from point2act.method import viewcameras

    assert viewcameras._FISHEYE == CameraType.FISHEYE.value


@pytest.mark.parametrize("downscale", [1, 2, 3, 4])
def test_view_cameras_give_nerfstudios_matrices(downscale):
    from point2act.method.run_layer import camera_views
    from point2act.method.viewcameras import cameras_from_fields, camera_fields

    cams = _cameras()
    light = cameras_from_fields(camera_fields(cams))
    assert len(light) == len(cams) and light.shape == tuple(cams.shape)
    a, b = camera_views(cams, downscale), camera_views(light, downscale)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    for i in range(len(cams)):
        assert torch.equal(cams[i].get_intrinsics_matrices(), light[i].get_intrinsics_matrices())
        assert torch.equal(cams[i].distortion_params, light[i].distortion_params)
        assert int(cams[i].camera_type.item()) == int(light[i].camera_type.item())
        assert int(cams.height[i]) == int(light.height[i]) and int(cams.width[i]) == int(light.width[i])
    assert torch.equal(cams.camera_to_worlds[:, :3, 3], light.camera_to_worlds[:, :3, 3])


def test_points_mapping_is_the_same_for_both_cameras():
    from point2act.method.answers import points_in_training_images
    from point2act.method.viewcameras import camera_fields, cameras_from_fields

    raw, final = _cameras(seed=1), _cameras(seed=2)
    pts = {i: np.random.default_rng(i).uniform(0, 300, (3, 2)).astype(np.float32) for i in (0, 2, 4)}
    a = points_in_training_images(pts, raw, final, 2)
    b = points_in_training_images(pts, cameras_from_fields(camera_fields(raw)), cameras_from_fields(camera_fields(final)), 2)
    assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a)


def test_random_start_is_a_transforms_json_without_a_point_cloud(tmp_path):
    """export's note on runs that started from random points: told from the capture's transforms.json (a
    'ply_file_path' there: a point cloud; no transforms.json, e.g. a COLMAP model, or an unreadable one: not
    claimed)."""
    import json

    from point2act.method.export_run import random_start

    run = tmp_path / "run" / "config.yml"  # no run info there: the capture the config names is used
    cap = tmp_path / "cap"
    cap.mkdir()
    (cap / "transforms.json").write_text(json.dumps({"frames": [{"file_path": "a.png"}]}))
    assert random_start(run, cap) is True
    assert random_start(run, cap / "transforms.json") is True
    (cap / "transforms.json").write_text(json.dumps({"frames": [], "ply_file_path": "sparse_pc.ply"}))
    assert random_start(run, cap) is False
    (cap / "transforms.json").write_text("{not json")
    assert random_start(run, cap) is False
    assert random_start(run, tmp_path / "colmap") is False
    assert random_start(run, None) is False


def test_start_note_names_the_triangulated_start(tmp_path):
    """A run that started from the cloud training triangulated (its triangulated.ply) is no random start: its
    note gives the triangulated point count; without that file the capture decides, as above."""
    import json

    import numpy as np

    from point2act.method.export_run import RANDOM_START_NOTE, random_start, start_note
    from point2act.startcloud.triangulate import write_ply

    run = tmp_path / "run" / "config.yml"
    run.parent.mkdir()
    cap = tmp_path / "cap"
    cap.mkdir()
    (cap / "transforms.json").write_text(json.dumps({"frames": [{"file_path": "a.png"}]}))
    assert start_note(run, cap) == RANDOM_START_NOTE
    write_ply(run.parent / "triangulated.ply", np.random.default_rng(0).random((37, 3)), np.zeros((37, 3), np.uint8))
    assert random_start(run, cap) is False
    note = start_note(run, cap)
    assert "started from the 37 points triangulated" in note and "random points (" not in note
    (run.parent / "triangulated.ply").unlink()
    (cap / "transforms.json").write_text(json.dumps({"frames": [], "ply_file_path": "sparse_pc.ply"}))
    assert start_note(run, cap) == ""


def test_run_answers_are_the_runs_own(tmp_path):
    """RUN/points.json is what a run's export reads: an edited points file is reported and not used, a
    deleted one changes nothing; a run without stored answers falls back to the points file it names."""
    import json
    import warnings

    from point2act.method.answers import AnswersDifferWarning, run_answers, store_answers, stored_prompt
    from point2act.points import load_points_file, parse_points

    run, ext = tmp_path / "run", tmp_path / "points.json"
    config_path = run / "config.yml"
    doc = {"prompt": "the handle", "coordinates": "pixels", "points": {"images/a.png": [[3.0, 4.0]], "images/b.png": []}}
    ext.write_text(json.dumps(doc))
    cfg = ext  # the points file the run's config names
    assert run_answers(config_path, cfg) == ext  # nothing stored: the points file config.yml names
    assert run_answers(config_path, tmp_path / "gone.json") is None
    stored = store_answers(run, load_points_file(ext))
    assert stored == run / "points.json" and load_points_file(stored).points == load_points_file(ext).points
    assert stored_prompt(run) == "the handle" and stored_prompt(tmp_path / "no_run") == ""  # the viewer's task
    other = tmp_path / "other.json"  # a caller's config naming other answers on purpose: those
    other.write_text(json.dumps({**doc, "prompt": "the rim"}))
    assert run_answers(config_path, other) == other.resolve()
    assert run_answers(config_path, None) == stored
    pointer_run = tmp_path / "pointer_run"  # answers the pointer gave (no file named in config.yml)
    assert store_answers(pointer_run, parse_points(doc, "test")) == pointer_run / "points.json"
    assert run_answers(pointer_run / "config.yml", None) == pointer_run / "points.json"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same answers: no warning
        assert run_answers(config_path, cfg) == stored
    ext.write_text(json.dumps({**doc, "points": {"images/a.png": [[9.0, 9.0]], "images/b.png": []}}))
    with pytest.warns(AnswersDifferWarning, match="not those this run was trained on"):
        assert run_answers(config_path, cfg) == stored
    ext.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_answers(config_path, cfg) == stored


def test_a_downscale_on_load_hashes_as_the_config_it_came_from(shared_data):
    """A COLMAP capture without ``images_2/`` trained at ``--downscale-factor 2``: the datamanager's setup rewrites
    its config into a downscale on load (``downscale_factor`` 1, ``camera_res_scale_factor`` 0.5). That config must
    hash as the ``config.yml`` it came from, or the end of training decodes every image again to build the run's
    info (``datamanager_info.write_after_training``); another factor must not."""
    import copy
    from pathlib import Path

    from nerfstudio.data.dataparsers.colmap_dataparser import ColmapDataParserConfig

    from point2act.method.datamanager import Point2ActDataManagerConfig, _check_capture
    from point2act.method.datamanager_info import datamanager_fingerprint

    capture = shared_data / "real" / "tools"
    assert not (capture / "images_2").exists()
    cfg = Point2ActDataManagerConfig(data=capture, dataparser=ColmapDataParserConfig(
        colmap_path=Path("sparse/0"), downscale_factor=2, load_3D_points=False))
    trained = copy.deepcopy(cfg)
    _check_capture(trained, "val")
    assert trained.dataparser.downscale_factor == 1 and trained.camera_res_scale_factor == 0.5
    assert datamanager_fingerprint(trained) == datamanager_fingerprint(cfg)
    other = copy.deepcopy(cfg)
    other.dataparser.downscale_factor = 4
    assert datamanager_fingerprint(other) != datamanager_fingerprint(cfg)


def test_the_info_rebuild_computes_no_start_cloud():
    """The training datamanager the run's info is rebuilt from asks for no answers, and computes neither a start
    cloud nor a table plane: the info holds cameras, image keys and sizes only, and a capture without a cloud
    would triangulate and sweep its photos first (minutes for a large one)."""
    import types
    from pathlib import Path

    from point2act.method import datamanager_info
    from point2act.method.datamanager import Point2ActDataManagerConfig

    seen = {}

    class Recording(Point2ActDataManagerConfig):
        def setup(self, **kwargs):
            seen.update(triangulate=self.triangulate, plane_depth=self.plane_depth, points_file=self.points_file,
                        prompt=self.prompt, kwargs=kwargs)
            return "dm"

    disk = types.SimpleNamespace(pipeline=types.SimpleNamespace(
        datamanager=Recording(points_file=Path("answers.json"), prompt="the mug")))
    assert datamanager_info._training_datamanager(disk) == "dm"
    assert seen == {"triangulate": False, "plane_depth": False, "points_file": None, "prompt": "",
                    "kwargs": {"device": "cpu", "test_mode": "val"}}
    assert disk.pipeline.datamanager.triangulate and disk.pipeline.datamanager.plane_depth  # the run's own config
