"""splatfacto's training outputs from one CPU render of colour and extra channels, as one autograd node.

In training, splatfacto turns the rasterizer's colour channels into the photo the loss compares,
``rgb = clamp(render[..., :3] + (1 - alpha) * background, 0, 1)``, and point2act takes its relevancy as an extra
channel of the same render, ``clamp(render[..., 3:], 0, 1)``. As torch ops their backward is a channel split, a
slice, rsub, mul, add and two clamps, each a pass over the image. :func:`training_composite` is one node whose
backward is one pass (``csrc/composite_bwd.cpp``) with the same gradients, bit for bit.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor


class _TrainingComposite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, render: Tensor, alpha: Tensor, background: Tensor, rgb: Tensor):
        # render [C, H, W, G + E], alpha [C, H, W, 1], background [G], rgb [..., G] -> rgb, extra [..., E]
        G = background.numel()
        ctx.save_for_backward(render, alpha, background)
        extra = render[..., G:].clamp(0.0, 1.0).view(*rgb.shape[:-1], render.shape[-1] - G)
        return rgb, extra

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, v_rgb: Tensor, v_extra: Tensor):
        from point2act.render._backend import load_extension

        render, alpha, background = ctx.saved_tensors
        v_render, v_alpha = load_extension().composite_bwd(
            render, alpha, background, v_rgb.contiguous(), v_extra.contiguous(), torch.get_num_threads())
        return v_render, v_alpha, None, None


def training_composite(
    render: Tensor,  # [C, H, W, G + E] float32, contiguous: the rasterizer's colour and extra channels
    alpha: Tensor,  # [C, H, W, 1] float32, contiguous
    background: Tensor,  # [G] float32, no gradient
    rgb: Tensor,  # [..., G] clamp(render[..., :G] + (1 - alpha) * background, 0, 1) computed without gradient
) -> Tuple[Tensor, Tensor]:  # rgb [..., G], extra [..., E]
    """``rgb`` (its values, as given) and ``clamp(render[..., G:], 0, 1)`` in ``rgb``'s leading shape, with the
    gradients to ``render`` and ``alpha`` of those formulas in torch ops.

    ``rgb`` is the composited photo that splatfacto computed from the render without gradient; this node gives it
    the render's gradient (``rgb`` itself gets none). CPU float32 only."""
    if background.requires_grad:
        raise ValueError("training_composite gives no gradient to the background")
    for name, t in (("render", render), ("alpha", alpha), ("background", background)):
        if t.device.type != "cpu" or t.dtype != torch.float32 or not t.is_contiguous():
            raise ValueError(f"training_composite takes contiguous CPU float32 tensors; {name} is "
                             f"{t.dtype} on {t.device}{'' if t.is_contiguous() else ', not contiguous'}")
    G = background.numel()
    if render.shape[-1] < G or rgb.shape[-1] != G or alpha.numel() * G != rgb.numel():
        raise ValueError(f"render [..., G + E], alpha [..., 1] and rgb [..., G] with G = {G}; got "
                         f"{tuple(render.shape)}, {tuple(alpha.shape)}, {tuple(rgb.shape)}")
    return _TrainingComposite.apply(render, alpha, background, rgb.detach())
