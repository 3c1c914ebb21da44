"""The refit's numpy side (point2act.requery.fit_numpy): its pybind11 kernels against the torch references, and its one Adam
solver against the torch fit it replaces (point2act.requery.fit_torch.fit_relevancy, the end of training's and
``point2act query``'s)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from point2act.requery import fit_numpy
from point2act.requery.fit_numpy import Csr, Objective, Views
from point2act.requery.fit_torch import WeightsCache, compositing_weights, compositing_weights_views, fit_relevancy
from point2act.render import Splats, rasterization
from point2act.render._testing import SceneExtras, SceneSpec, random_scene
from point2act.render._torch_impl import _relevancy_loss_grad

SCENES = [(600, 48, 32, 3, 0.04, 0), (2000, 37, 29, 2, 0.03, 1), (150, 33, 17, 2, 0.01, 2)]


def _scene(N, W, H, C, scale, seed, min_weight=0.0):
    torch.manual_seed(seed)
    s = random_scene(SceneSpec(N, W, H, C=C, dtype=torch.float32, scale=scale),
                     extras=SceneExtras(n_channels=1))
    splats = Splats(s["means"], s["quats"], s["scales"], s["opacities"])
    views = Views.one_size(s["viewmats"], s["Ks"], W, H)
    mats = [compositing_weights(splats, views.take([c]), min_weight=min_weight) for c in range(C)]
    return s, WeightsCache.from_views(mats, [[H, W]] * C, list(range(C)))


def _arrays(cache):
    return Csr(cache.crow.numpy(), cache.col.numpy(), cache.val.numpy())


@pytest.mark.parametrize("form", ["bce", "mse", "l1"])
@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("span", [(0.0, 1.0), (0.0, 0.05)])  # the second: many pixels below the BCE clamp
def test_loss_grad_binding_equals_torch_reference(form, scene, span):
    """The numpy binding's one fused pass == the two sparse mat-vecs of the torch reference."""
    _s, cache = _scene(*scene)
    g = torch.Generator().manual_seed(7)
    R, N = cache.num_rows, cache.num_gaussians
    target = torch.rand(R, generator=g) ** 6
    row_w = torch.rand(R, generator=g) / R
    lo, hi = span
    s = lo + (hi - lo) * torch.rand(N, generator=g)
    loss, grad = fit_numpy.relevancy_loss_grad(_arrays(cache), s.numpy(), target.numpy(), row_w.numpy(), form)
    loss_r, grad_r = _relevancy_loss_grad(Csr(cache.crow, cache.col, cache.val), s, target, row_w, form)
    assert grad.dtype == np.float32 and grad.shape == (N,)
    assert abs(loss - loss_r) <= 1e-5 * abs(loss_r)
    np.testing.assert_allclose(grad, grad_r.numpy(), rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("form", ["bce", "mse"])
def test_loss_grad_binding_is_the_loss_derivative(form):
    """gradcheck-style: the kernel's gradient against central differences of its own loss (float64 weights
    would not pass through the float32 kernel; steps large enough for float32)."""
    _s, cache = _scene(300, 24, 16, 1, 0.05, 3)
    A = _arrays(cache)
    rng = np.random.default_rng(0)
    R, N = cache.num_rows, cache.num_gaussians
    target, row_w = (rng.random(R) ** 4).astype(np.float32), np.full(R, 1.0 / R, np.float32)
    s = (0.2 + 0.3 * rng.random(N)).astype(np.float32)
    _loss, grad = fit_numpy.relevancy_loss_grad(A, s, target, row_w, form)
    for i in np.argsort(-np.abs(grad))[:5]:
        h = np.float32(1e-2)
        sp, sm = s.copy(), s.copy()
        sp[i] += h
        sm[i] -= h
        fd = (fit_numpy.relevancy_loss_grad(A, sp, target, row_w, form)[0]
              - fit_numpy.relevancy_loss_grad(A, sm, target, row_w, form)[0]) / (2 * float(h))
        assert abs(fd - float(grad[i])) <= 2e-2 * abs(float(grad[i])) + 1e-7, (i, fd, grad[i])


@pytest.mark.parametrize("scene", SCENES)
def test_csr_transpose_binding_equals_dense(scene):
    _s, cache = _scene(*scene)
    tcrow, tcol, tval = fit_numpy.csr_transpose(*_arrays(cache), cache.num_gaussians)
    A = cache.matrix().to_dense().numpy()
    At = np.zeros(A.T.shape, np.float32)
    for n in range(cache.num_gaussians):
        assert np.all(np.diff(tcol[tcrow[n] : tcrow[n + 1]]) > 0)  # ascending rows
        At[n, tcol[tcrow[n] : tcrow[n + 1]]] = tval[tcrow[n] : tcrow[n + 1]]
    assert np.array_equal(At, A.T)


@pytest.mark.parametrize("scene", SCENES)
def test_csr_matvec_is_the_rasterizer_render_bit_for_bit(scene):
    """On a view's exact weights, csr_matvec gives the rasterizer's colour channel, the same bits."""
    N, W, H, C, scale, seed = scene
    s, _cache = _scene(*scene)
    rel = torch.rand(N, generator=torch.Generator().manual_seed(seed))
    r, _, _ = rasterization(s["means"], s["quats"], s["scales"], s["opacities"], rel[:, None], s["viewmats"], s["Ks"],
                            W, H, packed=False)
    for c in range(C):
        crow, col, val = compositing_weights_views(Splats(s["means"], s["quats"], s["scales"], s["opacities"]),
                                                   Views.one_size(s["viewmats"][c : c + 1], s["Ks"][c : c + 1], W, H))
        got = fit_numpy.csr_matvec(crow.numpy(), col.numpy(), val.numpy(), rel.numpy()).reshape(H, W)
        assert np.array_equal(got, r[c, ..., 0].numpy())


def test_bindings_reject_bad_input():
    crow, col, val = np.array([0, 2], np.int64), np.array([0, 5], np.int32), np.ones(2, np.float32)
    with pytest.raises(ValueError):
        fit_numpy.relevancy_loss_grad(Csr(crow, col, val), np.ones(3), np.zeros(1), np.ones(1), "bce")  # col past N
    with pytest.raises(ValueError):
        fit_numpy.csr_transpose(np.array([0, 3]), col, val, 6)  # crow[-1] != nnz
    with pytest.raises(ValueError):
        fit_numpy.relevancy_loss_grad(Csr(crow, np.array([0, 1]), val), np.ones(3), np.zeros(1), np.ones(1), "huber")


def _torch_adam(cache, targets, form, pos_weight, init_logit, schedule):
    """The refit's Adam as torch ops (the solver's reference): torch's sigmoid and in-place updates, the same
    kernel pass for the loss and gradient."""
    from point2act.requery.fit_torch import _fit_setup, relevancy_loss_grad

    flat_t, row_w = _fit_setup(cache, targets, form, pos_weight)
    x = torch.full((cache.num_gaussians,), float(init_logit))
    m, v = torch.zeros_like(x), torch.zeros_like(x)
    losses = []
    steps, lr, lr_final = schedule.steps, schedule.lr, schedule.lr_final
    for n in range(1, steps + 1):
        sg = torch.sigmoid(x)
        loss, gs = relevancy_loss_grad(Csr(cache.crow, cache.col, cache.val), sg, flat_t, row_w, form)
        losses.append(loss)
        g = gs * sg * (1 - sg)
        m.mul_(0.9).add_(g, alpha=0.1)
        v.mul_(0.999).addcmul_(g, g, value=0.001)
        lr_n = lr if lr_final is None else lr_final + 0.5 * (lr - lr_final) * (1 + math.cos(math.pi * (n - 1) / (steps - 1)))
        x.addcdiv_(m, (v / (1 - 0.999**n)).sqrt_().add_(1e-15), value=-lr_n / (1 - 0.9**n))
    return x, losses


@pytest.mark.parametrize("form", ["bce", "mse"])  # l1's sign gradient turns float32 rounding into other steps
@pytest.mark.parametrize("schedule", [fit_numpy.FitSchedule(16, 1.0, 0.1), fit_numpy.FitSchedule(30, 0.3)])
def test_solver_equals_torch_adam(form, schedule):
    """fit_logits (numpy, float32) follows torch's Adam step for step: the losses where the fit evaluates them (the
    first step and the last; NaN between) to float32 rounding (sigmoid and exp round differently in numpy and
    torch), the logits within 1e-3."""
    s, cache = _scene(600, 48, 32, 3, 0.04, 0)
    true = torch.where(torch.rand(600, generator=torch.Generator().manual_seed(1)) < 0.2, 3.0, -3.0)
    targets = [t.detach() for t in cache.render(torch.sigmoid(true))]
    ref_x, ref_losses = _torch_adam(cache, targets, form, 4.0, -4.0, schedule)
    fit = fit_relevancy(cache, targets, Objective(form, 4.0, -4.0), schedule)
    assert fit.steps == schedule.steps and fit.logits.dtype == torch.float32
    losses = np.asarray(fit.losses)
    assert len(losses) == schedule.steps and np.isnan(losses[1:-1]).all()
    np.testing.assert_allclose(losses[[0, -1]], np.asarray(ref_losses)[[0, -1]], rtol=1e-4)
    np.testing.assert_allclose(fit.logits.numpy(), ref_x.numpy(), rtol=1e-3, atol=1e-3)


def test_solver_unseen_gaussians_keep_their_start():
    _s, cache = _scene(600, 48, 32, 1, 0.04, 0)
    seen = np.zeros(cache.num_gaussians, bool)
    seen[cache.col.numpy()] = True
    targets = [np.zeros((32, 48, 1), np.float32)]
    fit = fit_numpy.fit_logits(fit_numpy.StackedWeights(*_arrays(cache), cache.num_gaussians, cache.sizes, cache.view_ids),
                           targets, fit_numpy.Objective("bce", 4.0, -2.5), fit_numpy.FitSchedule(5, 0.5))
    assert (~seen).any() and np.all(fit.logits[~seen] == np.float32(-2.5))
    assert np.all(fit.logits[seen] < -2.5)  # an all-zero target pushes what the views see down


def test_stacked_weights_subset_equals_the_torch_cache():
    _s, cache = _scene(600, 48, 32, 3, 0.04, 0)
    sw = fit_numpy.StackedWeights(*_arrays(cache), cache.num_gaussians, cache.sizes, cache.view_ids)
    a, b = sw.of_views([2, 0]), cache.subset([2, 0])
    assert a.sizes == b.sizes and a.view_ids == b.view_ids
    for x, y in ((a.crow, b.crow), (a.col, b.col), (a.val, b.val)):
        assert np.array_equal(x, y.numpy())


def test_refit_imports_no_torch():
    code = ("import sys, numpy as np; from point2act.requery import fit_numpy; fit_numpy.load_extension();"
            "w = fit_numpy.StackedWeights(np.array([0, 1, 2]), np.array([0, 1], np.int32), np.ones(2, np.float32), 2,"
            " [[1, 2]], [0]); f = fit_numpy.fit_logits(w, [np.array([[1.0, 0.0]])], schedule=fit_numpy.FitSchedule(3));"
            "assert f.logits[0] > f.logits[1]; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_losses_evaluated_where_read():
    """The loss is evaluated at the first and last step (what is reported), at every step when ``tol`` stops on it;
    the logits are the same bits either way (the gradient needs no loss)."""
    s, cache = _scene(300, 32, 24, 2, 0.05, 2)
    true = torch.where(torch.rand(300, generator=torch.Generator().manual_seed(4)) < 0.3, 3.0, -3.0)
    targets = [t.detach() for t in cache.render(torch.sigmoid(true))]
    objective = Objective("bce", 4.0, -4.0)
    quiet = fit_relevancy(cache, targets, objective, fit_numpy.FitSchedule(12, 0.5))
    every = fit_relevancy(cache, targets, objective, fit_numpy.FitSchedule(12, 0.5, tol=1e-12))
    assert every.steps == 12 and np.isfinite(every.losses).all()
    assert np.isnan(quiet.losses[1:-1]).all() and quiet.losses[0] == every.losses[0]
    assert quiet.losses[-1] == every.losses[-1] and quiet.logits.numpy().tobytes() == every.logits.numpy().tobytes()
