"""point2act.startcloud.plane_sweep against closed forms: a ray-cast, faintly textured table (the plane z = Z0) with a
textured box on it, seen by an arc of posed pinhole cameras on one side (their mean up direction is not the
table's normal); the swept plane must be the table, the plane's depth must be the true depth of table pixels
and absent on the box."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.grasp.evaluate import look_at_viewmat as _look_at
from point2act.startcloud._plane_zncc_impl import zncc
from point2act.startcloud.plane_sweep import (MIN_SCORE, Compared, neighbours, plane_depths, plane_homography,
                                              plane_score, support_plane)

W, H = 160, 120
F = 140.0
Z0 = 0.05
"""The table's height (world z)."""
BOX = ((-0.12, -0.08, Z0), (0.12, 0.08, Z0 + 0.15))


def _noise(seed: int, n: int, contrast: float) -> np.ndarray:
    """Grey values [n, n] around 0.5, +- ``contrast``, smoothed over 2 cells."""
    a = np.random.default_rng(seed).random((n + 1, n + 1))
    a = 0.25 * (a[:-1, :-1] + a[1:, :-1] + a[:-1, 1:] + a[1:, 1:])
    return 0.5 + contrast * (a - 0.5) * 2


def _lookup(tex: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup of ``tex`` [n, n] at u, v in [0, 1]: a texture no finer than a pixel's footprint does
    not alias when each pixel is sampled by one ray."""
    n = tex.shape[0]
    x, y = np.clip(u, 0, 1) * (n - 1), np.clip(v, 0, 1) * (n - 1)
    x0, y0 = np.minimum(x.astype(int), n - 2), np.minimum(y.astype(int), n - 2)
    ax, ay = x - x0, y - y0
    return ((tex[y0, x0] * (1 - ax) + tex[y0, x0 + 1] * ax) * (1 - ay)
            + (tex[y0 + 1, x0] * (1 - ax) + tex[y0 + 1, x0 + 1] * ax) * ay)


def _render(V: np.ndarray, K: np.ndarray, box: bool = True, contrast: float = 0.06):
    """Ray cast the table (a 2 m square, grain of 1 cm cells, ``contrast`` around mid grey) and the box ->
    (grey image [H, W, 3] uint8, true z-depth [H, W], box mask [H, W])."""
    R, eye = V[:3, :3], -V[:3, :3].T @ V[:3, 3]
    j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    d = np.stack([(j - K[0, 2]) / K[0, 0], (i - K[1, 2]) / K[1, 1], np.ones_like(j)], -1) @ R
    img, best, on_box = np.full((H, W), 0.5), np.full((H, W), np.inf), np.zeros((H, W), bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (Z0 - eye[2]) / d[..., 2]
    p = eye + t[..., None] * d
    ok = (t > 0) & (np.abs(p[..., 0]) < 1) & (np.abs(p[..., 1]) < 1)
    img[ok] = _lookup(_noise(1, 200, contrast), (p[ok, 0] + 1) / 2, (p[ok, 1] + 1) / 2)
    best[ok] = t[ok]
    if box:
        lo, hi = np.asarray(BOX[0]), np.asarray(BOX[1])
        for face, (axis, level) in enumerate((a, b) for a in range(3) for b in (lo[a], hi[a])):
            with np.errstate(divide="ignore", invalid="ignore"):
                tb = (level - eye[axis]) / d[..., axis]
            q = eye + tb[..., None] * d
            o1, o2 = [a for a in range(3) if a != axis]
            u, v = (q[..., o1] - lo[o1]) / (hi[o1] - lo[o1]), (q[..., o2] - lo[o2]) / (hi[o2] - lo[o2])
            inside = (tb > 0) & (tb < best) & (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
            img[inside] = _lookup(_noise(10 + face, 30, 0.3), u[inside], v[inside])
            best[inside], on_box[inside] = tb[inside], True
    z = best * (d @ R[2])  # ray length per unit direction -> camera z (the direction's z is 1 in camera)
    g = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2), np.where(np.isfinite(best), z, 0.0), on_box


def _capture(box: bool = True, contrast: float = 0.06, views: int = 8):
    K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])
    Vs = []
    for k in range(views):
        a = np.radians(-70 + 140 * k / (views - 1))  # an arc on one side of the table
        Vs.append(_look_at([0.9 * np.cos(a), 0.9 * np.sin(a), 0.6], [0.0, 0.0, Z0 + 0.05]))
    Vs = np.stack(Vs)
    shots = [_render(V, K, box, contrast) for V in Vs]
    return [s[0] for s in shots], np.repeat(K[None], views, 0), Vs, [s[1] for s in shots], [s[2] for s in shots]


@pytest.fixture(scope="module")
def capture():
    return _capture()


def test_homography_maps_plane_points():
    """The plane's homography takes a plane point's pixel in one view to its pixel in the other."""
    K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])
    Va, Vb = _look_at([0.9, 0.0, 0.6], [0, 0, 0]), _look_at([0.5, 0.7, 0.5], [0, 0, 0])
    plane = np.array([0.1, -0.2, 1.0, -0.03])
    plane /= np.linalg.norm(plane[:3])
    rng = np.random.default_rng(0)
    xy = rng.uniform(-0.3, 0.3, (20, 2))
    pts = np.c_[xy, -(plane[3] + xy @ plane[:2]) / plane[2]]
    pix = lambda V: (lambda c: c[:, :2] / c[:, 2:])((pts @ V[:3, :3].T + V[:3, 3]) @ K.T)  # noqa: E731
    Hm = plane_homography(K, Va, K, Vb, plane)
    a = np.c_[pix(Va), np.ones(20)] @ Hm.T
    np.testing.assert_allclose(a[:, :2] / a[:, 2:], pix(Vb), atol=1e-8)


def test_zncc_closed_form():
    """ZNCC is 1 for an affine copy, -1 for an inverted one, 0 for a flat window."""
    a = np.random.default_rng(3).random((20, 20)).astype(np.float32) * 100
    c, std = zncc(a, 2 * a + 5)
    assert np.allclose(c[3:-3, 3:-3], 1.0, atol=1e-3) and (std[3:-3, 3:-3] > 10).all()
    assert np.allclose(zncc(a, -a)[0][3:-3, 3:-3], -1.0, atol=1e-3)
    assert np.allclose(zncc(np.full_like(a, 7.0), a)[0], 0.0)


def test_neighbours_are_wide_and_within_the_axis_bound(capture):
    _, _, Vs, _, _ = capture
    nb = neighbours(Vs)
    assert all(len(n) == 2 and i not in n for i, n in enumerate(nb))
    axes = Vs[:, 2, :3]
    assert all(axes[i] @ axes[j] >= np.cos(np.radians(40.0)) - 1e-9 for i, n in enumerate(nb) for j in n)


def test_the_true_plane_scores_best(capture):
    """The score peaks at the true plane: planes 2 cm above or below and tilted by 5 degrees score less."""
    images, Ks, Vs, _, _ = capture
    greys = [im[..., 0].astype(np.float32) for im in images]
    views = Compared.of(greys, Ks, Vs, neighbours(Vs))
    true = plane_score(views, np.array([0, 0, 1.0, -Z0]))
    t = np.radians(5)
    for wrong in ([0, 0, 1.0, -Z0 - 0.02], [0, 0, 1.0, -Z0 + 0.02], [np.sin(t), 0, np.cos(t), -Z0 * np.cos(t)]):
        assert plane_score(views, np.array(wrong)) < true - 0.1


def test_support_plane_finds_the_table(capture):
    """From the photos alone: the normal within 1 degree, the height within 3 mm (a pixel's footprint is
    about 7 mm), oriented towards the cameras."""
    images, Ks, Vs, _, _ = capture
    found = support_plane(images, Ks, Vs)
    assert found is not None and found.score > MIN_SCORE
    n, d = found.plane[:3], found.plane[3]
    assert np.degrees(np.arccos(min(1.0, n[2]))) < 1.0
    assert abs(-d / n[2] - Z0) < 0.003


def test_plane_depths_on_the_table_only(capture):
    """The plane's pixels get its depth (within 3 mm of the truth); none of the box's pixels get a depth,
    though its foot touches the table; most of the table's textured pixels do. Beyond the table's outer edge
    (nothing there) a window's half-width of pixels gets the plane's depth: its window matches there."""
    images, Ks, Vs, depths, boxes = capture
    got = plane_depths(images, Ks, Vs, np.array([0, 0, 1.0, -Z0]))
    table = sum(int(((d > 0) & ~b).sum()) for d, b in zip(depths, boxes))
    kept = sum(int(((g > 0) & ~b).sum()) for g, b in zip(got, boxes))
    assert kept > 0.4 * table
    assert sum(int(((g > 0) & b).sum()) for g, b in zip(got, boxes)) == 0
    err = np.concatenate([np.abs(g - d)[(g > 0) & (d > 0)] for g, d in zip(got, depths)])
    assert np.max(err) < 0.003
    beyond = sum(int(((g > 0) & (d == 0)).sum()) for g, d in zip(got, depths))
    assert beyond < 0.02 * kept


def test_a_view_beyond_the_pixel_budget_is_compared_at_a_whole_divisor(capture):
    """Views of twice the side (each pixel repeated 2 x 2, the intrinsics doubled) with a budget of the original
    views' pixels are compared at divisor 2, which gives back the original views: the same pixels show the plane,
    each in its 2 x 2 block, each at the plane's depth along its own ray."""
    from point2act.startcloud.plane_sweep import _front

    images, Ks, Vs, _, _ = capture
    plane = np.array([0, 0, 1.0, -Z0])
    small = plane_depths(images, Ks, Vs, plane)
    big = [np.repeat(np.repeat(im, 2, axis=0), 2, axis=1) for im in images]
    Ks2 = np.diag([2.0, 2.0, 1.0]) @ Ks
    got = plane_depths(big, Ks2, Vs, plane, max_pixels=W * H)
    for s, g, K, V in zip(small, got, Ks2, Vs):
        shows = np.repeat(np.repeat(s > 0, 2, axis=0), 2, axis=1)
        assert g.shape == (2 * H, 2 * W) and shows.any() and np.array_equal(g > 0, shows)
        z = _front(K, V, plane, (2 * W, 2 * H))
        assert np.array_equal(g[shows], z[shows].astype(np.float32))


def test_flat_table_gets_no_depth():
    """A table without texture is explained by every height: no pixel gets the plane's depth."""
    images, Ks, Vs, _, _ = _capture(box=False, contrast=0.0, views=6)
    got = plane_depths(images, Ks, Vs, np.array([0, 0, 1.0, -Z0]))
    assert all(int((g > 0).sum()) == 0 for g in got)
