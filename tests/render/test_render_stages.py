"""Each C++ stage of point2act.render vs its torch reference in _torch_impl; build cache key; constants."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from point2act.render import (
    _backend,
    _constants,
    compositing_weights,
    depth_quantiles,
    fully_fused_projection,
    TileLists,
    isect_tiles,
    rasterize_to_pixels,
)
from point2act.render import _torch_impl as ref
from point2act.render._testing import SceneExtras, SceneSpec, random_scene

DT = torch.float64


@pytest.fixture(scope="module", autouse=True)
def ext():
    return _backend.load_extension()


def _project(scene, fn=fully_fused_projection, **kw):
    return fn(scene["means"], None, scene["quats"], scene["scales"], scene["viewmats"], scene["Ks"],
              scene["width"], scene["height"], **kw)


# ------------------------------------------------------------------------------------------------
# constants and build cache
# ------------------------------------------------------------------------------------------------
def test_constants_come_from_common_h(ext):
    built = ext.constants()
    for k, v in _constants.CONSTANTS.items():
        assert built[k] == v, k
    assert _constants.ALPHA_MAX == 0.999 and _constants.ALPHA_MIN == 1.0 / 255.0
    assert _constants.TRANSMITTANCE_MIN == 1e-4 and _constants.PIXEL_CENTER == 0.5


def test_one_register_per_chunk(ext):
    """16-lane chunks only where they are one register (AVX-512); 8 elsewhere (on AVX2 16 lanes spill)."""
    import os

    if "P2A_LANES" in os.environ.get("POINT2ACT_CPU_CFLAGS", ""):
        pytest.skip("lanes set by POINT2ACT_CPU_CFLAGS")
    assert ext.constants()["LANES"] == (16 if ext.simd() == "avx512f" else 8)


def test_read_constants_parser():
    text = "constexpr double A = 0.5;\nconstexpr double B = 1.0 / 4.0;\nconstexpr int C = 3;\n"
    assert _constants.read_constants(text) == {"A": 0.5, "B": 0.25}


def test_cache_key_depends_on_cpu_features_and_flags():
    flags = ["-O3", "-march=native"]
    a = _backend.build_key("fpu sse2 avx2 fma", flags)
    assert a == _backend.build_key("fpu sse2 avx2 fma", flags)  # deterministic
    assert a != _backend.build_key("fpu sse2 avx2 fma avx512f", flags)  # other CPU: rebuild
    assert a != _backend.build_key("fpu sse2 avx2 fma", ["-O3"])  # other flags: rebuild
    assert a.split("-")[1] == _backend.build_key("fpu sse2 avx2 fma avx512f", flags).split("-")[1]
    d1 = _backend.extension_build_dir("fpu sse2 avx2 fma", flags)
    d2 = _backend.extension_build_dir("fpu sse2 avx2 fma avx512f", flags)
    assert d1 != d2 and d1.parent == d2.parent


def test_this_machine_key_and_flags(monkeypatch):
    assert _backend.extension_build_dir().name == _backend.build_key()
    assert _backend.build_key().startswith("cpu")
    flags = _backend.cflags()
    assert "-O3" in flags and "-fopenmp" in flags
    monkeypatch.setenv("POINT2ACT_CPU_CFLAGS", "-mavx2 -mfma")
    assert _backend.arch_flags() == ["-mavx2", "-mfma"]
    assert _backend.build_key() != _backend.build_key(flags=["-O3", "-fopenmp"])


def test_cpu_features_nonempty():
    assert _backend.cpu_features().strip()


def test_references_stay_off_the_production_path():
    code = (
        "import sys, torch\n"
        "from point2act.render import rasterization\n"
        "from point2act.render._testing import SceneSpec, random_scene\n"
        "s = random_scene(SceneSpec(50, 32, 24, dtype=torch.float32))\n"
        "rasterization(s['means'], s['quats'], s['scales'], s['opacities'], s['colors'], s['viewmats'],"
        " s['Ks'], 32, 24)\n"
        "assert 'point2act.render._torch_impl' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=600)


# ------------------------------------------------------------------------------------------------
# projection
# ------------------------------------------------------------------------------------------------
PROJ_CASES = [
    dict(N=200, W=40, H=30, C=1, kw={}),
    dict(N=300, W=64, H=48, C=3, kw=dict(calc_compensations=True)),
    dict(N=100, W=33, H=27, C=2, kw=dict(eps2d=0.1, radius_clip=1.5, near_plane=2.5)),
]


@pytest.mark.parametrize("case", PROJ_CASES, ids=["plain", "3cams-comp", "clip-near"])
@pytest.mark.parametrize("use_covars", [False, True])
def test_projection_matches_reference(case, use_covars):
    s = random_scene(SceneSpec(case["N"], case["W"], case["H"], C=case["C"], seed=case["N"]),
                     extras=SceneExtras(n_behind=5, n_offscreen=5))
    leaves = {k: s[k].clone().requires_grad_(True) for k in ("means", "quats", "scales")}
    view = s["viewmats"].clone().requires_grad_(True)
    covars = None
    if use_covars:
        covars = ref._quat_scale_to_covar(s["quats"], s["scales"]).detach().clone()
        # asymmetric input: only the upper triangle counts
        covars = (covars + 0.01 * torch.triu(torch.ones(3, 3, dtype=DT))).requires_grad_(True)
    outs = []
    for fn in (fully_fused_projection, ref._fully_fused_projection):
        for t in list(leaves.values()) + [view] + ([covars] if use_covars else []):
            t.grad = None
        q, sc = (None, None) if use_covars else (leaves["quats"], leaves["scales"])
        radii, m2, d, con, comp = fn(leaves["means"], covars, q, sc, view, s["Ks"], s["width"], s["height"],
                                     **case["kw"])
        vis = (radii > 0).to(DT)
        g = torch.Generator().manual_seed(0)
        outs_ = (m2, d, con) + ((comp,) if comp is not None else ())
        loss = sum(((t * torch.randn(t.shape, generator=g, dtype=DT))
                    * (vis[..., None] if t.dim() == 3 else vis)).sum() for t in outs_)
        loss.backward()
        grads = [leaves["means"].grad, view.grad] + ([covars.grad] if use_covars else [leaves["quats"].grad,
                                                                                       leaves["scales"].grad])
        outs.append((radii, m2.detach(), d.detach(), con.detach(), comp, [x.clone() for x in grads]))
    (ra, ma, da, ca, pa, ga), (rb, mb, db, cb, pb, gb) = outs
    assert torch.equal(ra, rb) and ra.dtype == torch.int32
    vis = ra > 0
    assert vis.any() and (~vis).any()
    for x, y in ((ma, mb), (da, db), (ca, cb)):
        torch.testing.assert_close(x[vis], y[vis], rtol=1e-10, atol=1e-12)
    if pa is not None:
        torch.testing.assert_close(pa[vis], pb[vis].detach(), rtol=1e-10, atol=1e-12)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("use_covars", [False, True])
def test_projection_gradcheck(use_covars):
    s = random_scene(SceneSpec(6, 12, 10, C=2, seed=4))
    Ks = s["Ks"]

    def fn(means, a, b, view):
        if use_covars:
            out = fully_fused_projection(means, a, None, None, view, Ks, 12, 10, calc_compensations=False)
        else:
            out = fully_fused_projection(means, None, a, b, view, Ks, 12, 10, calc_compensations=False)
        return out[1], out[2], out[3]

    if use_covars:
        cov = ref._quat_scale_to_covar(s["quats"], s["scales"])
        inputs = (s["means"].clone().requires_grad_(True), cov.clone().requires_grad_(True), None,
                  s["viewmats"].clone().requires_grad_(True))
    else:
        inputs = tuple(t.clone().requires_grad_(True)
                       for t in (s["means"], s["quats"], s["scales"], s["viewmats"]))
    radii = fully_fused_projection(s["means"], None, s["quats"], s["scales"], s["viewmats"], Ks, 12, 10)[0]
    assert (radii > 0).all()  # no culling: differentiable everywhere
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


# ------------------------------------------------------------------------------------------------
# tile intersection
# ------------------------------------------------------------------------------------------------
def _composited_with(s, conics, C, faint: bool = True):
    """The conics and per-camera opacities [C, N] the tile lists are narrowed for: the scene's opacities, with
    (``faint``) every fifth one below 1/255 and every seventh between 1/255 and 0.1 (the extent shrinks with the
    opacity, and is empty below 1/255)."""
    o = s["opacities"].clone()
    if faint:
        o[0::5] = 0.5 / 255.0
        o[3::7] = 0.02
    return conics, o.unsqueeze(0).expand(C, -1).contiguous()


@pytest.mark.parametrize("narrowed", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("N,W,H,C,ts", [(1, 16, 16, 1, 16), (300, 37, 23, 2, 8), (2000, 100, 61, 3, 16),
                                        (500, 70, 45, 1, 32)])
def test_isect_tiles_matches_reference(N, W, H, C, ts, dtype, narrowed):
    s = random_scene(SceneSpec(N, W, H, C=C, seed=N + ts, dtype=dtype, scale=0.05),
                     extras=SceneExtras(n_behind=min(3, N - 1)))
    radii, m2, d, conics, _ = _project(s)
    tw, th = (W + ts - 1) // ts, (H + ts - 1) // ts
    # equal depths: ties are broken by the flattened index
    d = d.clone()
    d[..., 1::7] = d[..., 0:1]
    kw = dict(zip(("conics", "opacities"), _composited_with(s, conics, C))) if narrowed else {}
    a = isect_tiles(m2, radii, d, ts, tw, th, **kw)
    b = ref._isect_tiles(m2, radii, d, ts, tw, th, **kw)
    for x, y, name in zip(a, b, ("tiles_per_gauss", "isect_ids", "flatten_ids", "isect_offsets")):
        assert x.dtype == y.dtype, name
        assert torch.equal(x, y), name


@pytest.mark.parametrize("narrowed", [False, True])
@pytest.mark.parametrize("N,W,H,C,ts", [(6000, 160, 120, 1, 16), (5000, 90, 70, 2, 8)])
def test_isect_tiles_on_two_threads_is_the_one_thread_result(ext, N, W, H, C, ts, narrowed):
    """From 4096 Gaussians (ISECT_PARALLEL) the tile lists are made on the threads given: the same lists as one
    thread makes, and the reference's."""
    s = random_scene(SceneSpec(N, W, H, C=C, seed=N, dtype=torch.float32, scale=0.05),
                     extras=SceneExtras(n_behind=3))
    radii, m2, d, conics, _ = _project(s)
    tw, th = (W + ts - 1) // ts, (H + ts - 1) // ts
    d = d.clone()
    d[..., 1::7] = d[..., 0:1]  # ties
    extent = _composited_with(s, conics, C) if narrowed else (None, None)
    args = (m2.contiguous(), radii.to(torch.int32).contiguous(), d.contiguous(), *extent, ts, tw, th)
    one, two = ext.isect_tiles(*args, 1), ext.isect_tiles(*args, 2)
    b = ref._isect_tiles(m2, radii, d, ts, tw, th, *extent)
    assert one[1].numel() > 4096
    for x, y, z, name in zip(one, two, b, ("tiles_per_gauss", "isect_ids", "flatten_ids", "isect_offsets")):
        assert torch.equal(x, y) and torch.equal(x, z), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("N,W,H,C,ts,D", [(3000, 100, 61, 2, 16, 3), (2000, 70, 45, 1, 8, 5)])
def test_narrowed_tile_lists_composite_the_same_bits(ext, N, W, H, C, ts, D, dtype):
    """Tile lists narrowed to the tiles where each Gaussian's alpha can reach 1/255 hold fewer entries, none for a
    Gaussian below 1/255, and give the same images, alphas and gradients bit for bit as gsplat's 3-sigma
    rectangles, and the same compositing weights and depth quantiles: the kernels skip a Gaussian wherever its
    pixel box misses a tile. Elongated Gaussians (log-normal scales per axis) and opacities from 0.002 to 0.9."""
    s = random_scene(SceneSpec(N, W, H, C=C, seed=N + D, dtype=dtype, scale=0.06), extras=SceneExtras(n_behind=3))
    radii, m2, d, conics, _ = _project(s)
    tw, th = (W + ts - 1) // ts, (H + ts - 1) // ts
    conics, opac = _composited_with(s, conics, C)
    wide = isect_tiles(m2, radii, d, ts, tw, th)
    narrow = isect_tiles(m2, radii, d, ts, tw, th, conics=conics, opacities=opac)
    assert narrow[2].numel() < 0.9 * wide[2].numel()
    faint = (opac < 1.0 / 255.0) & (radii > 0)
    assert faint.any() and (narrow[0][faint] == 0).all() and (wide[0][faint] > 0).all()
    g = torch.Generator().manual_seed(N)
    colors = torch.rand((C, N, D), generator=g, dtype=dtype)
    bg = torch.rand((C, D), generator=g, dtype=dtype)
    v_img = torch.randn((C, H, W, D), generator=g, dtype=dtype)
    v_alpha = torch.randn((C, H, W, 1), generator=g, dtype=dtype)
    outs = []
    for _tpg, _ids, fid, off in (wide, narrow):
        ins = [t.detach().clone().requires_grad_(True) for t in (m2, conics, colors, opac)]
        img, alpha = rasterize_to_pixels(*ins, W, H, ts, off, fid, backgrounds=bg)
        ((img * v_img).sum() + (alpha * v_alpha).sum()).backward()
        tiles = TileLists(W, H, ts, off, fid)
        weights = compositing_weights(m2, conics, opac, tiles, 0.0)
        quantiles = depth_quantiles(m2, conics, opac, d, tiles, (0.5, 0.75))
        outs.append([img, alpha, *(t.grad for t in ins), *weights, *quantiles])
    for a, b in zip(*outs):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------------
# rasterize to pixels
# ------------------------------------------------------------------------------------------------
RASTER_CASES = [
    # N, W, H, C, tile_size, D, background
    (50, 16, 16, 1, 16, 3, False),
    (200, 37, 23, 2, 8, 4, True),
    (300, 70, 45, 1, 32, 1, False),  # two SIMD chunks per tile row
    (150, 70, 50, 1, 64, 6, True),  # four chunks, generic channel count
    (150, 70, 50, 1, 64, 5, True),  # RGB, depth and relevancy: a training step's channels
    (120, 29, 19, 2, 4, 40, False),  # partial chunks, many channels
]


@pytest.mark.parametrize("N,W,H,C,ts,D,with_bg", RASTER_CASES)
def test_rasterize_to_pixels_matches_reference(N, W, H, C, ts, D, with_bg):
    s = random_scene(SceneSpec(N, W, H, C=C, seed=N, scale=0.06),
                     extras=SceneExtras(n_channels=D, per_camera_colors=True))
    radii, m2, d, con, _ = _project(s)
    op = s["opacities"].expand(C, -1).contiguous()
    tw, th = (W + ts - 1) // ts, (H + ts - 1) // ts
    _, _, fid, off = isect_tiles(m2, radii, d, ts, tw, th)
    bg = torch.rand(C, D, dtype=DT) if with_bg else None
    outs = []
    for fn in (rasterize_to_pixels, ref._rasterize_to_pixels):
        ins = [t.detach().clone().requires_grad_(True) for t in (m2, con, s["colors"], op)]
        b = bg.clone().requires_grad_(True) if with_bg else None
        rc, ra = fn(*ins, W, H, ts, off, fid, backgrounds=b, absgrad=True)
        g = torch.Generator().manual_seed(1)
        ((rc * torch.randn(rc.shape, generator=g, dtype=DT)).sum()
         + (ra * torch.randn(ra.shape, generator=g, dtype=DT)).sum()).backward()
        grads = [t.grad for t in ins] + ([b.grad] if with_bg else [])
        outs.append([rc.detach(), ra.detach(), ins[0].absgrad] + grads)
    for x, y in zip(*outs):
        torch.testing.assert_close(x, y, rtol=1e-7, atol=1e-9)
    assert outs[0][1].max() > 0.5  # something was drawn


def test_rasterize_float32_close_to_float64():
    s = random_scene(SceneSpec(400, 64, 48, seed=2, scale=0.05))
    radii, m2, d, con, _ = _project(s)
    op = s["opacities"][None]
    _, _, fid, off = isect_tiles(m2, radii, d, 16, 4, 3)
    c64 = s["colors"][None]
    a = rasterize_to_pixels(m2.float(), con.float(), c64.float(), op.float(), 64, 48, 16, off, fid)
    b = ref._rasterize_to_pixels(m2, con, c64, op, 64, 48, 16, off, fid)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y.float(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("N,W,H,C,ts,D,with_bg", RASTER_CASES[:3])
def test_rasterize_backward_reads_the_forward_packs_bit_for_bit(ext, dtype, N, W, H, C, ts, D, with_bg):
    """rasterize_bwd given rasterize_fwd's packs (the per-Gaussian data of the compositing loop) returns the same
    bits as computing them again; packs of other Gaussians are refused."""
    s = random_scene(SceneSpec(N, W, H, C=C, seed=N + 1, scale=0.06),
                     extras=SceneExtras(n_channels=D, per_camera_colors=True))
    radii, m2, d, con, _ = _project(s)
    m2, con = m2.to(dtype).contiguous(), con.to(dtype).contiguous()
    col = s["colors"].to(dtype).contiguous()
    op = s["opacities"].expand(C, -1).to(dtype).contiguous()
    tw, th = (W + ts - 1) // ts, (H + ts - 1) // ts
    _, _, fid, off = isect_tiles(m2, radii, d, ts, tw, th)
    bg = torch.rand(C, D, dtype=dtype) if with_bg else None
    rc, ra, T, last, rows, packs = ext.rasterize_fwd(m2, con, col, op, bg, W, H, ts, off, fid, 2)
    assert packs.dtype == torch.uint8 and packs.numel() % (C * N) == 0 and packs.numel() >= 64 * C * N
    g = torch.Generator().manual_seed(2)
    v_rc, v_ra = torch.randn(rc.shape, generator=g, dtype=dtype), torch.randn(ra.shape, generator=g, dtype=dtype)
    args = (m2, con, col, op, bg, W, H, ts, off, fid, T, last, rows, v_rc, v_ra, True, 2, -1)
    with_packs, again = ext.rasterize_bwd(*args, packs, True), ext.rasterize_bwd(*args, None, True)
    for x, y in zip(with_packs, again):
        assert torch.equal(x, y)
    assert with_packs[1].abs().sum() > 0
    with pytest.raises(RuntimeError, match="packs"):
        ext.rasterize_bwd(*args, packs[:-64], True)


def test_rasterize_backward_on_two_threads_is_the_one_thread_result(ext):
    """From 8192 intersections (REDUCE_PARALLEL) the per-Gaussian sums of the backward run on the threads given,
    each Gaussian's in intersection order: the one-thread bits."""
    N, W, H, ts = 6000, 128, 96, 16
    s = random_scene(SceneSpec(N, W, H, seed=11, dtype=torch.float32, scale=0.05),
                     extras=SceneExtras(n_channels=4, per_camera_colors=True))
    radii, m2, d, con, _ = _project(s)
    op = s["opacities"].expand(1, -1).contiguous()
    _, _, fid, off = isect_tiles(m2, radii, d, ts, W // ts, H // ts)
    assert fid.numel() >= 8192
    col = s["colors"].contiguous()
    rc, ra, T, last, rows, packs = ext.rasterize_fwd(m2, con, col, op, None, W, H, ts, off, fid, 2)
    g = torch.Generator().manual_seed(3)
    v_rc, v_ra = torch.randn(rc.shape, generator=g), torch.randn(ra.shape, generator=g)
    args = (m2, con, col, op, None, W, H, ts, off, fid, T, last, rows, v_rc, v_ra, True)
    one, two = ext.rasterize_bwd(*args, 1, 3, packs, True), ext.rasterize_bwd(*args, 2, 3, packs, True)
    for x, y in zip(one, two):
        assert torch.equal(x, y)
    assert one[1].abs().sum() > 0


@pytest.mark.parametrize("absgrad", [True, False])
@pytest.mark.parametrize("D,geometry", [(4, 3), (5, 4), (3, -1)])
def test_rasterize_backward_half_chunks_are_the_full_chunks_bits(ext, absgrad, D, geometry):
    """A Gaussian whose pixel box lies in one half of a 16-lane tile row is evaluated on that half (AVX-512
    builds): the same bits as the full rows, small and large Gaussians, with and without absgrad."""
    N, W, H, ts = 3000, 96, 64, 16
    s = random_scene(SceneSpec(N, W, H, seed=5, dtype=torch.float32, scale=0.03),
                     extras=SceneExtras(n_channels=D, per_camera_colors=True))
    radii, m2, d, con, _ = _project(s)
    op = s["opacities"].expand(1, -1).contiguous()
    _, _, fid, off = isect_tiles(m2, radii, d, ts, W // ts, H // ts)
    col = s["colors"].contiguous()
    rc, ra, T, last, rows, packs = ext.rasterize_fwd(m2, con, col, op, None, W, H, ts, off, fid, 2)
    g = torch.Generator().manual_seed(4)
    v_rc, v_ra = torch.randn(rc.shape, generator=g), torch.randn(ra.shape, generator=g)
    args = (m2, con, col, op, None, W, H, ts, off, fid, T, last, rows, v_rc, v_ra, absgrad, 2, geometry, packs)
    half, full = ext.rasterize_bwd(*args, True), ext.rasterize_bwd(*args, False)
    for x, y in zip(half, full):
        assert torch.equal(x.view(torch.int32), y.view(torch.int32))  # the sign of a zero too
    assert half[1].abs().sum() > 0


# ------------------------------------------------------------------------------------------------
# compositing weights
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("N,W,H,C,ts,dtype", [
    (300, 40, 30, 1, 16, torch.float64),
    (600, 48, 32, 2, 8, torch.float64),
    (800, 70, 45, 1, 32, torch.float32),
])
def test_depth_quantiles_match_the_running_sum_of_the_reference_weights(N, W, H, C, ts, dtype):
    """The kernel's depth at each level is, per pixel, the depth of the first entry of the reference compositing
    weights (in compositing order) whose running sum reaches the level, and 0 where the sum never does; at 0.5
    it is the consensus's median depth map."""
    from point2act.where.consensus import median_depth_map

    s = random_scene(SceneSpec(N, W, H, C=C, seed=N + 1, scale=0.06, dtype=dtype))
    radii, m2, d, con, _ = _project(s)
    op = s["opacities"].expand(C, -1).contiguous()
    tw, th = (W + ts - 1) // ts, (H + ts - 1) // ts
    _, _, fid, off = isect_tiles(m2, radii, d, ts, tw, th)
    levels = (0.2, 0.5, 0.8)
    tiles = TileLists(W, H, ts, off, fid)
    got = depth_quantiles(m2, con, op, d, tiles, levels)
    assert got.shape == (C, H, W, 3) and got.dtype == dtype
    crow, col, val = ref._compositing_weights(m2, con, op, tiles, 0.0)
    n = H * W
    for c in range(C):
        rows = crow[c * n : (c + 1) * n + 1]
        e0, e1 = int(rows[0]), int(rows[-1])
        r, cc, v = (rows - e0).numpy(), col[e0:e1].numpy().astype(np.int64), val[e0:e1].double().numpy()
        z = d[c].double().numpy()
        want = median_depth_map(r, cc, v, z, H, W)
        assert 0 < np.isfinite(want).mean() < 1  # some pixels reach 0.5, some do not
        np.testing.assert_allclose(got[c, ..., 1].double().numpy(), np.nan_to_num(want, nan=0.0), rtol=1e-6, atol=0)
        for li, q in enumerate(levels):  # every level, from the running sums directly
            expect = np.zeros(n)
            for p in range(n):
                ws = np.cumsum(v[r[p]:r[p + 1]])
                k = np.flatnonzero(ws >= q)
                expect[p] = z[cc[r[p] + k[0]]] if len(k) else 0.0
            np.testing.assert_allclose(got[c, ..., li].double().numpy().reshape(-1), expect, rtol=1e-6, atol=0)
        front, back = got[c, ..., 0].double().numpy(), got[c, ..., 2].double().numpy()
        both = back > 0
        assert both.any() and (front[both] <= back[both]).all()  # reached front to back


@pytest.mark.parametrize("N,W,H,C,ts,min_weight,dtype", [
    (300, 40, 30, 1, 16, 0.0, torch.float64),
    (600, 48, 32, 2, 8, 1e-3, torch.float64),
    (800, 70, 45, 1, 32, 0.0, torch.float32),
])
def test_compositing_weights_match_reference(N, W, H, C, ts, min_weight, dtype):
    s = random_scene(SceneSpec(N, W, H, C=C, seed=N, scale=0.06, dtype=dtype))
    radii, m2, d, con, _ = _project(s)
    op = s["opacities"].expand(C, -1).contiguous()
    tw, th = (W + ts - 1) // ts, (H + ts - 1) // ts
    _, _, fid, off = isect_tiles(m2, radii, d, ts, tw, th)
    tiles = TileLists(W, H, ts, off, fid)
    crow, col, val = compositing_weights(m2, con, op, tiles, min_weight)
    crow_r, col_r, val_r = ref._compositing_weights(m2, con, op, tiles, min_weight)
    assert torch.equal(crow, crow_r) and torch.equal(col, col_r)
    torch.testing.assert_close(val, val_r, rtol=1e-5, atol=1e-7)
    # W @ colours == the rasterizer's render of the same colours
    colors = torch.rand(C, N, 2, dtype=dtype)
    rc, ra = rasterize_to_pixels(m2, con, colors, op, W, H, ts, off, fid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # sparse CSR is "beta"
        A = torch.sparse_csr_tensor(crow, col.long(), val.to(dtype), (C * H * W, N)).to_dense()
    if min_weight == 0.0:
        for c in range(C):
            rows = slice(c * H * W, (c + 1) * H * W)
            Ac = A[rows]
            torch.testing.assert_close(Ac @ colors[c], rc[c].reshape(-1, 2), rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(Ac.sum(1), ra[c].reshape(-1), rtol=1e-4, atol=1e-5)
