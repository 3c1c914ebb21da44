"""What each grasp candidate holds (point2act.grasp.part_scans): the C++ kernel equals the numpy reference
(exactly: both compute the same float32 and float64 expressions, and ``w_max`` is a maximum, free of order),
and the reference against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.grasp.frames import (CandidateIds, ClosingLine, DepthLimits, PairFrames, PairScan, PairSpan, PartCloud,
                                   PathWeights)
from point2act.grasp.geometry import grasp_rotations, orthonormal_basis
from point2act.grasp.part_scans import (closing_extent, closing_extent_reference, grasp_part, grasp_part_reference,
                                  grasp_part_reference_entries, hold_depth, pads_touch_contacts, run_end)

P = {"half_y": 0.01, "L": 0.0462, "reach": 0.04, "radius": 0.062, "gap": 0.004, "tip": 0.005, "min_depth": 0.005,
     "max_depth": 0.035, "long_depth": 0.015, "pad_x": 0.00125, "clr": 0.002, "half_open": 0.04, "mg": 0.003}


def bar_scene(seed: int, K: int = 40):
    """Cells (2.5 mm) of a table (z = 0), a bar 2 cm x 2 cm along y at 3 cm height and a box beside it, plus
    noise; contact pairs across the bar at random heights and tilts."""
    rng = np.random.default_rng(seed)
    s = 0.0025
    g = np.arange(-0.08, 0.08, s)
    table = np.stack(np.meshgrid(g, g, [0.0], indexing="ij"), -1).reshape(-1, 3)
    bx, by, bz = np.arange(-0.01, 0.01 + 1e-9, s), np.arange(-0.06, 0.06, s), np.arange(0.02, 0.04 + 1e-9, s)
    bar = np.stack(np.meshgrid(bx, by, bz, indexing="ij"), -1).reshape(-1, 3)
    bar = bar[(np.abs(bar[:, 0]) > 0.0074) | (np.abs(bar[:, 2] - 0.03) > 0.0074)]  # its surface cells
    box = np.stack(np.meshgrid(np.arange(0.03, 0.05, s), np.arange(-0.02, 0.02, s), np.arange(0.0, 0.05, s),
                               indexing="ij"), -1).reshape(-1, 3)
    cloud = np.concatenate([table, bar, box, rng.uniform(-0.08, 0.08, (300, 3))]) + rng.normal(0, 2e-4, (1, 3))
    occ = rng.random(len(cloud)) < 0.85
    rel = (np.abs(cloud[:, 0]) <= 0.011) & (cloud[:, 2] > 0.015)
    c = np.c_[rng.uniform(-0.005, 0.005, K), rng.uniform(-0.04, 0.04, K), rng.uniform(0.022, 0.038, K)]
    x = np.c_[np.ones(K), rng.normal(0, 0.15, K), rng.normal(0, 0.15, K)]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    u, v = orthonormal_basis(x)
    fit = rng.random(K) < 0.8
    w2 = rng.uniform(0.008, 0.012, K)
    shift = rng.uniform(-0.002, 0.002, K)
    h = np.minimum(w2 + P["pad_x"] + P["clr"], P["half_open"])
    return c, x, u, v, fit, cloud, occ, rel, h, w2 - shift, w2 + shift


def grouped(c, x, u, v, fit, cloud, occ, rel, h, sp, sn, room, T, lengths, hold=None):
    """:func:`grasp_part`'s arguments (but the weights) from a scene's arrays (:func:`bar_scene`'s order)."""
    return (PairFrames(c, x, u, v), PairSpan(fit, h, sp, sn), PartCloud(cloud, occ, rel), DepthLimits(room, hold),
            PairScan(T, lengths))


def ext_or_skip():
    try:
        from point2act.grasp._kernel import load_extension

        return load_extension()
    except Exception as e:  # pragma: no cover - no compiler here
        pytest.skip(f"no CPU extension: {e}")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("T", [1, 6, 12])
@pytest.mark.parametrize("plane", [False, True], ids=["no_plane", "plane"])
@pytest.mark.parametrize("hold", [False, True], ids=["no_hold", "hold"])
@pytest.mark.parametrize("extra", [None, 0.0, 0.004], ids=["no_w", "w", "w_extra"])
def test_kernel_equals_reference(seed, T, plane, hold, extra):
    """Every output equal, with and without the weights ``w`` (whose largest ``w_max`` is equal too)."""
    assert hasattr(ext_or_skip(), "grasp_part")
    c, x, u, v, fit, cloud, occ, rel, h, sp, sn = bar_scene(seed)
    K = len(c)
    rng = np.random.default_rng(100 + seed)
    room = np.where(rng.random((K, T)) < 0.5, rng.uniform(0.0, 0.04, (K, T)), np.inf) if plane else np.full((K, T), np.inf)
    # a point on the bar's top or beside it: its depth along each approach from each pair
    hd = hold_depth(c, u, v, rng.uniform([-0.02, -0.04, 0.02], [0.02, 0.04, 0.045]), T) if hold else None
    args = grouped(c, x, u, v, fit, cloud, occ, rel, h, sp, sn, room, T, P, hd)
    # weights in [0, 1), zero on about half the points (an avoid relevancy), on occupied and unknown points
    w = None if extra is None else np.where(rng.random(len(cloud)) < 0.5, rng.random(len(cloud)), 0.0)
    weights = None if w is None else PathWeights(w, extra or 0.0)
    ref = grasp_part_reference(*args, weights=weights)
    out = grasp_part(*args, weights=weights)
    assert (ref["n_close"] > 0).sum() > K // 4 and (ref["n_rel"] > 0).any()  # a scene that holds something
    assert len(np.unique(ref["depth"])) > 3 and len(np.unique(ref["half_opening"])) > 3
    keys = ["depth", "offset", "half_opening", "n_close", "n_rel"] + ([] if w is None else ["w_max"])
    assert sorted(out) == sorted(ref) == sorted(keys)
    for k in keys:
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)
    if w is not None:
        assert (ref["w_max"] > 0).sum() > K // 4 and np.all(ref["w_max"][~fit] == 0)
        assert len(np.unique(ref["w_max"])) > 3 and np.all(ref["w_max"] <= w.max())
        np.testing.assert_array_equal(out["w_max"], _w_max_of_entries(args, w, extra, ref))
        if extra > 0:  # the widening takes in more: never less, and a point only the widening reaches counts
            narrow = grasp_part(*args, weights=PathWeights(w))["w_max"]
            assert np.all(narrow <= out["w_max"])
            _, (gid, j, xe, inz) = grasp_part_reference_entries(*args)
            d = np.abs(xe - ref["offset"].reshape(-1)[gid]) - ref["half_opening"].reshape(-1)[gid]
            band = np.flatnonzero(inz & (d > 0) & (d <= extra))
            assert len(band), "no point lies in the widening"
            one = np.zeros(len(cloud))
            one[j[band[0]]] = 1.0  # one point, in the widening of candidate gid[band[0]]
            narrow, wide = (grasp_part(*args, weights=PathWeights(one, e))["w_max"].reshape(-1) for e in (0.0, extra))
            assert np.all(narrow <= wide) and narrow[gid[band[0]]] == 0.0 and wide[gid[band[0]]] == 1.0


def _w_max_of_entries(args, w, extra, ref):  # [K, T]
    """``w_max`` by its rule from the reference's entries ``(gid, j, xe, inz)``: the largest ``w[j]`` (at least
    0) over those with ``inz`` and ``|xe - offset| <= half_opening + extra``, with np.maximum.at."""
    part, (gid, j, xe, inz) = grasp_part_reference_entries(*args)
    K, T = part["offset"].shape
    path = inz & (np.abs(xe - part["offset"].reshape(-1)[gid]) <= part["half_opening"].reshape(-1)[gid] + extra)
    for k in ("depth", "offset", "half_opening", "n_close", "n_rel"):
        np.testing.assert_array_equal(part[k], ref[k], err_msg=k)
    out = np.zeros(K * T)
    np.maximum.at(out, gid[path], w[j[path]])
    return out.reshape(K, T)


def bar_on_table(seed: int, n: int = 3000):
    """Gaussians (means [N, 3], opacities [N]) of a table and a bar on it, 16 cm along x, 2 cm wide and 4 cm
    tall, and which of them are the bar's ([N] bool)."""
    rng = np.random.default_rng(seed)
    table = np.c_[rng.uniform(-0.2, 0.2, n), rng.uniform(-0.2, 0.2, n), np.zeros(n)]
    bar = rng.uniform([-0.08, -0.01, 0.0], [0.08, 0.01, 0.04], (n, 3))
    ax = rng.integers(3, size=n)
    side = rng.integers(2, size=n)
    bar[np.arange(n), ax] = np.array([[-0.08, 0.08], [-0.01, 0.01], [0.0, 0.04]])[ax, side]  # on its faces
    means = np.r_[table, bar]
    return means, np.ones(len(means)), np.r_[np.zeros(n, bool), np.ones(n, bool)]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("avoid_x", [0.02, -0.1], ids=["one_end", "whole_bar"])
def test_kernel_equals_reference_on_a_planner_scene(seed, avoid_x, monkeypatch):
    """The planner's calls of grasp_part with an avoid channel (``weights``: its relevancy on the cloud, ``extra``:
    the fingers' thickness): the kernel equals the reference in every output, ``w_max`` too, and that is the
    rule's maximum over the reference's entries; the avoid score is it over the relevancy's maximum, in [0, 1]
    as grasps.json's schema has it."""
    pytest.importorskip("open3d")
    ext_or_skip()
    from point2act.grasp import GraspConfig, PlanningScene, plan_grasps, validate_grasps_dict
    from point2act.grasp import holds

    calls, scores = [], []

    def recorded(*args, **kw):
        out = grasp_part(*args, **kw)
        calls.append((args, kw, out))
        return out

    def recorded_scores(w_max, A):
        scores.append(avoid_scores(w_max, A))
        return scores[-1]

    avoid_scores = holds.avoid_scores
    monkeypatch.setattr(holds, "grasp_part", recorded)
    monkeypatch.setattr(holds, "avoid_scores", recorded_scores)
    means, opac, bar = bar_on_table(seed)
    avoid = (bar & (means[:, 0] > avoid_x)).astype(float)
    res = plan_grasps(PlanningScene(means, opac, bar.astype(float), avoid=avoid), GraspConfig(top_k=5))
    assert res.grasps and all(g.avoid_score is not None for g in res.grasps)
    validate_grasps_dict(res.to_dict("hold the bar"))  # avoid_score in [0, 1], as the schema says
    assert calls and len(scores) == len(calls)
    for (args, kw, out), score in zip(calls, scores):
        w, extra = kw["weights"]
        assert w is not None and extra > 0 and w.max() > 0
        ref, (gid, j, xe, inz) = grasp_part_reference_entries(*args, **kw)
        for k in ("depth", "offset", "half_opening", "n_close", "n_rel", "w_max"):
            np.testing.assert_array_equal(out[k], ref[k], err_msg=k)
        K, T = out["offset"].shape
        assert (out["w_max"] > 0).sum() > K
        path = inz & (np.abs(xe - out["offset"].reshape(-1)[gid]) <= out["half_opening"].reshape(-1)[gid] + extra)
        flat = np.zeros(K * T)
        np.maximum.at(flat, gid[path], w[j[path]])
        np.testing.assert_array_equal(out["w_max"], flat.reshape(K, T))
        np.testing.assert_array_equal(score, out["w_max"] / w.max())
        assert score.min() >= 0.0 and score.max() <= 1.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("half_y", [0.005, 0.01])
def test_closing_extent_kernel_equals_reference(seed, half_y):
    assert hasattr(ext_or_skip(), "closing_extent")
    c, x, u, v, _fit, cloud, _occ, _rel, _h, w2, _sn = bar_scene(seed, K=200)
    args = (PairFrames(c, x, u, v), cloud, w2,
            ClosingLine(half_y, P["half_open"], P["gap"], np.hypot(P["half_open"], half_y) + P["mg"]))
    ref, out = closing_extent_reference(*args), closing_extent(*args)
    for r, o in zip(ref, out):
        assert (r > w2 + 0.002).sum() > 20  # parts that reach past the contacts: the runs were walked
        np.testing.assert_array_equal(o, r)


def test_closing_extent_across_the_bar_by_hand():
    """A pair across the 2 cm bar along x, contacts at +-w2 = 6 mm (inside the bar's faces): the part reaches
    to the bar's faces (the last cells at +-1 cm), not on to the box 2 cm past the +x face (a gap)."""
    c, x, u, v, _fit, cloud, _occ, _rel, _h, _sp, _sn = bar_scene(0, K=1)
    c[:] = [0.0, 0.0, 0.03]
    x[:], u[:], v[:] = [1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]
    cloud = cloud[:-300]  # without the noise
    ep, en = closing_extent_reference(PairFrames(c, x, u, v), cloud, np.array([0.006]),
                                      ClosingLine(0.01, P["half_open"], P["gap"], 0.06))
    assert ep[0] == pytest.approx(0.01, abs=1e-3) and en[0] == pytest.approx(0.01, abs=1e-3)


def test_reference_on_a_bar_by_hand():
    """A horizontal pair across the middle of the bar (2 cm wide, 2 cm tall, top at 4 cm), approached from
    above: the fingertips go `tip` past the bar's underside (at most max_depth), the opening is the bar's
    width plus pad and clearance, centred on it, and what lies between the pads is the bar's."""
    c, x, u, v, fit, cloud, occ, rel, h, sp, sn = bar_scene(0, K=1)
    c[:] = [0.0, 0.0, 0.04]  # on the bar's top edge line
    x[:] = [1.0, 0.0, 0.0]
    u[:], v[:] = [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]  # approach t = 0 goes down (z = su = -Z)
    fit[:] = True
    occ[:] = True
    w2 = 0.01
    sp[:], sn[:] = w2, w2
    h[:] = w2 + P["pad_x"] + P["clr"]
    out = grasp_part_reference(*grouped(c, x, u, v, fit, cloud, occ, rel, h, sp, sn, np.full((1, 1), np.inf), 1, P))
    # the bar's cells reach 2 cm below its top (the last cell centre at 2 cm; bins of 2 mm): depth = 2 cm + tip
    assert out["depth"][0, 0] == pytest.approx(0.02 + P["tip"], abs=1e-3)
    assert abs(out["offset"][0, 0]) < 1e-3  # centred on the bar
    assert out["half_opening"][0, 0] == pytest.approx(0.01 + P["pad_x"] + P["clr"], abs=1e-3)
    assert out["n_close"][0, 0] > 0 and out["n_rel"][0, 0] == out["n_close"][0, 0]
    # the support plane 1 cm below the contacts: the depth stops there
    out = grasp_part_reference(*grouped(c, x, u, v, fit, cloud, occ, rel, h, sp, sn, np.full((1, 1), 0.01), 1, P))
    assert out["depth"][0, 0] == pytest.approx(0.01)


@pytest.mark.parametrize("contact_z, room, held", [
    (0.03, 0.002, True),  # contacts mid-bar, the plane stops the fingertips 2 mm past them: 1.2 cm of bar held
    (0.03, -0.001, False),  # the fingertips would stop short of the contacts: not held there
    (0.04, 0.002, False),  # contacts on the top edge: 2 mm of bar between the pads, under min_depth
], ids=["mid_bar", "short_of_contacts", "top_edge"])
def test_support_plane_depth_holds_min_depth_of_the_part(contact_z, room, held):
    """A part the support plane stops the fingers at (a loop of scissors lying on the table): the depth becomes
    the plane's limit where the pads reach the contacts and hold min_depth of the part from its top (the bar's
    top at 4 cm); else it stays the part's depth, which the plane test then rejects."""
    c, x, u, v, fit, cloud, occ, rel, h, sp, sn = bar_scene(0, K=1)
    c[:] = [0.0, 0.0, contact_z]
    x[:] = [1.0, 0.0, 0.0]
    u[:], v[:] = [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]  # approach t = 0 goes down
    fit[:] = True
    occ[:] = cloud[:, 2] < 0.041  # nothing above the bar (the scene's stray points)
    sp[:], sn[:] = 0.01, 0.01
    h[:] = 0.01 + P["pad_x"] + P["clr"]
    args = grouped(c, x, u, v, fit, cloud, occ, rel, h, sp, sn, np.full((1, 1), room), 1, P)
    out = grasp_part_reference(*args)
    if held:
        assert out["depth"][0, 0] == pytest.approx(room)
    else:
        assert out["depth"][0, 0] > P["min_depth"] and out["depth"][0, 0] != pytest.approx(room)
    assert np.array_equal(grasp_part(*args)["depth"], out["depth"])  # the kernel (or, without one, this)


def test_run_end_stops_at_a_gap():
    """Values from the start in steps of 1 mm, then a 5 mm hole (more than gap = 4 mm), then more: the run
    ends before the hole; a group with nothing within gap of its start keeps the start."""
    vals = np.r_[np.arange(0.0, 0.0101, 0.001), np.arange(0.016, 0.03, 0.001), [0.02]]
    gid = np.r_[np.zeros(len(vals) - 1, int), [1]]
    out = run_end(gid, vals, np.array([0.0, 0.0]), 0.004, 2, 0.04)
    assert out[0] == pytest.approx(0.01)
    assert out[1] == 0.0


def wall(top: float):
    """Cells (2.5 mm) of a wall 5 mm thick (x in [-2.5, 2.5] mm), 10 cm long along y, from the table to ``top``;
    one contact pair across it at 5 cm height, approached from above (t = 0: z = -Z)."""
    s = 0.0025
    g = np.stack(np.meshgrid([-0.0025, 0.0, 0.0025], np.arange(-0.05, 0.05, s), np.arange(0.0, top + 1e-9, s),
                             indexing="ij"), -1).reshape(-1, 3)
    c, x = np.array([[0.0, 0.0, 0.05]]), np.array([[1.0, 0.0, 0.0]])
    u, v = np.array([[0.0, 0.0, -1.0]]), np.array([[0.0, 1.0, 0.0]])
    w2 = 0.0025
    h = np.array([w2 + P["pad_x"] + P["clr"]])
    ones = np.ones(len(g), bool)
    return grouped(c, x, u, v, np.array([True]), g, ones, ones, h, np.array([w2]), np.array([w2]),
                   np.full((1, 1), np.inf), 1, P)


@pytest.mark.parametrize("top, hold_z, depth", [
    (0.10, None, P["long_depth"]),  # no point to hold: long_depth past the contacts, as before
    (0.10, 0.06, 0.05 - 0.06 + P["tip"]),  # the pads slide up the wall: the fingertips tip past the point
    (0.10, 0.09, -P["long_depth"] + P["min_depth"]),  # ... at most long_depth back from the contacts
    (0.10, 0.03, P["long_depth"]),  # a point deeper than long_depth: long_depth
    (0.056, 0.09, 0.05 - 0.056 + P["min_depth"]),  # the wall's top stays min_depth inside the pads
], ids=["no_point", "slides_to_point", "at_most_long_depth_back", "no_deeper", "top_inside_pads"])
def test_long_part_is_held_at_the_point(top, hold_z, depth):
    """A wall that goes on beyond max_depth below the contacts (a mug's wall under its rim): closed forms of
    the depth with and without a point to hold it at (cells every 2.5 mm, runs binned by 2 mm)."""
    frames, span, cloud, limits, scan = wall(top)
    hd = None if hold_z is None else hold_depth(frames.centres, frames.u, frames.v, np.array([0.0, 0.0, hold_z]), 1)
    args = (frames, span, cloud, limits._replace(hold=hd), scan)
    out = grasp_part_reference(*args)
    assert out["depth"][0, 0] == pytest.approx(depth, abs=2.6e-3)
    assert out["n_close"][0, 0] > 0 and out["half_opening"][0, 0] == pytest.approx(span.half_opening[0], abs=3e-3)
    assert np.array_equal(grasp_part(*args)["depth"], out["depth"])  # the kernel (or, without one, this)


def _pads_touch_by_frames(c, x, u, v, cloud, sp, sn, depth, ks, ts, T, p):
    """pads_touch_contacts by the gripper's own rotation per candidate (geometry.grasp_rotations): a point
    of the cloud in the pads' window within gap of each contact along the closing axis."""
    R = grasp_rotations(x, u, v, 2 * np.pi * np.arange(T) / T)
    out = []
    for k, t in zip(ks, ts):
        q = (cloud - c[k]) @ R[k, t]  # gripper x, y, z about the pair's centre
        near = np.linalg.norm(cloud - c[k], axis=1) <= p["radius"]
        win = near & (np.abs(q[:, 1]) <= p["half_y"]) & (q[:, 2] >= depth[k, t] - p["L"]) & (q[:, 2] <= depth[k, t])
        out.append(bool((win & (np.abs(q[:, 0] - sp[k]) < p["gap"])).any()
                        and (win & (np.abs(-q[:, 0] - sn[k]) < p["gap"])).any()))
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("T", [1, 6])
def test_pads_touch_contacts_equals_the_gripper_frames(seed, T):
    c, x, u, v, fit, cloud, occ, rel, h, sp, sn = bar_scene(seed)
    args = grouped(c, x, u, v, fit, cloud, occ, rel, h, sp, sn, np.full((len(c), T), np.inf), T, P,
                   hold_depth(c, u, v, np.array([0.0, 0.0, 0.07]), T))
    out = grasp_part_reference(*args)
    ks, ts = np.nonzero(np.ones((len(c), T), bool))
    got = pads_touch_contacts(args[0], cloud, args[1], out["depth"], CandidateIds(ks, ts), PairScan(T, P))
    want = _pads_touch_by_frames(c, x, u, v, cloud, sp, sn, out["depth"], ks, ts, T, P)
    # float32 scan against float64 frames: a point exactly on a window's edge may differ, no more
    assert (got != want).sum() <= max(1, len(ks) // 100)
    assert got.any() and (~got).any()  # the held-at-the-point candidates above the bar miss their contacts


def test_pads_touch_contacts_by_hand():
    """A pair across the bar approached from above: at the depth the bar asks for the pads touch both of its
    faces; held 3 cm short of the contacts (the pads above the bar's top) they touch neither; with a post
    standing on one contact's side only, the pads there touch that side and not the other."""
    c, x, u, v, fit, cloud, occ, rel, h, sp, sn = bar_scene(0, K=1)
    c[:] = [0.0, 0.0, 0.03]
    x[:] = [1.0, 0.0, 0.0]
    u[:], v[:] = [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]  # approach t = 0 goes down
    sp[:], sn[:] = 0.0075, 0.0075  # the bar's faces' cell centres
    ks, ts = np.array([0]), np.array([0])
    frames, span = PairFrames(c, x, u, v), PairSpan(fit, h, sp, sn)
    which, scan = CandidateIds(ks, ts), PairScan(1, P)
    assert pads_touch_contacts(frames, cloud, span, np.full((1, 1), 0.015), which, scan)[0]
    assert not pads_touch_contacts(frames, cloud, span, np.full((1, 1), -0.03), which, scan)[0]
    post = np.stack(np.meshgrid([0.0075], np.arange(-0.005, 0.005, 0.0025), np.arange(0.04, 0.08, 0.0025),
                                indexing="ij"), -1).reshape(-1, 3)
    assert not pads_touch_contacts(frames, np.concatenate([cloud, post]), span, np.full((1, 1), -0.03), which,
                                   scan)[0]
    assert pads_touch_contacts(frames, np.concatenate([cloud, post, post * [-1, 1, 1]]), span,
                               np.full((1, 1), -0.03), which, scan)[0]
