"""point2act.photo_start against the true surfaces of a ray-cast scene (tests/raycast_scene.py): the points the
views agree on lie on the floor and the box, a plain scene gives none, and the rule's parts each matter."""

from __future__ import annotations

import numpy as np
import pytest

from point2act import photo_start
from point2act.photo_start import photo_consistent_points

from raycast_scene import H, W, distance_to_scene, look_at, ring_scene  # noqa: E402  (tests/raycast_scene.py)


@pytest.fixture(scope="module")
def scene():
    return ring_scene(12)


def test_points_lie_on_the_true_surfaces(scene):
    images, Ks, vms, box = scene
    cloud = photo_consistent_points(images, Ks, vms, num_candidates=400_000)
    assert len(cloud) >= 100, cloud.summary()
    d = distance_to_scene(cloud.points, box)
    # a pixel at 1.3 m with f = 260 is 5 mm, the texture's cells 6 mm (box) to 25 mm (floor)
    assert np.median(d) < 0.01, np.median(d)
    assert np.percentile(d, 90) < 0.03, np.percentile(d, 90)
    assert ((cloud.points[:, 2] > 0.05) & (d < 0.01)).sum() >= 5  # the box (its top: all views), not only the floor
    assert (cloud.votes >= np.ceil(photo_start.MIN_VOTE_FRACTION * len(images))).all()
    assert cloud.colors.shape == (len(cloud), 3) and cloud.colors.dtype == np.uint8
    assert f"of {len(images)} views" in cloud.summary()


def test_the_same_candidates_without_the_rule_are_air(scene):
    """The rule is what places the points: the same random candidates, unfiltered, lie far from the surfaces."""
    images, Ks, vms, box = scene
    lo, hi = photo_start.candidate_box(vms)
    raw = lo + (hi - lo) * np.random.default_rng(0).random((20000, 3))
    assert np.median(distance_to_scene(raw, box)) > 0.1


def test_without_the_texture_gate_plain_colour_passes_anywhere(scene, monkeypatch):
    """A plain grey scene: every view sees one colour, so colour agreement alone would keep points in the air;
    the contrast gate keeps none."""
    _images, Ks, vms, _box = scene
    plain = [np.full((H, W, 3), 128, np.uint8) for _ in vms]
    assert len(photo_consistent_points(plain, Ks, vms, num_candidates=100_000)) == 0
    monkeypatch.setattr(photo_start, "MIN_CONTRAST", 0.0)
    assert len(photo_consistent_points(plain, Ks, vms, num_candidates=100_000)) > 1000


def test_the_frame_follows_the_cameras(scene):
    images, Ks, vms, box = scene
    from scipy.spatial.transform import Rotation

    M = np.eye(4)
    M[:3, :3] = Rotation.from_euler("zyx", [30, 10, -5], degrees=True).as_matrix()
    M[:3, 3] = [0.5, -1.0, 2.0]
    moved = np.stack([vm @ np.linalg.inv(M) for vm in vms])
    cloud = photo_consistent_points(images, Ks, moved, num_candidates=400_000)
    back = (cloud.points - M[:3, 3]) @ M[:3, :3]
    assert len(cloud) >= 100 and np.median(distance_to_scene(back, box)) < 0.01


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="differ in number"):
        photo_consistent_points([np.zeros((8, 8, 3), np.uint8)] * 2, np.eye(3)[None], np.eye(4)[None].repeat(2, 0))


def test_few_views_of_a_plain_capture_keep_none():
    K = np.array([[200.0, 0, W / 2], [0, 200.0, H / 2], [0, 0, 1]])
    vms = np.stack([look_at(np.array([np.cos(a), np.sin(a), 1.0]), np.zeros(3)) for a in (0.0, 0.5, 1.0)])
    cloud = photo_consistent_points([np.full((H, W, 3), 90, np.uint8)] * 3, np.repeat(K[None], 3, 0), vms,
                                    num_candidates=50_000)
    assert len(cloud) == 0 and cloud.points.shape == (0, 3)
