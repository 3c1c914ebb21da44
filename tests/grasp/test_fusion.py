"""TSDF fusion of depth renders against closed forms (a sphere on a plane, analytic depth)."""

import math

import numpy as np
import pytest
import torch

from point2act.render import Splats
from point2act.splatting import Views
from point2act.fusion import (DepthViews, render_expected_depth, render_median_depth, tsdf_fuse, view_points,
                              view_relevancy)


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:  # [4, 4] world-to-camera, OpenCV
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])  # rows: camera axes in world
    V = np.eye(4)
    V[:3, :3] = R
    V[:3, 3] = -R @ eye
    return V


def sphere_plane_depth(V: np.ndarray, K: np.ndarray, W: int, H: int, c: np.ndarray, r: float) -> np.ndarray:
    """Exact z-depth of the union of a sphere (centre c, radius r) and the plane z=0."""
    j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    d_cam = np.stack([(j - K[0, 2]) / K[0, 0], (i - K[1, 2]) / K[1, 1], np.ones_like(j)], -1)  # z = 1
    R, t = V[:3, :3], V[:3, 3]
    o = -R.T @ t
    d = d_cam @ R  # world directions (z-depth parametrisation)
    # plane z = 0
    tp = np.where(np.abs(d[..., 2]) > 1e-9, -o[2] / d[..., 2], np.inf)
    tp = np.where(tp > 0, tp, np.inf)
    # sphere
    oc = o - c
    a = (d * d).sum(-1)
    b = 2 * (d @ oc)
    cc = oc @ oc - r * r
    disc = b * b - 4 * a * cc
    ts = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), np.inf)
    ts = np.where(ts > 0, ts, np.inf)
    z = np.minimum(tp, ts)
    return np.where(np.isfinite(z), z, 0.0)


@pytest.mark.parametrize("num_views,voxel", [(8, 0.004), (16, 0.0025)])
def test_tsdf_fuse_recovers_sphere_and_plane(num_views, voxel):
    W, H = 160, 120
    K = np.array([[150.0, 0, W / 2], [0, 150.0, H / 2], [0, 0, 1]])
    c, r = np.array([0.0, 0.0, 0.04]), 0.04
    views, Ks, depths = [], [], []
    for k in range(num_views):
        az = 2 * math.pi * k / num_views
        el = math.radians(35 + 20 * (k % 2))
        eye = 0.5 * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        V = look_at(eye, c)
        views.append(V)
        Ks.append(K)
        depths.append(sphere_plane_depth(V, K, W, H, c, r))
    pts = tsdf_fuse(DepthViews(np.stack(depths), None, np.stack(Ks), np.stack(views)), center=c, side=0.2, voxel=voxel)
    assert len(pts) > 1000
    assert np.all(np.abs(pts - c) <= 0.1 + 1e-9)  # inside the cube
    # every point lies on the sphere or on the plane, within a voxel
    err = np.minimum(np.abs(np.linalg.norm(pts - c, axis=1) - r), np.abs(pts[:, 2]))
    assert np.percentile(err, 99) < voxel, np.percentile(err, 99)
    # the sphere's visible upper half is covered
    on_sphere = np.abs(np.linalg.norm(pts - c, axis=1) - r) < voxel
    up = pts[on_sphere][:, 2] > c[2]
    assert up.sum() > 200


def test_tsdf_fuse_ignores_transparent_pixels_and_rejects_bad_cube():
    W, H = 64, 48
    K = np.array([[60.0, 0, W / 2], [0, 60.0, H / 2], [0, 0, 1]])
    V = look_at(np.array([0.0, -0.3, 0.4]), np.zeros(3))
    d = sphere_plane_depth(V, K, W, H, np.array([0, 0, 0.03]), 0.03)[None]
    pts = tsdf_fuse(DepthViews(d, np.zeros_like(d), K[None], V[None]), np.zeros(3), 0.2, 0.005)
    assert len(pts) == 0
    with pytest.raises(ValueError, match="side"):
        tsdf_fuse(DepthViews(d, None, K[None], V[None]), np.zeros(3), 0.0, 0.005)


def test_render_expected_depth_of_a_flat_layer():
    """Many small opaque Gaussians on the plane z = 1 in front of a camera: expected depth is 1."""
    g = torch.linspace(-0.6, 0.6, 61)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    means = torch.stack([xx.reshape(-1), yy.reshape(-1), torch.ones(xx.numel())], -1)
    N = means.shape[0]
    quats = torch.tensor([[1.0, 0, 0, 0]]).repeat(N, 1)
    scales = torch.full((N, 3), 0.02)
    opac = torch.full((N,), 0.9)
    K = torch.tensor([[[40.0, 0, 32], [0, 40.0, 24], [0, 0, 1]]])
    depth, alpha = render_expected_depth(Splats(means, quats, scales, opac), Views.one_size(torch.eye(4)[None], K, 64, 48))
    assert depth.shape == (1, 48, 64) and alpha.shape == (1, 48, 64)
    inner = alpha[0, 8:-8, 8:-8]
    assert inner.min() > 0.99
    torch.testing.assert_close(depth[0, 8:-8, 8:-8], torch.ones_like(inner), atol=1e-4, rtol=0)


def test_median_depth_is_the_surface_behind_faint_fog():
    """An opaque layer at z = 2 behind a faint one at z = 1 (opacity 0.02 each, under 0.5 composited): the median
    depth is the opaque layer's, 2, and its spread 0 (the fog in front does not widen it); the expected depth
    is pulled in front of it by the fog; where the opacity never reaches 0.5 (fog alone) the median depth is
    0 (no surface) and the spread unbounded."""
    g = torch.linspace(-1.2, 1.2, 97)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    back = torch.stack([xx.reshape(-1), yy.reshape(-1), torch.full((xx.numel(),), 2.0)], -1)
    back = back[back[:, 0] > 0]  # the right half of the view
    fog = torch.stack([xx.reshape(-1), yy.reshape(-1), torch.full((xx.numel(),), 1.0)], -1) * torch.tensor([0.5, 0.5, 1])
    means = torch.cat([fog, back])
    N = means.shape[0]
    opac = torch.cat([torch.full((len(fog),), 0.02), torch.full((len(back),), 0.99)])
    quats, scales = torch.tensor([[1.0, 0, 0, 0]]).repeat(N, 1), torch.full((N, 3), 0.02)
    K = torch.tensor([[40.0, 0, 32], [0, 40.0, 24], [0, 0, 1]])
    med, spread = render_median_depth(Splats(means, quats, scales, opac), Views.one_size(torch.eye(4)[None], K[None], 64, 48))
    exp, alpha = render_expected_depth(Splats(means, quats, scales, opac), Views.one_size(torch.eye(4)[None], K[None], 64, 48))
    right, left = (slice(8, -8), slice(40, 56)), (slice(8, -8), slice(8, 24))
    assert 0.15 < float(alpha[0][left].mean()) < 0.5  # the fog alone stays below 0.5
    np.testing.assert_allclose(med[right], 2.0, atol=1e-5)
    assert float(exp[0][right].max()) < 1.9  # the mean is pulled into the fog
    assert float(np.abs(med[left]).max()) == 0.0
    # the opaque layer stops the ray at its median: no spread; the fog never reaches 0.75: unbounded
    np.testing.assert_allclose(spread[right], 0.0, atol=1e-6)
    assert np.isinf(spread[left]).all()


def _two_layers():
    """A front layer (z = 1, left half of the view) over a back layer (z = 2, the whole view) of small opaque
    Gaussians; relevancy 0.8 in front, 0.3 behind."""
    g = torch.linspace(-1.2, 1.2, 97)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    back = torch.stack([xx.reshape(-1), yy.reshape(-1), torch.full((xx.numel(),), 2.0)], -1)
    front = back[back[:, 0] < 0] * torch.tensor([0.5, 0.5, 0.5])
    means = torch.cat([front, back])
    N, nf = means.shape[0], front.shape[0]
    rel = torch.cat([torch.full((nf,), 0.8), torch.full((N - nf,), 0.3)])
    return means, torch.tensor([[1.0, 0, 0, 0]]).repeat(N, 1), torch.full((N, 3), 0.02), torch.full((N,), 0.99), rel


def test_rendered_relevancy_is_that_of_the_visible_surface():
    """Expected relevancy (composited like a colour, divided by the opacity) is the front layer's where it
    covers the pixel and the back layer's elsewhere; the depth is the same render as without relevancy."""
    means, quats, scales, opac, rel = _two_layers()
    K = torch.tensor([[[40.0, 0, 32], [0, 40.0, 24], [0, 0, 1]]])
    d0, a0 = render_expected_depth(Splats(means, quats, scales, opac), Views.one_size(torch.eye(4)[None], K, 64, 48))
    d, a, r = render_expected_depth(Splats(means, quats, scales, opac), Views.one_size(torch.eye(4)[None], K, 64, 48),
                                    relevancy=rel)
    torch.testing.assert_close(d, d0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a, a0, atol=1e-6, rtol=0)
    left, right = r[0, 8:-8, 10:28], r[0, 8:-8, 36:54]
    torch.testing.assert_close(left, torch.full_like(left, 0.8), atol=2e-3, rtol=0)
    torch.testing.assert_close(right, torch.full_like(right, 0.3), atol=2e-3, rtol=0)
    behind = Splats(means + torch.tensor([0.0, 0.0, -10.0]), quats, scales, opac)
    empty = render_expected_depth(behind, Views.one_size(torch.eye(4)[None], K, 64, 48), relevancy=rel)[2]
    assert float(empty.abs().max()) == 0.0  # nothing rendered: no relevancy


def test_view_relevancy_reads_the_views_that_see_a_point():
    """Points on a view's surface take its rendered relevancy, averaged over the views that see them; a point
    hidden behind that surface (farther than ``tol``) or outside every view gets none (NaN)."""
    W, H = 32, 24
    K = np.array([[30.0, 0, W / 2], [0, 30.0, H / 2], [0, 0, 1]])
    V1, V2 = np.eye(4), np.eye(4)
    V2[0, 3] = -0.1  # second camera 0.1 to the right
    D = np.full((2, H, W), 1.0, np.float32)
    R = np.stack([np.full((H, W), 0.2), np.full((H, W), 0.6)]).astype(np.float32)
    views = DepthViews(D, np.ones_like(D), np.stack([K, K]), np.stack([V1, V2]), 0.0, R)
    pts = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.5], [30.0, 0.0, 1.0], [0.0, 0.0, 1.004]])
    out = view_relevancy(views, pts, tol=0.01)
    np.testing.assert_allclose(out[[0, 3]], [0.4, 0.4])
    assert np.isnan(out[1]) and np.isnan(out[2])
    R[1, :, : W // 2] = 1.0  # the second view's left half (where it sees the point at the origin)
    np.testing.assert_allclose(view_relevancy(DepthViews(D, np.ones_like(D), views.Ks, views.viewmats, 0.0, R),
                                              pts[:1], tol=0.01), [0.6])
    with pytest.raises(ValueError, match="without relevancy"):
        view_relevancy(DepthViews(D, np.ones_like(D), views.Ks, views.viewmats), pts, tol=0.01)


@pytest.mark.parametrize("stride", [1, 3])
def test_view_points_lie_on_what_the_views_see(stride):
    """Pixels back-projected at their depth lie on the sphere or the plane (closed-form depth); pixels without
    a measurement (depth 0) or below the opacity threshold give no point; the stride takes every stride-th
    pixel of each row and column."""
    W, H = 64, 48
    K = np.array([[60.0, 0, W / 2], [0, 60.0, H / 2], [0, 0, 1]])
    c, r = np.array([0.0, 0.0, 0.04]), 0.04
    Vs = [look_at(0.5 * np.array([math.cos(a), math.sin(a), 0.8]), c) for a in (0.3, 2.0, 4.1)]
    D = np.stack([sphere_plane_depth(V, K, W, H, c, r) for V in Vs]).astype(np.float32)
    A = np.ones_like(D)
    A[0, :, : W // 2] = 0.2  # half of the first view too transparent to count
    views = DepthViews(D, A, np.stack([K] * 3), np.stack(Vs), 0.0)
    P = view_points(views, stride=stride, min_alpha=0.5)
    on_sphere = np.abs(np.linalg.norm(P - c, axis=1) - r) < 1e-4
    on_plane = np.abs(P[:, 2]) < 1e-4
    assert np.all(on_sphere | on_plane) and on_sphere.any() and on_plane.any()
    rows, cols = len(range(0, H, stride)), len(range(0, W, stride))
    expected = sum(int(((D[v, ::stride, ::stride] > 0) & (A[v, ::stride, ::stride] >= 0.5)).sum()) for v in range(3))
    assert len(P) == expected < 3 * rows * cols


def test_blended_pixels_are_the_blends_at_silhouettes_only():
    """A foreground strip (0.3) on a background (0.5), its two silhouette pixels blended (0.4, 0.46): those
    two are flagged, the strip's and the background's own edge pixels are not, nor a slope whose 3x3 range
    stays under twice the jump, nor a pixel without a measurement."""
    from point2act.fusion import blended_pixels

    d = np.full((12, 30), 0.5)
    d[:, 10:20] = 0.3
    d[:, 9], d[:, 20] = 0.4, 0.46
    d[0, 0] = 0.0
    got = blended_pixels(d, 0.02)
    want = np.zeros_like(got)
    want[:, [9, 20]] = True
    assert np.array_equal(got, want)
    slope = 0.3 + 0.019 * np.arange(30)[None, :] + np.zeros((12, 1))  # 3x3 range 0.038 < 0.04
    assert not blended_pixels(slope, 0.02).any()
    assert blended_pixels(slope, 0.018).any()  # where the range is over twice the jump, mid-slope pixels go


@pytest.mark.parametrize("seed", [0, 1])
def test_tsdf_fuse_leaves_no_surface_in_the_air_at_blended_silhouettes(seed):
    """The sphere on the plane with every silhouette blended as a radiance field's expected depth blends it
    (a random mix of the nearest and farthest depth around each depth edge, every view): the blends more
    than the truncation distance from both sides are not integrated, so few fused points lie in the air.
    (Measured: 5-6 % of the points more than 3 mm from the sphere and the plane, against 15-16 % with every
    blend integrated, and under 1 % more than a voxel off with exact depth.)"""
    from point2act.grasp.evaluate import degrade_depth

    W, H, voxel = 160, 120, 0.0025
    K = np.array([[150.0, 0, W / 2], [0, 150.0, H / 2], [0, 0, 1]])
    c, r = np.array([0.0, 0.0, 0.04]), 0.04
    views, depths = [], []
    for k in range(12):
        az = 2 * math.pi * k / 12
        el = math.radians(35 + 20 * (k % 2))
        eye = 0.5 * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        views.append(look_at(eye, c))
        depths.append(sphere_plane_depth(views[-1], K, W, H, c, r))
    blended = degrade_depth(np.stack(depths), seed=seed, noise=0.0, floater_every=0)
    assert (np.abs(blended - np.stack(depths)) > 0.01).sum() > 1000  # the silhouettes are blended
    pts = tsdf_fuse(DepthViews(blended, None, np.stack([K] * 12), np.stack(views)), center=c, side=0.2, voxel=voxel)
    err = np.minimum(np.abs(np.linalg.norm(pts - c, axis=1) - r), np.abs(pts[:, 2]))
    assert len(pts) > 1000 and (err > 0.003).mean() < 0.08, (err > 0.003).mean()
    assert err.max() < 0.01  # a blend kept lies within the truncation distance (1 cm) of a surface


def test_spread_is_wide_in_fog_and_view_points_keep_what_is_sharply_placed():
    """Left half of the view: a diffuse slab, ten faint layers 5 cm apart (z = 1 to 1.45, overlapping Gaussians of
    opacity 0.02: each layer stops about a third of the light that reaches it); right half: one opaque layer at
    z = 2. No faint layer stops half of what reaches it, so after the slab's median at least one more layer must
    pass before the composited opacity reaches 0.75: its spread is at least a layer's spacing; the opaque layer
    stops the ray at once (spread 0). ``view_points`` with a ``max_spread``
    under the spacing keeps the opaque layer's pixels and drops the slab's."""
    g = torch.linspace(-1.2, 1.2, 97)
    yy, xx = torch.meshgrid(g, g, indexing="ij")
    grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], -1)
    layers = [torch.cat([grid[grid[:, 0] < 0], torch.full((int((grid[:, 0] < 0).sum()), 1), z)], 1)
              for z in np.arange(1.0, 1.46, 0.05)]
    slab = torch.cat([ly * torch.tensor([ly[0, 2].item() / 2, ly[0, 2].item() / 2, 1.0]) for ly in layers])
    back = torch.cat([grid[grid[:, 0] > 0], torch.full((int((grid[:, 0] > 0).sum()), 1), 2.0)], 1)
    means = torch.cat([slab, back])
    N = means.shape[0]
    opac = torch.cat([torch.full((len(slab),), 0.02), torch.full((len(back),), 0.99)])
    quats, scales = torch.tensor([[1.0, 0, 0, 0]]).repeat(N, 1), torch.full((N, 3), 0.02)
    K = torch.tensor([[40.0, 0, 32], [0, 40.0, 24], [0, 0, 1]])
    med, spread = render_median_depth(Splats(means, quats, scales, opac), Views.one_size(torch.eye(4)[None], K[None], 64, 48))
    right, left = (slice(8, -8), slice(40, 56)), (slice(8, -8), slice(8, 24))
    assert (med[left] >= 1.0).all() and (med[left] <= 1.45).all()  # the slab's median lies inside it
    assert float(spread[left].min()) >= 0.05 - 1e-6
    np.testing.assert_allclose(med[right], 2.0, atol=1e-5)
    np.testing.assert_allclose(spread[right], 0.0, atol=1e-6)
    views = DepthViews(med[None].astype(np.float32), np.ones((1, 48, 64), np.float32), K.numpy()[None].astype(np.float64),
                       np.eye(4)[None], 0.0, None, spread[None])
    every, sharp = view_points(views, stride=1), view_points(views, stride=1, max_spread=0.03)
    assert (every[:, 2] < 1.5).any() and len(sharp) < len(every)
    np.testing.assert_allclose(sharp[:, 2], 2.0, atol=1e-5)  # only the opaque layer is left


@pytest.mark.parametrize("seed", [0, 1])
def test_deferred_relevancy_reads_the_whole_renders_bits(seed):
    """A channel's relevancy rendered only in the tiles read (DeferredRelevancy) gives, at every pixel read, the
    bits of the whole fusion-view render (relevancy_in_fusion_views), for views of two sizes (zero-padded), pixels
    outside a view's own size included; so does view_relevancy on either."""
    from point2act.fusion import DeferredRelevancy, FusionViews, relevancy_at, relevancy_in_fusion_views
    from point2act.render._testing import SceneSpec, random_scene

    N, W, H = 800, 53, 37
    s = random_scene(SceneSpec(N, W, H, C=3, seed=seed, dtype=torch.float32, scale=0.05))
    q = s["quats"] / s["quats"].norm(dim=-1, keepdim=True)
    sizes = [[H, W], [H - 9, W - 14], [H, W]]
    views = FusionViews(s["means"].numpy(), q.numpy(), s["scales"].numpy(), s["opacities"].numpy(),
                        s["viewmats"].numpy(), s["Ks"].numpy(), sizes, 1e-3)
    rng = np.random.default_rng(seed)
    alphas = rng.uniform(0.0, 1.0, (3, H, W)).astype(np.float32)
    relevancy = rng.random(N).astype(np.float32)
    full = relevancy_in_fusion_views(views, alphas, relevancy)
    assert full.shape == (3, H, W) and np.count_nonzero(full) > 0
    deferred = DeferredRelevancy(views, alphas, relevancy)
    pixels = [(rng.integers(-2, H + 2, 40), rng.integers(-2, W + 2, 40)) for _ in range(3)]
    pixels[2] = (np.zeros(0, np.int64), np.zeros(0, np.int64))  # a view nothing is read in
    for got, want in zip(relevancy_at(deferred, pixels), relevancy_at(full, pixels)):
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    # view_relevancy over points on the views' depth maps
    D = rng.uniform(0.8, 1.2, (3, H, W)).astype(np.float32)
    K0, V0 = views.Ks[0].astype(np.float64), views.viewmats[0].astype(np.float64)
    i, j = rng.integers(0, H, 200), rng.integers(0, W, 200)
    z = D[0, i, j].astype(np.float64)
    cam = np.stack([(j + 0.5 - K0[0, 2]) / K0[0, 0] * z, (i + 0.5 - K0[1, 2]) / K0[1, 1] * z, z], 1)
    pts = (cam - V0[:3, 3]) @ V0[:3, :3]
    a = view_relevancy(DepthViews(D, alphas, views.Ks, views.viewmats, 0.0, full), pts, tol=0.05)
    b = view_relevancy(DepthViews(D, alphas, views.Ks, views.viewmats, 0.0, deferred), pts, tol=0.05)
    assert np.isfinite(a).sum() > 100
    np.testing.assert_array_equal(a, b)
