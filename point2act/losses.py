"""The relevancy loss, shared by training (:mod:`point2act.method.model`) and re-query
(:mod:`point2act.relevancy_fit`). Plain torch."""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F


def relevancy_loss_terms(
    pred: torch.Tensor,  # [..., 1] in [0, 1]
    target: torch.Tensor,  # [..., 1] in [0, 1]
    form: str = "bce",
    pos_weight: float = 1.0,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel loss and per-pixel weight (target pixels up-weighted by ``pos_weight``)."""
    weight = 1.0 + (pos_weight - 1.0) * target
    if form == "bce":
        per = F.binary_cross_entropy(pred.clamp(1e-6, 1 - 1e-6), target, reduction="none")
    elif form == "mse":
        per = (pred - target) ** 2
    elif form == "l1":
        per = (pred - target).abs()
    else:
        raise ValueError(f"unknown relevancy loss {form!r}; use 'bce', 'mse' or 'l1'")
    return per, weight


def relevancy_loss(
    pred: torch.Tensor,  # [H, W, 1] in [0, 1]
    target: torch.Tensor,  # [H, W, 1] in [0, 1]
    form: str = "bce",
    pos_weight: float = 1.0,
) -> torch.Tensor:
    """Weighted mean per-pixel loss between rendered relevancy and a heatmap."""
    per, weight = relevancy_loss_terms(pred, target, form, pos_weight)
    return (per * weight).sum() / weight.sum()
