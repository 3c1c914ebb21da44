"""The views' consensus (point2act.where.consensus) against closed forms: a plane seen from a ring of
cameras, whose median depth, lifts and triangulations are known exactly. The region a place marks is
tests/where/test_consensus_region.py; evidence counted once, through a narrow lens,
tests/where/test_consensus_counted_once.py."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.where.consensus import (
    ViewAnswers,
    beta_confidence,
    consensus,
    lift,
    median_depth_map,
    triangulate,
)
from point2act.grasp.evaluate import look_at_viewmat

W, H, F = 96, 72, 80.0
SIGMA = 2.4  # 0.02 x the image diagonal, as the heatmaps


def look_at(eye, target=(0.0, 0.0, 0.0)):
    """World -> camera (OpenCV: x right, y down, z forward)."""
    return look_at_viewmat(eye, target)


K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])


def plane_depth(vm, box=None):
    """Median depth of the plane z = 0 (and, optionally, an opaque axis-aligned box (lo, hi) on it)."""
    jj, ii = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    d_cam = np.stack([(jj - K[0, 2]) / F, (ii - K[1, 2]) / F, np.ones_like(jj)], -1)
    R, t = vm[:3, :3], vm[:3, 3]
    c = -R.T @ t
    d = d_cam @ R  # world directions with camera z = 1
    s = -c[2] / d[..., 2]
    depth = np.where(s > 0, s, np.nan)
    if box is not None:
        lo, hi = (np.asarray(b, dtype=np.float64) for b in box)
        with np.errstate(divide="ignore", invalid="ignore"):
            t0 = (lo - c) / d
            t1 = (hi - c) / d
        tmin = np.nanmax(np.minimum(t0, t1), -1)
        tmax = np.nanmin(np.maximum(t0, t1), -1)
        hit = (tmax >= tmin) & (tmax > 0)
        depth = np.where(hit & ((tmin < depth) | ~np.isfinite(depth)), tmin, depth)
    return depth


def ring(n, radius=1.0, height=0.8, phase=0.0):
    return [look_at((radius * np.cos(a), radius * np.sin(a), height)) for a in phase + np.linspace(0, 2 * np.pi, n, endpoint=False)]


def view(vm, pts, box=None, vid=0):
    return ViewAnswers(vm, K, np.asarray(pts, dtype=np.float64).reshape(-1, 2), SIGMA, plane_depth(vm, box), view_id=vid)


def proj(vm, X):
    Xc = vm[:3, :3] @ np.asarray(X, dtype=np.float64) + vm[:3, 3]
    return (K[:2, :2] @ (Xc[:2] / Xc[2])) + K[:2, 2]


@pytest.mark.parametrize("order", ["index", "depth", "depth_with_swaps"])
def test_median_depth_map_matches_dense(order):
    """Each pixel's entries in Gaussian-index order, in depth order (as the rasterizer composites them), or
    in depth order with a few neighbours swapped (the rasterizer's ties): the dense cumulative-opacity
    answer every time."""
    rng = np.random.default_rng(0)
    h, w, n = 5, 7, 30
    z = rng.uniform(1, 3, n)
    z[:4] = z[4]  # ties
    dense = np.zeros((h * w, n))
    for p in range(h * w):
        idx = rng.choice(n, 6, replace=False)
        dense[p, idx] = rng.uniform(0, 0.3, 6)
    crow = np.concatenate([[0], np.cumsum((dense > 0).sum(1))])
    rows = [np.flatnonzero(r) for r in dense]
    if order != "index":
        rows = [r[np.argsort(z[r], kind="stable")] for r in rows]
    if order == "depth_with_swaps":
        for r in rows[::4]:
            r[[1, 2]] = r[[2, 1]]
    col = np.concatenate(rows)
    val = np.concatenate([dense[p, r] for p, r in enumerate(rows)])
    got = median_depth_map(crow, col, val, z, h, w).reshape(-1)
    for p in range(h * w):
        o = np.argsort(z)
        cs = np.cumsum(dense[p, o])
        k = np.flatnonzero(cs >= 0.5)
        want = z[o][k[0]] if len(k) else np.nan
        assert (np.isnan(want) and np.isnan(got[p])) or got[p] == pytest.approx(want)


def test_lift_and_triangulate_are_exact_on_a_plane():
    X = np.array([0.05, -0.03, 0.0])
    vms = ring(5)
    for vm in vms:
        uv = proj(vm, X)
        assert np.allclose(lift(view(vm, [uv]), uv[None])[0], X, atol=2e-2)  # pixel-quantised depth
    T = triangulate([view(vm, []) for vm in vms], [proj(vm, X) for vm in vms])
    assert np.allclose(T, X, atol=1e-9)


def test_beta_confidence_closed_form():
    for v1 in (0, 1, 3, 10):
        assert beta_confidence(v1, 0) == pytest.approx(1 - 0.5 ** (v1 + 1))
    assert beta_confidence(7, 7) == pytest.approx(0.5)
    assert beta_confidence(12, 8) < beta_confidence(16, 4) < beta_confidence(20, 0)
    # the distribution's own survival function (scipy.stats), at fractional votes too
    from scipy.stats import beta

    for v1, v2 in ((0.0, 0.0), (3.2, 1.7), (12.0, 8.0), (9.99, 0.01), (30.5, 2.25)):
        assert beta_confidence(v1, v2) == pytest.approx(float(beta.sf(0.5, v1 + 1, v2 + 1)), rel=1e-12, abs=1e-15)


def test_incomplete_beta_half_against_scipy():
    """The continued fraction against scipy.special.betainc over the votes a consensus gives (fractional, up to
    thousands of views), on both sides of a = b."""
    from scipy.special import betainc

    from point2act.where.consensus import incomplete_beta_half

    grid = np.r_[np.linspace(1, 3, 21), np.linspace(3, 60, 39), [100.0, 250.5, 999.25, 2000.0]]
    for a in grid:
        for b in grid:
            assert incomplete_beta_half(a, b) == pytest.approx(float(betainc(a, b, 0.5)), rel=1e-12, abs=1e-13)
    assert incomplete_beta_half(4.0, 4.0) == 0.5
    assert incomplete_beta_half(0.25, 0.75) == pytest.approx(float(betainc(0.25, 0.75, 0.5)), rel=1e-12)
    for bad in ((0.0, 1.0), (1.0, -2.0), (float("nan"), 1.0), (1.0, float("inf"))):
        with pytest.raises(ValueError, match="a, b > 0"):
            incomplete_beta_half(*bad)


@pytest.mark.parametrize("wrong", [0, 3, 6])
def test_majority_place_wins_and_is_triangulated(wrong):
    target, confuser = np.array([0.02, 0.01, 0.0]), np.array([-0.25, 0.2, 0.0])
    vms = ring(16)
    rng = np.random.default_rng(wrong)
    bad = set(rng.choice(16, wrong, replace=False).tolist())
    views = [view(vm, [proj(vm, confuser if k in bad else target) + rng.normal(0, 0.7, 2)], vid=k)
             for k, vm in enumerate(vms)]
    c = consensus(views)
    assert np.linalg.norm(c.best.point - target) < 0.01
    assert c.best.triangulated
    assert c.best.votes == pytest.approx(16 - wrong, abs=1.5)
    assert set(c.best.views) == set(range(16)) - bad
    if wrong:
        assert np.linalg.norm(c.places[1].point - confuser) < 0.02
        assert c.confidence == pytest.approx(beta_confidence(c.places[0].votes, c.places[1].votes), abs=1e-3)
    assert c.confidence > 0.95 if wrong <= 3 else c.confidence < 0.95


def test_even_split_is_not_confident():
    a, b = np.array([0.1, 0.0, 0.0]), np.array([-0.2, 0.1, 0.0])
    views = [view(vm, [proj(vm, a if k % 2 else b)], vid=k) for k, vm in enumerate(ring(12))]
    c = consensus(views)
    assert len(c.places) == 2
    assert 0.4 < c.confidence < 0.6
    assert c.share(0) == pytest.approx(0.5, abs=0.05)


def test_rim_answers_form_one_place_on_the_rim():
    """A region target: each view points at a different spot of a ring; the ring is one place and the
    action point is on it (never the triangulation of spread rays, which would be the ring's centre)."""
    centre, r = np.array([0.0, 0.0, 0.0]), 0.06
    vms = ring(20)
    rng = np.random.default_rng(1)
    angles = rng.uniform(0, 2 * np.pi, 20)
    views = []
    for k, vm in enumerate(vms):
        pts = [proj(vm, centre + r * np.array([np.cos(angles[k]), np.sin(angles[k]), 0.0]))]
        if k < 6:  # a same-spot confuser in 6 views (on top of it)
            pts = [proj(vm, np.array([0.3, -0.2, 0.0]))]
        views.append(view(vm, pts, vid=k))
    c = consensus(views)
    d = np.linalg.norm(c.best.point[:2] - centre[:2])
    assert abs(d - r) < 0.012 and abs(c.best.point[2]) < 0.012, c.best.point
    assert c.best.votes == pytest.approx(14, abs=1.0)  # every rim view, once
    assert c.best.votes > c.places[1].votes
    # the views that point at the place are counted out of those that see it (the demo once printed
    # "19 of 17": seen was counted at one spot of the place, the supporters over all of it)
    assert len(c.best.views) <= c.best.seen <= 20
    assert c.best.seen >= 14


def test_rim_point_is_on_the_rim_not_where_its_rays_cross(tmp_path):
    """A synthetic mug rim (``point2act.synth``, its oracle's answers, its true depths as the field's
    surface). Each view points at the rim spot nearest the middle of what it sees of the ring, so the
    answers of views at like elevations cross on the mug's axis, inside the mug, where more views meet
    than at any spot of the ring: a rule that takes the point most views meet at puts the action point
    there, about 4 cm from the rim (the test split's rims, ``test5_rim_s5002``). The answers' own surface points are confirmed by the
    views (three or more meet on each from directions that fix it), and the action point is one of them."""
    import json

    import cv2
    from scipy.spatial import cKDTree

    from point2act.synth import SynthConfig, generate_scene

    sd = generate_scene(tmp_path / "rim", SynthConfig(seed=12, target="mug_rim", width=128, height=96,
                                                      num_seed_points=200, num_gt_points=500)).out_dir
    T = json.loads((sd / "transforms.json").read_text())
    answers = json.loads((sd / "points" / "oracle.json").read_text())["points"]
    K_ = np.array([[T["fl_x"], 0, T["cx"]], [0, T["fl_y"], T["cy"]], [0, 0, 1.0]])
    views = []
    for k, f in enumerate(T["frames"]):
        M = np.array(f["transform_matrix"], dtype=np.float64)
        M[:3, 1:3] *= -1.0  # OpenGL -> OpenCV camera axes
        d = cv2.imread(str(sd / f["true_depth_path"]), cv2.IMREAD_UNCHANGED).astype(np.float64) / 1000.0
        d[d == 0] = np.nan
        pts = np.asarray(answers.get(f["file_path"], []), dtype=np.float64).reshape(-1, 2)
        views.append(ViewAnswers(np.linalg.inv(M), K_, pts, 0.02 * np.hypot(T["w"], T["h"]), d, view_id=k))
    rim = cKDTree(np.load(sd / "ground_truth_points.npy"))
    c = consensus(views)
    assert rim.query(c.best.point)[0] < 0.01, c.best.point
    assert c.best.votes > 0.9 * sum(1 for v in views if len(v.points))


def test_two_rays_need_the_field():
    """Two answer rays always nearly meet, so where only two meet the field decides: a view whose line
    of sight is blocked by a box, with its guess on the box at the target's pixel, is no vote for the
    target when only one other view points there."""
    target = np.array([0.0, 0.0, 0.0])
    box = ((0.15, -0.1, 0.0), (0.25, 0.1, 0.3))  # between the +x cameras and the target
    vms = ring(12)
    blocked = [k for k, vm in enumerate(vms) if plane_depth(vm, box)[int(proj(vm, target)[1]), int(proj(vm, target)[0])]
               < np.linalg.norm(vm[:3, 3]) - 0.05]
    assert blocked, "the box hides the target from some view"
    b = blocked[0]
    a = (b + 6) % 12  # across the ring: it sees the target
    views = [view(vm, [proj(vm, target)] if k in (a, b) else [], box=box, vid=k) for k, vm in enumerate(vms)]
    c = consensus(views)
    at_target = [p for p in c.places if np.linalg.norm(p.point - target) < 0.01]
    assert at_target and a in at_target[0].views and b not in at_target[0].views


def test_rays_that_meet_outvote_floaters():
    """Floaters over a small part hide it, in the field, from every view (the kitchen can's tab). Where
    three or more answer rays meet, the views over-determine the point: the seven exact answers win over
    five on a distractor, at the target, triangulated, and every one of them counts."""
    target = np.array([0.0, 0.0, 0.0])
    distractor = np.array([0.45, 0.3, 0.0])
    slab = ((-0.25, -0.25, 0.15), (0.25, 0.25, 0.16))  # a floater over the target
    vms = ring(12)
    depth = [plane_depth(vm, slab) for vm in vms]
    for vm, d in zip(vms, depth):  # hidden from every view by the floater
        u = proj(vm, target)
        assert d[int(u[1]), int(u[0])] < np.linalg.norm(vm[:3, 3]) - 0.2
    pts = []
    for k, vm in enumerate(vms):
        if k < 7:
            pts.append([proj(vm, target)])
            continue
        u = proj(vm, distractor)
        inside = 0 <= u[0] < W and 0 <= u[1] < H
        visible = inside and depth[k][int(u[1]), int(u[0])] > (vm[:3, :3] @ distractor + vm[:3, 3])[2] - 0.01
        pts.append([u] if visible else [])
    assert sum(1 for p in pts[7:] if p) >= 3
    views = [ViewAnswers(vm, K, np.asarray(p, dtype=np.float64).reshape(-1, 2), SIGMA, d, view_id=k)
             for k, (vm, p, d) in enumerate(zip(vms, pts, depth))]
    c = consensus(views)
    assert np.linalg.norm(c.best.point - target) < 0.005
    assert c.best.triangulated and sorted(c.best.views) == list(range(7))
    assert np.linalg.norm(c.places[1].point - distractor) < 0.03


def test_no_surface_is_an_error():
    vm = look_at((0.0, -1.0, 0.3), (0.0, 0.0, 0.6))  # looking above the horizon: no plane in view
    v = view(vm, [[W / 2, 2.0]])
    v.depth[:] = np.nan
    with pytest.raises(ValueError, match="surface"):
        consensus([v, v])


def test_near_parallel_rays_are_not_triangulated():
    """Two views from almost the same direction agree on a spot, but their rays intersect poorly: the
    action point stays the lifted answer on the surface."""
    X = np.array([0.0, 0.0, 0.0])
    vms = [look_at((1.0, 0.0, 0.8)), look_at((1.0, 0.03, 0.8))]
    views = [view(vm, [proj(vm, X) + (0.4 if k else -0.4)], vid=k) for k, vm in enumerate(vms)]
    c = consensus(views)
    assert not c.best.triangulated
    assert abs(c.best.point[2]) < 0.01  # on the plane
    _T, cond = triangulate(views, [v.points[0] for v in views], return_conditioning=True)
    assert cond < 1.0


def test_views_agreeing_with_both_places_do_not_lower_the_confidence():
    """Noisy answers on one part can split it into two nearby places; the views that agree with both
    tell them apart no more than a view that is silent, so the confidence stays that of the views that
    point at only one of them."""
    a, b = np.array([0.0, 0.0, 0.0]), np.array([0.3, 0.0, 0.0])
    vms = ring(12)
    views = [view(vm, [proj(vm, a), proj(vm, b)] if k < 6 else [proj(vm, a)], vid=k) for k, vm in enumerate(vms)]
    c = consensus(views)
    assert np.linalg.norm(c.best.point - a) < 0.01
    assert c.places[1].votes == pytest.approx(6, abs=0.5)
    assert c.confidence == pytest.approx(beta_confidence(6, 0), abs=1e-2)


def test_answers_agree_where_the_field_has_no_depth_for_the_part():
    """A small part the field did not reconstruct (its median depth is the table, 30 % behind it in
    every view): the lifted answers scatter, but the views' rays meet at the part, so the consensus is
    there, triangulated and confident (the real tools bottle cap)."""
    cap = np.array([0.03, -0.02, 0.12])  # 12 cm above the plane z = 0, which is all the field has
    vms = ring(8)
    views = [view(vm, [proj(vm, cap)], vid=k) for k, vm in enumerate(vms)]
    lifted = np.array([lift(v, v.points)[0] for v in views])
    assert np.all(np.linalg.norm(lifted - cap, axis=1) > 0.05)  # every lift is off the cap
    c = consensus(views)
    assert np.linalg.norm(c.best.point - cap) < 0.005
    assert c.best.triangulated and c.best.votes == pytest.approx(8, abs=0.5) and c.confidence > 0.95


def test_three_views_triangulate_even_where_the_field_hides_the_meeting():
    """Views that all mark one small part triangulate it even when the field's surface lies in front of it
    in some of them (the real coke tab, seed 2: 5 views at 0.14 sigma, 3 of them 'hidden' by the field);
    before, the lifted answer (on the floater, 5 cm off) was the action point."""
    target = np.array([0.0, 0.0, 0.0])
    vms = ring(12)
    views = [view(vm, [proj(vm, target)], vid=k) for k, vm in enumerate(vms)]
    # the field's surface 5 cm in front of the target (beyond the 3.8 cm blob radius) in half the views
    for k in range(6):
        d = np.linalg.norm(vms[k][:3, 3])  # camera distance to the origin (the target, at the image centre)
        views[k].depth[:] = np.minimum(views[k].depth, d - 0.05)
    c = consensus(views)
    assert c.best.triangulated
    assert np.linalg.norm(c.best.point - target) < 0.003


def test_narrow_arc_fixes_the_point_across_the_rays_and_the_field_along_them():
    """Views on a narrow arc (a hand-held capture from one side) meet with poor conditioning: the
    intersection alone is not trusted, but it still fixes the point across the rays, and the field's
    depth (here 3 cm off along the views' direction and 1 cm sideways) only the rest."""
    from point2act.where.consensus import triangulate

    target = np.array([0.0, 0.0, 0.0])
    vms = ring(36)[:5]  # 40 degrees of azimuth
    views = [view(vm, [proj(vm, target)], vid=k) for k, vm in enumerate(vms)]
    uvs = [v.points[0] for v in views]
    _T, cond = triangulate(views, uvs, return_conditioning=True)
    assert cond < 1.0
    centre = -np.linalg.inv(vms[2][:3, :3]) @ vms[2][:3, 3]
    along = (target - centre) / np.linalg.norm(target - centre)
    side = np.cross(along, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    lift = target + 0.03 * along + 0.01 * side
    fused = triangulate(views, uvs, prior=lift)
    assert abs((fused - target) @ side) < 0.01 / len(views)  # across the rays: the views win (the prior counts once)
    assert 0.0 < (fused - target) @ along < 0.03  # along them the field's depth, moved a little towards the views
    assert np.linalg.norm(fused - target) < np.linalg.norm(lift - target)


def test_eval_views_answers_count_and_are_reported_by_split():
    """Held-out (eval split) views with known cameras: their answers count as any other's, the place lists
    them apart (eval indices), and the consensus says how many answered views of each split it read."""
    target, wrong = np.array([0.02, 0.01, 0.0]), np.array([-0.25, 0.2, 0.0])
    vms = ring(10)
    train = [view(vm, [proj(vm, target)] if k < 6 else [proj(vm, wrong)] if k == 6 else [], vid=k)
             for k, vm in enumerate(vms[:8])]
    held = [view(vm, [proj(vm, target)], vid=k) for k, vm in enumerate(vms[8:])]
    for v in held:
        v.split = "eval"
    c0, c = consensus(train), consensus(train + held)
    assert c0.info["answered_by_split"] == {"train": 7}
    assert c.info["answered_by_split"] == {"train": 7, "eval": 2} and c.answered_views == 9
    assert sorted(c.best.views) == list(range(6)) and c.best.eval_views == [0, 1]
    assert c.best.votes == pytest.approx(8.0, abs=0.3) and c.places[1].votes == pytest.approx(1.0, abs=0.05)
    assert c0.confidence == pytest.approx(beta_confidence(6, 1), abs=2e-3)
    assert c.confidence == pytest.approx(beta_confidence(8, 1), abs=2e-3) and c.confidence > c0.confidence
    assert c.best.to_dict()["eval_views"] == [0, 1]


def test_rays_meeting_in_front_of_the_surface_in_some_views_and_behind_it_in_others_are_no_place():
    """Four answer rays meet at P, 10 cm above the table. Without the box, P lies in front of the surface in
    every view: a part the field misses (the bottle cap), a candidate. With an opaque box between P and two
    of the views, P lies behind the box in those and in front of the table in the others: no single failure
    of the field explains it (a rim's rays crossing on its axis, inside the mug), so no crossing is placed
    there and the action point is not triangulated onto it."""
    from point2act.where.view_agreement import swept_candidates

    P = np.array([0.0, 0.0, 0.10])
    box = ((0.2, -0.4, 0.0), (0.3, 0.4, 0.5))  # between P and the cameras at azimuth 0 and -45 degrees
    vms = ring(8)
    answering = [0, 7, 3, 5]

    def views_with(b):
        return [view(vm, [proj(vm, P)] if k in answering else [], box=b, vid=k) for k, vm in enumerate(vms)]

    hidden = views_with(box)
    for k in (0, 7):  # P behind the box there, by more than the blob radius
        u = proj(vms[k], P)
        z = (vms[k][:3, :3] @ P + vms[k][:3, 3])[2]
        D = hidden[k].depth[int(u[1]), int(u[0])]
        assert z > D + hidden[k].blob_radius(D)
    open_X, _r = swept_candidates(views_with(None))
    assert len(open_X) and np.min(np.linalg.norm(open_X - P, axis=1)) < 0.002
    mixed_X, _r = swept_candidates(hidden)
    assert len(mixed_X) == 0 or np.min(np.linalg.norm(mixed_X - P, axis=1)) > 0.02
    c = consensus(hidden)
    assert all(np.linalg.norm(p.point - P) > 0.02 for p in c.places)
    assert np.linalg.norm(consensus(views_with(None)).best.point - P) < 0.002


def test_each_place_lists_the_answers_it_took_by_view_and_position():
    """Views with a right and a wrong answer (in either order), views with only a wrong one, a view that
    answered "not in view": the chosen place lists, per view, the positions of the right answers; the
    confuser's place the wrong ones; nothing lists the empty view. Eval-split answers are listed apart."""
    target, confuser = np.array([0.02, 0.01, 0.0]), np.array([-0.25, 0.2, 0.0])
    vms = ring(12)
    pts = []
    for k, vm in enumerate(vms):
        right, wrong = proj(vm, target), proj(vm, confuser)
        pts.append([right, wrong] if k < 2 else [wrong, right] if k < 4 else [right] if k < 8 else [wrong] if k < 10
                   else [right] if k < 11 else [])
    views = [view(vm, p, vid=k) for k, (vm, p) in enumerate(zip(vms, pts))]
    views[10].split = "eval"
    c = consensus(views)
    assert np.linalg.norm(c.best.point - target) < 0.01
    expect = {0: [0], 1: [0], 2: [1], 3: [1]} | {k: [0] for k in range(4, 8)}
    assert c.best.answers == {"train": expect, "eval": {10: [0]}}
    assert c.places[1].answers == {"train": {0: [1], 1: [1], 2: [0], 3: [0], 8: [0], 9: [0]}}


def test_heatmap_store_keeps_a_places_answers():
    """``HeatmapStore.keeping``: each view's answers cut to the kept positions, in their order; a view that
    answered "not in view" keeps it (negative evidence); a view with answers none of which is kept is left
    out; the heatmaps are those of the kept points."""
    import torch

    from point2act.heatmap import points_to_heatmap, sigma_px
    from point2act.method.answers import HeatmapStore

    pts = {0: np.array([[5.0, 6.0], [20.0, 9.0], [30.0, 2.0]]), 1: np.zeros((0, 2)), 2: np.array([[7.0, 7.0]]),
           3: np.array([[1.0, 1.0], [2.0, 2.0]])}
    store = HeatmapStore(pts, {k: (24, 32) for k in pts}, 0.02)
    kept = store.keeping({0: [2, 0], 3: [1]})
    assert sorted(kept) == [0, 1, 3]
    np.testing.assert_array_equal(kept.points[0], pts[0][[0, 2]].astype(np.float32))
    assert kept.points[1].shape == (0, 2) and kept.points[3].tolist() == [[2.0, 2.0]]
    want = points_to_heatmap(torch.tensor([[2.0, 2.0]]), 24, 32, sigma_px(24, 32, 0.02))
    torch.testing.assert_close(kept[3], want)
