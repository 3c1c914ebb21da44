"""The eval split's answers (point2act.method.answers.eval_points): read by eval index, in stored pixels."""

from __future__ import annotations

import numpy as np

from point2act.method.answers import eval_points
from point2act.points import PointsFile


def _pf(coordinates, points):
    return PointsFile(prompt="p", coordinates=coordinates, points=points)


def test_eval_points_are_the_eval_views_answers_by_eval_index():
    pf = _pf("pixels", {"a.png": [(10.0, 20.0)], "e1.png": [(30.0, 40.0), (5.0, 6.0)], "e2.png": []})
    out = eval_points(pf, ["e0.png", "e1.png", "e2.png"], [(100, 80)] * 3)
    assert sorted(out) == [1, 2]  # e0 has no entry; e2 answered [] (it sees, and does not agree)
    assert out[1].tolist() == [[30.0, 40.0], [5.0, 6.0]] and out[2].shape == (0, 2)


def test_eval_points_in_normalised_coordinates_use_each_eval_image_size():
    pf = _pf("normalized", {"e0.png": [(0.5, 0.25)], "t.png": [(0.1, 0.1)]})
    out = eval_points(pf, ["e0.png"], [(200, 100)])
    assert np.allclose(out[0], [[100.0, 25.0]])
