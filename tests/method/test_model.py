"""Point2ActModel on CPU: the relevancy parameter, its render, its loss, densification and checkpoints."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

pytest.importorskip("nerfstudio")

from gsplat.strategy import ops  # noqa: E402
from nerfstudio.cameras.cameras import Cameras, CameraType  # noqa: E402
from nerfstudio.data.scene_box import SceneBox  # noqa: E402

from point2act.method.compat import PSNR, _NoLPIPS  # noqa: E402
from point2act.method.keys import RELEVANCY_KEY, SUPERVISED_KEY, TARGET_KEY  # noqa: E402
from point2act.method.model import (  # noqa: E402
    RANDOM_INIT_MIN_VIEWS,
    VISIBILITY_PRUNE_TAU,
    Point2ActModelConfig,
)
from point2act.method.schedule import AUTO_FIELDS  # noqa: E402

AUTO = dict.fromkeys(AUTO_FIELDS)
"""The schedule fields the ``point2act`` method leaves auto (None): derived from the run's length."""


def look_at(eye, target=(0.0, 0.0, 0.0)):
    eye = torch.tensor(eye, dtype=torch.float32)
    f = torch.tensor(target) - eye
    f = f / f.norm()
    up = torch.tensor([0.0, 0.0, 1.0])
    r = torch.linalg.cross(f, up)
    r = r / r.norm()
    u = torch.linalg.cross(r, f)
    c2w = torch.eye(4)[:3]
    c2w[:, 0], c2w[:, 1], c2w[:, 2], c2w[:, 3] = r, u, -f, eye  # OpenGL: camera looks along -z
    return c2w


def make_camera(eye=(0.0, -2.0, 1.0), w=48, h=36):
    return Cameras(
        camera_to_worlds=look_at(eye)[None],
        fx=50.0, fy=50.0, cx=w / 2, cy=h / 2, width=w, height=h,
        camera_type=CameraType.PERSPECTIVE,
    )


def make_model(n=400, seed=0, **overrides):
    g = torch.Generator().manual_seed(seed)
    pts = (torch.rand(n, 3, generator=g) - 0.5) * 1.0
    cols = (torch.rand(n, 3, generator=g) * 255).round()
    overrides.setdefault("num_downscales", 0)
    cfg = Point2ActModelConfig(**{**AUTO, "sh_degree": 1, **overrides})
    model = cfg.setup(scene_box=SceneBox(aabb=torch.tensor([[-1.0] * 3, [1.0] * 3])), num_train_data=4, seed_points=(pts, cols))
    return model


def test_relevancy_parameter_group_and_no_lpips_download():
    model = make_model()
    assert model.gauss_params[RELEVANCY_KEY].shape == (400, 1)
    groups = model.get_param_groups()
    assert groups[RELEVANCY_KEY][0] is model.gauss_params[RELEVANCY_KEY]
    assert isinstance(model.lpips, _NoLPIPS)
    assert isinstance(model.psnr, PSNR)
    assert torch.allclose(model.relevancy, torch.sigmoid(torch.tensor(-4.0)).expand(400))


def test_psnr_is_torchmetrics_psnr():
    """The model's PSNR (point2act.method.compat.PSNR) gives torchmetrics' value, and building the model leaves
    torchmetrics' own modules importable afterwards."""
    import sys

    make_model()
    from torchmetrics.image import PeakSignalNoiseRatio

    assert sys.modules["torchmetrics.image"].__name__ == "torchmetrics.image"
    g = torch.Generator().manual_seed(3)
    for shape in [(1, 3, 8, 8), (2, 3, 17, 5)]:
        a, b = torch.rand(shape, generator=g), torch.rand(shape, generator=g)
        ref = PeakSignalNoiseRatio(data_range=1.0)(a, b)
        assert torch.allclose(PSNR(data_range=1.0)(a, b), ref, rtol=1e-5), (float(ref),)
        assert torch.allclose(PSNR(data_range=2.0)(a, b), PeakSignalNoiseRatio(data_range=2.0)(a, b), rtol=1e-5)


@pytest.mark.parametrize("n, k", [(200, 3), (1500, 3), (50, 5)])
def test_k_nearest_is_splatfactos(n, k):
    """The model's k nearest neighbours (scipy's k-d tree) give splatfacto's (sklearn's) distances, and indices of
    points at those distances."""
    from nerfstudio.models.splatfacto import SplatfactoModel

    model = make_model(n=60)
    x = torch.rand(n, 3, generator=torch.Generator().manual_seed(n)) * torch.tensor([1.0, 2.0, 0.5])
    d, i = model.k_nearest_sklearn(x, k)
    d_ref, _ = SplatfactoModel.k_nearest_sklearn(model, x, k)
    assert d.dtype == d_ref.dtype and i.dtype == np.float32 and d.shape == d_ref.shape == (n, k)
    np.testing.assert_allclose(d, d_ref, rtol=1e-6, atol=1e-7)
    xn = x.numpy().astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(xn[i.astype(int)] - xn[:, None], axis=-1), d, rtol=1e-5, atol=1e-7)
    assert not (i.astype(int) == np.arange(n)[:, None]).any()


def test_building_the_model_imports_no_torchmetrics():
    """torchmetrics imports transformers (1.7 s on two cores), sklearn's neighbours 0.6 s: building the model
    imports neither."""
    import subprocess
    import sys

    code = ("import sys, torch; from nerfstudio.data.scene_box import SceneBox\n"
            "from point2act.method.model import Point2ActModelConfig\n"
            "m = Point2ActModelConfig(num_downscales=0).setup(scene_box=SceneBox(aabb=torch.tensor([[-1.0] * 3, [1.0] * 3])),"
            " num_train_data=2, seed_points=(torch.rand(50, 3), torch.rand(50, 3) * 255))\n"
            "print(float(m.psnr(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.1))))\n"
            "print(sorted(k for k in sys.modules if k.startswith(('torchmetrics', 'transformers', 'sklearn'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert abs(float(out[0]) - 20.0) < 1e-4, out
    assert out[1] == "[]", out


def test_every_gaussian_parameter_is_dense_and_the_fused_adam_step_is_adams():
    """splatfacto makes features_dc and features_rest views of one tensor; torch's fused Adam, the method's
    optimizer, would apply their updates to the wrong elements. The model gives each its own dense memory, so a
    step of the method's optimizers moves every parameter as torch's per-tensor Adam does."""
    from point2act.method.config import point2act_method

    model = make_model()
    params = dict(model.gauss_params.items())
    assert all(p.is_contiguous() for p in params.values()), {k: p.stride() for k, p in params.items()}
    ptrs = [p.data_ptr() for p in params.values()]
    assert len(set(ptrs)) == len(ptrs)
    g = torch.Generator().manual_seed(1)
    grads = {k: [torch.randn(p.shape, generator=g) for _ in range(5)] for k, p in params.items()}
    for name, p in params.items():
        cfg = point2act_method.config.optimizers[name]["optimizer"]
        ref = torch.nn.Parameter(p.detach().clone())
        fused, loop = cfg.setup([p]), torch.optim.Adam([ref], lr=cfg.lr, eps=cfg.eps, foreach=False)
        for grad in grads[name]:
            p.grad, ref.grad = grad.clone(), grad.clone()
            fused.step()
            loop.step()
        torch.testing.assert_close(p.detach(), ref.detach(), rtol=0, atol=1e-6, msg=name)


def test_outputs_on_cpu_include_relevancy():
    model = make_model()
    model.eval()
    out = model.get_outputs_for_camera(make_camera())
    assert out["rgb"].shape == (36, 48, 3) and out["depth"].shape == (36, 48, 1)
    rel = out[RELEVANCY_KEY]
    assert rel.shape == (36, 48, 1)
    # uniform relevancy r renders as r * accumulated alpha
    r = torch.sigmoid(torch.tensor(-4.0))
    torch.testing.assert_close(rel, (r * out["accumulation"]).clamp(0, 1), atol=1e-5, rtol=1e-4)


def _train_step_grads(model, camera, target_value=1.0):
    model.train()
    model.step = 10
    out = model.get_outputs(camera)
    target = torch.full_like(out[RELEVANCY_KEY], target_value)
    loss = model.get_loss_dict(out, {"image": out["rgb"].detach(), TARGET_KEY: target})["relevancy_loss"]
    for p in model.gauss_params.values():
        p.grad = None
    loss.backward()
    return {k: (v.grad.abs().sum().item() if v.grad is not None else 0.0) for k, v in model.gauss_params.items()}


def test_training_steps_between_logs_skip_the_photo_metrics():
    model = _with_strategy_state(make_model())
    model.train()
    out = model.get_outputs(make_camera())
    batch = {"image": out["rgb"].detach()}
    model.metrics_due = False
    assert "psnr" not in model.get_metrics_dict(out, batch)
    assert model.get_metrics_dict(out, batch)["gaussian_count"] == 400
    model.metrics_due = True
    assert "psnr" in model.get_metrics_dict(out, batch)
    model.eval()
    model.metrics_due = False  # evaluation always computes them
    assert "psnr" in model.get_metrics_dict(out, batch)


def test_the_coarse_steps_ground_truth_is_splatfactos_computed_once_per_image():
    """The downscaled photo of a coarse step is splatfacto's bits, computed once per image tensor and downscale
    factor (the same tensor again), anew after the image changes in place, and not kept at full resolution."""
    from nerfstudio.models.splatfacto import SplatfactoModel

    model = make_model(num_downscales=1, resolution_schedule=10)
    model.train()
    g = torch.Generator().manual_seed(1)
    images = [(torch.rand(36, 48, 3, generator=g) * 255).to(torch.uint8) for _ in range(3)]
    model.step = 0
    first = [model.get_gt_img(im) for im in images]
    for im, out in zip(images, first):
        assert out.shape == (18, 24, 3) and torch.equal(out, SplatfactoModel.get_gt_img(model, im))
        assert model.get_gt_img(im) is out  # kept
    del im
    images[1][0, 0, 0] ^= 1  # changed in place: computed anew
    again = model.get_gt_img(images[1])
    assert again is not first[1] and torch.equal(again, SplatfactoModel.get_gt_img(model, images[1]))
    model.step = 10  # full resolution: nothing kept
    full = model.get_gt_img(images[0])
    assert full.shape == (36, 48, 3) and torch.equal(full, images[0].float() / 255.0)
    assert not model._gt_downscaled
    model.step = 0
    n = len(model._gt_downscaled) + 1
    model.get_gt_img(images[2])
    assert len(model._gt_downscaled) == n
    del images[2]  # an image that is gone leaves no entry behind
    assert len(model._gt_downscaled) == n - 1


def _with_strategy_state(model):
    model.optimizers = {k: torch.optim.Adam([v], lr=1e-3) for k, v in model.gauss_params.items()}
    return model


def test_relevancy_loss_does_not_move_geometry_by_default():
    model = _with_strategy_state(make_model())
    grads = _train_step_grads(model, make_camera())
    assert grads[RELEVANCY_KEY] > 0
    for k in ("means", "scales", "quats", "opacities"):
        assert grads[k] == 0.0, k


def test_same_pass_relevancy_equals_the_second_pass_with_its_gradients():
    """Training renders relevancy as an extra channel of splatfacto's RGB pass; the same loss through the
    second, detached pass (relevancy_same_pass=False) gives the same render and the same gradients."""
    cam = make_camera()
    renders, grads = [], []
    for same in (True, False):
        torch.manual_seed(0)  # splatfacto draws the initial rotations at random
        model = _with_strategy_state(make_model(seed=4, relevancy_same_pass=same))
        with torch.no_grad():
            model.gauss_params[RELEVANCY_KEY].normal_(generator=torch.Generator().manual_seed(1))
        model.train()
        model.step = 10
        torch.manual_seed(0)  # splatfacto's random training background
        out = model.get_outputs(cam)
        target = (torch.arange(out[RELEVANCY_KEY].numel()).reshape(out[RELEVANCY_KEY].shape) % 7 == 0).float()
        batch = {"image": out["rgb"].detach().flip(0), TARGET_KEY: target}
        loss = sum(model.get_loss_dict(out, batch).values())
        for p in model.gauss_params.values():
            p.grad = None
        loss.backward()
        renders.append(out[RELEVANCY_KEY].detach())
        grads.append({k: v.grad.clone() for k, v in model.gauss_params.items() if v.grad is not None})
    torch.testing.assert_close(renders[0], renders[1], atol=1e-5, rtol=1e-4)
    assert set(grads[0]) == set(grads[1]) and RELEVANCY_KEY in grads[0]
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], atol=1e-6, rtol=1e-3, msg=k)


def _one_step(model, cam, seed=0):
    """Outputs, loss dict and the leaves' gradients of one training step of ``model`` on ``cam``."""
    torch.manual_seed(seed)  # splatfacto's random training background
    out = model.get_outputs(cam)
    target = (torch.arange(out[RELEVANCY_KEY].numel()).reshape(out[RELEVANCY_KEY].shape) % 7 == 0).float()
    image = (out["rgb"].detach().flip(0) * 1.3 - 0.1).clamp(0, 1)
    losses = model.get_loss_dict(out, {"image": image, TARGET_KEY: target})
    for p in model.gauss_params.values():
        p.grad = None
    sum(losses.values()).backward()
    return out, losses, {k: v.grad.clone() for k, v in model.gauss_params.items() if v.grad is not None}


@pytest.mark.parametrize("step", [10, 601])  # with splatfacto's scale regulariser (every 10th step) and without
@pytest.mark.parametrize("composite,loss", [(True, True), (True, False), (False, True)])
def test_fused_training_ops_give_the_torch_ops_values_and_gradients_bit_for_bit(step, composite, loss):
    """The photo's compositing and clamp and the relevancy's clamp as one node (Point2ActModel.fused_composite),
    and splatfacto's L1 + SSIM loss as one op (fused_photometric_loss): the outputs, losses and gradients of
    splatfacto's and point2act's torch ops, bit for bit."""
    cam = make_camera()
    runs = []
    for flags in ((composite, loss), (False, False)):
        torch.manual_seed(0)  # splatfacto draws the initial rotations at random
        model = _with_strategy_state(make_model(seed=4, use_scale_regularization=True))
        model.fused_composite, model.fused_photometric_loss = flags
        with torch.no_grad():
            model.gauss_params[RELEVANCY_KEY].normal_(generator=torch.Generator().manual_seed(1))
            model.gauss_params["opacities"].add_(2.0)
            model.gauss_params["features_dc"][::3].add_(3.0)  # colours beyond 1: the clamp's gradient mask matters
            model.gauss_params["scales"][::5, 0].add_(3.0)  # beyond splatfacto's max_gauss_ratio
        model.train()
        model.step = step
        runs.append(_one_step(model, cam))
    (out_a, loss_a, grad_a), (out_b, loss_b, grad_b) = runs
    for k in ("rgb", "accumulation", RELEVANCY_KEY):
        assert torch.equal(out_a[k], out_b[k]), k
    assert type(out_a["rgb"].grad_fn).__name__ == ("_TrainingCompositeBackward" if composite else "SqueezeBackward1")
    assert type(out_b["rgb"].grad_fn).__name__ == "SqueezeBackward1"  # splatfacto's clamp, squeezed
    assert type(loss_a["main_loss"].grad_fn).__name__ == ("_FusedL1SSIMLossBackward" if loss else "AddBackward0")
    assert out_a["accumulation"].requires_grad
    assert (out_a["rgb"] == 1).any() and ((out_a["rgb"] > 0) & (out_a["rgb"] < 1)).any()
    assert list(loss_a) == list(loss_b)  # the same terms in the same order: the total adds them so
    for k in loss_a:
        assert torch.equal(loss_a[k], loss_b[k]), k
    assert (loss_a["scale_reg"] != 0) == (step % 10 == 0)
    assert grad_a.keys() == grad_b.keys() and RELEVANCY_KEY in grad_a and "means" in grad_a
    for k in grad_a:
        assert torch.equal(grad_a[k], grad_b[k]), k


def test_flag_lets_relevancy_shape_geometry():
    model = _with_strategy_state(make_model(relevancy_shapes_geometry=True))
    grads = _train_step_grads(model, make_camera())
    assert grads[RELEVANCY_KEY] > 0 and grads["means"] > 0 and grads["opacities"] > 0


def test_unsupervised_view_skips_relevancy_render():
    model = _with_strategy_state(make_model())
    model.train()
    cam = make_camera()
    cam.metadata = {"cam_idx": 0, SUPERVISED_KEY: False}
    out = model.get_outputs(cam)
    assert RELEVANCY_KEY not in out
    assert "relevancy_loss" not in model.get_loss_dict(out, {"image": out["rgb"].detach()})


def test_relevancy_loss_forms_closed_form():
    from point2act.losses import relevancy_loss

    pred = torch.tensor([[[0.25]], [[0.75]]])
    tgt = torch.tensor([[[0.0]], [[1.0]]])
    bce = -(torch.log(torch.tensor(0.75)) * 1 + torch.log(torch.tensor(0.75)) * 3) / 4
    assert relevancy_loss(pred, tgt, "bce", pos_weight=3.0).item() == pytest.approx(bce.item(), rel=1e-5)
    assert relevancy_loss(pred, tgt, "mse", pos_weight=1.0).item() == pytest.approx(0.0625)
    assert relevancy_loss(pred, tgt, "l1", pos_weight=1.0).item() == pytest.approx(0.25)


def test_relevancy_stays_aligned_through_densification():
    """Duplicate, split and prune with gsplat's strategy ops: every Gaussian keeps its own relevancy."""
    model = make_model(n=50)
    params = model.gauss_params
    n = params["means"].shape[0]
    with torch.no_grad():
        ids = torch.arange(n, dtype=torch.float32)
        params[RELEVANCY_KEY].copy_(ids[:, None] / 10.0)
        params["features_dc"][:, 0] = ids / 10.0  # a second copy of the id, carried the same way as colour
    optimizers = {k: torch.optim.Adam([v], lr=1e-3) for k, v in params.items()}
    state = {"grad2d": torch.zeros(n), "count": torch.zeros(n)}
    mask = torch.zeros(n, dtype=torch.bool)
    mask[::3] = True
    ops.duplicate(params, optimizers, state, mask)
    split_mask = torch.zeros(params["means"].shape[0], dtype=torch.bool)
    split_mask[1::4] = True
    ops.split(params, optimizers, state, split_mask)
    prune_mask = torch.zeros(params["means"].shape[0], dtype=torch.bool)
    prune_mask[::5] = True
    ops.remove(params, optimizers, state, prune_mask)
    m = params["means"].shape[0]
    assert params[RELEVANCY_KEY].shape == (m, 1) and m != n
    torch.testing.assert_close(params[RELEVANCY_KEY][:, 0], params["features_dc"][:, 0])
    # the relevancy optimizer follows too
    assert optimizers[RELEVANCY_KEY].param_groups[0]["params"][0] is params[RELEVANCY_KEY]


def test_checkpoint_roundtrip_weights_only_and_resize():
    model = make_model(n=120)
    with torch.no_grad():
        model.gauss_params[RELEVANCY_KEY].normal_()
    buf = io.BytesIO()
    torch.save({"step": 3, "pipeline": model.state_dict(), "lr": __import__("numpy").float64(1e-3)}, buf)
    buf.seek(0)
    state = torch.load(buf, map_location="cpu", weights_only=True)  # numpy scalars allow-listed
    other = make_model(n=30, seed=1)  # a different number of Gaussians: load resizes
    other.load_state_dict(state["pipeline"])
    torch.testing.assert_close(other.gauss_params[RELEVANCY_KEY], model.gauss_params[RELEVANCY_KEY])


def test_loading_a_checkpoint_without_relevancy_is_a_clear_error():
    model = make_model(n=20)
    sd = {k: v for k, v in model.state_dict().items() if RELEVANCY_KEY not in k}
    with pytest.raises(KeyError, match="not written by point2act"):
        make_model(n=20).load_state_dict(sd)


def test_prune_unseen_removes_what_fewer_than_two_views_see_with_optimizer_and_state():
    model = make_model(n=300, seed=3)
    with torch.no_grad():  # 40 Gaussians far behind every camera: no view sees them
        model.gauss_params["means"][:40] = torch.tensor([0.0, 30.0, -20.0])
        model.gauss_params[RELEVANCY_KEY][:, 0] = torch.arange(300, dtype=torch.float32)
    cams = Cameras(
        camera_to_worlds=torch.stack([look_at((0.0, -2.0, 1.0)), look_at((2.0, 0.0, 1.0)), look_at((-2.0, 0.0, 1.0))]),
        fx=50.0, fy=50.0, cx=24.0, cy=18.0, width=48, height=36, camera_type=CameraType.PERSPECTIVE,
    )
    model.set_visibility_cameras(cams)
    model.config.visibility_prune_downscale = 1  # the check below renders at full resolution
    model.optimizers = {k: torch.optim.Adam([v], lr=1e-3) for k, v in model.gauss_params.items()}
    model.strategy_state["grad2d"] = torch.zeros(300)
    seen = (model.view_weights(cams, 1) > VISIBILITY_PRUNE_TAU).sum(0)
    expect_removed = seen < 2
    assert expect_removed[:40].all() and (~expect_removed).sum() > 100
    k = model.prune_unseen()
    assert k == int(expect_removed.sum())
    kept_ids = torch.arange(300)[~expect_removed].float()
    torch.testing.assert_close(model.gauss_params[RELEVANCY_KEY][:, 0], kept_ids)
    assert model.strategy_state["grad2d"].shape == (300 - k,)
    assert model.optimizers[RELEVANCY_KEY].param_groups[0]["params"][0] is model.gauss_params[RELEVANCY_KEY]
    # every survivor is seen by >= 2 views
    assert ((model.view_weights(cams, 1) > VISIBILITY_PRUNE_TAU).sum(0) >= 2).all()


def test_visibility_prune_steps_follow_the_schedule():
    model = make_model(warmup_length=200, refine_every=100, stop_split_at=1000)
    assert not model.visibility_prune_step(300)  # no cameras set: never
    model.set_visibility_cameras(make_camera())
    assert [s for s in range(0, 2001, 50) if model.visibility_prune_step(s)] == list(range(300, 1101, 100))
    model.config.visibility_prune = False
    assert not model.visibility_prune_step(300)


def test_prune_unseen_reports_what_it_removed_when_most_go():
    model = make_model(n=300, seed=3)
    with torch.no_grad():  # 200 of 300 far behind the camera: more than half are removed
        model.gauss_params["means"][:200] = torch.tensor([0.0, 30.0, -20.0])
    cams = Cameras(camera_to_worlds=torch.stack([look_at((0.0, -2.0, 1.0)), look_at((2.0, 0.0, 1.0))]),
                   fx=50.0, fy=50.0, cx=24.0, cy=18.0, width=48, height=36, camera_type=CameraType.PERSPECTIVE)
    model.set_visibility_cameras(cams)
    model.config.visibility_prune_downscale = 1
    model.optimizers = {k: torch.optim.Adam([v], lr=1e-3) for k, v in model.gauss_params.items()}
    expect = int(((model.view_weights(cams, 1) > VISIBILITY_PRUNE_TAU).sum(0) < 2).sum())
    assert expect > 150
    assert model.prune_unseen() == expect and model.num_points == 300 - expect


def _plane_and_floaters(opacity_reg, steps=150):
    """A grey plane (z = 0) and grey floaters 10 cm above its middle, seen by four views: the floaters have
    the colour of what lies behind them in every view. Opacities trained on the plane's own renders, through
    the model's loss; returns the depth the views render over the plane's middle (before, after) and the
    plane's coverage after, the plane's own depth there, the floaters' largest and the plane's mean opacity
    after."""
    from nerfstudio.models.splatfacto import RGB2SH

    g = torch.linspace(-0.4, 0.4, 17)
    plane = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    plane = torch.cat([plane, torch.zeros(len(plane), 1)], 1)
    f = torch.linspace(-0.08, 0.08, 4)
    fl = torch.stack(torch.meshgrid(f, f, indexing="ij"), -1).reshape(-1, 2)
    fl = torch.cat([fl, torch.full((len(fl), 1), 0.1)], 1)

    def build(pts, reg):
        cfg = Point2ActModelConfig(**{**AUTO, "sh_degree": 1, "num_downscales": 0}, background_color="black",
                                   opacity_reg=reg)
        m = cfg.setup(scene_box=SceneBox(aabb=torch.tensor([[-1.0] * 3, [1.0] * 3])), num_train_data=4,
                      seed_points=(pts, torch.full((len(pts), 3), 128.0)))
        with torch.no_grad():
            m.gauss_params["scales"].fill_(float(torch.log(torch.tensor(0.05))))
            m.gauss_params["quats"].copy_(torch.tensor([1.0, 0, 0, 0]).expand(len(pts), 4))
            m.gauss_params["features_dc"].copy_(RGB2SH(torch.full((len(pts), 3), 0.5)))
            m.gauss_params["features_rest"].zero_()
            m.gauss_params["opacities"].fill_(float(torch.logit(torch.tensor(0.95))))
        return m

    cams = [make_camera(eye=(1.2 * sx, 1.2 * sy, 1.4)) for sx in (-1, 1) for sy in (-1, 1)]
    truth = build(plane, 0.0)
    truth.eval()
    with torch.no_grad():
        targets = [truth.get_outputs(c)["rgb"].clamp(0, 1) for c in cams]
    model = _with_strategy_state(build(torch.cat([plane, fl]), opacity_reg))
    centre = (slice(14, 22), slice(20, 28))  # pixels over the plane's middle (and the floaters) in every view

    def depth_over_middle():
        model.eval()
        with torch.no_grad():
            return float(torch.stack([model.get_outputs(c)["depth"][centre].mean() for c in cams]).mean())

    before = depth_over_middle()
    opt = torch.optim.Adam([model.gauss_params["opacities"]], lr=0.05)  # splatfacto's opacity lr
    model.train()
    for s in range(steps):
        model.step = s
        i = s % len(cams)
        out = model.get_outputs(cams[i])
        loss = sum(model.get_loss_dict(out, {"image": targets[i]}).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = depth_over_middle()
    model.eval()
    with torch.no_grad():
        cover = float(torch.stack([model.get_outputs(c)["accumulation"][centre].mean() for c in cams]).mean())
        truth_depth = float(torch.stack([truth.get_outputs(c)["depth"][centre].mean() for c in cams]).mean())
        op = torch.sigmoid(model.opacities[:, 0])
    return before, after, cover, truth_depth, float(op[len(plane):].max()), float(op[: len(plane)].mean())


def test_opacity_prior_clears_floaters_that_the_photos_cannot_see():
    """Without the prior nothing removes floaters that match what lies behind them: they stay opaque and the
    views' depth stays in front of the plane. With it (the random-start default) they fade, the depth comes
    down to the plane's own and the plane still covers the views."""
    b0, a0, _, truth, fl0, _ = _plane_and_floaters(0.0)
    b1, a1, cover, _, fl1, _ = _plane_and_floaters(0.01)
    assert b0 == pytest.approx(b1) and b0 < truth - 0.03  # the floaters are what the views see
    assert fl0 > 0.5 and a0 < truth - 0.02  # no prior: still there
    assert fl1 < 0.1 and abs(a1 - truth) < 0.04 and cover > 0.95  # the prior: the plane, covering the views


def test_opacity_prior_is_on_for_random_starts_only():
    model = _with_strategy_state(make_model())
    model.train()
    assert model.opacity_reg == 0.0 and "opacity_reg" not in model.get_loss_dict(
        model.get_outputs(make_camera()), {"image": torch.zeros(36, 48, 3)})
    model = _with_strategy_state(make_model(random_init=True))
    model.train()
    out = model.get_outputs(make_camera())
    loss = model.get_loss_dict(out, {"image": out["rgb"].detach()})
    from point2act.method.model import RANDOM_START_OPACITY_REG

    torch.testing.assert_close(loss["opacity_reg"], RANDOM_START_OPACITY_REG * torch.sigmoid(model.opacities).mean())
    assert make_model(random_init=True, opacity_reg=0.0).opacity_reg == 0.0


def _ring_cameras(n=6, w=48, h=36):
    import math

    eyes = [(2.0 * math.cos(2 * math.pi * i / n), 2.0 * math.sin(2 * math.pi * i / n), 1.0) for i in range(n)]
    return Cameras(camera_to_worlds=torch.stack([look_at(e) for e in eyes]), fx=50.0, fy=50.0, cx=w / 2, cy=h / 2,
                   width=w, height=h, camera_type=CameraType.PERSPECTIVE)


def test_random_points_beside_a_triangulated_cloud():
    """add_random_points keeps the start cloud's Gaussians as they were, appends n Gaussians that the views
    see (each inside >= RANDOM_INIT_MIN_VIEWS frustums), with splatfacto's initial opacity and the relevancy
    prior, and turns the opacity prior on (the run now has Gaussians no photo asked for)."""
    from point2act.visibility import FrustumCameras, views_seeing

    model = make_model(n=300)
    before = {k: p.detach().clone() for k, p in model.gauss_params.items()}
    assert model.opacity_reg == 0.0
    cams = _ring_cameras()
    n = model.add_random_points(cams, 500)
    assert n == 500 and model.random_points == 500
    gp = model.gauss_params
    for k, p in gp.items():
        assert p.shape[0] == 800, k
        assert isinstance(p, torch.nn.Parameter)
        torch.testing.assert_close(p.detach()[:300], before[k])  # the cloud's Gaussians are unchanged
    new = gp["means"].detach()[300:]
    c2w = cams.camera_to_worlds
    K = cams.get_intrinsics_matrices()
    wh = torch.stack([cams.width[:, 0], cams.height[:, 0]], -1).float()
    assert (views_seeing(new, FrustumCameras(c2w, K, wh)) >= RANDOM_INIT_MIN_VIEWS).all()
    torch.testing.assert_close(torch.sigmoid(gp["opacities"].detach()[300:]), torch.full((500, 1), 0.1))
    torch.testing.assert_close(gp[RELEVANCY_KEY].detach()[300:], before[RELEVANCY_KEY][:1].expand(500, 1))
    assert torch.isfinite(gp["scales"]).all() and torch.isfinite(gp["features_dc"]).all()
    assert (gp["features_rest"].detach()[300:] == 0).all()
    assert model.random_init and model.opacity_reg > 0
    model.eval()
    out = model.get_outputs_for_camera(make_camera())  # the grown model renders
    assert torch.isfinite(out["rgb"]).all()


def test_a_random_start_puts_one_gaussian_per_pixel_footprint_in_the_answers_ball():
    """bound_random_init with the ball the answers' cores cover at their place: (4/3) pi r_px^3 of the Gaussians
    (one per pixel-footprint cube of the ball) lie inside it, the others where they lie without it; the share is
    at most half of them."""
    import math

    cams = _ring_cameras()
    plain = make_model(random_init=True, num_random=2000)
    plain.bound_random_init(cams)
    model = make_model(random_init=True, num_random=2000)
    center = torch.tensor([0.05, -0.02, 0.1])
    n = model.bound_random_init(cams, ball=(center.numpy(), 0.08, 5.0))
    m = round(4.0 / 3.0 * math.pi * 5.0 ** 3)
    means = model.gauss_params["means"].detach()
    assert n == 2000 and means.shape == (2000, 3)
    torch.testing.assert_close(means[: n - m], plain.gauss_params["means"].detach()[: n - m])
    inside = (means[n - m:] - center).norm(dim=-1)
    assert (inside <= 0.08 + 1e-6).all() and inside.max() > 0.06  # filling the ball, not its centre only
    assert torch.isfinite(model.gauss_params["scales"]).all()
    capped = make_model(random_init=True, num_random=2000)
    capped.bound_random_init(cams, ball=(center.numpy(), 0.08, 50.0))
    far = (capped.gauss_params["means"].detach() - center).norm(dim=-1) > 0.08 + 1e-6
    assert int(far.sum()) >= 1000 - 50  # half stay in the frustums (a few of those fall in the ball by chance)


@pytest.mark.parametrize("sh_degree", [0, 1])
def test_random_gaussians_take_the_colour_the_photos_show_at_them(sh_degree):
    """colour_from_photos: the rows from ``first`` on get the colour their views' pixels show (as SH DC, or as
    the logit splatfacto's sh_degree 0 uses), the rows before it and view-dependent colour stay."""
    from nerfstudio.models.splatfacto import SH2RGB

    from point2act.geometry import viewmat_from_c2w

    cams = _ring_cameras()
    model = make_model(n=300, sh_degree=sh_degree)
    before = model.gauss_params["features_dc"].detach().clone()
    rest = model.gauss_params["features_rest"].detach().clone()
    h, w = int(cams.height[0, 0]), int(cams.width[0, 0])
    images = [torch.full((h, w, 3), 0.0) + torch.tensor([0.2, 0.5, 0.8]) for _ in range(len(cams))]
    got = model.colour_from_photos(images, cams.get_intrinsics_matrices(), viewmat_from_c2w(cams.camera_to_worlds),
                                   first=100)
    dc = model.gauss_params["features_dc"].detach()
    assert 0 < got <= 200
    torch.testing.assert_close(dc[:100], before[:100])
    torch.testing.assert_close(model.gauss_params["features_rest"].detach(), rest)
    rgb = SH2RGB(dc[100:]) if sh_degree > 0 else torch.sigmoid(dc[100:])
    changed = (dc[100:] != before[100:]).any(-1)
    assert int(changed.sum()) == got
    torch.testing.assert_close(rgb[changed], torch.tensor([0.2, 0.5, 0.8]).expand(got, 3), atol=1e-5, rtol=0)


def test_a_viewer_render_on_the_cpu_follows_the_free_cores(monkeypatch):
    """ns-viewer renders through the model's eval outputs: on the CPU they start the process's thread budget
    (point2act.threads), as training does, so a viewer beside other programs sizes its threads to the free cores."""
    from point2act import threads

    monkeypatch.setattr(threads, "_PROCESS", None)
    updates = []
    monkeypatch.setattr(threads.ThreadBudget, "update", lambda self, force=False: updates.append(1) or self.threads)
    model = make_model()
    model.eval()
    with torch.no_grad():
        out = model.get_outputs(make_camera())
    assert "rgb" in out and threads._PROCESS is not None and updates
