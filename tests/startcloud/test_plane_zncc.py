"""The plane sweep's kernel (point2act/startcloud/csrc/plane_zncc.cpp) against its OpenCV reference
(point2act.startcloud._plane_zncc_impl): the warp's inside mask the same pixels, the ZNCC and the windows'
standard deviation to float32 rounding (the reference forms its variances in float32, the kernel in double),
the per-plane sums over the pixels in front of the plane likewise; and the thread count changes no bit."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.startcloud import _plane_zncc_impl as ref
from point2act.startcloud.plane_sweep import EXTENSION, WINDOW


@pytest.fixture(scope="module")
def kernel():
    return EXTENSION.load()


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """Grey values [h, w] float32, 20..220, smooth over about 4 pixels (as a photo's texture is), with a flat
    band (ZNCC 0 there) and a saturated corner."""
    import cv2

    coarse = np.random.default_rng(seed).random((h // 4 + 2, w // 4 + 2)).astype(np.float32) * 200 + 20
    img = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    img[h // 3: h // 3 + 4] = 90.0
    img[:5, :5] = 255.0
    return np.ascontiguousarray(img)


def _homographies(count: int, seed: int, h: int, w: int) -> np.ndarray:
    """Perspective warps near the identity, shifted by up to about a tenth of the image (some samples fall
    outside it), one of them turning the image by 90 degrees about its centre."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        H = np.eye(3) + rng.normal(0, 0.01, (3, 3))
        H[2, :2] = rng.normal(0, 2e-4, 2)
        H[:2, 2] = rng.normal(0, 0.05, 2) * (w, h)
        H[2, 2] = 1.0
        out.append(H)
    c = np.array([[1, 0, w / 2], [0, 1, h / 2], [0, 0, 1.0]])
    rot = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    out.append(c @ rot @ np.linalg.inv(c))
    return np.ascontiguousarray(out)


@pytest.mark.parametrize("h,w,hs,ws", [(48, 64, 48, 64), (96, 128, 101, 121), (7, 9, 12, 5), (120, 160, 60, 80)])
def test_plane_zncc_matches_the_reference(kernel, h, w, hs, ws):
    a, b = _texture(h, w, 1), _texture(hs, ws, 2)
    Hs = _homographies(8, 3, h, w)
    c, inside = kernel.plane_zncc(kernel.PlaneReference(a, WINDOW), b, Hs)
    c0, inside0, std0 = ref.plane_zncc(a, b, Hs, WINDOW)
    assert c.shape == c0.shape and c.dtype == np.float32 and inside.dtype == bool
    np.testing.assert_array_equal(inside, inside0)
    std = kernel.PlaneReference(a, WINDOW).std
    np.testing.assert_allclose(std, std0, atol=2e-3 * 255)
    # where both windows are textured the two agree to float32 rounding of the variances; a flat window is 0 in both
    textured = (std0 > 2.0)[None] & inside0
    assert textured.sum() > (0.1 * textured.size if h >= 40 else 0)  # the tiny case: mostly outside its source
    np.testing.assert_allclose(c[textured], c0[textured], atol=1e-3)
    flat = (std0 < 1e-3)[None] & np.ones_like(inside0)
    assert np.all(c[flat] == 0) and np.all(c0[flat] == 0)


def test_plane_zncc_sums_match_the_reference(kernel):
    """Per pair and plane, the sums over the pixels inside the warp and in front of the plane: a plane through the
    camera's side of the scene and one behind it (no pixel in front)."""
    h, w = 48, 64
    K = np.array([[60.0, 0, 32], [0, 60.0, 24], [0, 0, 1]])
    kinv = np.linalg.inv(K)
    a, b, c = _texture(h, w, 4), _texture(h, w, 5), _texture(40, 70, 6)
    Hs = _homographies(5, 7, h, w)
    planes = np.tile([0.1, -0.2, 1.0, -1.5], (len(Hs), 1))  # z ~ 1.5 in front of the camera
    planes[1, 3] = 1.5  # behind it
    planes[2] = [0.0, 1.0, 0.0, -0.1]  # a floor seen by part of the image only
    refs = [kernel.PlaneReference(a, WINDOW), kernel.PlaneReference(b, WINDOW)]
    sums, counts = kernel.plane_zncc_sums(refs, [b, c], [Hs, Hs], [planes, planes], [kinv, kinv])
    s0, n0 = ref.plane_zncc_sums([a, b], [b, c], [Hs, Hs], [planes, planes], [kinv, kinv])
    assert sums.shape == counts.shape == (2, len(Hs))
    np.testing.assert_array_equal(counts, n0)
    assert (counts[:, 1] == 0).all() and (counts[:, 2] > 0).all() and (counts[:, 2] < counts[:, 0]).all()
    assert (np.abs(sums - s0) <= 1e-4 * np.maximum(n0, 1)).all()  # the mean ZNCC to 1e-4


@pytest.mark.parametrize("h,w,hs,ws,share", [(48, 64, 48, 64, 0.05), (96, 128, 101, 121, 0.3), (7, 9, 12, 5, 0.5),
                                              (120, 160, 60, 80, 1.0), (40, 50, 40, 50, 0.0)])
def test_plane_zncc_best_is_the_masked_maximum_bit_for_bit(kernel, h, w, hs, ws, share):
    """At the mask's pixels, ``plane_zncc_best`` is the largest ZNCC ``plane_zncc`` gives over the homographies
    where the window is inside the warp (-1 where it is inside none), the same bits; -1 off the mask. Masks reach
    the image's borders (mirrored windows, the erode's edge) and the warps run partly outside the source."""
    a, b = _texture(h, w, 4), _texture(hs, ws, 5)
    Hs = _homographies(9, 6, h, w)
    r = kernel.PlaneReference(a, WINDOW)
    mask = np.random.default_rng(7).random((h, w)) < share
    mask[0, 0] = mask[-1, -1] = share > 0
    best = kernel.plane_zncc_best(r, b, Hs, mask)
    c, inside = kernel.plane_zncc(r, b, Hs)
    want = np.where(inside, c, np.float32(-1.0)).max(0, initial=np.float32(-1.0))
    assert best.dtype == np.float32 and best.shape == (h, w)
    np.testing.assert_array_equal(best[mask], want[mask])
    assert (best[~mask] == -1.0).all()
    if share >= 0.3:
        assert (best[mask] > -1.0).any() and (best[mask] == -1.0).any()  # both cases are exercised
    one = kernel.plane_zncc_best(r, b, Hs, mask, num_threads=1)
    np.testing.assert_array_equal(one, best)
    empty = kernel.plane_zncc_best(r, b, Hs[:0], mask)
    assert (empty == -1.0).all()


def test_thread_count_changes_nothing(kernel):
    a, b = _texture(60, 80, 8), _texture(60, 80, 9)
    Hs = _homographies(6, 10, 60, 80)
    r = kernel.PlaneReference(a, WINDOW)
    one, many = kernel.plane_zncc(r, b, Hs, num_threads=1), kernel.plane_zncc(r, b, Hs, num_threads=3)
    for x, y in zip(one, many):
        np.testing.assert_array_equal(x, y)
    planes = np.tile([0.0, 0.0, 1.0, -1.0], (len(Hs), 1))
    kinv = np.linalg.inv(np.array([[70.0, 0, 40], [0, 70.0, 30], [0, 0, 1]]))
    args = ([r, r], [b, a], [Hs, Hs], [planes, planes], [kinv, kinv])
    for x, y in zip(kernel.plane_zncc_sums(*args, num_threads=1), kernel.plane_zncc_sums(*args, num_threads=2)):
        np.testing.assert_array_equal(x, y)


def test_bad_inputs_name_the_problem(kernel):
    a = _texture(20, 20, 1)
    with pytest.raises(ValueError, match="float32"):
        kernel.PlaneReference(a.astype(np.float64), WINDOW)
    with pytest.raises(ValueError, match="odd window"):
        kernel.PlaneReference(a, 4)
    with pytest.raises(ValueError, match=r"homographies \[P, 3, 3\]"):
        kernel.plane_zncc(kernel.PlaneReference(a, WINDOW), a, np.eye(3))
