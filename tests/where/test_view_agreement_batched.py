"""The views' agreement formed in batches gives the bits of its one-at-a-time reference: each answer's pixel
distance (:func:`answer_distances`) against a k-d tree's nearest distance, the meetings of a place's candidates
(:func:`meets`) against :func:`triangulate` per candidate, and the over-determined points (three or more rays) from
``agree`` alone. Random rings of views over the plane of ``test_consensus``, with several answers per view."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from point2act.where.view_agreement import agreement, answer_distances, meets, swept_candidates, triangulate
from test_consensus import H, W, proj, ring, view  # noqa: E402  (pytest puts this folder on sys.path)


def scattered_views(seed: int, n: int = 14):
    """``n`` views of the plane z = 0 whose answers mark one spot (with pixel noise), a second spot in some views
    and a random pixel in a few: crossings of every kind."""
    rng = np.random.default_rng(seed)
    target, other = np.array([0.05, -0.02, 0.0]), np.array([-0.15, 0.1, 0.0])
    out = []
    for u, vm in enumerate(ring(n, phase=rng.uniform(0, 1))):
        pts = [proj(vm, target) + rng.normal(0, 1.0, 2)]
        if u % 3 == 0:
            pts.append(proj(vm, other) + rng.normal(0, 1.0, 2))
        if u % 4 == 1:
            pts.append(rng.uniform([0, 0], [W, H]))
        if u % 7 == 5:
            pts = []
        out.append(view(vm, pts, vid=u))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_answer_distances_are_a_kd_trees_bits(seed):
    v = scattered_views(seed)[0]
    uv = np.random.default_rng(seed).uniform(-20, 120, (500, 2))
    d, _ = cKDTree(v.points).query(uv)
    assert np.array_equal(answer_distances(v, uv).min(0), d)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_meets_of_a_place_are_each_candidates_triangulation(seed):
    views = scattered_views(seed)
    X, _r = swept_candidates(views)
    assert len(X) >= 5
    _seen, agree = agreement(views, X)
    got = meets(views, agree, X, range(len(X)))
    formed = 0
    for k in range(len(X)):
        agreeing = [int(u) for u in np.flatnonzero(agree[:, k] >= 0.5)]
        if len(agreeing) < 2:
            assert got[k] is None
            continue
        uvs = []
        for u in agreeing:
            uv_k, _z = views[u].project(X[k][None])
            uvs.append(views[u].points[np.argmin(np.linalg.norm(views[u].points - uv_k[0], axis=1))])
        T, cond = triangulate([views[u] for u in agreeing], uvs, return_conditioning=True)
        gT, gcond, _res, gagreeing, _vs, guvs = got[k]
        assert gagreeing == agreeing
        assert np.array_equal(np.asarray(guvs), np.asarray(uvs))
        assert np.array_equal(gT, T) and gcond == cond  # the same bits
        formed += 1
    assert formed >= 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_over_determined_points_follow_from_agree(seed):
    views = scattered_views(seed)
    X, _r = swept_candidates(views)
    rng = np.random.default_rng(seed)
    X = np.r_[X, rng.uniform(-0.3, 0.3, (200, 3)) * [1, 1, 0.2]]
    seen, agree, agree_a, own, rays = agreement(views, X, per_answer=True)
    s2, a2 = agreement(views, X)
    assert np.array_equal(seen, s2) and np.array_equal(agree, a2)
    assert np.array_equal((agree >= 0.5).sum(0) >= 3, rays >= 3)
    assert (rays >= 3).any() and (rays < 3).any()
    # each view's agreement is its best answer's
    for u in range(len(views)):
        if (own == u).any():
            assert np.array_equal(agree_a[own == u].max(0), agree[u])
