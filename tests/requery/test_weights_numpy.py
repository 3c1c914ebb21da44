"""The views' compositing weights without torch (point2act.requery.fit_numpy.compositing_weights_views, the refit extension's
build of the rasterizer's projection, tile lists and weights kernels) against the torch path
(point2act.requery.fit_torch.compositing_weights_views): the same arrays, bit for bit."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

from point2act.requery import fit_numpy
from point2act.requery.fit_numpy import SplatArrays, Views
from point2act.requery.fit_torch import compositing_weights_views as torch_weights
from point2act.render import Splats
from point2act.render._testing import SceneExtras, SceneSpec, random_scene

# (N, width, height, scale, seed, extras): small and large footprints, images that are not a whole number of tiles,
# Gaussians behind the first camera and far off its image (culled)
SCENES = [
    (600, 48, 32, 0.04, 0, SceneExtras()),
    (2000, 37, 29, 0.03, 1, SceneExtras(n_behind=20, n_offscreen=20)),
    (300, 64, 48, 0.15, 2, SceneExtras()),
    (150, 33, 17, 0.01, 3, SceneExtras()),
]


def _scene(N, W, H, scale, seed, extras, C=3):
    s = random_scene(SceneSpec(N, W, H, C=C, seed=seed, dtype=torch.float32, scale=scale), extras=extras)
    return s, Splats(s["means"], s["quats"], s["scales"], s["opacities"])


def _arrays(splats):
    return SplatArrays(splats.means.numpy(), splats.quats.numpy(), splats.scales.numpy(), splats.opacities.numpy())


def _views(s, C, W=None, H=None):
    """The first C views of scene ``s`` as numpy arrays (at ``W`` x ``H``: the scene's size by default)."""
    W, H = s["width"] if W is None else W, s["height"] if H is None else H
    return Views.one_size(s["viewmats"][:C].numpy(), s["Ks"][:C].numpy(), W, H)


def _numpy(s, splats, C, mode, min_weight, **kw):
    return fit_numpy.compositing_weights_views(_arrays(splats), _views(s, C), mode, min_weight, **kw)


def _assert_equal(got, want):
    names = ("crow", "col", "val")
    for name, a, b, dtype in zip(names, got, want, (np.int64, np.int32, np.float32)):
        b = b.numpy()
        assert a.dtype == dtype and b.dtype == dtype, name
        assert np.array_equal(a, b), name


@pytest.mark.parametrize("min_weight", [0.0, 1e-3])
@pytest.mark.parametrize("C", [1, 3])
@pytest.mark.parametrize("mode", ["classic", "antialiased"])
@pytest.mark.parametrize("scene", SCENES, ids=lambda sc: f"N{sc[0]}-{sc[1]}x{sc[2]}")
def test_weights_equal_the_torch_path(scene, mode, C, min_weight):
    s, splats = _scene(*scene)
    want = torch_weights(splats, Views.one_size(s["viewmats"][:C], s["Ks"][:C], s["width"], s["height"]), mode,
                         min_weight)
    got = _numpy(s, splats, C, mode, min_weight)
    assert got[0].shape == (C * s["height"] * s["width"] + 1,) and got[1].size > 0
    _assert_equal(got, want)


def test_normalised_quats_and_float64_inputs():
    """Unit quaternions (as the callers pass them) and float64 arrays (converted to float32, as the torch path's
    ``.to(float32)``) give the torch path's bits."""
    s, splats = _scene(*SCENES[0])
    q = splats.quats / splats.quats.norm(dim=-1, keepdim=True)
    unit = Splats(splats.means, q, splats.scales, splats.opacities)
    want = torch_weights(unit, Views.one_size(s["viewmats"], s["Ks"], s["width"], s["height"]), "antialiased", 1e-3)
    _assert_equal(_numpy(s, unit, 3, "antialiased", 1e-3), want)
    s64 = random_scene(SceneSpec(600, 48, 32, C=3, seed=5, dtype=torch.float64, scale=0.04))
    sp64 = Splats(s64["means"], s64["quats"], s64["scales"], s64["opacities"])
    want = torch_weights(sp64, Views.one_size(s64["viewmats"], s64["Ks"], 48, 32), "classic", 0.0)
    _assert_equal(_numpy(s64, sp64, 3, "classic", 0.0), want)


def test_weights_do_not_depend_on_the_thread_count():
    s, splats = _scene(*SCENES[1])
    one = _numpy(s, splats, 3, "classic", 0.0, num_threads=1)
    for a, b in zip(one, _numpy(s, splats, 3, "classic", 0.0, num_threads=3)):
        assert np.array_equal(a, b)


def test_no_gaussians_and_no_views():
    z3, z4 = np.zeros((0, 3), np.float32), np.zeros((0, 4), np.float32)
    eye, K = np.eye(4, dtype=np.float32)[None], np.array([[[20, 0, 8], [0, 20, 6], [0, 0, 1]]], np.float32)
    crow, col, val = fit_numpy.compositing_weights_views(SplatArrays(z3, z4, z3, np.zeros(0, np.float32)),
                                                     Views.one_size(eye, K, 16, 12))
    assert np.array_equal(crow, np.zeros(16 * 12 + 1, np.int64)) and col.size == 0 and val.size == 0
    s, splats = _scene(*SCENES[0])
    crow, col, val = _numpy(s, splats, 0, "classic", 0.0)
    assert np.array_equal(crow, np.zeros(1, np.int64)) and col.size == 0 and val.size == 0


def test_bad_inputs_raise_value_errors():
    s, splats = _scene(*SCENES[0])
    g, views = _arrays(splats), _views(s, 3, 48, 32)
    for bad in [dataclasses.replace(g, quats=g.quats[:, :3]), dataclasses.replace(g, opacities=g.opacities[:-1])]:
        with pytest.raises(ValueError):
            fit_numpy.compositing_weights_views(bad, views)
    with pytest.raises(ValueError):
        fit_numpy.compositing_weights_views(g, dataclasses.replace(views, Ks=views.Ks[:2]))
    with pytest.raises(ValueError):
        fit_numpy.compositing_weights_views(g, views, rasterize_mode="antialias")
    with pytest.raises(ValueError):
        fit_numpy.compositing_weights_views(g, _views(s, 3, 0, 32))


def test_weights_import_no_torch():
    """``point2act.requery.fit_numpy`` and its weights of a scene made in numpy import no torch."""
    code = (
        "import sys, numpy as np\n"
        "from point2act.requery import fit_numpy\n"
        "g = np.random.default_rng(0)\n"
        "N = 200\n"
        "means = np.c_[g.uniform(-0.5, 0.5, (N, 2)), g.uniform(2, 4, N)].astype(np.float32)\n"
        "quats = g.normal(size=(N, 4)).astype(np.float32)\n"
        "scales = np.full((N, 3), 0.05, np.float32)\n"
        "opac = g.uniform(0.1, 0.9, N).astype(np.float32)\n"
        "K = np.array([[[40, 0, 24], [0, 40, 16], [0, 0, 1]]], np.float32)\n"
        "crow, col, val = fit_numpy.compositing_weights_views(fit_numpy.SplatArrays(means, quats, scales, opac),"
        " fit_numpy.Views.one_size(np.eye(4, dtype=np.float32)[None], K, 48, 32), 'antialiased', 1e-3)\n"
        "assert crow[-1] == col.size > 0 and val.dtype == np.float32\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("mode", ["classic", "antialiased"])
@pytest.mark.parametrize("min_weight", [1e-3, 0.02])
def test_half_weight_render_is_the_float16_weights_times_the_values(scene, mode, min_weight):
    """Per pixel, the direct render through the float16-rounded weights is csr_matvec on the stored float16
    weights (what point2act.fusion.relevancy_in_views reads), bit for bit, with any thread count."""
    N, W, H, scale, seed, extras = scene
    s, splats = _scene(N, W, H, scale, seed, extras)
    values = np.random.default_rng(seed).random(N).astype(np.float32)
    crow, col, val = _numpy(s, splats, 3, mode, min_weight)
    want = fit_numpy.csr_matvec(crow, col, val.astype(np.float16).astype(np.float32), values).reshape(3, H, W)
    assert np.count_nonzero(want) > 0
    args = (_arrays(splats), _views(s, 3), values, mode, min_weight)
    for threads in (1, 2):
        got = fit_numpy.half_weight_render_views(*args, num_threads=threads)
        assert got.dtype == np.float32 and got.shape == (3, H, W)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("scene", SCENES)
def test_half_weight_render_of_some_tiles_is_the_whole_render_there(scene):
    """With a tile mask, the marked tiles' pixels are the whole render's bits and every other pixel is 0; a
    mask of the wrong shape is refused."""
    N, W, H, scale, seed, extras = scene
    s, splats = _scene(N, W, H, scale, seed, extras)
    values = np.random.default_rng(seed).random(N).astype(np.float32)
    args = (_arrays(splats), _views(s, 3), values, "classic", 1e-3)
    full = fit_numpy.half_weight_render_views(*args)
    ts = fit_numpy.views_tile_size()
    tiles = np.random.default_rng(seed + 7).random((3, -(-H // ts), -(-W // ts))) < 0.5
    tiles[0, 0, 0] = True
    got = fit_numpy.half_weight_render_views(*args, tiles=tiles)
    keep = np.repeat(np.repeat(tiles, ts, axis=1), ts, axis=2)[:, :H, :W]
    assert np.count_nonzero(full[keep]) > 0
    assert np.array_equal(got[keep].view(np.uint32), full[keep].view(np.uint32))
    assert not got[~keep].any()
    with pytest.raises(ValueError, match="tile_mask"):
        fit_numpy.half_weight_render_views(*args, tiles=tiles[:, :1])


def test_half_rounding_is_numpys_float16():
    """The kernel's float16 rounding (round to nearest, ties to even) over float16's normal range, ties included:
    one Gaussian covering one pixel renders half(w) * 1 exactly."""
    rng = np.random.default_rng(0)
    w = np.concatenate([rng.uniform(2.0 ** -14, 1.0, 20000).astype(np.float32),
                        # exact ties between two float16 neighbours, and their float32 neighbours
                        (np.arange(1024, 2048, dtype=np.float32) + 0.5) / 2048])
    w = np.concatenate([w, np.nextafter(w, 0, dtype=np.float32), np.nextafter(w, 2, dtype=np.float32)])
    crow = np.arange(len(w) + 1, dtype=np.int64)
    col = np.zeros(len(w), dtype=np.int32)
    want = w.astype(np.float16).astype(np.float32)
    assert np.array_equal(fit_numpy.csr_matvec(crow, col, want, np.ones(1, np.float32)), want)  # the reference itself
    got = fit_numpy.half_rounded(w)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
