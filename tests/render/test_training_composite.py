"""point2act.render.composite.training_composite: splatfacto's background compositing and clamp of the photo and
the clamp of the extra channels, one autograd node; its gradients are those of the torch ops, bit for bit."""

from __future__ import annotations

import pytest
import torch

from point2act.render.composite import training_composite
from point2act.render.rasterization import _SplitChannels


def _inputs(H, W, E, seed):
    g = torch.Generator().manual_seed(seed)
    render = torch.rand(1, H, W, 3 + E, generator=g) * 1.4 - 0.2  # some values clamp at each end
    render[0, 0, :4, :] = torch.tensor([0.0, 1.0, -0.0, 0.5] * 2)[: 3 + E]  # the clamp's bounds exactly
    alpha = torch.rand(1, H, W, 1, generator=g)
    alpha[0, 1, :3] = torch.tensor([[0.0], [1.0], [0.5]])
    background = torch.rand(3, generator=g)
    v_rgb = torch.randn(H, W, 3, generator=g)
    v_rgb[2, :2] = -0.0
    v_extra = torch.randn(H, W, E, generator=g)
    return render, alpha, background, v_rgb, v_extra


def _torch_ops(render, alpha, background, E):
    """The rasterizer's channel split, splatfacto's compositing and point2act's relevancy clamp: the torch ops of
    training without the fused node."""
    colours, extra = _SplitChannels.apply(render, 3)
    rgb = torch.clamp(colours[:, ..., :3] + (1 - alpha) * background, 0.0, 1.0).squeeze(0)
    return rgb, extra[0].clamp(0.0, 1.0)


@pytest.mark.parametrize("H,W,E,seed", [(5, 7, 1, 0), (36, 48, 1, 1), (20, 30, 2, 2), (600, 512, 1, 3)])
def test_values_and_gradients_are_the_torch_ops_bits(H, W, E, seed):
    render0, alpha0, background, v_rgb, v_extra = _inputs(H, W, E, seed)
    r_ref, a_ref = render0.clone().requires_grad_(True), alpha0.clone().requires_grad_(True)
    rgb_ref, extra_ref = _torch_ops(r_ref, a_ref, background, E)
    ((rgb_ref * v_rgb).sum() + (extra_ref * v_extra).sum()).backward()

    r, a = render0.clone().requires_grad_(True), alpha0.clone().requires_grad_(True)
    with torch.no_grad():
        rgb_value, _ = _torch_ops(r, a, background, E)
    rgb, extra = training_composite(r, a, background, rgb_value)
    assert rgb.shape == (H, W, 3) and extra.shape == (H, W, E)
    assert torch.equal(rgb, rgb_ref) and torch.equal(extra, extra_ref)
    torch.autograd.backward([rgb, extra], [v_rgb, v_extra])
    # the same bits, the signs of zeros included
    assert torch.equal(r.grad.view(torch.int32), r_ref.grad.view(torch.int32))
    assert torch.equal(a.grad.view(torch.int32), a_ref.grad.view(torch.int32))


def test_an_unused_output_sends_zero_gradient():
    render0, alpha0, background, v_rgb, _ = _inputs(8, 9, 1, 4)
    r, a = render0.clone().requires_grad_(True), alpha0.clone().requires_grad_(True)
    with torch.no_grad():
        rgb_value, _ = _torch_ops(r, a, background, 1)
    rgb, _extra = training_composite(r, a, background, rgb_value)
    (rgb * v_rgb).sum().backward()
    assert torch.all(r.grad[..., 3] == 0)
    r_ref, a_ref = render0.clone().requires_grad_(True), alpha0.clone().requires_grad_(True)
    (_torch_ops(r_ref, a_ref, background, 1)[0] * v_rgb).sum().backward()
    assert torch.equal(r.grad[..., :3], r_ref.grad[..., :3]) and torch.equal(a.grad, a_ref.grad)


def test_refuses_what_it_cannot_differentiate():
    render, alpha, background, _, _ = _inputs(4, 4, 1, 5)
    rgb = torch.zeros(4, 4, 3)
    with pytest.raises(ValueError, match="background"):
        training_composite(render, alpha, background.clone().requires_grad_(True), rgb)
    with pytest.raises(ValueError, match="float32"):
        training_composite(render.double(), alpha, background, rgb)
    with pytest.raises(ValueError, match="contiguous"):
        training_composite(render.transpose(1, 2), alpha, background, rgb)
