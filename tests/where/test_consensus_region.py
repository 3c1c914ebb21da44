"""The relevant region a consensus place marks (point2act.grasp.region with a consensus as support): the
part of the relevant cluster that the views' answers cover, not the most relevant object elsewhere, not a
relevant chain across the scene, and the marked Gaussians where the field learned no relevancy; a place
covers its answers' blobs."""

from __future__ import annotations

import numpy as np
import pytest


def _grid(x0, x1, y0, y1, z, step=0.005):
    xs, ys = np.meshgrid(np.arange(x0, x1 + 1e-9, step), np.arange(y0, y1 + 1e-9, step))
    return np.c_[xs.ravel(), ys.ravel(), np.full(xs.size, z)]


def test_region_bar_is_the_marked_parts_not_the_most_relevant_elsewhere():
    """Relevancy learned from wrong answers on another object (1.0 there) must not raise the bar above
    the marked part's relevancy (0.6): the region is the part of the relevant cluster at the mark that the
    views marked (within a blob's radius of their answers; the lid it sits on is as relevant and connected,
    but unmarked beyond that), not the wrong answers' object."""
    from point2act.where.consensus import Consensus, Place
    from point2act.grasp.config import RegionConfig
    from point2act.grasp.region import relevant_region

    knob = _grid(-0.02, 0.02, -0.02, 0.02, 0.10)  # the marked part, 4 x 4 cm
    lid = _grid(0.025, 0.10, -0.02, 0.02, 0.10)  # touches it, as relevant (0.6), outside the blobs
    other = _grid(0.30, 0.34, -0.02, 0.02, 0.10)  # where wrong answers went: relevancy 1.0
    means = np.r_[knob, lid, other]
    rel = np.r_[np.full(len(knob), 0.45), np.full(len(lid), 0.6), np.full(len(other), 1.0)]
    rel[: len(knob)][np.linalg.norm(knob[:, :2], axis=1) < 0.01] = 0.6
    opac = np.ones(len(means))
    answers = np.array([[0.0, 0.0, 0.10, 0.015], [0.01, 0.005, 0.10, 0.015]])
    place = Place(point=np.array([0.0, 0.0, 0.10]), votes=5.0, views=[0, 1, 2, 3, 4], seen=6.0,
                  num_candidates=2, footprint=answers)
    r = relevant_region(means, opac, rel, RegionConfig(), support=Consensus([place], 0.99, 6, 6))
    got = means[r.indices]
    assert r.threshold == pytest.approx(0.5 * 0.6)
    marked = place.covers(means) & (rel >= r.threshold)  # knob and lid are one relevant cluster
    assert marked.sum() < len(knob) + len(lid)
    assert set(r.indices.tolist()) == set(np.flatnonzero(marked).tolist()), "the marked part (0.45 > 0.3 counts)"
    assert (rel[r.indices] == 0.45).any() and got[:, 0].max() < 0.03, "the knob's rim in, the lid beyond the blobs out"
    # without the footprint the bar is the whole field's (0.5): the knob's 0.45 rim drops out
    r0 = relevant_region(means, opac, rel, RegionConfig(), support=Consensus([Place(
        point=np.array([0.0, 0.0, 0.10]), votes=5.0, views=[0], seen=6.0, num_candidates=1)], 0.99, 6, 6))
    assert r0.threshold == pytest.approx(0.5) and not (rel[r0.indices] == 0.45).any()


def test_region_is_the_marked_part_not_a_relevant_chain_across_the_scene():
    """A relevant strip 40 cm long, connected to the marked part (relevancy spread along a table's edge: the
    real tools bottle cap, training seed 1, had a 48 cm region and no grasp): the region is what the views
    marked, a few cm; where the Gaussian nearest the place is no cluster's (a lone one), the relevant
    Gaussians the views marked, not that one alone."""
    from point2act.where.consensus import Consensus, Place
    from point2act.grasp.config import RegionConfig
    from point2act.grasp.region import relevant_region

    cap = _grid(-0.015, 0.015, -0.015, 0.015, 0.10)
    strip = _grid(0.02, 0.42, -0.01, 0.01, 0.10)
    means = np.r_[cap, strip]
    rel, opac = np.full(len(means), 0.9), np.ones(len(means))
    answers = np.array([[0.0, 0.0, 0.10, 0.02], [0.005, 0.0, 0.10, 0.02]])
    place = Place(point=np.array([0.0, 0.0, 0.10]), votes=5.0, views=[0, 1, 2, 3, 4], seen=6.0, num_candidates=2,
                  footprint=answers)
    sup = Consensus([place], 0.99, 6, 6)
    r = relevant_region(means, opac, rel, RegionConfig(), support=sup)
    assert relevant_region(means, opac, rel, RegionConfig()).extent[0] > 0.35  # one cluster, 42 cm
    assert r.extent.max() < 0.05 and set(r.indices.tolist()) == set(np.flatnonzero(place.covers(means)).tolist())
    # three Gaussians at the mark, fewer than a DBSCAN core needs (noise: no cluster holds the nearest), the
    # strip beyond eps: the region is the three marked ones, not the nearest alone
    lone = np.r_[[[0.0, 0.0, 0.10], [0.01, 0.0, 0.10], [-0.01, 0.0, 0.10]], _grid(0.10, 0.42, -0.01, 0.01, 0.10)]
    r2 = relevant_region(lone, np.ones(len(lone)), np.full(len(lone), 0.9), RegionConfig(), support=sup)
    assert sorted(r2.indices.tolist()) == [0, 1, 2]


def test_region_is_the_marked_part_where_the_field_learned_no_relevancy():
    """The views agree on a place, but the field's relevancy there stayed below the floor (a short run):
    the region is the opaque Gaussians the views marked, the action point the views' (no error)."""
    from point2act.where.consensus import Consensus, Place
    from point2act.grasp.config import RegionConfig
    from point2act.grasp.region import relevant_region

    knob = _grid(-0.02, 0.02, -0.02, 0.02, 0.10)
    other = _grid(0.30, 0.34, -0.02, 0.02, 0.10)
    means = np.r_[knob, other]
    rel = np.r_[np.full(len(knob), 0.02), np.full(len(other), 0.01)]
    place = Place(point=np.array([0.0, 0.0, 0.10]), votes=5.0, views=[0, 1, 2, 3, 4], seen=6.0, num_candidates=1,
                  footprint=np.array([[0.0, 0.0, 0.10, 0.015]]))
    r = relevant_region(means, np.ones(len(means)), rel, RegionConfig(), support=Consensus([place], 0.99, 6, 6))
    assert np.allclose(r.action_point, place.point)
    got = means[r.indices]
    assert len(got) and np.all(np.linalg.norm(got - place.point, axis=1) <= 0.015 + 1e-9)
    with pytest.raises(ValueError):  # without the views, a field this weak has no region
        relevant_region(means, np.ones(len(means)), rel, RegionConfig())


def test_place_covers_its_blobs():
    from point2act.where.consensus import Place

    p = Place(point=np.zeros(3), votes=1.0, views=[0], seen=1.0, num_candidates=1,
              footprint=np.array([[0.0, 0.0, 0.0, 0.01]]))
    X = np.array([[0.0, 0.0, 0.009], [0.0, 0.0, 0.011], [0.02, 0.0, 0.0]])
    assert p.covers(X).tolist() == [True, False, False]
