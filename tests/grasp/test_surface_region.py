"""The target as a surface (:func:`point2act.grasp.target.surface_region`): thresholded, scoped, connected."""

import numpy as np
import pytest

from point2act.grasp.target import SeenSurface, surface_region


def _grid(x0, n=10, step=0.002):
    g = np.arange(n) * step
    xx, yy = np.meshgrid(g, g, indexing="ij")
    return np.c_[xx.ravel() + x0, yy.ravel(), np.zeros(n * n)]


@pytest.mark.parametrize("gap", [0.01, 0.05])
def test_the_connected_relevant_piece_nearest_the_action_point(gap):
    """Two relevant patches ``gap`` apart (more than ``link``) and a dim one: only the patch by the action point
    is the target; the dim patch is below the threshold; a point no view sees (NaN) never is."""
    a, b, dim = _grid(0.0), _grid(0.018 + gap), _grid(-0.1)
    P = np.concatenate([a, b, dim, [[0.001, 0.001, 0.0]]])
    rel = np.r_[np.full(len(a), 0.9), np.full(len(b), 0.8), np.full(len(dim), 0.3), np.nan]
    out = surface_region(SeenSurface(P, rel, np.ones(len(P), bool)), a[0], threshold=0.5, link=0.004)
    assert out[: len(a)].all() and not out[len(a):].any()
    # the other patch when the action point sits on it
    out = surface_region(SeenSurface(P, rel, np.ones(len(P), bool)), b[5], threshold=0.5, link=0.004)
    assert out[len(a): len(a) + len(b)].all() and out.sum() == len(b)


def test_a_lone_point_beside_the_action_point_is_not_the_target():
    """A fused point with no neighbour within ``link`` (the fusion's noise) nearer the action point than the
    relevant patch: the patch is the target; a lone point is taken only where there is nothing else."""
    a = _grid(0.0)
    stray = np.array([[-0.006, 0.0, 0.0]])
    P = np.concatenate([a, stray])
    rel = np.r_[np.full(len(a), 0.8), 0.9]
    ap = np.array([-0.005, 0.0, 0.0])  # 1 mm from the stray point, 5 mm from the patch
    out = surface_region(SeenSurface(P, rel, np.ones(len(P), bool)), ap, threshold=0.5, link=0.004)
    assert out[: len(a)].all() and not out[-1]
    lone = SeenSurface(stray, rel[-1:], np.ones(1, bool))
    assert surface_region(lone, ap, threshold=0.5, link=0.004).tolist() == [True]


def test_a_piece_no_answer_lands_on_is_not_the_target():
    """A whole object: its top (a relevant patch) and a fragment of its side cut off by the threshold, which lies
    nearer the action point (inside the object, where the views' rays to its middle meet). The answers land on
    the top: the top is the target. Without marks the nearest piece is; where answers land on both, too."""
    top, side = _grid(0.0), _grid(0.0, n=3) + [0.0, 0.0, -0.012]
    P = np.concatenate([top, side])
    rel = np.r_[np.full(len(top), 0.8), np.full(len(side), 0.7)]
    ap = np.array([0.001, 0.001, -0.01])  # 2 mm from the fragment, 10 mm below the top
    scope = np.ones(len(P), bool)
    marks = top[[11, 45, 78]] + [0.0, 0.0, 0.002]
    out = surface_region(SeenSurface(P, rel, scope), ap, threshold=0.5, link=0.004, marks=marks)
    assert out[: len(top)].all() and not out[len(top):].any()
    nearest = surface_region(SeenSurface(P, rel, scope), ap, threshold=0.5, link=0.004)
    assert nearest[len(top):].all() and not nearest[: len(top)].any()
    both = surface_region(SeenSurface(P, rel, scope), ap, 0.5, 0.004, marks=np.r_[marks, side[:1]])
    assert both.tolist() == nearest.tolist()
    unmarked = surface_region(SeenSurface(P, rel, scope), ap, 0.5, 0.004, marks=np.zeros((0, 3)))
    assert unmarked.tolist() == nearest.tolist()


def test_of_the_marked_pieces_the_one_at_the_action_point_is_the_target():
    """A rim in arcs: the answers land on both arcs, most of them on the far one. The grasp goes to the arc at
    the action point, where the views' consensus put it, not to the arc most answers hit."""
    near_arc, far_arc = _grid(0.0), _grid(0.06)
    P = np.concatenate([near_arc, far_arc])
    rel = np.full(len(P), 0.8)
    marks = np.r_[near_arc[[5]], far_arc[[3, 40, 77]]]
    out = surface_region(SeenSurface(P, rel, np.ones(len(P), bool)), near_arc[0], 0.5, 0.004, marks=marks)
    assert out[: len(near_arc)].all() and not out[len(near_arc):].any()


def test_scope_and_threshold_follow_the_chosen_place():
    """The threshold is relative to the largest relevancy in scope: a patch outside scope (a place the views'
    consensus rejected) neither becomes the target nor raises the bar; nothing seen in scope: no target."""
    a, far = _grid(0.0), _grid(0.2)
    P = np.concatenate([a, far])
    rel = np.r_[np.full(len(a), 0.3), np.full(len(far), 1.0)]
    scope = np.r_[np.ones(len(a), bool), np.zeros(len(far), bool)]
    out = surface_region(SeenSurface(P, rel, scope), a[0], threshold=0.5, link=0.004)
    assert out[: len(a)].all() and not out[len(a):].any()
    rel_unseen = np.r_[np.full(len(a), np.nan), np.full(len(far), 1.0)]
    assert not surface_region(SeenSurface(P, rel_unseen, scope), a[0], threshold=0.5, link=0.004).any()


def test_the_region_is_the_targets_surface_not_the_relevant_gaussians():
    """:func:`point2act.export.scene.region_on_surface`: a relevant cluster chained 20 cm across the scene (a field
    refit to answers with outliers) does not size the grids the gripper is checked in. The region becomes the
    box of the fused surface marked as the target, its Gaussians those within ``near`` of that surface (opaque
    ones only), the action point kept; with no opaque Gaussian that near, the region is left as it was."""
    from point2act.export.scene import region_on_surface
    from point2act.grasp.result import Region

    patch = _grid(0.0)  # 1.8 x 1.8 cm of fused surface
    rng = np.random.default_rng(0)
    on = patch[rng.choice(len(patch), 30, replace=False)] + [0.0, 0.0, 0.001]  # Gaussians rendering the patch
    far = np.c_[np.linspace(0.05, 0.2, 10), np.zeros(10), np.zeros(10)]  # the chained relevant Gaussians
    faint = patch[:5] + [0.0, 0.0, 0.0005]
    means = np.concatenate([on, far, faint])
    opac = np.r_[np.full(len(on) + len(far), 0.9), np.full(len(faint), 0.02)]
    chained = Region(action_point=patch[3].copy(), center=np.array([0.1, 0.0, 0.0]), extent=np.array([0.2, 0.02, 0.01]),
                     num_gaussians=len(on) + len(far), indices=np.arange(len(on) + len(far)))
    r = region_on_surface(chained, patch, means, opac, near=0.004)
    np.testing.assert_allclose(r.action_point, patch[3])
    assert sorted(r.indices.tolist()) == list(range(len(on)))  # not the far chain, not the faint ones
    assert r.num_gaussians == len(on)
    assert np.all(r.extent <= 0.0181) and r.extent[0] > 0.015
    np.testing.assert_allclose(r.center[:2], [0.009, 0.009], atol=1e-3)
    # nothing opaque renders the surface: the region stays
    assert region_on_surface(chained, patch + [0.0, 0.0, 0.05], means, opac, near=0.004) is chained
