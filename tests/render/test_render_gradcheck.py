"""Finite-difference checks (float64) of the CPU rasterizer's gradients.

Configurations keep away from the non-differentiable points: every alpha is
well inside (1/255, 0.999), T stays far above 1e-4, and Gaussians are large
enough to cover every tile, so tile coverage cannot change under the
perturbations.
"""

import math

import pytest
import torch

from point2act.render import _backend, rasterization

DT = torch.float64


@pytest.fixture(scope="module", autouse=True)
def ext():
    return _backend.load_extension()


def _tiny_2d(seed=0, C=1, N=4, D=3, W=8, H=6):
    g = torch.Generator().manual_seed(seed)
    means2d = torch.rand(C, N, 2, generator=g, dtype=DT) * torch.tensor([W, H], dtype=DT)
    # std ~3 px: alpha >= o * exp(-0.5 * 100 / 9) >~ 0.3 * 0.004; check below
    var = 9.0 + 2.0 * torch.rand(C, N, 2, generator=g, dtype=DT)
    rho = 0.3 * (torch.rand(C, N, generator=g, dtype=DT) - 0.5)
    cxy = rho * torch.sqrt(var[..., 0] * var[..., 1])
    det = var[..., 0] * var[..., 1] - cxy**2
    conics = torch.stack([var[..., 1] / det, -cxy / det, var[..., 0] / det], -1)
    colors = torch.rand(C, N, D, generator=g, dtype=DT)
    opac = 0.3 + 0.3 * torch.rand(C, N, generator=g, dtype=DT)
    depths = torch.rand(C, N, generator=g, dtype=DT) + 1.0
    radii = torch.full((C, N), 12, dtype=torch.int32)
    bg = torch.rand(C, D, generator=g, dtype=DT)
    return means2d, conics, colors, opac, depths, radii, bg


def _alpha_range(means2d, conics, opac, W, H):
    ys, xs = torch.meshgrid(torch.arange(H, dtype=DT) + 0.5, torch.arange(W, dtype=DT) + 0.5, indexing="ij")
    dx = means2d[..., 0, None, None] - xs
    dy = means2d[..., 1, None, None] - ys
    a, b, c = (conics[..., i, None, None] for i in range(3))
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
    alpha = opac[..., None, None] * torch.exp(-sigma)
    return alpha.min().item(), alpha.max().item()


@pytest.mark.parametrize("with_bg", [False, True])
@pytest.mark.parametrize("C", [1, 2])
def test_gradcheck_kernel_function(with_bg, C):
    W, H, ts = 8, 6, 4
    means2d, conics, colors, opac, depths, radii, bg = _tiny_2d(seed=C + 2 * with_bg, C=C)
    lo, hi = _alpha_range(means2d, conics, opac, W, H)
    assert 1.5 / 255 < lo and hi < 0.9, (lo, hi)
    _, _, flatten_ids, offsets = _backend.isect_tiles(means2d, radii, depths, ts, 2, 2)
    assert flatten_ids.numel() == C * 4 * 4  # every Gaussian in every tile

    def fn(m, co, cl, op, b):
        rc, ra = _backend.rasterize_to_pixels(
            m, co, cl, op, W, H, ts, offsets, flatten_ids, backgrounds=b if with_bg else None
        )
        return rc, ra

    inputs = tuple(t.clone().requires_grad_(True) for t in (means2d, conics, colors, opac, bg))
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


def _tiny_scene(seed=0, N=3, sh_degree=None):
    g = torch.Generator().manual_seed(seed)
    W, H = 8, 6
    fx = 6.0
    z = 3.0 + torch.rand(N, generator=g, dtype=DT)
    x = (torch.rand(N, generator=g, dtype=DT) - 0.5) * 0.3 * W / fx * z
    y = (torch.rand(N, generator=g, dtype=DT) - 0.5) * 0.3 * H / fx * z
    means = torch.stack([x, y, z], -1)
    quats = torch.randn(N, 4, generator=g, dtype=DT)
    # ~2-3 px projected std on top of eps2d; radius (~8-10 px) covers all tiles
    scales = (2.3 + 0.4 * torch.rand(N, 3, generator=g, dtype=DT)) * z[:, None] / fx
    opac = 0.5 + 0.2 * torch.rand(N, generator=g, dtype=DT)
    if sh_degree is None:
        colors = torch.rand(N, 3, generator=g, dtype=DT)
    else:
        colors = 0.2 * torch.randn(N, (sh_degree + 1) ** 2, 3, generator=g, dtype=DT)
        colors[:, 0] += 1.0
    viewmats = torch.eye(4, dtype=DT)[None]
    viewmats[0, :3, 3] = torch.tensor([0.05, -0.03, 0.1], dtype=DT)
    Ks = torch.tensor([[fx, 0, W / 2], [0, fx, H / 2], [0, 0, 1]], dtype=DT)[None]
    return (means, quats, scales, opac, colors), viewmats, Ks, W, H


@pytest.mark.parametrize(
    "kw",
    [
        dict(render_mode="RGB"),
        dict(render_mode="RGB+ED"),
        dict(render_mode="D", rasterize_mode="antialiased"),
        dict(render_mode="RGB", sh_degree=1),
    ],
    ids=["rgb", "rgb+ed", "d-antialiased", "sh1"],
)
def test_gradcheck_full_rasterization(kw):
    leaves, viewmats, Ks, W, H = _tiny_scene(seed=3, sh_degree=kw.get("sh_degree"))

    def fn(means, quats, scales, opac, colors):
        rc, ra, meta = rasterization(
            means, quats, scales, opac, colors, viewmats, Ks, W, H, packed=False, tile_size=4, **kw
        )
        assert (meta["tiles_per_gauss"] == 4).all()  # every tile covered
        return rc, ra

    with torch.no_grad():
        rc, ra = fn(*leaves)
        assert 0.05 < ra.min() and ra.max() < 0.99
        _, _, meta = rasterization(*leaves, viewmats, Ks, W, H, packed=False, tile_size=4, **kw)
        lo, hi = _alpha_range(meta["means2d"], meta["conics"], meta["opacities"], W, H)
        assert 1.5 / 255 < lo and hi < 0.9, (lo, hi)
    inputs = tuple(t.clone().requires_grad_(True) for t in leaves)
    # antialiased compensation uses gsplat's 1e-6-regularised derivative
    rtol = 1e-3 if kw.get("rasterize_mode") == "antialiased" else 1e-5
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=rtol, fast_mode=True)
    assert math.isfinite(float(rc.sum()))
