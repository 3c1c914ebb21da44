"""The views' answers as evidence of matter (:mod:`point2act.grasp.answered`) against the closed form of two
perpendicular views: a cell is answered where it lies within the blob's radius (sigma x depth / focal length) of
the answer's ray in both."""

from __future__ import annotations

import numpy as np

from point2act.grasp.answered import answered_cells, shell
from point2act.grasp.view_agreement import ViewAnswers

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


def test_shell_is_the_outer_layer():
    m = np.zeros((5, 5, 5), bool)
    m[1:4, 1:4, 1:4] = True
    s = shell(m)
    assert s.sum() == 27 - 1 and not s[2, 2, 2] and s[1, 1, 1]
