"""point2act.ssim against pytorch_msssim (the SSIM splatfacto uses): value and gradient."""

from __future__ import annotations

import pytest
import torch

pytorch_msssim = pytest.importorskip("pytorch_msssim")

from point2act.ssim import SSIM, ssim  # noqa: E402


@pytest.mark.parametrize("b,c,h,w,seed", [(1, 3, 24, 32, 0), (2, 3, 40, 17, 1), (1, 1, 11, 11, 2), (1, 3, 8, 30, 3)])
def test_value_and_gradient_match_pytorch_msssim(b, c, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(b, c, h, w, generator=g, dtype=torch.float64)
    x = (y + 0.2 * torch.randn(b, c, h, w, generator=g, dtype=torch.float64)).clamp(0, 1)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    if min(h, w) < 11:
        with pytest.warns(UserWarning):  # the reference skips the short dimension too, and says so
            ref = pytorch_msssim.ssim(x2, y, data_range=1.0, size_average=True)
    else:
        ref = pytorch_msssim.ssim(x2, y, data_range=1.0, size_average=True)
    got = ssim(x1, y, 1.0)
    torch.testing.assert_close(got, ref, atol=1e-10, rtol=1e-9)
    got.backward()
    ref.backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-10, rtol=1e-8)
    # splatfacto passes (target, prediction): the prediction still gets its gradient
    x3 = x.clone().requires_grad_(True)
    ssim(y, x3, 1.0).backward()
    torch.testing.assert_close(x3.grad, x2.grad, atol=1e-10, rtol=1e-8)


def test_module_as_splatfacto_calls_it_and_identical_images():
    m = SSIM(data_range=1.0)
    x = torch.rand(1, 3, 30, 40)
    assert float(m(x, x)) == pytest.approx(1.0, abs=1e-5)
    assert float(m(x, torch.rand(1, 3, 30, 40))) < 0.5
    assert "win" not in m.state_dict()  # checkpoints of the model do not change


def test_gradcheck():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(1, 2, 13, 14, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(1, 2, 13, 14, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: ssim(a, y, 1.0), (x,))
    assert torch.autograd.gradcheck(lambda a: ssim(y, a, 1.0), (x,))
    assert torch.autograd.gradcheck(lambda a, b: ssim(a, b, 1.0), (x, y.clone().requires_grad_(True)))


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="one shape"):
        ssim(torch.rand(1, 3, 20, 20), torch.rand(1, 3, 20, 21))
