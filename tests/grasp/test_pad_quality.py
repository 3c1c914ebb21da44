"""Antipodal quality where the pads meet the part (point2act.grasp.part_scans.pad_quality): against closed forms
on a square and a round bar, and against the gripper's own frames on a noisy scene."""

from __future__ import annotations

import math

import numpy as np
import pytest

from point2act.grasp.geometry import grasp_rotations, orthonormal_basis
from point2act.grasp.frames import CandidateIds, CandidatePoses, OrientedPoints, PadContact, PairFrames, PairScan
from point2act.grasp.part_scans import pad_quality

P = {"half_y": 0.01, "L": 0.0462, "reach": 0.04, "radius": 0.062, "gap": 0.004, "tip": 0.005, "min_depth": 0.005,
     "max_depth": 0.035, "long_depth": 0.015, "pad_x": 0.00125, "clr": 0.002, "half_open": 0.04, "mg": 0.003}
MU = 0.4
BAND = 0.003


def square_bar(s: float = 0.0005):
    """The surface of a 2 cm square bar along y (centre z = 3 cm), its outward face normals."""
    a = np.arange(-0.01, 0.01 + 1e-9, s)
    y = np.arange(-0.03, 0.03 + 1e-9, s)
    pts, nrm = [], []
    for axis, sign in ((0, 1), (0, -1), (2, 1), (2, -1)):
        A, Y = np.meshgrid(a, y, indexing="ij")
        p = np.zeros((A.size, 3))
        p[:, axis] = 0.01 * sign
        p[:, 2 - axis] = A.ravel()
        p[:, 1] = Y.ravel()
        n = np.zeros_like(p)
        n[:, axis] = sign
        pts.append(p)
        nrm.append(n)
    return np.concatenate(pts) + [0, 0, 0.03], np.concatenate(nrm)


def round_bar(r: float = 0.008, s: float = 0.0005):
    th = np.linspace(0, 2 * np.pi, int(2 * np.pi * r / s), endpoint=False)
    y = np.arange(-0.03, 0.03 + 1e-9, s)
    T, Y = np.meshgrid(th, y, indexing="ij")
    n = np.c_[np.cos(T.ravel()), np.zeros(T.size), np.sin(T.ravel())]
    return n * r + np.c_[np.zeros(T.size), Y.ravel(), np.zeros(T.size)] + [0, 0, 0.03], n


def tilted_pair(beta_deg: float):
    """One pair at the bar's centre closing along x tilted by beta about y, approached from above (t = 0)."""
    b = math.radians(beta_deg)
    x = np.array([[math.cos(b), 0.0, math.sin(b)]])
    u = np.array([[math.sin(b), 0.0, -math.cos(b)]])
    return np.array([[0.0, 0.0, 0.03]]), x, u, np.cross(x, u)


def run(points, normals, beta, depth=0.03, hkt=0.02):
    c, x, u, v = tilted_pair(beta)
    one = np.ones((1, 1))
    return pad_quality(PairFrames(c, x, u, v), OrientedPoints(points, normals),
                       CandidatePoses(0 * one, hkt * one, depth * one), CandidateIds(np.array([0]), np.array([0])),
                       PairScan(1, P), PadContact(BAND, MU))


@pytest.mark.parametrize("beta", [0.0, 5.0, 10.0, 20.0, 30.0, 45.0, 70.0, 80.0, 90.0])
def test_square_bar_closed_form(beta):
    """Closing across a square bar at beta from its faces, each pad meets a corner: the face that faces it
    best is beta (or 90 - beta) off the closing axis, so the quality is 1 - min(beta, 90 - beta) / atan(mu)
    (0 outside the friction cone): 1 across the faces, 0.54 at 10 degrees, 0 at 30 and 45."""
    q, found = run(*square_bar(), beta)
    want = max(0.0, 1.0 - math.radians(min(beta, 90.0 - beta)) / math.atan(MU))
    assert found[0]
    assert q[0] == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("beta", [0.0, 17.0, 30.0, 45.0, 63.0])
def test_round_bar_meets_the_pads_square_on(beta):
    """A round bar faces the pads wherever they close: at every tilt some sample lies within half the samples'
    angular spacing (0.5 mm at 8 mm: 1.8 degrees) of facing each pad."""
    q, found = run(*round_bar(0.008, 0.0005), beta)
    half_step = math.pi / int(2 * np.pi * 0.008 / 0.0005)  # round_bar's samples' half angular spacing
    assert found[0] and q[0] >= 1.0 - half_step / math.atan(MU) - 1e-9


def test_no_surface_between_the_pads():
    """Held 3 cm short of the bar (the pads' window above it), the pads meet nothing: not found, quality 0;
    opened narrower than the bar, only the points between the pads count (a corner's faces: 0 at 45 deg)."""
    pts, nrm = square_bar()
    q, found = run(pts, nrm, 0.0, depth=-0.03)
    assert not found[0] and q[0] == 0.0
    q, found = run(pts, nrm, 0.0, hkt=0.005)  # between the pads only the top and bottom faces: normals across x
    assert found[0] and q[0] == 0.0


def _by_frames(c, x, u, v, pts, nrm, off, hkt, depth, ks, ts, T):
    R = grasp_rotations(x, u, v, 2 * np.pi * np.arange(T) / T)
    out, fnd = [], []
    for k, t in zip(ks, ts):
        q = (pts - c[k]) @ R[k, t]
        near = np.linalg.norm(pts - c[k], axis=1) <= P["radius"]
        w = near & (np.abs(q[:, 1]) <= P["half_y"]) & (q[:, 2] >= depth[k, t] - P["L"]) & (q[:, 2] <= depth[k, t]) \
            & (np.abs(q[:, 0] - off[k, t]) <= hkt[k, t])
        if not w.any():
            out.append(0.0)
            fnd.append(False)
            continue
        xs, cs = q[w, 0], np.abs(nrm[w] @ x[k])
        worst = math.acos(min(cs[xs >= xs.max() - BAND].max(), cs[xs <= xs.min() + BAND].max()))
        out.append(max(0.0, 1.0 - worst / math.atan(MU)))
        fnd.append(True)
    return np.array(out), np.array(fnd)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("T", [1, 6])
def test_equals_the_gripper_frames(seed, T):
    """Every candidate of a noisy scene (a square bar, random normals and points about it, random pairs,
    openings and depths) against a per-candidate loop in the gripper's own frame (float64)."""
    rng = np.random.default_rng(seed)
    pts, nrm = square_bar(0.001)
    extra = rng.uniform([-0.03, -0.03, 0.0], [0.03, 0.03, 0.06], (400, 3))
    pts = np.concatenate([pts, extra]) + rng.normal(0, 3e-4, (1, 3))
    n2 = rng.normal(size=(len(extra), 3))
    nrm = np.concatenate([nrm, n2 / np.linalg.norm(n2, axis=1, keepdims=True)])
    K = 30
    c = np.c_[rng.uniform(-0.005, 0.005, K), rng.uniform(-0.02, 0.02, K), rng.uniform(0.022, 0.038, K)]
    x = np.c_[np.ones(K), rng.normal(0, 0.3, K), rng.normal(0, 0.3, K)]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    u, v = orthonormal_basis(x)
    off = rng.uniform(-0.003, 0.003, (K, T))
    hkt = rng.uniform(0.006, 0.02, (K, T))
    depth = rng.uniform(-0.01, 0.03, (K, T))
    ks, ts = np.nonzero(rng.random((K, T)) < 0.7)
    got, gf = pad_quality(PairFrames(c, x, u, v), OrientedPoints(pts, nrm), CandidatePoses(off, hkt, depth),
                          CandidateIds(ks, ts), PairScan(T, P), PadContact(BAND, MU))
    want, wf = _by_frames(c, x, u, v, pts, nrm, off, hkt, depth, ks, ts, T)
    # float32 scan against float64 frames: a point exactly on a window's edge may differ, no more
    bad = (gf != wf) | (np.abs(got - want) > 1e-4)
    assert bad.sum() <= max(1, len(ks) // 50)
    assert gf.sum() > len(ks) // 2 and (got > 0).any() and (got[gf] == 0).any()
