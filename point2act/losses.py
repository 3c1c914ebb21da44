"""The relevancy loss, shared by training (:mod:`point2act.method.model`) and re-query
(:mod:`point2act.requery.fit_torch`). Plain torch; on CPU float32 tensors the training's weighted BCE is one fused
kernel (``point2act/losses_csrc/relevancy_bce.cpp``) whose reference is :func:`relevancy_loss_terms`."""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F

from point2act.requery.fit_numpy import (  # noqa: F401  (the loss's constants, torch-free: re-exported)
    RELEVANCY_INIT_LOGIT,
    RELEVANCY_LOSS_FORM,
    RELEVANCY_POS_WEIGHT,
)

BCE_EPS = 1e-6
"""The rendered relevancy is clamped to ``[BCE_EPS, 1 - BCE_EPS]`` before the cross-entropy takes its logarithms."""


def relevancy_loss_terms(
    pred: torch.Tensor,  # [..., 1] in [0, 1]
    target: torch.Tensor,  # [..., 1] in [0, 1]
    form: str = "bce",
    pos_weight: float = 1.0,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel loss and per-pixel weight (target pixels up-weighted by ``pos_weight``)."""
    weight = 1.0 + (pos_weight - 1.0) * target
    if form == "bce":
        per = F.binary_cross_entropy(pred.clamp(BCE_EPS, 1 - BCE_EPS), target, reduction="none")
    elif form == "mse":
        per = (pred - target) ** 2
    elif form == "l1":
        per = (pred - target).abs()
    else:
        raise ValueError(f"unknown relevancy loss {form!r}; use 'bce', 'mse' or 'l1'")
    return per, weight


class _FusedRelevancyBCE(torch.autograd.Function):
    """The weighted BCE of :func:`relevancy_loss` and its gradient in one CPU pass (the extension of
    :mod:`point2act.ssim`); the gradient is computed with the value and scaled in the backward."""

    @staticmethod
    def forward(ctx, pred: torch.Tensor, target: torch.Tensor, pos_weight: float):  # [...], [...] -> []
        from point2act.ssim import load_extension

        loss, grad = load_extension().relevancy_bce(pred.detach().contiguous().view(-1),
                                                    target.detach().contiguous().view(-1), float(pos_weight),
                                                    BCE_EPS, torch.get_num_threads())
        ctx.save_for_backward(grad.view(pred.shape))
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        (grad,) = ctx.saved_tensors
        return grad * grad_out, None, None


def relevancy_loss(
    pred: torch.Tensor,  # [H, W, 1] in [0, 1]
    target: torch.Tensor,  # [H, W, 1] in [0, 1]
    form: str = "bce",
    pos_weight: float = 1.0,
) -> torch.Tensor:
    """Weighted mean per-pixel loss between rendered relevancy and a heatmap. The BCE of CPU float32 tensors is
    one fused kernel (the same value and gradient as :func:`relevancy_loss_terms`' torch ops, which take 0.8 ms
    a training step at 256x192 on two cores)."""
    if form == "bce" and pred.device.type == "cpu" and pred.dtype == torch.float32 \
            and target.dtype == torch.float32 and target.device.type == "cpu" and pred.shape == target.shape:
        return _FusedRelevancyBCE.apply(pred, target, pos_weight)
    per, weight = relevancy_loss_terms(pred, target, form, pos_weight)
    return (per * weight).sum() / weight.sum()


def relative_depth_loss(
    pred: torch.Tensor,  # [H, W, 1] rendered expected depth
    target: torch.Tensor,  # [h, w, 1] measured depth, 0 where there is no measurement
) -> torch.Tensor:  # scalar
    """Mean of ``|pred - target| / target`` over the pixels with a measurement (``target > 0``), the
    target resized to ``pred``'s size (nearest: no depth is made up between two surfaces); 0 when no
    pixel has one."""
    target = target.to(device=pred.device, dtype=pred.dtype)
    if target.shape[:2] != pred.shape[:2]:
        target = F.interpolate(target.permute(2, 0, 1)[None], size=tuple(pred.shape[:2]), mode="nearest")[0].permute(1, 2, 0)
    valid = target > 0
    if not bool(valid.any()):
        return pred.sum() * 0.0
    return ((pred[valid] - target[valid]).abs() / target[valid]).mean()
