"""The views' answers as evidence of matter (:mod:`point2act.grasp.answered`) against the closed form of two
perpendicular views: a cell is answered where it lies within the blob's radius (sigma x depth / focal length) of
the answer's ray in both."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.grasp.answered import answer_marks, answered_cells, shell
from point2act.where.view_agreement import ViewAnswers

F, C, SIGMA = 100.0, 50.0, 5.0
K = np.array([[F, 0, C], [0, F, C], [0, 0, 1.0]])


def _view(R: np.ndarray, t: np.ndarray, view_id: int, answer=(C, C)) -> ViewAnswers:
    vm = np.eye(4)
    vm[:3, :3], vm[:3, 3] = R, t
    return ViewAnswers(vm, K, np.array([answer], dtype=np.float64), SIGMA, np.zeros((100, 100)), view_id=view_id)


def _two_views():
    a = _view(np.eye(3), np.array([0.0, 0.0, 1.0]), 0)  # at (0, 0, -1) looking along +z
    rot = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # camera z = world x
    b = _view(rot, np.array([0.0, 0.0, 1.0]), 1)  # at (-1, 0, 0) looking along +x
    return a, b


TAKEN = {"train": {0: [0], 1: [0]}}


def test_cells_inside_both_blobs_are_answered():
    X = np.array([[0, 0, 0], [0.03, 0, 0], [0.03, 0.03, 0], [0.06, 0, 0], [0, 0, 0.06], [0, 0.06, 0]], float)
    got = answered_cells(X, _two_views(), TAKEN)
    # radius at depth 1: SIGMA / F = 0.05; (0.06, 0, 0) leaves view A's blob, (0, 0, 0.06) view B's, y both
    assert got.tolist() == [True, True, True, False, False, False]


def test_one_agreeing_view_or_an_answer_elsewhere_adds_nothing():
    X = np.zeros((1, 3))
    a, b = _two_views()
    assert not answered_cells(X, [a, b], {"train": {0: [0]}}).any()  # the place took no answer from view 1
    assert not answered_cells(X, [a], TAKEN).any()
    moved = _view(b.viewmat[:3, :3], b.viewmat[:3, 3], 1, answer=(C + 20, C))  # view 1 points elsewhere
    assert not answered_cells(X, [a, moved], TAKEN).any()


def test_a_view_that_does_not_see_a_cell_does_not_veto_it():
    a, b = _two_views()
    c = _view(np.eye(3), np.array([0.0, 0.0, 1.0]), 2)
    far = np.array([[0.0, 0.0, -2.0]])  # behind view 2 (a copy of view 0): not seen, no veto, no vote
    X = np.vstack([np.zeros((1, 3)), far])
    got = answered_cells(X, [a, b, c], {"train": {0: [0], 1: [0], 2: [0]}})
    assert got.tolist() == [True, False]


def test_marks_are_the_taken_answers_on_each_views_surface():
    """Closed form: view 0 at (0, 0, -1) looking along +z with its surface 0.8 in front (z = -0.2); an answer at
    the principal point lands on the axis, one 20 px right 0.8 x 20 / F to the side. Only the answers the place
    took mark anything, and one over no surface (NaN depth) marks nothing."""
    a = _view(np.eye(3), np.array([0.0, 0.0, 1.0]), 0, answer=(C, C))
    a.points = np.array([[C, C], [C + 20, C], [C, C + 30]])
    a.depth = np.full((100, 100), 0.8)
    a.depth[int(C) + 29:, :] = np.nan
    got = answer_marks([a], {"train": {0: [0, 1, 2]}})
    np.testing.assert_allclose(got, [[0.0, 0.0, -0.2], [0.8 * 20 / F, 0.0, -0.2]], atol=1e-12)
    np.testing.assert_allclose(answer_marks([a], {"train": {0: [1]}}), [[0.8 * 20 / F, 0.0, -0.2]], atol=1e-12)
    assert answer_marks([a], {"eval": {0: [0]}}).shape == (0, 3)


def test_shell_is_the_outer_layer():
    m = np.zeros((5, 5, 5), bool)
    m[1:4, 1:4, 1:4] = True
    s = shell(m)
    assert s.sum() == 27 - 1 and not s[2, 2, 2] and s[1, 1, 1]


@pytest.mark.parametrize("seed", range(4))
def test_shell_is_scipy_binary_erosion_complement(seed):
    from scipy.ndimage import binary_erosion

    rng = np.random.default_rng(seed)
    m = rng.random((7, 9, 6)) < 0.7  # touches the grid's border too
    np.testing.assert_array_equal(shell(m), m & ~binary_erosion(m, border_value=0))


def _painted_grip():
    """The pan with its bar handle missing from the field: the field's surface is the table and the pan's body,
    the bar painted onto the table behind it (relevancy on the table where the views see the bar). Twelve views
    point at the bar's middle. Returns the true scene, the field, its depth views and the views' answers."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from depth_scenes import K as K_, H as H_, W as W_, Scene, pan_scene

    from point2act.fusion import DepthViews
    from point2act.grasp.evaluate import raycast_depth
    from point2act.heatmap import sigma_px

    truth = pan_scene()
    bare = Scene(parts={k: v for k, v in truth.parts.items() if k != "bar"}, target="pan", look_at=truth.look_at)
    V = truth.viewmats()
    Ks = np.repeat(K_[None], len(V), 0)
    _d_true, lab_true = raycast_depth(list(truth.parts.values()), V, Ks, W_, H_)
    d, _lab = raycast_depth(list(bare.parts.values()), V, Ks, W_, H_)
    seen_bar = lab_true == list(truth.parts).index("bar")
    depth = DepthViews(d.astype(np.float32), (d > 0).astype(np.float32), Ks, V, 0.0,
                       np.where(seen_bar, 0.9, 0.05).astype(np.float32))
    pts, names = bare.surface(density=2.5e5, seed=0, skip=())
    under = (pts[:, 0] > 0.09) & (pts[:, 0] < 0.21) & (np.abs(pts[:, 1]) < 0.014) & (names == "table")
    field = {"means": pts, "opacities": np.full(len(pts), 0.9), "scales": np.full((len(pts), 3), 0.002),
             "relevancy": np.where(under, 0.9, 0.05)}
    mid = np.array([0.15, 0.0, 0.031])
    views = []
    for k in range(len(V)):
        va = ViewAnswers(V[k], K_, np.zeros((0, 2)), sigma_px(H_, W_), np.where(d[k] > 0, d[k], np.nan), view_id=k)
        uv, z = va.project(mid[None])
        views.append(ViewAnswers(V[k], K_, uv, va.sigma_px, va.depth, view_id=k))
    return truth, field, depth, views


def test_a_grip_the_field_paints_onto_the_table_is_grasped_where_the_answers_meet(monkeypatch):
    """The views agree on the bar the field lacks: the cells where their answers' blobs meet are free (the views
    see the table through them) and become the target's matter, and the top grasp, judged on the true meshes,
    closes on the bar. Without the rule the planner has no bar to close on."""
    from exporting import export_arrays

    import point2act.export.scene as scene_mod
    from point2act.grasp import GraspConfig
    from point2act.where.consensus import consensus
    from point2act.grasp.evaluate import GroundTruth, judge_grasp

    truth, field, depth, views = _painted_grip()
    cfg = GraspConfig()
    out = export_arrays(field, None, "the handle", cfg, True, None, None, depth, views=views)
    assert out["fusion"]["answered_cells"] > 0
    pts, names = truth.surface(density=4e5, seed=1, skip=())
    assert out["grasps"], out.get("warning")
    verdict = judge_grasp(out["grasps"][0], cfg.gripper, GroundTruth(pts, names), "bar", tol=0.002)
    assert verdict.on_target, verdict
    monkeypatch.setattr(scene_mod, "answered_matter", lambda occ, *a: (occ, np.zeros((0, 3))))
    plain = export_arrays(field, None, "the handle", cfg, True, None, None, depth, views=views)
    assert "answered_cells" not in plain["fusion"]
    true_scene = GroundTruth(pts, names)
    held = [judge_grasp(g, cfg.gripper, true_scene, "bar", tol=0.002).on_target for g in plain.get("grasps", [])[:1]]
    assert held != [True]
    assert consensus(views).best.votes >= 10  # the views agree: the evidence is theirs, not the field's
