"""The planner's gripper-box checks (point2act.grasp.box_hits): the C++ kernel against the numpy
reference, and the reference against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from point2act.grasp.box_hits import (DISTANCE, L2, LINF, PairEntries, PairReach, box, gripper_box_hits_reference,
                                     offsets_of)
from point2act.grasp.frames import CandidatePoses, LiveCandidates, PairFrames

FINGER = box((0.0, 1.0, 0.01, 1.0), 0.01, (-0.07, 0.0), 0.002, L2)
PALM = box((0.0, 0.0, 0.1, 0.0), 0.03, (-0.11, -0.046), 0.003, LINF)
CLEAR = box((0.0, 1.0, 0.01, 1.0), 0.01, (-0.046, 0.0), role=DISTANCE)


def test_reference_closed_form():
    """One point per case, placed by hand in the gripper frame of approach 0 (z = su, y = -sv) and
    approach pi/2 (z = sv, y = su)."""
    theta = np.array([0.0, math.pi / 2])
    hh, dep, off = np.full((1, 2), 0.02), np.full((1, 2), 0.01), np.zeros((1, 2))
    alive = np.ones((1, 2), bool)

    def run(p, boxes):
        sx, su, sv = (np.array([v], np.float32) for v in p)
        return gripper_box_hits_reference(PairEntries(offsets_of(np.zeros(1, int), 1), sx, su, sv),
                                          LiveCandidates(theta, CandidatePoses(off, hh, dep), alive), np.array(boxes))

    # inside the finger (x = hh + 5 mm, y = 0, z 3 cm behind the TCP) for approach 0 only
    h, _ = run((0.025, dep[0, 0] - 0.03, 0.0), [FINGER])
    assert h.tolist() == [[1, 0]]
    # 1.9 mm beyond the finger's outer face: within the 2 mm margin (L2); 2.1 mm: not
    for dx, hit in ((0.0019, 1), (0.0021, 0)):
        h, _ = run((0.03 + dx, dep[0, 0] - 0.03, 0.0), [FINGER])
        assert h[0, 0] == hit
    # diagonal excess of 1.5 mm on x and y: 2.12 mm Euclidean (no hit in L2), 1.5 mm per axis (LINF hit)
    p = (0.03 + 0.0015, dep[0, 0] - 0.03, -(0.01 + 0.0015))
    assert run(p, [FINGER])[0][0, 0] == 0
    assert run(p, [box((0.0, 1.0, 0.01, 1.0), 0.01, (-0.07, 0.0), 0.002, LINF)])[0][0, 0] == 1
    # clearance: the distance from a point 4 mm outside the finger face to the finger
    _, c = run((0.034, dep[0, 0] - 0.02, 0.0), [CLEAR])
    assert c[0, 0] == pytest.approx(0.004, abs=1e-6)
    # approach pi/2: z = sv, y = su
    h, _ = run((0.025, 0.0, dep[0, 1] - 0.03), [FINGER])
    assert h.tolist() == [[0, 1]]


def test_offsets_need_sorted_entries():
    assert offsets_of(np.array([0, 0, 2, 2, 2]), 4).tolist() == [0, 2, 2, 5, 5]
    with pytest.raises(ValueError):
        offsets_of(np.array([1, 0]), 2)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("boxes", [[FINGER], [PALM, FINGER], [FINGER, CLEAR]], ids=["finger", "palm_finger", "clear"])
@pytest.mark.parametrize("min_points", [1, 2])
def test_cloud_kernel_matches_reference(seed, boxes, min_points):
    """The kernel that finds each pair's points itself, against the dense entries + reference."""
    from point2act.grasp.box_hits import gripper_cloud_hits, gripper_cloud_hits_reference
    from point2act.grasp.geometry import orthonormal_basis

    rng = np.random.default_rng(seed)
    K, T, M = 6, 12, 150
    c = rng.uniform(-0.02, 0.02, (K, 3))
    x = rng.normal(size=(K, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    u, v = orthonormal_basis(x)
    cloud = rng.uniform(-0.1, 0.1, (M, 3))
    band_lo, band_hi = rng.uniform(0.0, 0.01, K), rng.uniform(0.03, 0.06, K)
    theta = 2 * np.pi * np.arange(T) / T
    alive = rng.random((K, T)) < 0.8
    off, hh, dep = rng.uniform(-0.01, 0.01, (K, T)), rng.uniform(0.005, 0.03, (K, T)), rng.uniform(0.0, 0.03, (K, T))
    args = (PairFrames(c, x, u, v), cloud, PairReach(0.09, band_lo, band_hi),
            LiveCandidates(theta, CandidatePoses(off, hh, dep), alive), np.array(boxes), min_points)
    h_ref, c_ref = gripper_cloud_hits_reference(*args)
    h, cl = gripper_cloud_hits(*args)
    assert (h_ref >= min_points).any()
    if len(boxes) == 1:  # the big palm box meets some point at every approach; the finger alone does not
        assert (h_ref >= min_points).sum() < alive.sum()
    np.testing.assert_array_equal(h, h_ref)
    np.testing.assert_allclose(cl, c_ref, rtol=1e-5, atol=1e-7)
