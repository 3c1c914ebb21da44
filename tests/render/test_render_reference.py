"""CPU rasterizer (C++ kernels) vs the pure-torch references of point2act.render._torch_impl."""

import pytest
import torch

from point2act.render import rasterization
from point2act.render._testing import SceneExtras, SceneSpec, random_scene
from point2act.render._torch_impl import _rasterization as rasterization_reference
from point2act.render._torch_impl import _rasterize_to_pixels as rasterize_to_pixels_reference

LEAVES = ("means", "quats", "scales", "opacities", "colors")


@pytest.fixture(scope="module", autouse=True)
def ext():
    from point2act.render._backend import load_extension

    return load_extension()


def _run(fn, scene, backgrounds=None, seed=1, **kw):
    """Render, backprop random cotangents; return outputs and gradients."""
    leaves = {k: scene[k].detach().clone().requires_grad_(True) for k in LEAVES}
    bg = None
    if backgrounds is not None:
        bg = backgrounds.detach().clone().requires_grad_(True)
    rc, ra, meta = fn(
        leaves["means"],
        leaves["quats"],
        leaves["scales"],
        leaves["opacities"],
        leaves["colors"],
        scene["viewmats"],
        scene["Ks"],
        scene["width"],
        scene["height"],
        backgrounds=bg,
        **kw,
    )
    meta["means2d"].retain_grad()
    g = torch.Generator().manual_seed(seed)
    wc = torch.randn(rc.shape, generator=g, dtype=torch.float64).to(rc.dtype)
    wa = torch.randn(ra.shape, generator=g, dtype=torch.float64).to(ra.dtype)
    ((rc * wc).sum() + (ra * wa).sum()).backward()
    out = {
        "colors_out": rc.detach(),
        "alphas_out": ra.detach(),
        "radii": meta["radii"],
        "means2d": meta["means2d"].detach(),
        "means2d_grad": meta["means2d"].grad,
        "absgrad": getattr(meta["means2d"], "absgrad", None),
    }
    for k, v in leaves.items():
        out["grad_" + k] = v.grad
    if bg is not None:
        out["grad_backgrounds"] = bg.grad
    return out, meta


def _compare(a, b, rtol=1e-7, atol=1e-9):
    assert torch.equal(a["radii"], b["radii"])
    for k in a:
        if k == "radii" or a[k] is None:
            continue
        assert b[k] is not None, k
        x, y = a[k], b[k]
        if k.startswith("means2d"):  # culled entries are meaningless
            x, y = x[a["radii"] > 0], y[a["radii"] > 0]
        assert torch.isfinite(x).all(), k
        torch.testing.assert_close(x, y.to(x.dtype), rtol=rtol, atol=atol, msg=k)


SIZES = [(16, 16), (37, 23), (64, 48)]


CASES = [(N, size) for N in (1, 10, 200) for size in SIZES] + [(2000, (64, 48))]


@pytest.mark.parametrize("N,size", CASES, ids=[f"N{n}-{w}x{h}" for n, (w, h) in CASES])
def test_kernel_matches_reference(N, size):
    W, H = size
    scene = random_scene(SceneSpec(N, W, H, seed=N + W))
    kw = dict(packed=False, tile_size=8 if W < 64 else 16, absgrad=True, render_mode="RGB+ED")
    a, _ = _run(rasterization, scene, **kw)
    b, _ = _run(rasterization_reference, scene, **kw)
    _compare(a, b)
    assert (a["radii"] > 0).sum() >= min(N, 1)


@pytest.mark.parametrize("render_mode", ["RGB", "D", "ED", "RGB+D", "RGB+ED"])
def test_render_modes(render_mode):
    scene = random_scene(SceneSpec(150, 40, 30, seed=3))
    bg = torch.tensor([[0.2, 0.5, 0.9]], dtype=torch.float64)
    kw = dict(packed=False, tile_size=8, absgrad=True, render_mode=render_mode)
    a, _ = _run(rasterization, scene, backgrounds=bg, **kw)
    b, _ = _run(rasterization_reference, scene, backgrounds=bg, **kw)
    _compare(a, b)
    X = {"RGB": 3, "D": 1, "ED": 1, "RGB+D": 4, "RGB+ED": 4}[render_mode]
    assert a["colors_out"].shape == (1, 30, 40, X)


@pytest.mark.parametrize("sh_degree", [0, 1, 2, 3])
def test_sh_degrees(sh_degree):
    scene = random_scene(SceneSpec(120, 33, 27, seed=sh_degree), extras=SceneExtras(sh_degree=sh_degree))
    kw = dict(packed=False, tile_size=8, absgrad=True, sh_degree=sh_degree)
    a, _ = _run(rasterization, scene, **kw)
    b, _ = _run(rasterization_reference, scene, **kw)
    _compare(a, b)
    assert (a["colors_out"] >= 0).all()


def test_sh_lower_degree_than_coeffs():
    # K = 16 coefficients, only degree 1 active (splatfacto's SH warm-up)
    scene = random_scene(SceneSpec(80, 24, 20, seed=5), extras=SceneExtras(sh_degree=3))
    kw = dict(packed=False, tile_size=8, sh_degree=1)
    a, _ = _run(rasterization, scene, **kw)
    b, _ = _run(rasterization_reference, scene, **kw)
    _compare(a, b)
    assert (a["grad_colors"][:, 4:] == 0).all()


def test_backgrounds_and_antialiased():
    scene = random_scene(SceneSpec(200, 40, 30, seed=7))
    bg = torch.tensor([[0.1, 0.7, 0.3]], dtype=torch.float64)
    kw = dict(packed=False, tile_size=16, absgrad=True, rasterize_mode="antialiased")
    a, ma = _run(rasterization, scene, backgrounds=bg, **kw)
    b, _ = _run(rasterization_reference, scene, backgrounds=bg, **kw)
    _compare(a, b)
    # antialiased opacities are compensated (<= raw opacities)
    vis = ma["radii"] > 0
    assert (ma["opacities"][vis] <= scene["opacities"].expand_as(ma["opacities"])[vis] + 1e-12).all()


@pytest.mark.parametrize("per_camera_colors", [False, True])
def test_multiple_cameras(per_camera_colors):
    scene = random_scene(SceneSpec(300, 36, 28, C=2, seed=11),
                         extras=SceneExtras(per_camera_colors=per_camera_colors))
    bg = torch.tensor([[0.1, 0.2, 0.3], [0.6, 0.5, 0.4]], dtype=torch.float64)
    kw = dict(packed=False, tile_size=8, absgrad=True, render_mode="RGB+D")
    a, meta = _run(rasterization, scene, backgrounds=bg, **kw)
    b, _ = _run(rasterization_reference, scene, backgrounds=bg, **kw)
    _compare(a, b)
    assert a["colors_out"].shape == (2, 28, 36, 4)
    assert meta["n_cameras"] == 2 and meta["radii"].shape == (2, 300)


def test_culled_gaussians():
    scene = random_scene(SceneSpec(60, 32, 24, seed=13), extras=SceneExtras(n_behind=10, n_offscreen=10))
    kw = dict(packed=False, tile_size=8, absgrad=True, render_mode="RGB+ED")
    a, meta = _run(rasterization, scene, **kw)
    b, _ = _run(rasterization_reference, scene, **kw)
    _compare(a, b)
    radii = meta["radii"][0]
    assert (radii[:20] == 0).all() and (radii[20:] > 0).any()
    assert radii.dtype == torch.int32
    for k in LEAVES:
        assert torch.isfinite(a["grad_" + k]).all()
    assert (a["grad_means"][:20] == 0).all()
    assert (a["means2d_grad"][0, :20] == 0).all()


def test_many_channels():
    # D = 40 > channel_chunk: one kernel call with any channel count
    scene = random_scene(SceneSpec(100, 24, 20, seed=17), extras=SceneExtras(n_channels=40))
    kw = dict(packed=False, tile_size=8, absgrad=True)
    a, _ = _run(rasterization, scene, **kw)
    b, _ = _run(rasterization_reference, scene, **kw)
    _compare(a, b)


def test_saturated_pixels_early_stop():
    # dense opaque scene: most pixels hit T <= 1e-4 (early stop)
    scene = random_scene(SceneSpec(400, 24, 20, seed=19, scale=0.2))
    scene["opacities"] = 0.95 + 0.04 * torch.rand(400, dtype=torch.float64)
    kw = dict(packed=False, tile_size=8, absgrad=True)
    a, _ = _run(rasterization, scene, **kw)
    b, _ = _run(rasterization_reference, scene, **kw)
    _compare(a, b)
    assert a["alphas_out"].mean() > 0.999  # T_final stays > 1e-4: stopped early


def test_packed_matches_unpacked():
    scene = random_scene(SceneSpec(150, 32, 24, C=2, seed=23), extras=SceneExtras(n_behind=5))
    a, ma = _run(rasterization, scene, packed=False, tile_size=8, absgrad=True)
    b, mb = _run(rasterization, scene, packed=True, tile_size=8, absgrad=True)
    torch.testing.assert_close(a["colors_out"], b["colors_out"])
    torch.testing.assert_close(a["alphas_out"], b["alphas_out"])
    for k in LEAVES:
        torch.testing.assert_close(a["grad_" + k], b["grad_" + k])
    sel = ma["radii"] > 0
    cam, gid = mb["camera_ids"], mb["gaussian_ids"]
    assert torch.equal(ma["radii"][cam, gid], mb["radii"]) and (mb["radii"] > 0).all()
    assert int(sel.sum()) == cam.numel()
    torch.testing.assert_close(a["means2d_grad"][cam, gid], b["means2d_grad"])
    torch.testing.assert_close(a["absgrad"][cam, gid], b["absgrad"])
    # packed flatten_ids index into [nnz]
    assert mb["flatten_ids"].max() < cam.numel()
    # reference in packed mode agrees too
    c, _ = _run(rasterization_reference, scene, packed=True, tile_size=8, absgrad=True)
    torch.testing.assert_close(c["absgrad"], b["absgrad"])


def test_float32_close_to_float64_reference():
    scene = random_scene(SceneSpec(300, 40, 30, seed=29))
    s32 = {k: (v.float() if torch.is_tensor(v) else v) for k, v in scene.items()}
    kw = dict(packed=False, tile_size=16, absgrad=True, render_mode="RGB+ED")
    a, _ = _run(rasterization, s32, **kw)
    b, _ = _run(rasterization_reference, scene, **kw)
    assert a["colors_out"].dtype == torch.float32
    torch.testing.assert_close(a["colors_out"], b["colors_out"].float(), rtol=1e-3, atol=2e-3)
    torch.testing.assert_close(a["alphas_out"], b["alphas_out"].float(), rtol=1e-3, atol=2e-3)
    for k in ("grad_means", "grad_opacities", "grad_colors", "means2d_grad"):
        x, y = a[k], b[k].float()
        assert ((x - y).norm() / y.norm()) < 2e-3, k


def test_deterministic_across_thread_counts():
    scene = random_scene(SceneSpec(500, 48, 40, seed=31))
    s32 = {k: (v.float() if torch.is_tensor(v) else v) for k, v in scene.items()}
    kw = dict(packed=False, tile_size=16, absgrad=True)
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a, _ = _run(rasterization, s32, **kw)
        torch.set_num_threads(max(2, n))
        b, _ = _run(rasterization, s32, **kw)
    finally:
        torch.set_num_threads(n)
    for k in a:
        if torch.is_tensor(a[k]):
            assert torch.equal(a[k], b[k]), k


def test_rasterize_to_pixels_direct():
    """The autograd Function alone vs the reference on random 2D inputs."""
    from point2act.render import _backend

    g = torch.Generator().manual_seed(37)
    C, N, D, W, H, ts = 2, 50, 5, 29, 19, 8
    means2d = (torch.rand(C, N, 2, generator=g, dtype=torch.float64) * torch.tensor([W, H])).requires_grad_(True)
    L = torch.randn(C, N, 2, 2, generator=g, dtype=torch.float64) * 1.5
    cov = L @ L.transpose(-1, -2) + 0.5 * torch.eye(2, dtype=torch.float64)
    inv = torch.linalg.inv(cov)
    conics = torch.stack([inv[..., 0, 0], inv[..., 0, 1], inv[..., 1, 1]], -1).requires_grad_(True)
    colors = torch.rand(C, N, D, generator=g, dtype=torch.float64).requires_grad_(True)
    opac = (0.1 + 0.8 * torch.rand(C, N, generator=g, dtype=torch.float64)).requires_grad_(True)
    bg = torch.rand(C, D, generator=g, dtype=torch.float64).requires_grad_(True)
    depths = torch.rand(C, N, generator=g, dtype=torch.float64) + 1
    eig = torch.linalg.eigvalsh(cov)[..., -1]
    radii = torch.ceil(3 * eig.sqrt()).int()
    radii[0, :5] = 0  # culled
    tw, th = (W + ts - 1) // ts, (H + ts - 1) // ts
    _, _, flatten_ids, offsets = _backend.isect_tiles(means2d, radii, depths, ts, tw, th)
    outs = []
    for impl in ("kernel", "reference"):
        for t in (means2d, conics, colors, opac, bg):
            t.grad = None
        if impl == "kernel":
            rc, ra = _backend.rasterize_to_pixels(
                means2d, conics, colors, opac, W, H, ts, offsets, flatten_ids, backgrounds=bg, absgrad=True
            )
        else:
            rc, ra = rasterize_to_pixels_reference(
                means2d, conics, colors, opac, W, H, ts, offsets, flatten_ids, backgrounds=bg, absgrad=True
            )
        gg = torch.Generator().manual_seed(1)
        ((rc * torch.randn(rc.shape, generator=gg, dtype=rc.dtype)).sum() + (ra * torch.randn(ra.shape, generator=gg, dtype=ra.dtype)).sum()).backward()
        outs.append([rc.detach(), ra.detach(), means2d.absgrad.clone()] + [t.grad.clone() for t in (means2d, conics, colors, opac, bg)])
    for x, y in zip(*outs):
        torch.testing.assert_close(x, y, rtol=1e-7, atol=1e-9)
