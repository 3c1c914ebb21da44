"""The fused relevancy BCE (``point2act/losses_csrc/relevancy_bce.cpp``, :func:`point2act.losses.relevancy_loss`
on CPU float32) against its torch reference (:func:`point2act.losses.relevancy_loss_terms`): value and gradient,
at the clamp's edges, and the same bits for any thread count."""

from __future__ import annotations

import pytest
import torch

from point2act.losses import BCE_EPS, relevancy_loss, relevancy_loss_terms


def _reference(pred, target, pos_weight):
    per, weight = relevancy_loss_terms(pred, target, "bce", pos_weight)
    return (per * weight).sum() / weight.sum()


def _inputs(shape, seed, kind):
    g = torch.Generator().manual_seed(seed)
    pred = torch.rand(shape, generator=g) * 1.2 - 0.1  # beyond [0, 1] too: the clamp passes no gradient there
    edges = torch.tensor([0.0, 1.0, BCE_EPS, 1 - BCE_EPS, BCE_EPS / 2, 1 - BCE_EPS / 2, 0.5])
    pred.view(-1)[: len(edges)] = edges
    if kind == "blobs":  # heatmap-like: mostly 0, soft blobs, a few 1
        target = torch.rand(shape, generator=g) * (torch.rand(shape, generator=g) > 0.9)
        target.view(-1)[:: max(1, target.numel() // 5)] = 1.0
    else:
        target = torch.rand(shape, generator=g)
    return pred, target


@pytest.mark.parametrize("shape", [(7, 5, 1), (192, 256, 1), (600, 800, 1)])
@pytest.mark.parametrize("kind", ["blobs", "uniform"])
@pytest.mark.parametrize("pos_weight", [1.0, 4.0])
def test_fused_bce_matches_the_torch_reference(shape, kind, pos_weight):
    pred, target = _inputs(shape, seed=shape[0], kind=kind)
    a = pred.clone().requires_grad_(True)
    b = pred.clone().requires_grad_(True)
    fused = relevancy_loss(a, target, "bce", pos_weight)
    ref = _reference(b, target, pos_weight)
    fused.backward()
    ref.backward()
    assert torch.allclose(fused, ref, rtol=2e-6, atol=0), (float(fused), float(ref))
    scale = float(b.grad.abs().max())
    assert torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-6 * scale), float((a.grad - b.grad).abs().max())
    outside = (pred < BCE_EPS) | (pred > 1 - BCE_EPS)
    assert outside.any() and (a.grad[outside] == 0).all()


def test_fused_bce_gradient_scales_with_the_upstream_gradient():
    pred, target = _inputs((20, 30, 1), seed=1, kind="blobs")
    a = pred.clone().requires_grad_(True)
    (3.0 * relevancy_loss(a, target, "bce", 4.0)).backward()
    b = pred.clone().requires_grad_(True)
    (3.0 * _reference(b, target, 4.0)).backward()
    assert torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("n", [1000, 300_000])
def test_fused_bce_is_the_same_for_any_thread_count(n):
    from point2act.ssim import load_extension

    pred, target = _inputs((n,), seed=2, kind="blobs")
    one = load_extension().relevancy_bce(pred, target, 4.0, BCE_EPS, 1)
    two = load_extension().relevancy_bce(pred, target, 4.0, BCE_EPS, 2)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


def test_other_forms_and_dtypes_use_the_torch_ops():
    pred, target = _inputs((9, 9, 1), seed=3, kind="uniform")
    p64, t64 = pred.double().requires_grad_(True), target.double()
    assert relevancy_loss(p64, t64, "bce", 4.0).dtype == torch.float64
    assert torch.allclose(relevancy_loss(pred, target, "mse", 2.0), ((pred - target) ** 2 * (1 + target)).sum() / (1 + target).sum())
