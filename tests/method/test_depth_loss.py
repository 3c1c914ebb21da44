"""Depth supervision: the relative depth loss against its closed form and gradcheck, the model using it
only when the capture has depth, and a few steps on measured depth moving the rendered depth towards it."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("nerfstudio")

from point2act.losses import relative_depth_loss  # noqa: E402
from point2act.method.keys import DEPTH_KEY  # noqa: E402

from nerfstudio.data.scene_box import SceneBox  # noqa: E402

from point2act.method.model import Point2ActModelConfig  # noqa: E402
from point2act.method.schedule import AUTO_FIELDS  # noqa: E402
from test_model import make_camera  # noqa: E402  (pytest puts this folder on sys.path)


def test_closed_form_and_missing_measurements():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])[..., None]
    target = torch.tensor([[2.0, 0.0], [3.0, 5.0]])[..., None]  # 0: no measurement
    # (|1-2|/2 + |3-3|/3 + |4-5|/5) / 3
    assert float(relative_depth_loss(pred, target)) == pytest.approx((0.5 + 0.0 + 0.2) / 3)
    assert float(relative_depth_loss(pred, torch.zeros_like(target))) == 0.0


def test_target_resized_nearest_to_the_render():
    pred = torch.full((4, 6, 1), 2.0)
    target = torch.tensor([[1.0, 0.0, 4.0], [2.0, 2.0, 2.0]])[..., None]  # [2, 3]: each pixel covers 2x2
    expected = (4 * 1.0 + 4 * 0.5 + 12 * 0.0) / 20  # 1 -> |2-1|/1, 4 -> 0.5, 2 -> 0; the 0 block is left out
    assert float(relative_depth_loss(pred, target)) == pytest.approx(expected)


def test_gradcheck():
    g = torch.Generator().manual_seed(0)
    pred = (torch.rand(5, 4, 1, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
    target = torch.rand(5, 4, 1, generator=g, dtype=torch.float64) + 0.5
    target[0, 0] = 0.0
    assert torch.autograd.gradcheck(lambda p: relative_depth_loss(p, target), (pred,))


def make_model(depth: bool, n: int = 400, **overrides):
    """test_model's model, built with or without depth files in the parser's metadata (what nerfstudio's
    pipeline hands the model)."""
    g = torch.Generator().manual_seed(0)
    pts = (torch.rand(n, 3, generator=g) - 0.5) * 1.0
    cols = (torch.rand(n, 3, generator=g) * 255).round()
    cfg = Point2ActModelConfig(**{**dict.fromkeys(AUTO_FIELDS), "sh_degree": 1, "num_downscales": 0, **overrides})
    meta = {"depth_filenames": ["d.png"] * 4} if depth else {}
    model = cfg.setup(scene_box=SceneBox(aabb=torch.tensor([[-1.0] * 3, [1.0] * 3])), num_train_data=4,
                      seed_points=(pts, cols), metadata=meta)
    model.optimizers = {k: torch.optim.Adam([v], lr=1e-3) for k, v in model.gauss_params.items()}  # as the trainer's
    return model


def test_the_model_adds_the_loss_only_with_depth():
    cam = make_camera()
    for on in (False, True):
        model = make_model(on)
        model.train()
        out = model.get_outputs(cam)
        batch = {"image": torch.rand(36, 48, 3), DEPTH_KEY: torch.full((36, 48, 1), 2.0)}
        losses = model.get_loss_dict(out, batch)
        assert ("depth_loss" in losses) is on
    assert not make_model(True, depth_loss_weight=0.0).depth_supervised


def test_steps_on_measured_depth_move_the_render_towards_it():
    torch.manual_seed(0)
    model = make_model(True, n=300, depth_loss_weight=1.0)
    cam = make_camera()

    def render_depth():
        model.eval()
        with torch.no_grad():
            d = model.get_outputs(cam)["depth"]
        model.train()
        return d

    target = render_depth() * 1.15  # everything measured 15 % farther
    params = [model.gauss_params["means"], model.gauss_params["scales"], model.gauss_params["opacities"]]
    opt = torch.optim.Adam(params, lr=2e-3)

    def err():
        return float(relative_depth_loss(render_depth(), target))

    before = err()
    for _ in range(40):
        opt.zero_grad()
        loss = model.get_loss_dict(model.get_outputs(cam), {"image": torch.zeros(36, 48, 3), DEPTH_KEY: target})
        loss["depth_loss"].backward()
        opt.step()
    assert err() < 0.6 * before
