"""The support plane's depth as training supervision (:meth:`point2act.method.datamanager.Point2ActDataManager.
_supervise_plane_depth`): on a real capture loaded without its cloud and with random start, and the rules of where
it applies (no sensor depth; stereo depth wins where it has a value)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from point2act.method.keys import DEPTH_KEY


def _tools_random_start(shared_data):
    """The point2act pipeline on real/tools at an eighth of its resolution, without COLMAP's points and without
    triangulation: the random start of a capture whose texture does not triangulate."""
    from nerfstudio.configs.method_configs import all_methods
    from nerfstudio.data.dataparsers.colmap_dataparser import ColmapDataParserConfig

    cfg = copy.deepcopy(all_methods["point2act"].pipeline)
    cfg.datamanager.data = shared_data / "real" / "tools"
    cfg.datamanager.dataparser = ColmapDataParserConfig(colmap_path="sparse/0", downscale_factor=8,
                                                        load_3D_points=False, eval_mode="interval")
    cfg.datamanager.triangulate = False
    return cfg.setup(device="cpu", test_mode="val", world_size=1, local_rank=0)


def test_a_random_start_is_supervised_on_the_table(shared_data):
    """The patterned cloth of real/tools is found and its pixels carry the plane's depth: a share of every view,
    the same plane in all of them (the points the depths place lie within a pixel's footprint of one plane), and
    the model's depth loss is on."""
    pipeline = _tools_random_start(shared_data)
    dm, model = pipeline.datamanager, pipeline.model
    assert dm.train_dataparser_outputs.metadata.get("stereo_depth") is True and model.depth_supervised
    arrays, Ks, viewmats = dm.training_views()
    points, shares = [], []
    for data, K, V in zip(dm.cached_train, Ks, viewmats):
        d = data[DEPTH_KEY][..., 0].numpy().astype(np.float64)
        shares.append(float((d > 0).mean()))
        v, u = np.nonzero(d > 0)
        rays = np.stack([u + 0.5, v + 0.5, np.ones_like(u, dtype=np.float64)], -1) @ np.linalg.inv(K).T
        cam = rays * d[v, u][:, None]
        points.append((cam - V[:3, 3]) @ V[:3, :3])  # camera -> world
    assert np.median(shares) > 0.05, shares
    pts = np.concatenate(points)
    centre = pts.mean(0)
    normal = np.linalg.svd(pts - centre, full_matrices=False)[2][2]
    footprint = np.median([np.median(data[DEPTH_KEY][data[DEPTH_KEY] > 0].numpy()) / K[0, 0]
                           for data, K in zip(dm.cached_train, Ks)])
    assert np.percentile(np.abs((pts - centre) @ normal), 99) < footprint


def _stub(tmp_path, maps, sensor=False, stereo=None):
    """A datamanager's state for :meth:`_plane_depths` and :meth:`_supervise_plane_depth`: two 4 x 6 views."""
    images = [{"image": torch.zeros(4, 6, 3, dtype=torch.uint8)} for _ in range(2)]
    if stereo is not None:
        for data, s in zip(images, stereo):
            data[DEPTH_KEY] = torch.from_numpy(s)[..., None]
    meta = {"depth_filenames": ["a.png", "b.png"] if sensor else None}
    views = ([np.zeros((4, 6, 3), np.uint8)] * 2, np.stack([np.eye(3)] * 2), np.stack([np.eye(4)] * 2))
    return SimpleNamespace(train_dataparser_outputs=SimpleNamespace(metadata=meta), cached_train=images,
                           train_dataset=SimpleNamespace(metadata={}), training_views=lambda: views)


@pytest.mark.parametrize("case", ["sensor", "no-plane", "plane", "stereo"])
def test_plane_depth_only_without_sensor_depth_and_below_stereo(case, tmp_path, monkeypatch):
    """Sensor depth turns the plane off; no plane leaves the depth loss off; the plane's depth fills the pixels
    stereo left without one and never replaces a stereo depth."""
    import point2act.startcloud.plane_sweep as ps
    from point2act.method.datamanager import Point2ActDataManager

    monkeypatch.setenv("POINT2ACT_CACHE", str(tmp_path / "answers"))
    plane = [np.full((4, 6), 2.0, np.float32), np.zeros((4, 6), np.float32)]
    calls = []
    monkeypatch.setattr(ps, "support_plane", lambda *a, **k: calls.append(1) or (
        None if case == "no-plane" else ps.SupportPlane(np.array([0, 0, 1.0, 0]), 0.5, 0.1)))
    monkeypatch.setattr(ps, "plane_depths", lambda *a, **k: plane)
    stereo = None
    if case == "stereo":
        stereo = [np.zeros((4, 6), np.float32), np.zeros((4, 6), np.float32)]
        stereo[0][1, 2] = 1.5
    dm = _stub(tmp_path, plane, sensor=case == "sensor", stereo=stereo)
    supervise = lambda dm: Point2ActDataManager._supervise_plane_depth(  # noqa: E731  (as _start_from_photos does)
        dm, Point2ActDataManager._plane_depths(dm, dm.training_views()))
    supervise(dm)
    on = case in ("plane", "stereo")
    assert bool(dm.train_dataparser_outputs.metadata.get("stereo_depth")) is on
    assert bool(dm.train_dataset.metadata.get("stereo_depth")) is on
    assert len(calls) == (0 if case == "sensor" else 1)
    if on:
        got = dm.cached_train[0][DEPTH_KEY][..., 0].numpy()
        assert got.shape == (4, 6) and float(got[0, 0]) == 2.0
        assert float(got[1, 2]) == (1.5 if case == "stereo" else 2.0)
        # a second datamanager on the same views reads the cached depths: no sweep
        dm2 = _stub(tmp_path, plane)
        supervise(dm2)
        assert len(calls) == 1 and float(dm2.cached_train[0][DEPTH_KEY][0, 0, 0]) == 2.0
