"""The scan of the pads' window (point2act.grasp.part_scans._pads_window, the C++ kernel csrc/pads_window.cpp)
equals its numpy definition (_pads_window_reference) exactly: the same entries in the same order, on random
clouds, on grids whose points lie on the window's edges, for any thread count; and so do
pads_touch_contacts and pad_quality, which reduce them."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.grasp import part_scans
from point2act.grasp.frames import (CandidateIds, CandidatePoses, OrientedPoints, PadContact, PairFrames, PairScan,
                                   PairSpan)
from point2act.grasp.geometry import orthonormal_basis
from point2act.grasp.part_scans import (_pads_window, _pads_window_reference, angles, entries, pad_quality,
                                  pads_touch_contacts)

P = {"half_y": 0.01, "L": 0.0462, "reach": 0.04, "radius": 0.062, "gap": 0.004, "tip": 0.005,
     "min_depth": 0.005, "max_depth": 0.035, "long_depth": 0.015, "pad_x": 0.00125, "clr": 0.002,
     "half_open": 0.04, "mg": 0.003}
BAND, MU = 0.003, 0.4
NAMES = ("uk", "inv", "gid", "k0", "t", "x", "j")


def ext_or_skip():
    try:
        from point2act.grasp._kernel import load_extension

        ext = load_extension()
    except Exception as e:  # pragma: no cover - no compiler here
        pytest.skip(f"no CPU extension: {e}")
    assert hasattr(ext, "pads_window")
    return ext


def scene(seed: int, T: int, K: int = 40, M: int = 3000, grid: bool = True, box: float = 0.1):
    """Random pairs among random points in a 10 cm ``box`` (a larger one: most points beyond each pair's
    reach), half of them on a 2.5 mm grid (some on a window's edges); random depths, openings, contacts and
    unit normals (most about the axes, as a box's faces); the candidates asked for: 60 % of all (pair,
    approach), pairs repeated."""
    rng = np.random.default_rng(seed)
    cloud = rng.uniform(-box / 2, box / 2, (M, 3))
    if grid:
        cloud[: M // 2] = np.round(cloud[: M // 2] / 0.0025) * 0.0025
    c = rng.uniform(-0.03, 0.03, (K, 3))
    if grid:
        c[: K // 2] = np.round(c[: K // 2] / 0.0025) * 0.0025
    x = rng.normal(size=(K, 3))
    x[: K // 4] = np.eye(3)[rng.integers(0, 3, K // 4)]  # axis-aligned: y and z exactly on the grid
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    u, v = orthonormal_basis(x)
    depth = rng.uniform(-0.02, 0.05, (K, T))
    sp, sn = rng.uniform(0.002, 0.05, K), rng.uniform(0.002, 0.05, K)  # some beyond reach: missed
    off = rng.uniform(-0.004, 0.004, (K, T))
    hkt = rng.uniform(0.004, 0.03, (K, T))
    n = rng.normal(size=(M, 3))
    f = 2 * M // 3  # about the axes, as a box's faces
    n[:f] = np.eye(3)[rng.integers(0, 3, f)] + rng.normal(0, 0.15, (f, 3))
    normals = n / np.linalg.norm(n, axis=1, keepdims=True)
    ks, ts = np.nonzero(rng.random((K, T)) < 0.6)
    return dict(c=c, x=x, u=u, v=v, cloud=cloud, depth=depth, sp=sp, sn=sn, off=off, hkt=hkt, normals=normals,
                ks=ks, ts=ts)


def assert_same(out, ref):
    assert len(out) == len(ref) == len(NAMES)
    for name, o, r in zip(NAMES, out, ref):
        assert o.dtype == r.dtype and o.shape == r.shape, name
        assert np.array_equal(o, r), name


def frames_of(s) -> PairFrames:
    return PairFrames(s["c"], s["x"], s["u"], s["v"])


def window(s, T, asked=False, **kw):
    ts = s["ts"] if asked else None
    args = (frames_of(s), s["cloud"], s["depth"], CandidateIds(s["ks"], ts), PairScan(T, P))
    return _pads_window(*args, **kw), _pads_window_reference(*args)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("T", [1, 4, 6, 16])
@pytest.mark.parametrize("grid", [False, True], ids=["random", "grid"])
@pytest.mark.parametrize("box", [0.1, 0.3], ids=["dense", "sparse"])
def test_pads_window_kernel_equals_reference(seed, T, grid, box):
    """Dense: most points are every pair's entries; sparse (a 30 cm box): most lie beyond a pair's reach
    (the kernel keeps its entries only before it turns the approaches)."""
    ext_or_skip()
    s = scene(seed, T, grid=grid, box=box, M=3000 if box < 0.2 else 20000)
    out, ref = window(s, T)
    assert len(ref[2]) > 1000 and len(np.unique(ref[2])) > len(s["ks"]) // 3  # many entries, many candidates
    assert_same(out, ref)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("T", [1, 6, 16])
def test_pads_window_of_the_candidates_asked_for(seed, T):
    """With the candidates' approaches ``ts``: the entries of the candidates (ks, ts) only, those of the whole
    scan that belong to them, in the same order."""
    ext_or_skip()
    s = scene(seed, T)
    out, ref = window(s, T, asked=True)
    assert_same(out, ref)
    full = _pads_window_reference(frames_of(s), s["cloud"], s["depth"], CandidateIds(s["ks"], None), PairScan(T, P))
    asked = np.zeros(len(full[0]) * T, bool)
    asked[full[1] * T + s["ts"]] = True
    keep = asked[full[2]]
    assert 0 < keep.sum() and (keep.sum() < len(keep) or T == 1)  # T = 1: every pair's one approach is asked
    assert_same(out, full[:2] + tuple(a[keep] for a in full[2:]))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("T", [1, 6])
@pytest.mark.parametrize("edge", ["far", "near"])
def test_pads_window_kernel_equals_reference_on_the_depth_edge(seed, T, edge):
    """Depths that put some entries' z (float64 of the float32 z) exactly on the window's far edge (``z <=
    depth``) or its near edge (``z >= depth - L``, in float64): one float32 ulp of difference, or a strict
    comparison, would drop them."""
    ext_or_skip()
    s = scene(seed, T)
    c, x, u, v = s["c"], s["x"], s["u"], s["v"]
    uk = np.unique(s["ks"])
    qk, qj, _qx, qu, qv = entries(PairFrames(c[uk], x[uk], u[uk], v[uk]), s["cloud"], P["radius"],
                                  lambda k, sx, su, sv: np.abs(sx) <= P["reach"])
    e, tt, _y, z = angles(qu, qv, P["half_y"], T, *part_scans._z_window(P))
    z = z.astype(np.float64)
    if edge == "far":
        d = z
    else:  # the depth whose d - L is z, where a float64 next to z + L gives it (not every z has one)
        base = z + P["L"]
        up, down = np.nextafter(base, np.inf), np.nextafter(base, -np.inf)
        d = np.where(base - P["L"] == z, base, np.where(up - P["L"] == z, up, down))
        exact = d - P["L"] == z
        assert exact.sum() > len(z) // 2
        e, tt, z, d = e[exact], tt[exact], z[exact], d[exact]
    depth = s["depth"].copy()
    depth[uk[qk[e]], tt] = d  # the last entry of each (pair, approach) wins
    s["depth"] = depth
    g = qk[e] * T + tt
    last = len(g) - 1 - np.unique(g[::-1], return_index=True)[1]  # the winners
    out, ref = window(s, T)
    on_edge = set(zip(g[last].tolist(), qj[e[last]].tolist()))
    assert len(on_edge) > 20 and on_edge <= set(zip(ref[2].tolist(), ref[6].tolist()))  # each in its window
    assert_same(out, ref)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("asked", [False, True], ids=["all", "asked"])
def test_pads_window_kernel_does_not_depend_on_threads(threads, asked):
    ext_or_skip()
    s = scene(5, 8, K=60)
    out, ref = window(s, 8, asked=asked, num_threads=threads)
    assert_same(out, ref)


@pytest.mark.parametrize("case", ["no_pairs", "no_cloud", "cloud_far", "window_empty", "one_point",
                                  "float32_cloud"])
def test_pads_window_kernel_equals_reference_on_empty_inputs(case):
    ext_or_skip()
    T = 6
    s = scene(3, T, K=10, M=200)
    if case == "no_pairs":
        s["ks"], s["ts"] = np.zeros(0, np.int64), np.zeros(0, np.int64)
    elif case == "no_cloud":
        s["cloud"] = np.zeros((0, 3))
    elif case == "cloud_far":  # outside every pair's box: no candidate point
        s["cloud"] = s["cloud"] + 1.0
    elif case == "window_empty":  # points near the pairs, none in the pads' window
        s["depth"] = np.full_like(s["depth"], -1.0)
    elif case == "one_point":
        s["cloud"] = s["c"][s["ks"][:1]] + [[0.001, 0.0, 0.0]]
        s["normals"] = np.array([[1.0, 0.0, 0.0]])
        s["depth"] = np.full_like(s["depth"], 0.01)
    else:
        s["cloud"] = s["cloud"].astype(np.float32)
    if case == "no_cloud":
        s["normals"] = np.zeros((0, 3))
    for asked in (False, True):
        out, ref = window(s, T, asked=asked)
        if case in ("no_pairs", "no_cloud", "cloud_far", "window_empty"):
            assert len(ref[2]) == 0
        else:
            assert len(ref[2]) > 0
        assert_same(out, ref)
    assert_consumers_equal(s, T)


def _consumers(s, T, window=None):
    """pads_touch_contacts and pad_quality of the scene's candidates, with ``window`` for _pads_window."""
    orig = part_scans._pads_window
    if window is not None:
        part_scans._pads_window = window
    try:
        span = PairSpan(np.ones(len(s["c"]), bool), 0.5 * (s["sp"] + s["sn"]), s["sp"], s["sn"])
        which, scan = CandidateIds(s["ks"], s["ts"]), PairScan(T, P)
        touch = pads_touch_contacts(frames_of(s), s["cloud"], span, s["depth"], which, scan)
        q, found = pad_quality(frames_of(s), OrientedPoints(s["cloud"], s["normals"]),
                               CandidatePoses(s["off"], s["hkt"], s["depth"]), which, scan, PadContact(BAND, MU))
    finally:
        part_scans._pads_window = orig
    return touch, q, found


def _every_approach(frames, cloud, depth, which, scan, num_threads=-1):
    """The numpy scan of every approach of the pairs, not only those asked for."""
    return _pads_window_reference(frames, cloud, depth, CandidateIds(which.k, None), scan)


def assert_consumers_equal(s, T):
    """The kernel's answers equal the numpy reference's, and those of the scan of every approach."""
    got = _consumers(s, T)
    for window in (_pads_window_reference, _every_approach):
        want = _consumers(s, T, window)
        for name, o, r in zip(("touch", "quality", "found"), got, want):
            assert o.dtype == r.dtype and o.shape == r.shape and np.array_equal(o, r), name
    return want


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("T", [1, 6, 16])
@pytest.mark.parametrize("box", [0.1, 0.3], ids=["dense", "sparse"])
def test_pads_touch_and_pad_quality_kernel_equal_reference(seed, T, box):
    ext_or_skip()
    s = scene(seed, T, box=box, M=3000 if box < 0.2 else 20000)
    touch, q, found = assert_consumers_equal(s, T)
    assert touch.any() and not touch.all()  # some candidates touch both contacts, some do not
    assert found.any() and (q > 0).any()  # the pads meet the part_scans, and some of it within the friction cone
