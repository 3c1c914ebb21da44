"""The pipeline on a capture without a point cloud whose images SIFT is not asked to triangulate
(``--pipeline.datamanager.triangulate False``): the Gaussians start from the points the views agree on
(:mod:`point2act.photo_start`) and the random ones beside them, and those start points lie on the scene's true
surfaces (the generator's depth maps, which training never reads)."""

from __future__ import annotations

import copy

import numpy as np


def test_the_start_is_the_points_the_views_agree_on(tmp_path):
    from nerfstudio.configs.method_configs import all_methods
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
    from scipy.spatial import cKDTree

    from benchmarks.bench_photo_start import load_views
    from point2act.synth import SynthConfig, generate_scene
    from point2act.triangulate import read_ply

    scene = tmp_path / "scene"
    generate_scene(scene, SynthConfig(seed=3))
    cfg = copy.deepcopy(all_methods["point2act"].pipeline)
    cfg.datamanager.data = scene
    cfg.datamanager.triangulate = False
    cfg.datamanager.dataparser = NerfstudioDataParserConfig(load_3D_points=False)
    pipeline = cfg.setup(device="cpu", test_mode="val", world_size=1, local_rank=0)
    dm, model = pipeline.datamanager, pipeline.model
    assert dm.triangulated_path is not None and dm.triangulated_path.is_file()
    start, _colors = read_ply(dm.triangulated_path)
    assert len(start) >= 100
    n = int(model.config.num_random)
    assert model.random_points == n and model.num_points == len(start) + n
    assert model.opacity_reg > 0  # random Gaussians beside the start: the opacity prior fades the unneeded ones
    # back to the capture frame (nerfstudio's: x_ns = scale * (R x + t)), against the true depth maps' surface
    out = dm.train_dataparser_outputs
    T = out.dataparser_transform.numpy().astype(np.float64)
    x = (start / float(out.dataparser_scale) - T[:3, 3]) @ T[:3, :3]
    _images, _Ks, _vms, surface = load_views(scene)
    d, _ = cKDTree(surface).query(x)
    assert np.median(d) < 0.005, np.median(d)
