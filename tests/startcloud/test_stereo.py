"""point2act.startcloud.stereo against closed forms: a ray-cast textured ground plane and box (numpy only) seen by
a ring of posed pinhole cameras; the stereo points must lie on the true surfaces and carry their colours."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.startcloud.stereo import MIN_BASELINE_RATIO, StereoCloud, choose_pairs, scene_depths, stereo_points

W, H = 200, 150
F = 170.0
BOX = ((-0.2, -0.15, 0.0), (0.2, 0.15, 0.25))
BAR = ((-0.04, -0.3, 0.31), (0.04, 0.3, 0.39))
"""A thin part: an 8 cm square bar (about 9 pixels across, a pan's handle in a 256-pixel view) floating
above the box. (A 4 cm bar, 4.5 pixels, gets no points: SGBM's 5 x 5 window always straddles its edges.)"""
BOXES = (BOX, BAR)
FLOOR = 1.0
"""The floor is the square [-FLOOR, FLOOR]^2 of z = 0; rays that miss everything see a flat grey."""


def _look_at(eye, target) -> np.ndarray:  # [4, 4] world-to-camera, OpenCV axes, z up
    eye, target = np.asarray(eye, dtype=np.float64), np.asarray(target, dtype=np.float64)
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    V = np.eye(4)
    V[:3, :3] = np.stack([x, np.cross(z, x), z])
    V[:3, 3] = -V[:3, :3] @ eye
    return V


def _texture(seed: int, n: int) -> np.ndarray:
    """Random RGB values [n, n, 3] in [0.1, 0.9], sampled bilinearly (a smooth texture SGBM can match)."""
    return 0.1 + 0.8 * np.random.default_rng(seed).random((n, n, 3))


def _sample(tex: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup of ``tex`` [n, n, 3] at u, v in [0, 1] (any shape) -> [..., 3]."""
    n = tex.shape[0]
    x, y = np.clip(u, 0, 1) * (n - 1), np.clip(v, 0, 1) * (n - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), n - 2), np.minimum(np.floor(y).astype(int), n - 2)
    ax, ay = (x - x0)[..., None], (y - y0)[..., None]
    return ((tex[y0, x0] * (1 - ax) + tex[y0, x0 + 1] * ax) * (1 - ay)
            + (tex[y0 + 1, x0] * (1 - ax) + tex[y0 + 1, x0 + 1] * ax) * ay)


def _render(V: np.ndarray, K: np.ndarray, textured: bool = True, with_depth: bool = False):
    """Ray cast the floor and the box (each box face its own texture) -> [H, W, 3] uint8, and with
    ``with_depth`` the true camera z [H, W] (inf where nothing is hit). Untextured: each object one flat
    colour (only the silhouettes show)."""
    R, eye = V[:3, :3], -V[:3, :3].T @ V[:3, 3]
    j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    d = np.stack([(j - K[0, 2]) / K[0, 0], (i - K[1, 2]) / K[1, 1], np.ones_like(j)], -1) @ R  # world dirs
    img = np.full((H, W, 3), 0.5)
    best = np.full((H, W), np.inf)
    flat = np.array([[0.6, 0.45, 0.3], [0.3, 0.4, 0.7], [0.8, 0.2, 0.2]])  # floor, box, bar
    with np.errstate(divide="ignore", invalid="ignore"):
        tf = -eye[2] / d[..., 2]
    p = eye + tf[..., None] * d
    ok = (tf > 0) & (np.abs(p[..., 0]) < FLOOR) & (np.abs(p[..., 1]) < FLOOR)
    img[ok] = _sample(_texture(1, 120), (p[ok, 0] + FLOOR) / (2 * FLOOR), (p[ok, 1] + FLOOR) / (2 * FLOOR)) \
        if textured else flat[0]
    best[ok] = tf[ok]
    for b, (lo, hi) in enumerate(BOXES):
        lo, hi = np.asarray(lo), np.asarray(hi)
        for face, (axis, plane) in enumerate((a, pl) for a in range(3) for pl in (lo[a], hi[a])):
            with np.errstate(divide="ignore", invalid="ignore"):
                tb = (plane - eye[axis]) / d[..., axis]
            p = eye + tb[..., None] * d
            o1, o2 = [a for a in range(3) if a != axis]
            u, v = (p[..., o1] - lo[o1]) / (hi[o1] - lo[o1]), (p[..., o2] - lo[o2]) / (hi[o2] - lo[o2])
            inside = (tb > 0) & (tb < best) & (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
            tex = _texture(10 + 6 * b + face, 24)
            img[inside] = _sample(tex, u[inside], v[inside]) if textured else flat[1 + b]
            best[inside] = tb[inside]
    img8 = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    return (img8, best) if with_depth else img8


def _colour_at(p: np.ndarray) -> np.ndarray:
    """True RGB [M, 3] (0..255) of surface points [M, 3]: the box face the point is on, else the floor."""
    out = 255 * _sample(_texture(1, 120), (p[:, 0] + FLOOR) / (2 * FLOOR), (p[:, 1] + FLOOR) / (2 * FLOOR))
    for b, (lo, hi) in enumerate(BOXES):
        lo, hi = np.asarray(lo), np.asarray(hi)
        for face, (axis, plane) in enumerate((a, pl) for a in range(3) for pl in (lo[a], hi[a])):
            if b == 0 and face == 4:  # the box's bottom face lies on the floor
                continue
            o1, o2 = [a for a in range(3) if a != axis]
            u, v = (p[:, o1] - lo[o1]) / (hi[o1] - lo[o1]), (p[:, o2] - lo[o2]) / (hi[o2] - lo[o2])
            on = (np.abs(p[:, axis] - plane) < 0.01) & (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1)
            out[on] = 255 * _sample(_texture(10 + 6 * b + face, 24), u[on], v[on])
    return out


def _distance_to_box(p: np.ndarray, box: tuple) -> np.ndarray:  # [M]
    lo, hi = (np.asarray(b, dtype=np.float64) for b in box)
    q = np.maximum(lo - p, 0) + np.maximum(p - hi, 0)
    inside = np.min(np.minimum(p - lo, hi - p), axis=1)
    return np.where((q > 0).any(1), np.linalg.norm(q, axis=1), np.maximum(inside, 0))


def _distance_to_scene(p: np.ndarray) -> np.ndarray:
    """Distance of points [M, 3] to the floor square, the box or the bar, whichever is nearest."""
    off = np.maximum(np.abs(p[:, :2]) - FLOOR, 0)
    d_floor = np.sqrt(p[:, 2] ** 2 + np.sum(off**2, axis=1))
    return np.min([d_floor] + [_distance_to_box(p, box) for box in BOXES], axis=0)


def _ring(n: int, radius: float = 1.3) -> np.ndarray:  # [n, 4, 4]
    return np.stack([_look_at([radius * np.cos(2 * np.pi * k / n), radius * np.sin(2 * np.pi * k / n),
                               0.85 + 0.1 * (k % 2)], [0.0, 0.0, 0.1]) for k in range(n)])


@pytest.fixture(scope="module")
def scene():
    K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]])
    vms = _ring(16)
    images = [_render(V, K) for V in vms]
    Ks = np.repeat(K[None], len(vms), axis=0)
    return images, Ks, vms, stereo_points(images, Ks, vms)


def test_points_lie_on_the_surfaces(scene):
    images, Ks, vms, cloud = scene
    assert isinstance(cloud, StereoCloud) and cloud.pairs >= 8, cloud.summary()
    assert len(cloud) > 2000, cloud.summary()
    assert cloud.points.shape == (len(cloud), 3) and cloud.colors.shape == (len(cloud), 3)
    assert cloud.colors.dtype == np.uint8
    eyes = -np.einsum("cji,cj->ci", vms[:, :3, :3], vms[:, :3, 3])
    cam_dist = float(np.median(np.linalg.norm(eyes, axis=1)))  # ~1.55 m: 1 % is 1.7 pixel footprints
    dist = _distance_to_scene(cloud.points)
    assert np.mean(dist < 0.01 * cam_dist) >= 0.95, (np.percentile(dist, [50, 90, 95, 99]), cloud.summary())
    # both the floor and the box are covered: the box's walls and top, not only the floor around it
    on_box = (dist < 0.01 * cam_dist) & (cloud.points[:, 2] > 0.02)
    assert on_box.sum() > 300, on_box.sum()
    assert ((cloud.points[on_box, 2] > 0.23) & (cloud.points[on_box, 2] < 0.27)).sum() > 50  # the top face
    # the thin bar gets points on it, and few beside it
    d_bar = _distance_to_box(cloud.points, BAR)
    assert (d_bar < 0.01).sum() > 100 and ((d_bar >= 0.01) & (d_bar < 0.05)).sum() < (d_bar < 0.01).sum(), \
        ((d_bar < 0.01).sum(), ((d_bar >= 0.01) & (d_bar < 0.05)).sum())
    # the colours are the texture's at the points (within the error of a point's position)
    err = np.abs(cloud.colors.astype(np.float64) - _colour_at(cloud.points)).mean(1)
    assert np.median(err) < 25, np.percentile(err, [50, 90])


def test_view_depth_maps_are_the_true_depths(scene):
    """Each view's stereo depth map holds the confirmed points at their pixels: its depths are the ray-cast
    scene's camera z there (the rays' parameter is camera z), it covers the textured surfaces widely, and the
    thin bar's pixels get depths too."""
    images, Ks, vms, cloud = scene
    assert len(cloud.depths) == len(images)
    errs, covered, bar_px = [], [], 0
    for V, K, depth in zip(vms, Ks, cloud.depths):
        assert depth.shape == images[0].shape[:2] and depth.dtype == np.float32
        _img, true = _render(V, K, with_depth=True)
        got = depth > 0
        covered.append(got.mean())
        t = true[got]
        errs.append(np.where(np.isfinite(t), np.abs(depth[got] - np.where(np.isfinite(t), t, 1.0)) / t, np.inf))
        R, eye = V[:3, :3], -V[:3, :3].T @ V[:3, 3]
        j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
        d = np.stack([(j - K[0, 2]) / K[0, 0], (i - K[1, 2]) / K[1, 1], np.ones_like(j)], -1) @ R
        p = eye + true[..., None] * d
        bar_px += int((got & np.isfinite(true) & (_distance_to_box(p.reshape(-1, 3), BAR).reshape(H, W) < 1e-3)).sum())
    err = np.concatenate(errs)
    assert np.mean(err < 0.02) >= 0.95, np.percentile(err, [50, 90, 95, 99])
    assert np.median(covered) > 0.2, covered
    assert bar_px > 100, bar_px


def _face_interiors(p: np.ndarray) -> tuple:
    """Points [M, 3] on the box's top face and on the floor, at least 3 and 10 cm from any edge."""
    top = (np.abs(p[:, 0]) < 0.17) & (np.abs(p[:, 1]) < 0.12) & (np.abs(p[:, 2] - 0.25) < 0.02)
    r = np.abs(p[:, :2]).max(1)
    return int(top.sum()), int(((r > 0.3) & (r < 0.85) & (np.abs(p[:, 2]) < 0.02)).sum())


def test_textureless_scene_gives_few_points(scene):
    """Flat-coloured objects: nothing inside the faces, only along the silhouettes, on the surfaces."""
    _, Ks, vms, textured = scene
    images = [_render(V, Ks[0], textured=False) for V in vms]
    cloud = stereo_points(images, Ks, vms)
    assert cloud.pairs >= 8 and len(cloud) < 0.1 * len(textured), (cloud.summary(), textured.summary())
    top, floor = _face_interiors(textured.points)
    assert top > 300 and floor > 5000, (top, floor)
    assert _face_interiors(cloud.points) == (0, 0)
    assert np.mean(_distance_to_scene(cloud.points) < 0.03) >= 0.9
    one = [np.full_like(im, 128) for im in images]  # one colour everywhere
    assert len(stereo_points(one, Ks, vms)) == 0


def test_deterministic(scene):
    images, Ks, vms, cloud = scene
    again = stereo_points(images, Ks, vms)
    assert np.array_equal(cloud.points, again.points) and np.array_equal(cloud.colors, again.colors)
    assert cloud.points.tobytes() == again.points.tobytes()


def test_the_same_points_for_any_thread_count(scene, monkeypatch):
    """The cross-pair check's queries run on the budget's threads (point2act.threads.process_threads): each
    point's query is its own, so 1, 2 and 3 threads keep the same points."""
    from point2act import threads

    images, Ks, vms, cloud = scene
    for n in (1, 2, 3):
        monkeypatch.setattr(threads, "process_threads", lambda n=n: n)
        again = stereo_points(images, Ks, vms)
        assert cloud.points.tobytes() == again.points.tobytes()


def test_a_view_beyond_the_pixel_budget_is_matched_at_a_whole_divisor(scene):
    """Views of twice the side (each pixel repeated 2 x 2, the intrinsics doubled) with a budget of the original
    views' pixels are matched at divisor 2, which gives back the original views exactly: the same points and
    colours, bit for bit; each view's depth map is drawn at its own, doubled size, each point at the pixel it
    projects to (at least as many pixels as at the original size, where points share a pixel less often)."""
    images, Ks, vms, cloud = scene
    big = [np.repeat(np.repeat(im, 2, axis=0), 2, axis=1) for im in images]
    Ks2 = np.diag([2.0, 2.0, 1.0]) @ Ks
    again = stereo_points(big, Ks2, vms, max_pixels=W * H)
    assert again.points.tobytes() == cloud.points.tobytes() and np.array_equal(again.colors, cloud.colors)
    assert again.pairs == cloud.pairs
    for small, large in zip(cloud.depths, again.depths):
        assert large.shape == (2 * H, 2 * W) and (large > 0).sum() >= (small > 0).sum() > 0
        # the same points' depths (some lose their pixel to a nearer point at one size, not the other)
        assert np.isin(small[small > 0], large[large > 0]).mean() > 0.9
    as_given = stereo_points(big[:4], Ks2[:4], vms[:4], max_pixels=None)  # no budget: matched at their own size
    assert as_given.depths[0].shape == (2 * H, 2 * W)


def test_max_points_is_respected(scene):
    images, Ks, vms, cloud = scene
    small = stereo_points(images, Ks, vms, max_points=1000)
    assert 500 <= len(small) <= 1000, small.summary()
    assert np.mean(_distance_to_scene(small.points) < 0.015) >= 0.95
    # one point per voxel: the kept points are spread over the cloud, not a clump of its first pair
    assert np.ptp(small.points[:, 0]) > 0.8 * np.ptp(cloud.points[:, 0])


def test_pairs_respect_the_window():
    vms = _ring(16)
    depth = scene_depths(vms)
    centre = np.array([0.0, 0.0, 0.1])
    eyes = -np.einsum("cji,cj->ci", vms[:, :3, :3], vms[:, :3, 3])
    # all axes meet near the centre
    assert np.allclose(depth, np.linalg.norm(eyes - centre, axis=1), rtol=0.05)
    pairs = choose_pairs(vms)
    assert len(pairs) >= 8 and all(i < j for i, j in pairs) and len(set(pairs)) == len(pairs)
    assert {i for p in pairs for i in p} == set(range(16))
    for i, j in pairs:
        ratio = np.linalg.norm(eyes[i] - eyes[j]) / depth[i]
        assert ratio >= MIN_BASELINE_RATIO
    # a ring of 4 cameras (90 degrees apart) has no admissible pair; one camera beside camera 0 pairs with it
    four = _ring(4)
    assert choose_pairs(four) == []
    eye0 = -four[0, :3, :3].T @ four[0, :3, 3]
    near = _look_at(eye0 + 0.2 * four[0, 0, :3], [0.0, 0.0, 0.1])  # 20 cm to camera 0's right
    assert choose_pairs(np.concatenate([four, near[None]])) == [(0, 4)]
    # a partner straight above (a vertical baseline) is refused: SGBM matches along rows
    above = _look_at(eye0 + 0.2 * np.array([0.0, 0.0, 1.0]), [0.0, 0.0, 0.1])
    assert choose_pairs(np.concatenate([four, above[None]])) == []
    # the caller's scene depths replace the estimate: at 100 m every baseline here is too short
    assert choose_pairs(vms, np.full(16, 100.0)) == []
    # a view without a partner is skipped by stereo_points: no pairs, no points
    K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]])
    cloud = stereo_points([_render(V, K) for V in four], np.repeat(K[None], 4, 0), four)
    assert cloud.pairs == 0 and len(cloud) == 0


def test_a_few_views_far_apart_pair_their_neighbours():
    """Eleven views in the ring, neighbours about half their scene depth apart (beyond any short-baseline
    window): each view still pairs with a neighbour (the axis angle is the bound), and the wide pairs' points,
    confirmed by a second pair, lie on the true surfaces."""
    K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]])
    vms = _ring(11)
    eyes = -np.einsum("cji,cj->ci", vms[:, :3, :3], vms[:, :3, 3])
    pairs = choose_pairs(vms)
    assert {i for p in pairs for i in p} == set(range(11))
    depth = scene_depths(vms)
    assert min(np.linalg.norm(eyes[i] - eyes[j]) / depth[i] for i, j in pairs) > 0.4
    cloud = stereo_points([_render(V, K) for V in vms], np.repeat(K[None], 11, 0), vms)
    assert cloud.pairs >= 6 and len(cloud) > 2000, cloud.summary()
    dist = _distance_to_scene(cloud.points)
    assert np.mean(dist < 0.015) >= 0.95, np.percentile(dist, [50, 90, 95, 99])
