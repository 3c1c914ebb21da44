"""The point2act method's default schedule: bounded, and derived from --max-num-iterations."""

from __future__ import annotations

import dataclasses
import math

import pytest

from point2act.method.schedule import AUTO_FIELDS, DEFAULT_ITERATIONS, auto_schedule, resolve_schedule


@pytest.fixture(scope="module")
def methods():
    import nerfstudio.configs.method_configs  # noqa: F401  (registers the plugin first: no import cycle)

    from point2act.method.config import point2act_big_method, point2act_method

    return point2act_method.config, point2act_big_method.config


def test_default_is_short(methods):
    cfg, _ = methods
    assert cfg.max_num_iterations == DEFAULT_ITERATIONS <= 3000
    assert cfg.pipeline.model.max_num_iterations == cfg.max_num_iterations
    assert cfg.optimizers["means"]["scheduler"].max_steps == cfg.max_num_iterations
    for f in AUTO_FIELDS:
        assert getattr(cfg.pipeline.model, f) is None, f


@pytest.mark.parametrize("n", [300, 1000, 2000, 5000, 12000, 30000])
def test_auto_schedule_fits_the_run(n):
    s = auto_schedule(n)
    assert 0 < s["warmup_length"] < s["stop_split_at"] <= n // 2 + s["refine_every"] + s["warmup_length"]
    assert s["refine_every"] <= s["warmup_length"]
    assert s["resolution_schedule"] * s["num_downscales"] <= n // 4  # full resolution from the first quarter's end
    assert s["num_downscales"] == 2  # splatfacto's two halvings at every length
    assert s["sh_degree_interval"] * s["sh_degree"] <= n // 2
    assert 0.0008 <= s["densify_grad_thresh"] <= 0.002
    if n < 10000:  # no opacity reset in a short run
        assert s["reset_alpha_every"] * s["refine_every"] > n


def test_thousand_steps_is_the_demo_schedule():
    # the demo's 1000 steps: a quarter of the resolution to step 125, half to 250, then full
    s = auto_schedule(1000)
    assert (s["num_downscales"], s["resolution_schedule"], s["warmup_length"], s["refine_every"]) == (2, 125, 200, 100)
    assert (s["stop_split_at"], s["densify_grad_thresh"], s["sh_degree"], s["sh_degree_interval"]) == (500, 0.002, 1, 333)


def test_explicit_fields_win(methods):
    cfg, _ = methods
    m = dataclasses.replace(cfg.pipeline.model, refine_every=37, max_num_iterations=4000)
    r = resolve_schedule(m)
    assert r.refine_every == 37
    assert r.stop_split_at == auto_schedule(4000)["stop_split_at"]
    assert m.stop_split_at is None  # the config itself stays auto


def test_iterations_follow_the_cli(methods):
    cfg, _ = methods
    c = dataclasses.replace(cfg, max_num_iterations=700)  # what tyro does with --max-num-iterations 700
    assert c.pipeline.model.max_num_iterations == 700
    assert c.optimizers["means"]["scheduler"].max_steps == 700
    c.max_num_iterations = 900  # an in-process edit (the demo) is picked up when saved / set up
    c.sync_schedule()
    assert c.pipeline.model.max_num_iterations == 900
    assert c.optimizers["means"]["scheduler"].max_steps == 900


def test_big_is_splatfacto(methods):
    from nerfstudio.configs.method_configs import method_configs

    _, big = methods
    splat = method_configs["splatfacto"]
    assert big.method_name == "point2act-big" and big.max_num_iterations == 30000
    for f in AUTO_FIELDS:
        assert getattr(big.pipeline.model, f) == getattr(splat.pipeline.model, f), f
    assert big.optimizers["means"]["scheduler"].max_steps == 30000


def _ring(n: int = 8):
    """``n`` cameras on a ring of radius 2 looking at the origin (OpenGL c2w: camera looks along -z)."""
    import torch

    c2w = []
    for k in range(n):
        a = torch.tensor(2 * math.pi * k / n)
        pos = torch.tensor([2 * torch.cos(a), 2 * torch.sin(a), 0.5])
        fwd = -pos / pos.norm()
        right = torch.linalg.cross(fwd, torch.tensor([0.0, 0.0, 1.0]))
        right = right / right.norm()
        up = torch.linalg.cross(right, fwd)
        c2w.append(torch.stack([right, up, -fwd, pos], 1))
    c2w = torch.stack(c2w)
    K = torch.tensor([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]]).expand(n, 3, 3)
    wh = torch.tensor([[100.0, 100.0]]).expand(n, 2)
    return c2w, K, wh


def test_frustum_bounded_init():
    from point2act.visibility import FrustumCameras, frustum_bounded_points, views_seeing

    cams = FrustumCameras(*_ring(8))
    pts = frustum_bounded_points(cams, 2000, 10.0, min_views=3)
    assert pts.shape == (2000, 3)
    assert (views_seeing(pts, cams) >= 3).all()
    assert pts.abs().max() < 4.0  # inside the cameras' box grown by half, not splatfacto's 10-unit cube


def test_frustum_bounded_points_around_known_points():
    """With ``around`` the random points fill the box of the known points (2nd-98th percentile, grown by a
    quarter of its largest side), inside the cameras' box, still each seen by >= min_views cameras."""
    import torch

    from point2act.visibility import FrustumCameras, frustum_bounded_points, views_seeing

    cams = FrustumCameras(*_ring(8))
    g = torch.Generator().manual_seed(1)
    known = (torch.rand(500, 3, generator=g) - 0.5) * torch.tensor([0.4, 0.4, 0.1])
    known[0] = torch.tensor([3.0, 3.0, 3.0])  # a stray point: the percentiles leave it out
    pts = frustum_bounded_points(cams, 1000, 10.0, min_views=3, around=known)
    assert pts.shape == (1000, 3)
    q = torch.quantile(known, torch.tensor([0.02, 0.98]), dim=0)
    grow = 0.25 * (q[1] - q[0]).max()
    assert (pts >= q[0] - grow - 1e-6).all() and (pts <= q[1] + grow + 1e-6).all()
    assert (views_seeing(pts, cams) >= 3).all()
    wide = frustum_bounded_points(cams, 1000, 10.0, min_views=3)
    assert (wide.max(0).values - wide.min(0).values).max() > 2 * (pts.max(0).values - pts.min(0).values).max()
