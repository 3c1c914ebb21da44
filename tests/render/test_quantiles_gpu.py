"""point2act.render.quantiles_gpu: depth quantiles by torch ops (the GPU path of the convergence probes) against the
CPU kernel, on CPU tensors; on CUDA, gsplat's projection and tile lists against the CPU path of
render_median_depth."""

import numpy as np
import pytest
import torch

from point2act.render import TileLists, depth_quantiles, fully_fused_projection, isect_tiles
from point2act.render import quantiles_gpu
from point2act.render._testing import SceneSpec, random_scene


@pytest.mark.parametrize("N,W,H,C,ts,dtype,chunk", [
    (300, 40, 30, 1, 16, torch.float64, 1 << 24),
    (600, 48, 32, 2, 8, torch.float64, 1 << 10),  # many chunks, each a few tiles
    (800, 70, 45, 1, 16, torch.float32, 1 << 24),
    (2000, 64, 48, 1, 16, torch.float32, 1 << 12),
])
def test_torch_depth_quantiles_are_the_cpu_kernels(N, W, H, C, ts, dtype, chunk, monkeypatch):
    monkeypatch.setattr(quantiles_gpu, "CHUNK_ELEMENTS", chunk)
    s = random_scene(SceneSpec(N, W, H, C=C, seed=N + 3, scale=0.06, dtype=dtype))
    radii, m2, d, con, _ = fully_fused_projection(s["means"], None, s["quats"], s["scales"], s["viewmats"],
                                                  s["Ks"], W, H)
    op = s["opacities"].expand(C, -1).contiguous()
    tw, th = (W + ts - 1) // ts, (H + ts - 1) // ts
    _, _, fid, off = isect_tiles(m2, radii, d, ts, tw, th)
    tiles = TileLists(W, H, ts, off, fid)
    levels = (0.2, 0.5, 0.75)
    want = depth_quantiles(m2, con, op, d, tiles, levels)
    got = quantiles_gpu.depth_quantiles_torch(m2, con, op, d, tiles, levels)
    assert got.shape == want.shape == (C, H, W, 3) and got.dtype == dtype
    assert 0 < (want[..., 1] > 0).double().mean() < 1  # some pixels reach the median, some do not
    same = got == want
    # the running sums round alike but for the order of additions: a pixel whose sum meets a level to the last
    # bit may take the neighbouring Gaussian's depth
    assert same.double().mean() >= (1.0 if dtype == torch.float64 else 0.999)
    np.testing.assert_allclose(got[~same].numpy(), want[~same].numpy(), rtol=0.05)


def test_an_empty_view_is_all_zero():
    W, H, ts = 32, 16, 16
    tiles = TileLists(W, H, ts, torch.zeros(1, 1, 2, dtype=torch.int32), torch.zeros(0, dtype=torch.int32))
    z = torch.zeros(1, 5)
    got = quantiles_gpu.depth_quantiles_torch(torch.zeros(1, 5, 2), torch.zeros(1, 5, 3), z, z, tiles, (0.5,))
    assert got.shape == (1, H, W, 1) and not got.any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (gsplat)")
def test_gsplat_median_depth_is_the_cpu_paths():
    from point2act.fusion import render_median_depth

    s = random_scene(SceneSpec(3000, 96, 72, C=1, seed=5, scale=0.05, dtype=torch.float32))
    from point2act.render import Splats
    from point2act.splatting import Views

    t = (s["means"], s["quats"], s["scales"], s["opacities"].reshape(-1), s["viewmats"][:1], s["Ks"][:1])
    cpu_d, cpu_spread = render_median_depth(Splats(*t[:4]), Views.one_size(t[4], t[5], 96, 72))
    g = [a.cuda() for a in t]
    gpu_d, gpu_spread = render_median_depth(Splats(*g[:4]), Views.one_size(g[4], g[5], 96, 72))
    assert (cpu_d > 0).mean() > 0.1
    close = np.isclose(gpu_d, cpu_d, rtol=1e-4, atol=1e-5)
    assert close.mean() >= 0.995, close.mean()
    fin = np.isfinite(cpu_spread) & np.isfinite(gpu_spread)
    assert np.isclose(gpu_spread[fin], cpu_spread[fin], rtol=1e-3, atol=1e-4).mean() >= 0.99
