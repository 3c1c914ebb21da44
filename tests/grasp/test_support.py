"""Multi-view support (point2act.grasp.support) and the supported region (relevant_region(support=...))."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from point2act.grasp import GraspConfig, relevant_region
from point2act.grasp.support import Support, region_support, region_votes, support_from_dense, view_support


def _blob(center, n, rng, sigma=0.004):
    return np.asarray(center, dtype=np.float64) + sigma * rng.standard_normal((n, 3))


def test_view_support_counts_seen_and_agree():
    # 3 pixels, 3 Gaussians: g0 drawn on a positive pixel, g1 on a negative one, g2 hidden (weight ~0)
    W = np.array([[0.9, 0.0, 1e-5], [0.0, 0.8, 0.0], [0.1, 0.1, 0.0]])
    t = np.array([1.0, 0.0, 0.0])
    sup = support_from_dense([W, W], [t, t], tau=0.05)
    assert sup.views_seen.tolist() == [2, 2, 0]
    assert sup.views_agree.tolist() == [2, 0, 0]
    assert sup.supervised_views == 2
    # CSR path gives the same
    crow = np.array([0, 2, 3, 5])
    col = np.array([0, 2, 1, 0, 1])
    val = np.array([0.9, 1e-5, 0.8, 0.1, 0.1])
    seen, agree, w, share = view_support(crow, col, val, t, 3, tau=0.05)
    assert seen.tolist() == [True, True, False] and agree.tolist() == [True, False, False]
    assert np.allclose(w, W.sum(0))
    assert np.allclose(share, (W * t[:, None]).sum(0) / t.sum())
    assert np.allclose(sup.votes, 2 * share)


def test_a_coarse_gaussian_holding_the_blob_agrees():
    # 10 pixels, the view's point blob on pixels 0-1; g0 is a large Gaussian (weight 0.5 on all 10
    # pixels): its weighted mean target is only 0.2, but it carries half the view's target mass;
    # g1 brushes one blob pixel and five background ones; g2 sits on background only
    W = np.zeros((10, 3))
    W[:, 0] = 0.5
    W[1, 1], W[2:7, 1] = 0.2, 0.3
    W[7:, 2] = 0.9
    t = np.zeros(10)
    t[:2] = 1.0
    sup = support_from_dense([W], [t], tau=0.05)
    assert sup.views_seen.tolist() == [1, 1, 1]
    assert sup.views_agree.tolist() == [1, 0, 0]
    off = support_from_dense([W], [t], tau=0.05, share=1.01)  # the mean rule alone
    assert off.views_agree.tolist() == [0, 0, 0]
    # a view answering [] has no mass to hold: still negative evidence
    assert support_from_dense([W], [np.zeros(10)], tau=0.05).views_agree.tolist() == [0, 0, 0]


def test_empty_view_is_negative_evidence():
    W = np.array([[1.0, 0.0], [0.0, 1.0]])
    pos = np.array([1.0, 0.0])
    empty = np.zeros(2)  # a view answering []
    sup = support_from_dense([W, W, W], [pos, empty, empty], tau=0.05)
    assert sup.views_seen[0] == 3 and sup.views_agree[0] == 1
    assert sup.agreement[0] == pytest.approx(1 / 3)
    assert not sup.supported(3, 0.5)[0]


def test_consensus_beats_mass():
    rng = np.random.default_rng(0)
    a = _blob([0.0, 0.0, 0.0], 400, rng)  # big, bright, but only 2 of 10 views mark it
    b = _blob([0.3, 0.0, 0.0], 60, rng)  # small, marked by 8 views
    means = np.concatenate([a, b])
    rel = np.ones(len(means))
    seen = np.full(len(means), 9)
    agree = np.concatenate([np.full(len(a), 5), np.full(len(b), 8)])
    sup = Support(seen, agree, 10)
    reg_mass = relevant_region(means, np.ones(len(means)), rel, GraspConfig())
    assert np.linalg.norm(reg_mass.action_point - a.mean(0)) < 0.05
    reg = relevant_region(means, np.ones(len(means)), rel, GraspConfig(), support=sup)
    assert np.linalg.norm(reg.action_point - b.mean(0)) < 0.05
    assert reg.support_level == "supported"
    d = region_support(sup, reg.indices, reg.action_index)
    assert d["views_agree"] == 8 and d["views_seen"] == 9 and d["supervised_views"] == 10 and not d["weak"]


def test_unseen_relevant_gaussians_are_ignored():
    rng = np.random.default_rng(1)
    target = _blob([0.0, 0.0, 0.1], 80, rng)
    hidden = _blob([0.0, 0.0, -0.1], 500, rng)  # under the table: relevancy 1, no view sees it
    means = np.concatenate([target, hidden])
    rel = np.concatenate([np.full(len(target), 0.7), np.ones(len(hidden))])
    seen = np.concatenate([np.full(len(target), 12), np.zeros(len(hidden), dtype=int)])
    agree = np.concatenate([np.full(len(target), 10), np.zeros(len(hidden), dtype=int)])
    reg = relevant_region(means, np.ones(len(means)), rel, GraspConfig(), support=Support(seen, agree, 15))
    assert reg.action_point[2] > 0.05


def test_weak_support_is_flagged():
    sup = Support(np.array([2, 2]), np.array([1, 0]), 2)
    d = region_support(sup, np.array([0, 1]), 0)
    assert d["weak"] and "supervised views" in d["reason"]


def test_no_support_raises():
    means = np.zeros((10, 3)) + np.arange(10)[:, None] * 0.001
    sup = Support(np.ones(10, dtype=int), np.ones(10, dtype=int), 5)  # each seen by one view only
    with pytest.raises(ValueError, match="supervised views"):
        relevant_region(means, np.ones(10), np.ones(10), GraspConfig(), support=sup)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(5, 120),
    views=st.integers(2, 20),
    lonely=st.integers(0, 10_000),
)
def test_single_view_gaussian_never_action_point(seed, n, views, lonely):
    """With two or more supervised views, a Gaussian seen by only one view is never the action point."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-0.05, 0.05, (n, 3))
    opac = rng.uniform(0.2, 1.0, n)
    rel = rng.uniform(0.0, 1.0, n)
    seen = rng.integers(0, views + 1, n)
    agree = np.minimum(rng.integers(0, views + 1, n), seen)
    i = lonely % n
    seen[i], agree[i], rel[i], opac[i] = 1, 1, 1.0, 1.0  # the strongest, most confident, single-view Gaussian
    sup = Support(seen, agree, views)
    try:
        reg = relevant_region(means, opac, rel, GraspConfig(), support=sup)
    except ValueError:
        return  # no supported region: nothing is chosen, which is allowed
    assert reg.action_index is not None and reg.action_index != i
    assert sup.views_seen[reg.action_index] >= 2
    assert not np.allclose(reg.action_point, means[i]) or np.any(
        np.all(np.isclose(means[sup.views_seen >= 2], means[i]), axis=1))
    assert np.all(sup.views_seen[reg.indices] >= 2)


def test_votes_split_each_view_by_the_share_of_its_mass():
    # 4 pixels, 3 Gaussians; view A's blob covers pixels 0-1 (g0 on 0, g1 on 1), view B's pixel 2 (g2)
    W = np.array([[0.6, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]])
    ta = np.array([1.0, 1.0, 0.0, 0.0])
    tb = np.array([0.0, 0.0, 1.0, 0.0])
    sup = support_from_dense([W, W], [ta, tb], tau=0.05)
    # closed form: share_v(i) = sum_p W[p, i] t_v[p] / sum_p t_v[p]
    assert np.allclose(sup.votes, [0.6 / 2, 1.0 / 2, 0.5 / 1])
    # no view gives more than one vote in all
    assert (W.T @ ta).sum() / ta.sum() <= 1 and (W.T @ tb).sum() / tb.sum() <= 1
    labels = np.array([0, 0, 1])
    assert np.allclose(region_votes(sup, labels, np.arange(3), 2), [0.8, 0.5])
    assert np.allclose(region_votes(sup.subset(np.array([2, 0])), np.array([1, -1]), np.arange(2), 2), [0.0, 0.5])


def test_votes_pick_the_region_most_views_point_at():
    """A thin target whose views' points land on *different* Gaussians (no Gaussian is marked by many
    views) against a confuser where a minority of views all hit the same big Gaussian: the consensus
    rule (most views on one Gaussian) takes the confuser, the votes (views per region) the target."""
    rng = np.random.default_rng(3)
    target = _blob([0.0, 0.0, 0.0], 60, rng)
    confuser = _blob([0.3, 0.0, 0.0], 60, rng)
    means = np.concatenate([target, confuser])
    n = len(means)
    views = 10
    seen = np.full(n, views)
    agree = np.zeros(n, dtype=int)
    votes = np.zeros(n)
    # 7 views point at the target, each at a different pair of its Gaussians (shares 0.45 each)
    for v in range(7):
        j = rng.choice(len(target), 2, replace=False)
        agree[j] += 1
        votes[j] += 0.45
    # 3 views at the same 6 Gaussians of the confuser (share 0.15 each)
    agree[len(target) : len(target) + 6] += 3
    votes[len(target) : len(target) + 6] += 3 * 0.15
    sup = Support(seen, agree, views, None, votes)
    rel = np.ones(n)
    by_votes = relevant_region(means, np.ones(n), rel, GraspConfig(), support=sup)
    assert np.linalg.norm(by_votes.action_point - target.mean(0)) < 0.05
    cfg = GraspConfig()
    cfg.region.choose_region = "consensus"
    cfg.region.support_min_agreement = 0.0
    cfg.region.support_min_views = 1
    by_max = relevant_region(means, np.ones(n), rel, cfg, support=sup)
    assert np.linalg.norm(by_max.action_point - confuser.mean(0)) < 0.05


def test_region_votes_count_the_surroundings():
    """With ``means`` and a radius, Gaussians near a region (not in it) give it their votes, each to the
    region of its nearest member; Gaussians farther than the radius from every region give none."""
    means = np.array([[0.0, 0, 0], [0.01, 0, 0], [1.0, 0, 0], [1.01, 0, 0],  # two regions of two
                      [0.02, 0, 0], [0.98, 0, 0], [0.5, 0, 0]])  # near region 0, near region 1, far
    votes = np.array([0.1, 0.1, 0.2, 0.2, 0.5, 0.05, 3.0])
    sup = Support(np.full(7, 5), np.full(7, 1), 5, None, votes)
    idx, labels = np.arange(4), np.array([0, 0, 1, 1])
    assert np.allclose(region_votes(sup, labels, idx, 2), [0.2, 0.4])  # own Gaussians only
    assert np.allclose(region_votes(sup, labels, idx, 2, means, 0.05), [0.2 + 0.5, 0.4 + 0.05])
    eligible = np.ones(7, bool)
    eligible[4] = False  # e.g. transparent: its votes do not count
    assert np.allclose(region_votes(sup, labels, idx, 2, means, 0.05, eligible), [0.2, 0.45])
    # a radius reaching the far Gaussian gives it to the nearer region (0.5 from both: the first)
    assert region_votes(sup, labels, idx, 2, means, 0.6).sum() == pytest.approx(votes.sum())


@pytest.mark.parametrize("min_own", [0.0, 0.5])
def test_peak_among_strong_gaussians(min_own):
    """A loop of strong Gaussians (a handle seen with its votes) around weak ones (the mug body
    inside it): the weighted density peak alone lands inside the loop, where the most weight lies
    around a point; with ``min_own`` it is a Gaussian of the loop."""
    from point2act.grasp.region import density_peak

    t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    loop = np.stack([0.02 * np.cos(t), 0.02 * np.sin(t), np.zeros_like(t)], 1)
    inner = np.random.default_rng(0).uniform(-0.004, 0.004, (6, 3))
    pts = np.concatenate([loop, inner])
    w = np.r_[np.ones(len(loop)), np.full(len(inner), 0.2)]
    p, i = density_peak(pts, w, 0.021, return_index=True, min_own=min_own)
    if min_own == 0.0:
        assert i >= len(loop)  # inside the loop: each weak one sees the whole loop
    else:
        assert i < len(loop) and np.linalg.norm(p) == pytest.approx(0.02)


def _two_layer_view(W=8, H=6):
    """A view of two surfaces: g0 (depth 1.0) covers the left half, g1 (depth 1.3) the right half, both
    opaque; g2 (depth 2.0) is faint everywhere. CSR rows = pixels, row-major."""
    crow, col, val = [0], [], []
    for i in range(H):
        for j in range(W):
            front = 0 if j < W // 2 else 1
            col += [front, 2]
            val += [0.9, 0.05]
            crow.append(len(col))
    return np.array(crow), np.array(col), np.array(val), np.array([1.0, 1.3, 2.0])


@pytest.mark.parametrize("factor", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("std", [None, (0.0, 0.2, 0.05)])
def test_depth_gate_closed_form(factor, std):
    from point2act.grasp.support import ViewGate, depth_gate

    crow, col, val, z = _two_layer_view()
    # a point on the left surface (pixel (1, 2)); sigma 2 px, focal 40 px: sigma_z = 2 * 1.0 / 40
    gate = ViewGate(depth=z, points=np.array([[1.5, 2.5]]), sigma_px=2.0, focal=40.0, width=8,
                    depth_std=None if std is None else np.array(std))
    g = depth_gate(crow, col, val, gate, factor)
    # the reference depth is the weighted median at the picked pixel: g0's (0.9 of 0.95); a Gaussian's
    # own extent along the ray widens its gate
    sz = factor * 2.0 * 1.0 / 40.0
    var = sz**2 + (0.0 if std is None else np.array(std)[col] ** 2)
    expect = np.exp(-0.5 * (z[col] - 1.0) ** 2 / var)
    assert np.allclose(g, expect)
    assert np.allclose(g[col == 0], 1.0)


def test_depth_gate_moves_the_vote_to_the_picked_surface():
    from point2act.grasp.support import ViewGate, depth_gate

    crow, col, val, z = _two_layer_view()
    # a blob centred on the boundary, the point itself on the front surface (left)
    yy, xx = np.divmod(np.arange(48), 8)
    t = np.exp(-((xx + 0.5 - 3.9) ** 2 + (yy + 0.5 - 2.5) ** 2) / (2 * 2.0**2))
    free = view_support(crow, col, val, t, 3, tau=0.05)[3]
    gate = depth_gate(crow, col, val, ViewGate(z, np.array([[3.9, 2.5]]), 2.0, 40.0, 8))
    gated = view_support(crow, col, val, t, 3, tau=0.05, gate=gate)[3]
    assert free[1] > 0.3  # without the gate the surface behind takes a large share
    assert gated[0] > 0.99 and gated[1] < 1e-3
    assert np.isclose(gated.sum(), 1.0)  # a view's shares of its gated mass sum to one


def test_depth_gate_leaves_background_points_and_empty_views_alone():
    from point2act.grasp.support import ViewGate, depth_gate

    crow, col, val, z = _two_layer_view()
    # the picked pixel has no Gaussian (off the image): nothing is gated
    off = ViewGate(z, np.array([[20.0, 2.0]]), 2.0, 40.0, 8)
    assert np.allclose(depth_gate(crow, col, val, off), 1.0)
    none = ViewGate(z, np.zeros((0, 2)), 2.0, 40.0, 8)
    assert np.allclose(depth_gate(crow, col, val, none), 1.0)
    # two points: each pixel is gated by its nearest point's surface
    two = ViewGate(z, np.array([[0.5, 0.5], [7.5, 0.5]]), 2.0, 40.0, 8)
    g = depth_gate(crow, col, val, two)
    left = np.repeat(np.arange(48), 2) % 8 < 4
    assert np.allclose(g[left & (col == 0)], 1.0) and np.allclose(g[~left & (col == 1)], 1.0)


def test_support_keeps_which_views_see_each_gaussian():
    # view 0 sees g0 (0.9) and g1 (0.2); view 1 sees g1 only; g2 is below tau in both
    W0 = np.array([[0.9, 0.2, 0.01]])
    W1 = np.array([[0.0, 0.7, 0.01]])
    sup = support_from_dense([W0, W1], [np.ones(1), np.zeros(1)], tau=0.05)
    assert np.allclose(sup.view_weight.toarray(), [[0.9, 0.2, 0.0], [0.0, 0.7, 0.0]])
    assert sup.view_weight.toarray().astype(bool).sum(0).tolist() == sup.views_seen.tolist()
    assert np.allclose(sup.subset(np.array([1])).view_weight.toarray(), [[0.2], [0.7]])


def test_region_seen_counts_views_with_enough_of_the_region():
    from scipy.sparse import csr_matrix

    from point2act.grasp.support import region_seen

    # 3 views x 4 Gaussians; regions {0, 1} and {2}; Gaussian 3 in no region
    vw = csr_matrix(np.array([[2.0, 3.0, 0.0, 9.0],
                              [0.5, 0.4, 6.0, 0.0],
                              [0.0, 0.0, 1.0, 0.0]]))
    sup = Support(np.array([2, 2, 2, 1]), np.zeros(4, int), 3, None, np.zeros(4), vw)
    labels, idx = np.array([0, 0, 1, -1]), np.arange(4)
    assert region_seen(sup, labels, idx, 2, min_weight=1.0).tolist() == [1.0, 2.0]  # 0.9 < 1 in view 1
    assert region_seen(sup, labels, idx, 2, min_weight=0.5).tolist() == [2.0, 2.0]
    assert region_seen(sup, labels, idx, 2, min_weight=5.0).tolist() == [1.0, 1.0]


def test_rate_prefers_the_region_fewer_seeing_views_deny():
    """Two alike candidates with the same votes: the target hidden in 4 of 10 views (they answer
    "not in view"), the confuser seen by all 10. Votes tie (the larger mass, the confuser, wins);
    the rate (votes over the views that see a region) takes the target."""
    from scipy.sparse import csr_matrix

    rng = np.random.default_rng(5)
    target = _blob([0.0, 0.0, 0.0], 40, rng)
    confuser = _blob([0.3, 0.0, 0.0], 50, rng)
    means = np.concatenate([target, confuser])
    n, views = len(means), 10
    vw = np.zeros((views, n))
    vw[:6, :40] = 1.0  # views 0-5 see the target, every view sees the confuser
    vw[:, 40:] = 1.0
    votes = np.r_[np.full(40, 5 / 40), np.full(50, 5 / 50)]  # 5 views each
    sup = Support(vw.astype(bool).sum(0), np.full(n, 1), views, None, votes, csr_matrix(vw))
    rel = np.r_[np.full(40, 0.9), np.ones(50)]  # the confuser has a little more relevancy mass

    def chosen(cfg):
        return relevant_region(means, np.ones(n), rel, cfg, support=sup).action_point

    cfg = GraspConfig()
    assert np.linalg.norm(chosen(cfg) - confuser.mean(0)) < 0.05
    cfg.region.choose_region = "rate"
    assert np.linalg.norm(chosen(cfg) - target.mean(0)) < 0.05
    # a region with fewer votes than rate_min_votes x the best's is no candidate
    votes[:40] *= 0.4
    sup.votes = votes
    assert np.linalg.norm(chosen(cfg) - confuser.mean(0)) < 0.05


def test_gaussian_std_along_matches_the_covariance():
    from scipy.spatial.transform import Rotation

    from point2act.geometry import gaussian_std_along

    rng = np.random.default_rng(2)
    R = Rotation.random(5, random_state=2)
    xyzw = R.as_quat()
    wxyz = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], 1) * 2.0  # unnormalised: normalised inside
    s = rng.uniform(0.001, 0.05, (5, 3))
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    cov = np.einsum("nij,nj,nkj->nik", R.as_matrix(), s**2, R.as_matrix())
    assert np.allclose(gaussian_std_along(wxyz, s, d), np.sqrt(np.einsum("i,nij,j->n", d, cov, d)))
    # several directions at once: one row per direction
    ds = rng.normal(size=(4, 3))
    ds /= np.linalg.norm(ds, axis=1, keepdims=True)
    assert np.allclose(gaussian_std_along(wxyz, s, ds), np.sqrt(np.einsum("vi,nij,vj->vn", ds, cov, ds)))


def _ring_scene(rng, gap_rel):
    """A rim (ring of radius 4 cm) whose relevancy the threshold cuts into two arcs (the gaps have
    ``gap_rel``), the views' votes split over the arcs (6 + 5), against a compact confuser with 9."""
    ang = np.sort(rng.uniform(0, 2 * np.pi, 500))
    ring = np.stack([0.04 * np.cos(ang), 0.04 * np.sin(ang), 0.0005 * rng.standard_normal(len(ang))], 1)
    gap = (np.abs(ang - np.pi / 2) < 0.3) | (np.abs(ang - 3 * np.pi / 2) < 0.3)
    arc_a = ~gap & (np.cos(ang) > 0)
    arc_b = ~gap & (np.cos(ang) <= 0)
    confuser = _blob([0.3, 0.0, 0.0], 80, rng)
    means = np.concatenate([ring, confuser])
    n = len(means)
    rel = np.r_[np.where(gap, gap_rel, 1.0), np.ones(len(confuser))]
    votes = np.r_[np.where(arc_a, 6.0 / arc_a.sum(), 0.0) + np.where(arc_b, 5.0 / arc_b.sum(), 0.0),
                  np.full(len(confuser), 9.0 / len(confuser))]
    sup = Support(np.full(n, 20), np.full(n, 1), 20, None, votes)
    return means, rel, sup, len(ring)


@pytest.mark.parametrize("link", [0.0, 0.5])
def test_linked_arcs_of_a_rim_vote_together(link):
    rng = np.random.default_rng(11)
    means, rel, sup, n_ring = _ring_scene(rng, gap_rel=0.35)
    cfg = GraspConfig()
    cfg.region.link_threshold = link
    r = relevant_region(means, np.ones(len(means)), rel, cfg, support=sup)
    on_ring = abs(np.linalg.norm(r.action_point[:2]) - 0.04) < 0.005
    # off: the arcs split the rim's 11 votes (6 + 5) and the confuser's 9 win; linked (through the gaps,
    # 0.35 >= 0.5 x 0.5): the rim's group wins and its larger arc is the region
    assert on_ring == (link > 0)
    if link > 0:
        assert r.action_point[0] > 0  # arc A (6 votes), not arc B
    # gaps below the link threshold (0.1 < 0.25): nothing joins the arcs, the confuser wins as without links
    means, rel, sup, _ = _ring_scene(rng, gap_rel=0.1)
    r = relevant_region(means, np.ones(len(means)), rel, cfg, support=sup)
    assert np.linalg.norm(r.action_point - [0.3, 0.0, 0.0]) < 0.03


def test_linking_keeps_the_most_voted_cluster_of_a_group():
    """Two alike objects joined at the lower threshold (twins side by side): the group is chosen, then
    within it the cluster with the most votes, whatever its relevancy mass."""
    rng = np.random.default_rng(12)
    target, twin = _blob([0.0, 0.0, 0.0], 80, rng), _blob([0.06, 0.0, 0.0], 120, rng)
    xs = np.linspace(0.012, 0.048, 30)
    bridge = np.stack([xs, np.zeros_like(xs), np.zeros_like(xs)], 1)
    means = np.concatenate([target, twin, bridge])
    n = len(means)
    rel = np.r_[np.ones(200), np.full(len(xs), 0.3)]
    votes = np.r_[np.full(80, 7 / 80), np.full(120, 3 / 120), np.zeros(len(xs))]
    sup = Support(np.full(n, 10), np.full(n, 1), 10, None, votes)
    for link in (0.0, 0.5):
        cfg = GraspConfig()
        cfg.region.link_threshold = link
        r = relevant_region(means, np.ones(n), rel, cfg, support=sup)
        assert np.linalg.norm(r.action_point - target.mean(0)) < 0.02
