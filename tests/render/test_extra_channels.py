"""rasterization(extra_colors=...): channels rendered in the RGB pass whose gradient skips the geometry,
compared with the reference they replace (a second pass with detached geometry)."""

from __future__ import annotations

import pytest
import torch

from point2act.render import rasterization
from point2act.render._testing import SceneSpec, random_scene


def _leaves(s, dtype):
    q = s["quats"] / s["quats"].norm(dim=-1, keepdim=True)
    return {k: v.clone().to(dtype).requires_grad_(True) for k, v in
            dict(means=s["means"], quats=q, scales=s["scales"], opacities=s["opacities"], colors=s["colors"]).items()}


@pytest.mark.parametrize("mode", ["RGB", "RGB+ED"])
@pytest.mark.parametrize("bg", [False, True])
@pytest.mark.parametrize("n_extra,cams,seed", [(1, 1, 0), (2, 2, 1)])
def test_extra_channels_match_a_detached_second_pass(mode, bg, n_extra, cams, seed):
    dtype = torch.float64
    s = random_scene(SceneSpec(200, 40, 32, C=cams, seed=seed, dtype=dtype, scale=0.08))
    g = torch.Generator().manual_seed(seed + 10)
    extra0 = torch.rand(200, n_extra, generator=g, dtype=dtype)
    backgrounds = torch.rand(cams, 3, generator=g, dtype=dtype) if bg else None
    w_rgb = torch.randn(cams, 32, 40, 4 if mode == "RGB+ED" else 3, generator=g, dtype=dtype)
    w_ex = torch.randn(cams, 32, 40, n_extra, generator=g, dtype=dtype)
    common = dict(viewmats=s["viewmats"], Ks=s["Ks"], width=40, height=32, packed=False)

    a = _leaves(s, dtype)
    ea = extra0.clone().requires_grad_(True)
    rc, ra, meta = rasterization(a["means"], a["quats"], a["scales"], a["opacities"], a["colors"],
                                 render_mode=mode, backgrounds=backgrounds, extra_colors=ea, **common)
    assert rc.shape[-1] == w_rgb.shape[-1] and meta["extra_render"].shape == (cams, 32, 40, n_extra)
    ((rc * w_rgb).sum() + (meta["extra_render"] * w_ex).sum()).backward()

    b = _leaves(s, dtype)
    eb = extra0.clone().requires_grad_(True)
    rc_b, ra_b, _ = rasterization(b["means"], b["quats"], b["scales"], b["opacities"], b["colors"],
                                  render_mode=mode, backgrounds=backgrounds, **common)
    ex_b, _, _ = rasterization(b["means"].detach(), b["quats"].detach(), b["scales"].detach(), b["opacities"].detach(),
                               eb, render_mode="RGB", **common)
    ((rc_b * w_rgb).sum() + (ex_b * w_ex).sum()).backward()

    torch.testing.assert_close(rc, rc_b)
    torch.testing.assert_close(ra, ra_b)
    torch.testing.assert_close(meta["extra_render"], ex_b)
    for k in a:
        torch.testing.assert_close(a[k].grad, b[k].grad, msg=k)
    torch.testing.assert_close(ea.grad, eb.grad)
    assert ea.grad.abs().sum() > 0


def test_extra_colors_of_the_wrong_length_is_a_clear_error():
    s = random_scene(SceneSpec(50, 16, 16, seed=0, dtype=torch.float32))
    with pytest.raises(ValueError, match="extra_colors"):
        rasterization(s["means"], s["quats"], s["scales"], s["opacities"], s["colors"], s["viewmats"], s["Ks"], 16, 16,
                      extra_colors=torch.rand(49, 1))


@pytest.mark.parametrize("use", ["both", "rgb", "extra"])
def test_the_channel_split_gives_the_two_slices_gradients_bit_for_bit(monkeypatch, use):
    """rasterization splits the render into its colours and extra channels in one node (_SplitChannels): the
    leaves' gradients are those of two plain slices, bit for bit (float32, the training dtype)."""
    import importlib

    rmod = importlib.import_module("point2act.render.rasterization")  # the module (the package exports the function)
    s = random_scene(SceneSpec(300, 48, 40, seed=3, dtype=torch.float32, scale=0.08))
    g = torch.Generator().manual_seed(7)
    extra0 = torch.rand(300, 1, generator=g)
    w_rgb = torch.randn(1, 40, 48, 3, generator=g) * (torch.rand(1, 40, 48, 3, generator=g) > 0.3)  # exact zeros too
    w_ex = torch.randn(1, 40, 48, 1, generator=g)

    def grads():
        a = _leaves(s, torch.float32)
        ea = extra0.clone().requires_grad_(True)
        rc, _, meta = rasterization(a["means"], a["quats"], a["scales"], a["opacities"], a["colors"], s["viewmats"],
                                    s["Ks"], 48, 40, packed=False, extra_colors=ea)
        loss = {"both": (rc * w_rgb).sum() + (meta["extra_render"] * w_ex).sum(), "rgb": (rc * w_rgb).sum(),
                "extra": (meta["extra_render"] * w_ex).sum()}[use]
        loss.backward()
        return {**{k: v.grad for k, v in a.items()}, "extra": ea.grad}

    mine = grads()
    monkeypatch.setattr(rmod._SplitChannels, "apply", lambda x, G: (x[..., :G], x[..., G:]))
    sliced = grads()
    for k, v in sliced.items():
        if v is None:
            assert mine[k] is None, k
        else:
            assert torch.equal(mine[k].view(torch.int32), v.view(torch.int32)), k  # the sign of a zero too
    assert mine["extra" if use != "rgb" else "means"].abs().sum() > 0
