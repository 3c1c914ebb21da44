"""A start cloud from posed images without features: the points the views agree on (photo-consistency).

Where SIFT finds too few features to triangulate (small, low-texture images: 256x192 renders give 0-32
points, :mod:`point2act.triangulate`) a capture would start from random points, and a short CPU run
from random points leaves thin parts (a mug's rim, a handle) fuzzy. Space carving gives a start without
features: a point on a surface that many views see looks the same colour in each of them (a Lambertian
surface under fixed light), a point in the air projects onto different surfaces in different views.

The rule, per random candidate point in the box of the camera centres grown by half its largest side:

- each view that sees it inside its image gives its pixel's colour (nearest pixel);
- a view *votes* for the point when its pixel lies on texture (the grey level's standard deviation over
  the 5 x 5 pixels around it is at least :data:`MIN_CONTRAST`: a pixel of a plain surface matches any
  point along its ray, so it says nothing about depth) and its colour is within :data:`COLOUR_TOLERANCE`
  of the median colour of all the views that see the point;
- the point is kept when at least half of the views vote (:data:`MIN_VOTE_FRACTION`, and at least three).

Half of *all* views, not of those that see the point: a point that most views agree on is one the
capture looks at, and the air between a few cameras and the table, which few views see, cannot pass by
a few chance matches. A capture whose views each see a small part of the scene (a long sweep) keeps
few points and starts at random, as before.

Plain numpy (and OpenCV's box filter); nothing here imports nerfstudio or torch. Cameras follow gsplat:
``viewmats`` world-to-camera with OpenCV axes, ``Ks`` pinhole intrinsics of the images as given.

Check: ``tests/test_photo_start.py`` places points on a ray-cast textured box on a textured floor and
bounds their distance to the true surfaces; ``python -m benchmarks.bench_photo_start`` measures the points'
distance to the generators' true depth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["COLOUR_TOLERANCE", "MIN_CONTRAST", "MIN_VOTE_FRACTION", "NUM_CANDIDATES", "PhotoCloud",
           "photo_consistent_points"]

NUM_CANDIDATES = 4_000_000
"""Random candidate points tested: a 1 cm cube of a 1 m box gets four."""
COLOUR_TOLERANCE = 0.05
"""Largest RGB distance (colours in [0, 1]) of a voting view's pixel from the median colour: about 13 grey
levels, above a camera's noise and JPEG's error, below the difference of two surfaces' colours."""
MIN_CONTRAST = 0.04
"""Smallest standard deviation of the grey level (in [0, 1]) over the 5 x 5 pixels around a voting view's
pixel: 10 grey levels, the contrast of texture and edges, not of a plain surface's shading."""
MIN_VOTE_FRACTION = 0.5
"""Fraction of all views that must vote for a kept point."""
MAX_VIEWS = 48
"""Views tested at most (evenly spaced in the capture's order): the cost is candidates x views."""
CHUNK = 65536
"""Candidates per batch (bounds memory: views x chunk colours)."""


@dataclass
class PhotoCloud:
    """Points the views agree on."""

    points: np.ndarray  # [M, 3] float64
    """Positions, in the frame of the given cameras."""
    colors: np.ndarray  # [M, 3] uint8
    """The median colour of the views that see each point."""
    votes: np.ndarray  # [M] int64
    """Views that voted for each point."""
    num_views: int
    """Views tested."""
    num_candidates: int
    """Candidates tested."""
    seconds: float
    """Wall time."""

    def __len__(self) -> int:
        return int(len(self.points))

    def summary(self) -> str:
        return (f"{len(self)} of {self.num_candidates} random points that at least half of {self.num_views} views "
                f"see in one colour on texture ({self.seconds:.1f} s)")


def _contrast(image: np.ndarray) -> np.ndarray:  # [H, W] float32
    """Standard deviation of the grey level over the 5 x 5 pixels around each pixel."""
    import cv2

    g = image.astype(np.float32).mean(-1)
    m = cv2.blur(g, (5, 5))
    m2 = cv2.blur(g * g, (5, 5))
    return np.sqrt(np.maximum(m2 - m * m, 0.0))


def candidate_box(viewmats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # [3], [3]
    """The box of the camera centres grown by half its largest side on every side."""
    R, t = viewmats[:, :3, :3], viewmats[:, :3, 3]
    centres = -np.einsum("cji,cj->ci", R, t)  # -R^T t
    lo, hi = centres.min(0), centres.max(0)
    pad = 0.5 * max(float((hi - lo).max()), 1e-3)
    return lo - pad, hi + pad


def photo_consistent_points(
    images: Sequence[np.ndarray],  # C x [H, W, 3] uint8
    Ks: np.ndarray,  # [C, 3, 3]
    viewmats: np.ndarray,  # [C, 4, 4] world-to-camera, OpenCV axes
    num_candidates: int = NUM_CANDIDATES,
    seed: int = 0,
) -> PhotoCloud:
    """The random candidates that at least half of the views see in one colour on texture (the module's rule)."""
    t0 = time.perf_counter()
    Ks = np.asarray(Ks, dtype=np.float64).reshape(-1, 3, 3)
    viewmats = np.asarray(viewmats, dtype=np.float64).reshape(-1, 4, 4)
    if not (len(images) == len(Ks) == len(viewmats)):
        raise ValueError(f"{len(images)} images, {len(Ks)} intrinsics and {len(viewmats)} poses differ in number")
    sel = np.unique(np.linspace(0, len(images) - 1, min(len(images), MAX_VIEWS)).round().astype(int))
    imgs = [np.asarray(images[i])[..., :3] for i in sel]
    Ks, viewmats = Ks[sel], viewmats[sel]
    C = len(imgs)
    cols = [im.reshape(-1, 3).astype(np.float32) / 255.0 for im in imgs]
    cons = [_contrast(im.astype(np.float32) / 255.0).reshape(-1) for im in imgs]
    need = max(3, int(np.ceil(MIN_VOTE_FRACTION * C)))
    lo, hi = candidate_box(viewmats)
    rng = np.random.default_rng(int(seed))
    kept_p, kept_c, kept_v = [], [], []
    for start in range(0, int(num_candidates), CHUNK):
        m = min(CHUNK, int(num_candidates) - start)
        P = lo + (hi - lo) * rng.random((m, 3))
        rgb = np.full((C, m, 3), np.nan, np.float32)
        textured = np.zeros((C, m), bool)
        for c in range(C):
            h, w = imgs[c].shape[:2]
            p = P @ viewmats[c, :3, :3].T + viewmats[c, :3, 3]
            z = p[:, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                u = Ks[c, 0, 0] * p[:, 0] / z + Ks[c, 0, 2]
                v = Ks[c, 1, 1] * p[:, 1] / z + Ks[c, 1, 2]
            ok = (z > 1e-6) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
            pix = v[ok].astype(np.int64) * w + u[ok].astype(np.int64)
            rgb[c, ok] = cols[c][pix]
            textured[c, ok] = cons[c][pix] >= MIN_CONTRAST
        seen = textured.sum(0) >= need  # only these can reach the vote
        if not seen.any():
            continue
        rgb, textured, P = rgb[:, seen], textured[:, seen], P[seen]
        with np.errstate(invalid="ignore"):
            med = np.nanmedian(rgb, axis=0)  # [m, 3]
        close = np.linalg.norm(rgb - med[None], axis=-1) <= COLOUR_TOLERANCE  # NaN (unseen): False
        votes = (close & textured).sum(0)
        keep = votes >= need
        kept_p.append(P[keep])
        kept_c.append(med[keep])
        kept_v.append(votes[keep])
    pts = np.concatenate(kept_p) if kept_p else np.zeros((0, 3))
    rgb = np.concatenate(kept_c) if kept_c else np.zeros((0, 3))
    return PhotoCloud(points=pts.astype(np.float64), colors=np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8),
                      votes=(np.concatenate(kept_v) if kept_v else np.zeros(0)).astype(np.int64), num_views=C,
                      num_candidates=int(num_candidates), seconds=time.perf_counter() - t0)
