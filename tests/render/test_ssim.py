"""The fused SSIM kernels (point2act.ssim) against pytorch_msssim and the torch reference.

Value and gradient of ``point2act.ssim.SSIM`` must be pytorch_msssim's: finite differences in float64 on
small images (the kernel's double path), the torch reference's analytic gradient against autograd, and
float32 tolerances on 256x192 photographs and procedural images, in both memory layouts the kernel reads.
"""

from __future__ import annotations

import pytest
import torch
from pytorch_msssim import SSIM as MSSSIM
from pytorch_msssim import ssim as msssim_ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d

from point2act import _ssim_torch_impl as ref
from point2act import ssim as fused

F64 = torch.float64
C1, C2 = 0.01**2, 0.03**2


@pytest.fixture(scope="module", autouse=True)
def ext():
    return fused.load_extension()


def _pair(N=1, C=3, H=15, W=18, seed=0, dtype=F64):
    """Correlated image pair (Y = X + noise), values in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(N, C, H, W, generator=g, dtype=dtype)
    Y = (0.7 * X + 0.3 * torch.rand(N, C, H, W, generator=g, dtype=dtype)).clamp(0, 1)
    return X, Y


def _hwc(img):  # [N, C, H, W] -> the same values, channels-last ([H, W, C] permuted, as splatfacto passes)
    return img.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)


def _procedural(H=192, W=256, seed=0):
    """A photograph-like [1, 3, H, W] image: smooth shading, hard-edged shapes, fine texture."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    img = torch.stack([0.3 + 0.4 * xx, 0.2 + 0.5 * yy, 0.5 + 0.2 * torch.sin(6 * xx + 3 * yy)])
    for _ in range(12):
        cx, cy, r = torch.rand(3, generator=g)
        mask = ((xx - cx) ** 2 + ((yy - cy) * H / W) ** 2) < (0.05 + 0.2 * r) ** 2
        img = torch.where(mask, torch.rand(3, 1, 1, generator=g), img)
    img = img + 0.03 * torch.randn(3, H, W, generator=g)
    return img.clamp(0, 1)[None]


def _photo(shared_data, H=192, W=256):
    from PIL import Image
    import numpy as np

    path = shared_data / "real" / "coke" / "images_2" / "0001.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    arr = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    top, left = (arr.shape[0] - H) // 2, (arr.shape[1] - W) // 2
    return torch.from_numpy(arr[top:top + H, left:left + W].copy()).permute(2, 0, 1)[None]


def _rendered_like(gt, seed=1):
    """A prediction of ``gt``: blurred, shifted in colour, noisy (what a partly trained splat renders)."""
    g = torch.Generator().manual_seed(seed)
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    blur = torch.nn.functional.conv2d(gt, (k[:, None] * k[None, :]).expand(3, 1, 5, 5).contiguous(), padding=2,
                                      groups=3)
    pred = 0.9 * blur + 0.05 + 0.05 * torch.randn(gt.shape, generator=g)
    return pred.clamp(0, 1)


def test_window_is_pytorch_msssims():
    assert torch.equal(fused.gaussian_window(11, 1.5), _fspecial_gauss_1d(11, 1.5).flatten())
    assert torch.equal(fused.SSIM(data_range=1.0, channel=3).win, MSSSIM(data_range=1.0, channel=3).win)


@pytest.mark.parametrize("size_average", [True, False])
@pytest.mark.parametrize("layout", ["nchw", "hwc"])
def test_gradcheck_float64(size_average, layout):
    """Finite differences of the kernel's float64 path, both inputs, both layouts, two images."""
    X, Y = _pair(N=2, C=3, H=13, W=15)
    if layout == "hwc":
        X, Y = _hwc(X), _hwc(Y)
    X.requires_grad_(True)
    Y.requires_grad_(True)
    f = lambda a, b: fused.fused_ssim(a, b, size_average=size_average)  # noqa: E731
    assert torch.autograd.gradcheck(f, (X, Y), eps=1e-6, atol=1e-8, rtol=1e-5)


def test_float64_value_and_grad_equal_pytorch_msssim():
    """Double precision: value and gradient of pytorch_msssim to ~1e-12 (any slip in the formulas shows)."""
    X, Y = _pair(N=2, C=3, H=24, W=21, seed=3)
    X.requires_grad_(True)
    Y.requires_grad_(True)
    got = fused.fused_ssim(X, Y)
    gx, gy = torch.autograd.grad(3.0 * got, (X, Y))
    want = msssim_ssim(X, Y, data_range=1.0, win=_fspecial_gauss_1d(11, 1.5).repeat(3, 1, 1, 1))
    wx, wy = torch.autograd.grad(3.0 * want, (X, Y))
    assert abs(got.item() - want.item()) < 1e-12
    assert (gx - wx).abs().max() < 1e-12 * 1e3 * wx.abs().max()
    assert (gy - wy).abs().max() < 1e-12 * 1e3 * wy.abs().max()


def test_torch_reference_gradient_is_autograds():
    """The derivation the kernel implements (reference maps + window adjoint) equals autograd, float64."""
    X, Y = _pair(N=1, C=2, H=16, W=19, seed=5)
    X.requires_grad_(True)
    Y.requires_grad_(True)
    win = fused.gaussian_window().to(F64)
    S = ref.ssim_maps(X, Y, fused.SSIMSettings(win, C1, C2))[0]
    want = torch.autograd.grad(2.5 * S.sum(), (X, Y))
    got = ref.ssim_grads(X.detach(), Y.detach(), fused.SSIMSettings(win, C1, C2), torch.tensor([2.5], dtype=F64))
    for a, b in zip(got, want):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-13)
    value = msssim_ssim(X, Y, data_range=1.0, win=win.float().view(1, 1, 1, -1).repeat(2, 1, 1, 1))
    assert abs(S.mean().item() - value.item()) < 1e-13


def _images(kind, shared_data_dir):
    if kind == "photo":
        gt = _photo(shared_data_dir)
    else:
        gt = _procedural()
    return gt, _rendered_like(gt)


@pytest.mark.parametrize("kind", ["photo", "procedural"])
@pytest.mark.parametrize("layout", ["nchw", "hwc"])
def test_float32_matches_pytorch_msssim_256x192(kind, layout, request):
    """splatfacto's call, 1 - SSIM(gt, pred) with pred requiring grad: value to float32 rounding, gradient
    within 1e-4 of its largest entry."""
    shared = request.getfixturevalue("shared_data") if kind == "photo" else None
    gt, pred = _images(kind, shared)
    if layout == "hwc":
        gt, pred = _hwc(gt), _hwc(pred)
    a = pred.clone().requires_grad_(True)
    b = pred.clone().requires_grad_(True)
    ours = fused.SSIM(data_range=1.0, size_average=True, channel=3)
    theirs = MSSSIM(data_range=1.0, size_average=True, channel=3)
    got, want = 1 - ours(gt, a), 1 - theirs(gt, b)
    got.backward()
    want.backward()
    assert got.dtype == want.dtype == torch.float32
    assert 0.02 < want.item() < 0.9  # a loss that is neither trivial nor saturated
    assert abs(got.item() - want.item()) < 2e-6
    assert a.grad.stride() == b.grad.stride() == pred.stride()  # the layout comes back unchanged
    err = (a.grad - b.grad).abs().max() / b.grad.abs().max()
    assert err < 1e-4


def test_float32_grad_wrt_both_inputs():
    gt, pred = _images("procedural", None)
    x1, y1 = gt.clone().requires_grad_(True), pred.clone().requires_grad_(True)
    x2, y2 = gt.clone().requires_grad_(True), pred.clone().requires_grad_(True)
    fused.fused_ssim(x1, y1).backward()
    msssim_ssim(x2, y2, data_range=1.0).backward()
    for a, b in ((x1.grad, x2.grad), (y1.grad, y2.grad)):
        assert (a - b).abs().max() < 1e-4 * b.abs().max()


def test_same_bits_for_any_thread_count():
    gt, pred = _images("procedural", None)
    gt, pred = _hwc(torch.cat([gt, gt.flip(-1)])), _hwc(torch.cat([pred, pred.flip(-2)]))
    before = torch.get_num_threads()
    out = []
    try:
        for n in (1, 4, 3):
            torch.set_num_threads(n)
            x, y = gt.clone().requires_grad_(True), pred.clone().requires_grad_(True)
            v = fused.fused_ssim(x, y, size_average=False)
            v.sum().backward()
            out.append((v.detach(), x.grad, y.grad))
    finally:
        torch.set_num_threads(before)
    for other in out[1:]:
        for a, b in zip(out[0], other):
            assert torch.equal(a, b)


def test_no_grad_and_constant_images():
    """Without grad the kernel stores no maps; identical images give exactly 1, constant ones too."""
    gt, _ = _images("procedural", None)
    with torch.no_grad():
        assert fused.fused_ssim(gt, gt.clone()).item() == pytest.approx(1.0, abs=1e-6)
    flat = torch.full((1, 3, 20, 20), 0.4)
    assert fused.fused_ssim(flat, flat.clone()).item() == pytest.approx(1.0, abs=1e-6)


def test_module_falls_back_where_the_kernel_does_not_apply():
    X, Y = _pair(N=1, C=3, H=8, W=30, dtype=torch.float32)  # height below the window: pytorch_msssim skips it
    assert not fused.fused_supported(X, Y)
    with pytest.warns(UserWarning):
        got = fused.SSIM(data_range=1.0)(X, Y)
    with pytest.warns(UserWarning):
        want = MSSSIM(data_range=1.0)(X, Y)
    assert torch.equal(got, want)
    X, Y = _pair(N=1, C=3, H=20, W=20, dtype=torch.float32)
    nonneg = fused.SSIM(data_range=1.0, nonnegative_ssim=True)(X, Y)
    assert torch.equal(nonneg, MSSSIM(data_range=1.0, nonnegative_ssim=True)(X, Y))
    with pytest.raises(ValueError):
        fused.fused_ssim(X[:, :, :8], Y[:, :, :8])


def test_data_range_and_K():
    X, Y = _pair(N=1, C=3, H=20, W=23, seed=2)
    X255, Y255 = 255 * X, 255 * Y
    got = fused.SSIM(data_range=255, K=(0.02, 0.05))(X255, Y255)
    want = MSSSIM(data_range=255, K=(0.02, 0.05))(X255, Y255)
    assert abs(got.item() - want.item()) < 1e-12


def test_point2act_model_loss_uses_the_fused_kernel(monkeypatch):
    """Point2ActModel's photometric loss runs the fused kernels on CPU images (its L1 + SSIM op) and equals
    splatfacto's loss with pytorch_msssim, value and gradient."""
    from nerfstudio.data.scene_box import SceneBox

    from point2act.method.model import Point2ActModelConfig
    from point2act.method.schedule import AUTO_FIELDS

    model = Point2ActModelConfig(**dict.fromkeys(AUTO_FIELDS), num_random=100).setup(
        scene_box=SceneBox(aabb=torch.tensor([[-1.0, -1, -1], [1, 1, 1]])), num_train_data=2, metadata={})
    model.eval()  # the photometric loss alone (no scale regulariser, camera optimiser)
    assert isinstance(model.ssim, fused.SSIM)
    calls = []
    apply = fused._FusedL1SSIMLoss.apply
    monkeypatch.setattr(fused._FusedL1SSIMLoss, "apply", lambda *a: calls.append(1) or apply(*a))
    gt, pred = _images("procedural", None)
    gt_hwc, pred_hwc = gt[0].permute(1, 2, 0).contiguous(), pred[0].permute(1, 2, 0).contiguous()
    losses = []
    for ssim in (model.ssim, MSSSIM(data_range=1.0, size_average=True, channel=3)):
        model.ssim = ssim
        rgb = pred_hwc.clone().requires_grad_(True)
        loss = model.get_loss_dict({"rgb": rgb, "background": torch.zeros(3)}, {"image": gt_hwc})["main_loss"]
        loss.backward()
        losses.append((loss.detach(), rgb.grad))
    assert len(calls) == 1
    (got, g_got), (want, g_want) = losses
    assert abs(got.item() - want.item()) < 1e-6
    assert (g_got - g_want).abs().max() < 1e-4 * g_want.abs().max()
