"""point2act.render.sh_colors (csrc/spherical_harmonics.cpp) vs its torch reference _torch_impl._sh_colors."""

import pytest
import torch

from point2act.render import _backend, sh_colors
from point2act.render import _torch_impl as ref

DEGREES = [0, 1, 2, 3, 4]
K = 25  # coefficients of degree 4: those beyond the degree's bases get no gradient


@pytest.fixture(scope="module", autouse=True)
def ext():
    return _backend.load_extension()


def _inputs(C, N, degree, dtype, shared=True, seed=0, clamp_frac=0.3):
    """Directions of norm >= 0.5 and coefficients whose colours stay >= 0.4 away from the clamp's kink:
    a DC coefficient of +5 (colour ~ 1.9) or, on a fraction ``clamp_frac`` of the channels, -20 (clamped)."""
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(C, N, 3, generator=g, dtype=dtype)
    dirs = dirs + 0.5 * dirs.sign()
    lead = (N,) if shared else (C, N)
    coeffs = 0.1 * torch.randn(*lead, K, 3, generator=g, dtype=dtype)
    clamped = torch.rand(*lead, 3, generator=g) < clamp_frac
    coeffs[..., 0, :] = torch.where(clamped, -20.0, 5.0).to(dtype)
    return dirs, coeffs


def _grads(fn, degree, dirs, coeffs, v):
    """fn's output and gradients (zeros where fn does not depend on an input)."""
    dirs = dirs.detach().clone().requires_grad_(True)
    coeffs = coeffs.detach().clone().requires_grad_(True)
    out = fn(degree, dirs, coeffs)
    out.backward(v)
    v_dirs = torch.zeros_like(dirs) if dirs.grad is None else dirs.grad
    return out.detach(), v_dirs, torch.zeros_like(coeffs) if coeffs.grad is None else coeffs.grad


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("C", [1, 2])
@pytest.mark.parametrize("degree", DEGREES)
def test_forward_backward_match_reference_float32(degree, C, shared):
    dirs, coeffs = _inputs(C, 300, degree, torch.float32, shared=shared, seed=degree + 10 * C)
    coeffs[..., 1:, :] *= 10.0  # colours on both sides of the clamp, some near it
    coeffs[..., 0, :] = torch.randn(coeffs[..., 0, :].shape, generator=torch.Generator().manual_seed(1))
    v = torch.randn(C, 300, 3, generator=torch.Generator().manual_seed(2))
    out, v_dirs, v_coeffs = _grads(sh_colors, degree, dirs, coeffs, v)
    out_r, v_dirs_r, v_coeffs_r = _grads(ref._sh_colors, degree, dirs, coeffs, v)
    assert out.shape == (C, 300, 3) and out.dtype == torch.float32
    assert (out == 0).any() and (out > 0).any()
    torch.testing.assert_close(out, out_r, rtol=1e-5, atol=1e-5)
    # the clamp's mask may differ where the shifted colour is within rounding of 0: compare elsewhere
    shifted = ref._spherical_harmonics(degree, dirs, coeffs.expand(C, -1, -1, -1) if shared else coeffs) + 0.5
    keep = (shifted.abs() > 1e-4).all(-1)  # [C, N]
    assert keep.float().mean() > 0.9
    torch.testing.assert_close(v_dirs[keep], v_dirs_r[keep], rtol=1e-4, atol=1e-4)
    nb = (degree + 1) ** 2
    assert (v_coeffs[..., nb:, :] == 0).all()
    keep_c = keep.all(0) if shared else keep
    torch.testing.assert_close(v_coeffs[keep_c], v_coeffs_r[keep_c], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("C", [1, 2])
@pytest.mark.parametrize("degree", DEGREES)
def test_gradcheck_float64(degree, C, shared):
    dirs, coeffs = _inputs(C, 6, degree, torch.float64, shared=shared, seed=100 + degree)
    dirs.requires_grad_(True)
    coeffs.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda d, c: sh_colors(degree, d, c), (dirs, coeffs), eps=1e-6, atol=1e-7)
    out = sh_colors(degree, dirs, coeffs)
    assert (out == 0).any() and (out > 0).any()  # both sides of the clamp were checked


@pytest.mark.parametrize("degree", [1, 3])
def test_gradcheck_expanded_coeffs_view(degree):
    """A [C, N, K, 3] view expanded from [N, K, 3]: autograd sums the cameras' gradients."""
    dirs, coeffs = _inputs(2, 5, degree, torch.float64, seed=7)
    dirs.requires_grad_(True)
    coeffs.requires_grad_(True)

    def fn(d, c):
        return sh_colors(degree, d, c.expand(2, -1, -1, -1))

    assert torch.autograd.gradcheck(fn, (dirs, coeffs), eps=1e-6, atol=1e-7)
    v = torch.randn(2, 5, 3, dtype=torch.float64)
    _, v_dirs, v_coeffs = _grads(lambda k, d, c: fn(d, c), degree, dirs, coeffs, v)
    _, v_dirs_r, v_coeffs_r = _grads(ref._sh_colors, degree, dirs, coeffs, v)
    torch.testing.assert_close(v_dirs, v_dirs_r)
    torch.testing.assert_close(v_coeffs, v_coeffs_r)


def test_clamp_gradient_at_zero_matches_torch():
    """Where the shifted colour is exactly 0 (and below), torch's clamp_min passes no gradient."""
    c0 = ref._eval_sh_bases(1, torch.zeros(1, 3, dtype=torch.float64))[0, 0]
    dc = -0.5 / c0
    while (dc * c0 + 0.5).item() != 0.0:  # the nearest coefficient whose shifted colour is exactly 0
        dc = torch.nextafter(dc, dc + 1.0 if (dc * c0 + 0.5).item() < 0 else dc - 1.0)
    coeffs = torch.tensor([[[dc, dc - 1.0, dc + 1.0]]], dtype=torch.float64)  # [N=1, K=1, 3]
    dirs = torch.tensor([[[0.3, -0.2, 0.9]]], dtype=torch.float64)
    v = torch.ones(1, 1, 3, dtype=torch.float64)
    out, _, v_coeffs = _grads(sh_colors, 0, dirs, coeffs, v)
    out_r, _, v_coeffs_r = _grads(ref._sh_colors, 0, dirs, coeffs, v)
    assert out_r[0, 0, 0].item() == 0.0 and v_coeffs_r[0, 0, 0].item() == 0.0
    assert torch.equal(out, out_r) and torch.equal(v_coeffs, v_coeffs_r)


def test_tiny_and_zero_directions_match_reference():
    """|dirs| below F.normalize's eps (1e-12): the direction is divided by eps, not normalised."""
    dirs = torch.tensor([[[0.0, 0.0, 0.0], [3e-13, -2e-13, 5e-13], [1.0, 2.0, -0.5]]], dtype=torch.float64)
    coeffs = 0.3 * torch.randn(3, 16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    coeffs[:, 0, :] = 3.0
    v = torch.randn(1, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    out, v_dirs, v_coeffs = _grads(sh_colors, 3, dirs, coeffs, v)
    out_r, v_dirs_r, v_coeffs_r = _grads(ref._sh_colors, 3, dirs, coeffs, v)
    torch.testing.assert_close(out, out_r)
    torch.testing.assert_close(v_dirs, v_dirs_r)
    torch.testing.assert_close(v_coeffs, v_coeffs_r)


def test_mixed_dtypes_promote_and_dirs_only_gradient():
    dirs, coeffs = _inputs(2, 20, 2, torch.float32, seed=5)
    dirs64 = dirs.double().requires_grad_(True)
    out = sh_colors(2, dirs64, coeffs)  # coeffs without gradient, float32
    assert out.dtype == torch.float64
    out.sum().backward()
    v_r = torch.autograd.grad(ref._sh_colors(2, dirs64, coeffs.double()).sum(), dirs64)[0]
    torch.testing.assert_close(dirs64.grad, v_r)


def test_bad_arguments_raise():
    dirs, coeffs = _inputs(1, 4, 1, torch.float32)
    with pytest.raises(ValueError):
        sh_colors(5, dirs, coeffs)
    with pytest.raises(RuntimeError, match="needs 16 coefficients"):
        sh_colors(3, dirs, coeffs[:, :9])
    with pytest.raises(RuntimeError, match="coeffs must be"):
        sh_colors(1, dirs, coeffs[:3])


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("degree", [1, 3])
def test_two_threads_give_the_one_thread_bits(ext, degree, shared):
    """From SH_PARALLEL (8192) basis evaluations the per-Gaussian loops run on the threads given: each Gaussian
    on one thread, so the colours and gradients are the one-thread bits."""
    dirs, coeffs = _inputs(2, 3000, degree, torch.float32, shared=shared, seed=degree)
    v = torch.randn(dirs.shape, generator=torch.Generator().manual_seed(5))
    out = [ext.sh_colors_fwd(degree, dirs, coeffs, nt) for nt in (1, 2)]
    assert torch.equal(out[0], out[1])
    bwd = [ext.sh_colors_bwd(degree, dirs, coeffs, out[0], v, True, nt) for nt in (1, 2)]
    for x, y in zip(*bwd):
        assert torch.equal(x, y)
    assert bwd[0][1].abs().sum() > 0
