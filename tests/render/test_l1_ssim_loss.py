"""point2act.ssim.fused_l1_ssim_loss, splatfacto's photometric loss in the fused SSIM kernels: its value and
gradients are those of splatfacto's torch ops around the fused SSIM, bit for bit, and finite differences agree."""

from __future__ import annotations

import pytest
import torch

from point2act import ssim as fused


@pytest.fixture(scope="module", autouse=True)
def ext():
    return fused.load_extension()


def _images(H, W, C, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(H, W, C, generator=g, dtype=dtype)
    pred = (0.7 * gt + 0.3 * torch.rand(H, W, C, generator=g, dtype=dtype)).clamp(0, 1)
    pred[: H // 3, : W // 4] = gt[: H // 3, : W // 4]  # equal pixels: sgn(0) of the L1 term
    return gt, pred


def _splatfacto(gt, pred, lam, module):
    """splatfacto's get_loss_dict: main_loss from torch ops and the model's SSIM module."""
    Ll1 = torch.abs(gt - pred).mean()
    simloss = 1 - module(gt.permute(2, 0, 1)[None, ...], pred.permute(2, 0, 1)[None, ...])
    return (1 - lam) * Ll1 + lam * simloss


@pytest.mark.parametrize("H,W,C,seed", [(192, 256, 3, 0), (40, 33, 3, 1), (17, 12, 1, 2)])
@pytest.mark.parametrize("lam", [0.2, 0.7])
@pytest.mark.parametrize("upstream", [1.0, 0.37])
def test_value_and_gradients_are_splatfactos_bits(H, W, C, seed, lam, upstream):
    module = fused.SSIM(data_range=1.0, size_average=True, channel=C)
    gt, pred0 = _images(H, W, C, seed)
    ref_pred = pred0.clone().requires_grad_(True)
    ref = _splatfacto(gt, ref_pred, lam, module)
    (ref * upstream).backward()
    mine_pred = pred0.clone().requires_grad_(True)
    mine = fused.fused_l1_ssim_loss(gt, mine_pred, lam, window=module.window)
    (mine * upstream).backward()
    assert torch.equal(mine, ref)
    assert torch.equal(mine_pred.grad.view(torch.int32), ref_pred.grad.view(torch.int32))


def test_both_images_gradients_are_splatfactos_bits():
    module = fused.SSIM(data_range=1.0, size_average=True, channel=3)
    gt0, pred0 = _images(30, 28, 3, 3)
    a, b = gt0.clone().requires_grad_(True), pred0.clone().requires_grad_(True)
    _splatfacto(a, b, 0.2, module).backward()
    c, d = gt0.clone().requires_grad_(True), pred0.clone().requires_grad_(True)
    fused.fused_l1_ssim_loss(c, d, 0.2).backward()
    assert torch.equal(c.grad, a.grad) and torch.equal(d.grad, b.grad)


def test_gradcheck_float64():
    gt, pred = _images(13, 14, 3, 4, dtype=torch.float64)
    gt = gt + 1e-3 * torch.rand(gt.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    gt.requires_grad_(True)
    pred.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: fused.fused_l1_ssim_loss(a, b, 0.3), (gt, pred), eps=1e-6,
                                    atol=1e-6, rtol=1e-4)


def test_refuses_images_the_kernels_do_not_take():
    with pytest.raises(ValueError, match="fused_l1_ssim_loss"):
        fused.fused_l1_ssim_loss(torch.rand(8, 8, 3), torch.rand(8, 8, 3), 0.2)  # smaller than the window
    with pytest.raises(ValueError, match="fused_l1_ssim_loss"):
        fused.fused_l1_ssim_loss(torch.rand(20, 20, 3), torch.rand(20, 20, 3, dtype=torch.float64), 0.2)
