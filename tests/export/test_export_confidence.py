"""grasps.json's ``confidence`` and ``candidates`` (from the views' consensus) through build_export."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.errors import Point2ActError
from point2act.export import CONFIDENCE_THRESHOLD
from exporting import export_arrays
from point2act.geometry import FrameTransform
from point2act.grasp import GraspConfig
from point2act.where.consensus import Consensus, Place, beta_confidence


def two_blobs(n=300, seed=0):
    """Two relevant blobs 10 cm apart on a plane: A at the origin, B at +x."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.005, (n, 3)) * [1, 1, 0.2]
    b = rng.normal(0, 0.005, (n, 3)) * [1, 1, 0.2] + [0.1, 0, 0]
    means = np.concatenate([a, b])
    rel = np.concatenate([np.full(n, 0.9), np.full(n, 0.8)])
    return {"means": means, "opacities": np.full(2 * n, 0.9), "scales": np.full((2 * n, 3), 0.002), "relevancy": rel}


def support_with(places, answered=24):
    v1 = places[0].votes
    v2 = places[1].votes if len(places) > 1 else 0.0
    return Consensus(places, beta_confidence(v1, v2), answered, answered)


def place(x, votes, views):
    return Place(np.array([x, 0.0, 0.0]), votes, list(range(views)), seen=float(views + 2), num_candidates=views)


def test_confident_export_lists_candidates_chosen_first():
    arrays = two_blobs()
    sup = support_with([place(0.0, 20.0, 20), place(0.1, 3.0, 3)])
    out = export_arrays(arrays, FrameTransform.identity(), "p", GraspConfig(), grasps=False, support=sup)
    assert out["confidence"] == pytest.approx(beta_confidence(20, 3), abs=1e-4)
    assert out["confidence"] >= CONFIDENCE_THRESHOLD
    assert np.allclose(out["action_point"], [0, 0, 0])
    assert [c["action_point"][0] for c in out["candidates"]] == [0.0, 0.1]
    assert out["candidates"][0]["share"] == pytest.approx(20 / 23, abs=1e-3)
    assert out["candidates"][0]["relevancy"] == pytest.approx(0.9, abs=1e-3)
    assert out["support"]["weak"] is False
    assert not out.get("warning")
    # the region the grasp head gets is the blob that holds the action point
    assert np.linalg.norm(np.asarray(out["region"]["center"])) < 0.01


def test_split_views_are_flagged_and_the_warning_names_the_rival():
    arrays = two_blobs()
    sup = support_with([place(0.1, 14.0, 14), place(0.0, 10.0, 10)])
    cfg = GraspConfig()
    cfg.gripper.metres_per_unit = 1.0
    out = export_arrays(arrays, FrameTransform.identity(), "p", cfg, grasps=False, support=sup)
    assert out["confidence"] < CONFIDENCE_THRESHOLD
    assert out["support"]["weak"] is True
    assert np.allclose(out["action_point"], [0.1, 0, 0])
    assert "a second region, 42% of the evidence" in out["warning"]
    assert "10.0 cm" in out["warning"]


def test_choosing_another_candidate_plans_there_and_says_so():
    arrays = two_blobs()
    sup = support_with([place(0.0, 20.0, 20), place(0.1, 3.0, 3)])
    sup = sup.choose(1)
    out = export_arrays(arrays, FrameTransform.identity(), "p", GraspConfig(), grasps=False, support=sup)
    assert np.allclose(out["action_point"], [0.1, 0, 0])
    assert out["candidates"][0]["action_point"][0] == pytest.approx(0.1)
    assert out["support"]["weak"] is True and "the views chose region" in out["warning"]
    assert np.linalg.norm(np.asarray(out["region"]["center"]) - [0.1, 0, 0]) < 0.01
    with pytest.raises(ValueError, match="candidate 5 does not exist"):
        sup.choose(5)


def test_without_consensus_there_is_no_confidence():
    arrays = two_blobs()
    out = export_arrays(arrays, FrameTransform.identity(), "p", GraspConfig(), grasps=False, support=None)
    assert "confidence" not in out and "candidates" not in out


def test_no_relevant_region_is_a_clear_error():
    arrays = two_blobs()
    arrays["relevancy"] = np.zeros_like(arrays["relevancy"])
    with pytest.raises(Point2ActError, match="no relevant region"):
        export_arrays(arrays, FrameTransform.identity(), "p", GraspConfig(), grasps=False,
                     support=support_with([place(0.0, 20.0, 20)]))
