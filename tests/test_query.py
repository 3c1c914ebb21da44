"""Fast relevancy refits (point2act.relevancy_fit, point2act.query) and the grasp head's roles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from point2act.relevancy_fit import WeightsCache, compositing_weights, fit_relevancy, stacked_relevancy_loss
from point2act.render import rasterization
from point2act.render._testing import random_scene


def _scene(N=600, W=48, H=32, C=3, mode="classic"):
    s = random_scene(N, W, H, C=C, dtype=torch.float32, scale=0.04, n_channels=1)
    mats = [compositing_weights(s["means"], s["quats"], s["scales"], s["opacities"], s["viewmats"][c], s["Ks"][c],
                                W, H, rasterize_mode=mode) for c in range(C)]
    return s, WeightsCache.from_views(mats, [[H, W]] * C, list(range(C)))


@pytest.mark.parametrize("mode", ["classic", "antialiased"])
def test_sparse_weights_render_equals_rasterizer(mode):
    s, cache = _scene(mode=mode)
    rel = torch.rand(s["means"].shape[0])
    r, _, _ = rasterization(s["means"], s["quats"], s["scales"], s["opacities"], rel[:, None], s["viewmats"], s["Ks"],
                            s["width"], s["height"], packed=False, rasterize_mode=mode)
    for c, img in enumerate(cache.render(rel)):
        assert torch.allclose(img, r[c], atol=1e-5), (img - r[c]).abs().max()


def test_stacked_loss_is_mean_of_training_loss():
    from point2act.model import relevancy_loss

    g = torch.Generator().manual_seed(0)
    preds = [torch.rand(5, 7, 1, generator=g) for _ in range(3)]
    tgts = [torch.rand(5, 7, 1, generator=g) ** 4 for _ in range(3)]
    for form in ("bce", "mse", "l1"):
        ref = sum(relevancy_loss(p, t, form, 4.0) for p, t in zip(preds, tgts)) / 3
        pw = [1 + 3 * t.reshape(-1, 1) for t in tgts]
        scale = torch.cat([torch.full_like(w, 1 / (3 * float(w.sum()))) for w in pw])
        got = stacked_relevancy_loss(torch.cat([p.reshape(-1, 1) for p in preds]),
                                     torch.cat([t.reshape(-1, 1) for t in tgts]), form, 4.0, scale)
        assert torch.allclose(got, ref, rtol=1e-5)


def test_fast_refit_matches_direct_optimisation():
    """The sparse fit reaches the optimum that autograd through the rasterizer reaches."""
    from point2act.model import relevancy_loss

    s, cache = _scene()
    N = s["means"].shape[0]
    true = torch.where(torch.rand(N, generator=torch.Generator().manual_seed(1)) < 0.2, 3.0, -3.0)
    targets = [t.detach() for t in cache.render(torch.sigmoid(true))]
    fast = fit_relevancy(cache, targets, "mse", 4.0, -4.0, steps=300, lr=0.1)
    x = torch.full((N, 1), -4.0, requires_grad=True)
    opt = torch.optim.Adam([x], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        r, _, _ = rasterization(s["means"], s["quats"], s["scales"], s["opacities"], torch.sigmoid(x), s["viewmats"],
                                s["Ks"], s["width"], s["height"], packed=False)
        loss = sum(relevancy_loss(r[c].clamp(0, 1), targets[c], "mse", 4.0) for c in range(3)) / 3
        loss.backward()
        opt.step()
    assert fast.losses[-1] < 0.05 * fast.losses[0]
    assert abs(fast.losses[-1] - float(loss.detach())) < 0.005 * fast.losses[0] + 1e-4
    rf = cache.render(torch.sigmoid(fast.logits))
    rd = cache.render(torch.sigmoid(x.detach().reshape(-1)))
    for a, b in zip(rf, rd):
        assert (a - b).abs().max() < 0.05


def test_channels_save_load_and_index(tmp_path):
    from point2act.errors import Point2ActError
    from point2act.query import list_channels, load_channel, save_channel

    cfg = tmp_path / "config.yml"
    cfg.write_text("x")
    save_channel(cfg, "place", torch.zeros(10), "where to put it", {"points": {}}, "place", {"file": "step-1.ckpt"})
    save_channel(cfg, "avoid", torch.ones(10), "the rim", None, "avoid", {"file": "step-1.ckpt"})
    idx = list_channels(cfg)
    assert set(idx) == {"place", "avoid"} and idx["place"]["role"] == "place"
    assert load_channel(cfg, "avoid", 10)["prompt"] == "the rim"
    with pytest.raises(Point2ActError):
        load_channel(cfg, "avoid", 11)
    with pytest.raises(Point2ActError):
        load_channel(cfg, "nope")
    with pytest.raises(Point2ActError):
        save_channel(cfg, "../x", torch.zeros(1), "", None, "grasp", {})




def _box_cloud(rng, lo, hi, n):
    return rng.uniform(lo, hi, size=(n, 3))


def test_avoid_channel_changes_ranking_and_handover():
    """A bar on a table; grasp anywhere on it; 'avoid' one end: the best grasp moves to the other end."""
    pytest.importorskip("open3d")
    from point2act.grasp import GraspConfig, plan_grasps, validate_grasps_dict
    from point2act.grasp.planner import handover_rotation

    rng = np.random.default_rng(0)
    table = np.c_[rng.uniform(-0.2, 0.2, 6000), rng.uniform(-0.2, 0.2, 6000), np.zeros(6000)]
    # bar: 16 cm along x, 2 cm wide, 4 cm tall
    bar = []
    for _ in range(6000):
        p = rng.uniform([-0.08, -0.01, 0.0], [0.08, 0.01, 0.04])
        ax = rng.integers(3)
        p[ax] = [[-0.08, 0.08], [-0.01, 0.01], [0.0, 0.04]][ax][rng.integers(2)]
        bar.append(p)
    bar = np.asarray(bar)
    means = np.r_[table, bar]
    opac = np.ones(len(means))
    rel = np.r_[np.zeros(len(table)), np.ones(len(bar))]
    avoid = np.r_[np.zeros(len(table)), (bar[:, 0] > 0.02).astype(float)]
    cfg = GraspConfig(top_k=5)
    plain = plan_grasps(means, opac, rel, cfg)
    with_avoid = plan_grasps(means, opac, rel, cfg, avoid=avoid, handover_direction=np.array([1.0, 0, 0]))
    assert plain.grasps and with_avoid.grasps
    best = with_avoid.grasps[0]
    assert best.avoid_score is not None and best.avoid_score < 0.5
    assert best.position[0] < 0.02
    # the ranking differs from the plain one where the plain best grasp closes on the avoided end
    if plain.grasps[0].position[0] > 0.03:
        assert abs(plain.grasps[0].position[0] - best.position[0]) > 1e-3
    d = with_avoid.to_dict("hold it")
    d["keypoints"] = {"avoid": {"action_point": [0.05, 0, 0.02], "region": d["region"], "prompt": "the end",
                                "role": "avoid"}}
    validate_grasps_dict(d)
    # handover: avoid direction turned to -direction
    H = np.asarray(d["grasps"][0]["handover_rotation"])
    a = np.array([0.05, 0.0, 0.02]) - best.position
    Q = H @ best.rotation.T
    turned = Q @ (a / np.linalg.norm(a))
    assert np.allclose(handover_rotation(best.rotation, best.position, [0.05, 0, 0.02], [1, 0, 0]) @ best.rotation.T
                       @ (a / np.linalg.norm(a)), [-1, 0, 0], atol=1e-6)
    assert turned.shape == (3,)
    d["keypoints"]["avoid"]["role"] = "bogus"
    with pytest.raises(ValueError):
        validate_grasps_dict(d)
