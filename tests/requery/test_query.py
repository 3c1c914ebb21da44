"""Fast relevancy refits (point2act.requery.fit_torch, point2act.requery.weights_torch) and the grasp head's roles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from point2act.requery.fit_torch import (
    Csr,
    FitSchedule,
    Objective,
    Views,
    WeightsCache,
    compositing_weights,
    fit_relevancy,
    stacked_relevancy_loss,
)
from point2act.render import Splats, rasterization
from point2act.render._testing import SceneExtras, SceneSpec, random_scene


def _scene(N=600, W=48, H=32, C=3, mode="classic"):
    s = random_scene(SceneSpec(N, W, H, C=C, dtype=torch.float32, scale=0.04),
                     extras=SceneExtras(n_channels=1))
    splats = Splats(s["means"], s["quats"], s["scales"], s["opacities"])
    views = Views.one_size(s["viewmats"], s["Ks"], W, H)
    mats = [compositing_weights(splats, views.take([c]), rasterize_mode=mode) for c in range(C)]
    return s, WeightsCache.from_views(mats, [[H, W]] * C, list(range(C)))


@pytest.mark.parametrize("mode", ["classic", "antialiased"])
def test_sparse_weights_render_equals_rasterizer(mode):
    s, cache = _scene(mode=mode)
    rel = torch.rand(s["means"].shape[0])
    r, _, _ = rasterization(s["means"], s["quats"], s["scales"], s["opacities"], rel[:, None], s["viewmats"], s["Ks"],
                            s["width"], s["height"], packed=False, rasterize_mode=mode)
    for c, img in enumerate(cache.render(rel)):
        assert torch.allclose(img, r[c], atol=1e-5), (img - r[c]).abs().max()


def _dense(crow, col, val, shape):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow.long(), col.long(), val.float(), shape).to_dense()


# sizes that are and are not multiples of the 16-pixel tile, dense and sparse scenes, both modes
WEIGHT_CASES = [
    (300, 16, 16, 1, 0, 0.05, "classic", 0.0),
    (600, 48, 32, 3, 1, 0.04, "classic", 0.0),
    (600, 37, 29, 2, 2, 0.04, "antialiased", 0.0),
    (2000, 70, 45, 2, 3, 0.03, "classic", 1e-3),
    (4000, 100, 61, 1, 4, 0.08, "antialiased", 1e-3),  # heavy overlap: many pixels saturate (T <= 1e-4)
    (150, 33, 17, 2, 5, 0.01, "classic", 0.0),  # mostly empty tiles
]


@pytest.mark.parametrize("N,W,H,C,seed,scale,mode,min_weight", WEIGHT_CASES)
def test_weights_kernel_equals_torch_reference(N, W, H, C, seed, scale, mode, min_weight):
    """The refit's weights (C++, after the rasterizer's own projection and tile lists) == the torch
    reference on the same projection: same nonzeros, same values, same row layout."""
    from point2act.requery.fit_torch import _project_views, compositing_weights_views
    from point2act.render._torch_impl import _compositing_weights

    s = random_scene(SceneSpec(N, W, H, C=C, seed=seed, dtype=torch.float32, scale=scale),
                     extras=SceneExtras(n_channels=1, n_behind=3, n_offscreen=3))
    args = (Splats(s["means"], s["quats"], s["scales"], s["opacities"]), Views.one_size(s["viewmats"], s["Ks"], W, H),
            mode)
    crow_c, col_c, val_c = compositing_weights_views(*args, min_weight)
    cap = _project_views(*args)
    assert (cap.tiles.width, cap.tiles.height, cap.tiles.tile_size) == (W, H, 16)
    crow_t, col_t, val_t = _compositing_weights(cap.means2d, cap.conics, cap.opacities, cap.tiles, min_weight)
    assert crow_c.dtype == torch.int64 and col_c.dtype == torch.int32 and val_c.dtype == torch.float32
    assert crow_c.shape == (C * H * W + 1,) and int(crow_c[-1]) == col_c.numel() > 0
    assert torch.equal(crow_c, crow_t)  # same number of weights in every pixel
    dc, dt = _dense(crow_c, col_c, val_c, (C * H * W, N)), _dense(crow_t, col_t, val_t, (C * H * W, N))
    assert torch.equal(dc != 0, dt != 0)
    assert torch.allclose(dc, dt, rtol=1e-5, atol=1e-7), (dc - dt).abs().max()
    if min_weight > 0:
        assert float(val_c.min()) > min_weight
    # row sums are the pixels' opacities: at most 1 - 1e-4 (compositing stops before T <= 1e-4)
    assert float(dc.sum(1).max()) <= 1.0 - 1e-4 + 1e-6


@pytest.mark.parametrize("N,W,H,C,seed,scale,mode,min_weight", WEIGHT_CASES)
def test_weights_kernel_render_equals_rasterizer(N, W, H, C, seed, scale, mode, min_weight):
    """W @ r is the rasterizer's render of a per-Gaussian relevancy r (all views in one call)."""
    from point2act.requery.fit_torch import compositing_weights_views

    s = random_scene(SceneSpec(N, W, H, C=C, seed=seed, dtype=torch.float32, scale=scale),
                     extras=SceneExtras(n_channels=1))
    crow, col, val = compositing_weights_views(Splats(s["means"], s["quats"], s["scales"], s["opacities"]),
                                               Views.one_size(s["viewmats"], s["Ks"], W, H), mode)
    rel = torch.rand(N, generator=torch.Generator().manual_seed(seed))
    r, alpha, _ = rasterization(s["means"], s["quats"], s["scales"], s["opacities"], rel[:, None], s["viewmats"],
                                s["Ks"], W, H, packed=False, rasterize_mode=mode)
    A = _dense(crow, col, val, (C * H * W, N))
    assert torch.allclose(A @ rel, r.reshape(-1), atol=2e-6), (A @ rel - r.reshape(-1)).abs().max()
    assert torch.allclose(A.sum(1), alpha.reshape(-1), atol=2e-6)


def test_csr_transpose_and_subset():
    from point2act.requery.fit_torch import csr_transpose

    s, cache = _scene(C=3)
    A = cache.matrix().to_dense()
    tcrow, tcol, tval = csr_transpose(cache.crow, cache.col, cache.val, cache.num_gaussians)
    assert torch.equal(_dense(tcrow, tcol, tval, A.T.shape), A.T)
    assert torch.equal(cache.transpose().to_dense(), A.T)
    sub = cache.subset([2, 0])
    HW = 48 * 32
    assert sub.view_ids == [2, 0] and torch.equal(sub.matrix().to_dense(), torch.cat([A[2 * HW:], A[:HW]]))
    assert cache.subset([0, 1, 2]) is cache
    assert torch.equal(WeightsCache.from_dict(cache.to_dict()).matrix().to_dense(), A)


@pytest.mark.parametrize("form", ["bce", "mse", "l1"])
def test_fused_loss_grad_equals_autograd(form):
    """The kernel's one-pass loss and gradient == autograd of stacked_relevancy_loss on W @ s."""
    from point2act.requery.fit_torch import _fit_setup, relevancy_loss_grad
    from point2act.render._torch_impl import _relevancy_loss_grad

    s, cache = _scene(C=3)
    g = torch.Generator().manual_seed(3)
    targets = [torch.rand(32, 48, 1, generator=g) ** 6 for _ in range(3)]
    flat_t, row_w = _fit_setup(cache, targets, form, 4.0)
    V = 3
    pix_w = 1 + 3 * flat_t
    scale = torch.cat([torch.full((32 * 48,), 1 / (V * float(pix_w[i * 1536 : (i + 1) * 1536].sum()))) for i in range(V)])
    for lo, hi in ((0.0, 1.0), (0.0, 0.05)):  # the second: many pixels below the BCE clamp
        sg = (lo + (hi - lo) * torch.rand(cache.num_gaussians, generator=g)).requires_grad_(True)
        pred = (cache.matrix() @ sg.reshape(-1, 1)).clamp(0, 1)
        ref = stacked_relevancy_loss(pred, flat_t.reshape(-1, 1), form, 4.0, scale.reshape(-1, 1))
        ref.backward()
        A = Csr(cache.crow, cache.col, cache.val)
        loss, grad = relevancy_loss_grad(A, sg.detach(), flat_t, row_w, form)
        loss_r, grad_r = _relevancy_loss_grad(A, sg.detach(), flat_t, row_w, form)
        assert abs(loss - float(ref.detach())) <= 1e-5 * abs(float(ref.detach())) and abs(loss - loss_r) <= 1e-5 * abs(loss_r)
        assert torch.allclose(grad, grad_r, rtol=1e-4, atol=1e-9)
        if form != "l1":  # autograd's sign(0) and clamp edges agree with the analytic form
            assert torch.allclose(grad, sg.grad, rtol=1e-4, atol=1e-9), (grad - sg.grad).abs().max()
        # the gradient alone: the same bits, no loss
        from point2act.requery import fit_numpy

        nan_loss, grad_only = fit_numpy.relevancy_loss_grad(A, sg.detach().numpy(), flat_t.numpy(), row_w.numpy(),
                                                            form, want_loss=False)
        assert np.isnan(nan_loss) and grad_only.tobytes() == grad.numpy().tobytes()


def test_fit_recovers_a_field_it_rendered():
    """Targets rendered from known logits: the fit (C++ fused steps) brings the loss down and the
    fitted relevancy renders the targets back (the step's maths is checked against the reference above)."""
    s, cache = _scene()
    N = s["means"].shape[0]
    true = torch.where(torch.rand(N, generator=torch.Generator().manual_seed(1)) < 0.2, 3.0, -3.0)
    targets = [t.detach() for t in cache.render(torch.sigmoid(true))]
    a = fit_relevancy(cache, targets, Objective("bce", 4.0, -4.0), FitSchedule(steps=30, lr=0.3))
    assert a.losses[-1] < 0.5 * a.losses[0] and a.steps == 30
    back = cache.render(torch.sigmoid(a.logits))
    err = max(float((b - t).abs().mean()) for b, t in zip(back, targets))
    assert err < 0.05, err


def test_stacked_loss_is_mean_of_training_loss():
    from point2act.losses import relevancy_loss

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
    from point2act.losses import relevancy_loss

    s, cache = _scene()
    N = s["means"].shape[0]
    true = torch.where(torch.rand(N, generator=torch.Generator().manual_seed(1)) < 0.2, 3.0, -3.0)
    targets = [t.detach() for t in cache.render(torch.sigmoid(true))]
    fast = fit_relevancy(cache, targets, Objective("mse", 4.0, -4.0), FitSchedule(steps=300, lr=0.1))
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
    from point2act.channels import ChannelInfo, list_channels, load_channel, save_channel

    cfg = tmp_path / "config.yml"
    cfg.write_text("x")
    save_channel(cfg, ChannelInfo("place", "where to put it", "place", {"points": {}}), torch.zeros(10),
                 {"file": "step-1.ckpt"})
    save_channel(cfg, ChannelInfo("avoid", "the rim", "avoid"), torch.ones(10), {"file": "step-1.ckpt"})
    idx = list_channels(cfg)
    assert set(idx) == {"place", "avoid"} and idx["place"]["role"] == "place"
    assert load_channel(cfg, "avoid", 10)["prompt"] == "the rim"
    with pytest.raises(Point2ActError):
        load_channel(cfg, "avoid", 11)
    with pytest.raises(Point2ActError):
        load_channel(cfg, "nope")
    with pytest.raises(Point2ActError):
        save_channel(cfg, ChannelInfo("../x", "", "grasp"), torch.zeros(1), {})




def _box_cloud(rng, lo, hi, n):
    return rng.uniform(lo, hi, size=(n, 3))


def test_avoid_channel_changes_ranking_and_handover():
    """A bar on a table; grasp anywhere on it; 'avoid' one end: the best grasp moves to the other end."""
    pytest.importorskip("open3d")
    from point2act.grasp import GraspConfig, PlanningScene, plan_grasps, validate_grasps_dict
    from point2act.grasp.scoring import handover_rotation

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
    plain = plan_grasps(PlanningScene(means, opac, rel), cfg)
    with_avoid = plan_grasps(PlanningScene(means, opac, rel, avoid=avoid, handover_direction=np.array([1.0, 0, 0])),
                             cfg)
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


def _closing_box(grasp, gripper):
    """The region between the fingers' inner faces (what the jaws close on), as a Box."""
    from point2act.grasp.geometry import Box, grasp_to_gripper_boxes

    b = grasp_to_gripper_boxes(grasp, gripper)
    n, p = b["finger_neg_x"], b["finger_pos_x"]
    c = 0.5 * (n.center + p.center)
    gap = 0.5 * np.linalg.norm(p.center - n.center) - n.half_extents[0]
    return Box(center=c, half_extents=np.array([gap, n.half_extents[1], n.half_extents[2]]), rotation=n.rotation)


def test_handover_hold_handle_avoid_rim_on_known_geometry():
    """'hold' the handle, 'avoid' the rim (known tabletop geometry, relevancy from the labels): no
    top-ranked grasp closes on or sweeps through the rim, each gets the handover rotation turning the
    rim away from the recipient; and the same check catches an avoid region the plain grasps use."""
    pytest.importorskip("open3d")
    from point2act.grasp import GraspConfig, PlanningScene, plan_grasps, relevant_region, validate_grasps_dict
    from point2act.grasp.geometry import grasp_to_gripper_boxes, points_in_box
    from point2act.grasp.scoring import handover_rotation
    from point2act.grasp.synthetic import LABELS, tabletop_scene

    sc = tabletop_scene(seed=0)
    means, lab, opac = sc["means"], sc["labels"], sc["opacities"]
    handle = lab == LABELS["handle"]
    hold = np.where(handle, 0.95, 0.02)
    rim = (lab == LABELS["mug"]) & (means[:, 2] > sc["mug_height"] - 0.006)  # the top 6 mm of the mug
    cfg = GraspConfig(top_k=5)
    kw = dict(camera_centers=sc["camera_centers"], scales=sc["scales"])
    direction = np.array([1.0, 0.0, 0.0])

    def touches(g, pts):  # points between the jaws or inside a finger / the palm
        boxes = [_closing_box(g, cfg.gripper), *grasp_to_gripper_boxes(g, cfg.gripper).values()]
        return int(sum(points_in_box(pts, b).sum() for b in boxes))

    res = plan_grasps(PlanningScene(means, opac, hold, avoid=np.where(rim, 1.0, 0.0), handover_direction=direction,
                                    **kw), cfg)
    assert len(res.grasps) >= 3, res.warning
    assert [touches(g, means[rim]) for g in res.grasps] == [0] * len(res.grasps)
    for g in res.grasps:
        assert g.avoid_score == 0.0
        assert points_in_box(means[handle], _closing_box(g, cfg.gripper)).sum() > 10  # it holds the handle
    # handover: the direction TCP -> the rim's action point is turned to -direction
    ap = relevant_region(means, opac, np.where(rim, 1.0, 0.0), cfg).action_point
    d = res.to_dict("hold the handle")
    for g, gd in zip(res.grasps, d["grasps"]):
        H = np.asarray(gd["handover_rotation"])
        a = (ap - g.position) / np.linalg.norm(ap - g.position)
        assert np.allclose(H @ g.rotation.T @ a, -direction, atol=1e-6)
        assert np.allclose(handover_rotation(g.rotation, g.position, ap, direction), H, atol=1e-9)

    # control: an avoid region the plain top grasps do close on (the handle's upper half) is left
    plain = plan_grasps(PlanningScene(means, opac, hold, **kw), cfg)
    upper = handle & (means[:, 2] > sc["handle_center"][2])
    before = touches(plain.grasps[0], means[upper])
    assert before > 20
    moved = plan_grasps(PlanningScene(means, opac, hold, avoid=np.where(upper, 1.0, 0.0), **kw), cfg)
    assert moved.grasps and touches(moved.grasps[0], means[upper]) < 0.1 * before
    # the grasps listed after it do sweep through the avoid region: their avoid_score is high, within [0, 1]
    assert max(g.avoid_score for g in moved.grasps) > 0.5
    validate_grasps_dict(moved.to_dict("hold the handle"))
    assert moved.grasps[0].position[2] < sc["handle_center"][2] < plain.grasps[0].position[2] + 0.01
