"""When training may stop: the geometry where the answers point has stopped moving. Plain torch and numpy.

The grasp head plans on the field's median-depth surface at the target, so that is what the rule watches. Each
training view that answered (a view that said "not in view" has no target pixels) gives a **probe**: the pixels
of its answers' heatmap cores (heatmap >= 1/2, a disc of radius ``sigma * sqrt(2 ln 2)`` around each answer,
``sigma`` the blob sigma that supervises the relevancy) in the smallest window holding them. At each check the
field's median depth (:func:`point2act.fusion.render_median_depth`, the surface the grasp head fuses) is
rendered in every probe's window only, and compared with the previous check's:

    change_v = median over the probe's pixels of |d_now - d_before| / (d_before / f_v)

the depth change in units of the pixel's footprint ``d / f`` (its width on the surface): a move smaller than
one footprint is below what the photos resolve laterally. A pixel that gains or loses its surface between two
checks (the ray sees through the target, or stops meeting it) counts as an unbounded change; one without a
surface at both stays. Training has converged at the target when **every** probe moved by at most
:data:`STABLE_FOOTPRINTS` footprints over one window (:class:`TargetConvergence`).

The trainer (:class:`point2act.method.trainer.Point2ActTrainer`) checks once per densification period, from the
step after the first densification at full resolution (the fine stage's first), and stops there when the rule
holds, whether densification has ended or not; the run's ``max_num_iterations`` bounds it. A run without
answers trains to its bound.
Check it: ``ns-train point2act`` logs the step it stopped at and each check's worst change; the tests
(``tests/test_convergence.py``) hold the rule against depth maps with known moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np

STABLE_FOOTPRINTS = 1.0
"""The most a probe's median depth may move over one window, in pixel footprints, for training to count as
converged there."""

CORE_LEVEL = 0.5
"""The heatmap level that bounds a probe's pixels (the blob's half maximum)."""


@dataclass(frozen=True)
class Probe:
    """The pixels of one training view where its answers point."""

    view: int
    """Training-image index."""
    window: Tuple[int, int, int, int]
    """``(x0, y0, x1, y1)``: pixel edges of the rendered window in the training image."""
    mask: np.ndarray  # [y1 - y0, x1 - x0] bool
    """The answers' core pixels inside the window."""


def core_radius(height: int, width: int, sigma_frac: float) -> float:
    """The pixel radius of an answer's heatmap core (the blob above :data:`CORE_LEVEL`) in an image of this size;
    ``sigma_frac``: the blob's sigma as a fraction of the image diagonal (:func:`point2act.heatmap.sigma_px`)."""
    from point2act.heatmap import sigma_px

    return float(sigma_px(height, width, sigma_frac)) * math.sqrt(2.0 * math.log(1.0 / CORE_LEVEL))


def probes_of(points: Dict[int, np.ndarray], sizes: Dict[int, Tuple[int, int]], sigma_frac: float) -> List[Probe]:
    """A :class:`Probe` per view with answers. ``points``: view -> answers [P, 2] in pixels (P = 0: "not in
    view", no probe); ``sizes``: view -> (H, W); ``sigma_frac``: the heatmap's blob sigma as a fraction of the
    image diagonal (:func:`point2act.heatmap.sigma_px`)."""
    out = []
    for v in sorted(points):
        pts = np.asarray(points[v], dtype=np.float64).reshape(-1, 2)
        if not len(pts):
            continue
        h, w = (int(s) for s in sizes[v])
        r = core_radius(h, w, sigma_frac)
        x0 = int(max(0, math.floor((pts[:, 0] - r).min())))
        y0 = int(max(0, math.floor((pts[:, 1] - r).min())))
        x1 = int(min(w, math.ceil((pts[:, 0] + r).max())))
        y1 = int(min(h, math.ceil((pts[:, 1] + r).max())))
        if x1 <= x0 or y1 <= y0:
            continue  # every answer outside the image
        xs = np.arange(x0, x1) + 0.5  # pixel centres
        ys = np.arange(y0, y1) + 0.5
        d2 = (xs[None, None, :] - pts[:, 0, None, None]) ** 2 + (ys[None, :, None] - pts[:, 1, None, None]) ** 2
        mask = (d2 <= r * r).any(axis=0)
        if mask.any():
            out.append(Probe(int(v), (x0, y0, x1, y1), mask))
    return out


def pixel_moves(before: np.ndarray, now: np.ndarray, mask: np.ndarray, focal: float) -> np.ndarray:  # [M]
    """``|now - before| / (before / focal)`` at each of ``mask``'s pixels (the move in pixel footprints); depth 0
    is no surface: a pixel with a surface in one map only moved ``inf``, one with none in both 0."""
    b = np.asarray(before, dtype=np.float64)[mask]
    n = np.asarray(now, dtype=np.float64)[mask]
    hb, hn = b > 0, n > 0
    moves = np.zeros_like(b)
    both = hb & hn
    moves[both] = np.abs(n[both] - b[both]) * float(focal) / b[both]
    moves[hb != hn] = np.inf
    return moves


def depth_change(before: np.ndarray, now: np.ndarray, mask: np.ndarray, focal: float) -> float:
    """The median of :func:`pixel_moves` (0 without pixels): the probe's move, in pixel footprints."""
    moves = pixel_moves(before, now, mask, focal)
    return float(np.median(moves)) if moves.size else 0.0


def render_probes(splats, viewmats, Ks, probes: Sequence[Probe]) -> List[np.ndarray]:
    """The field's median depth in each probe's window (:func:`point2act.fusion.render_median_depth`).

    Args:
        splats: :class:`point2act.render.Splats` with unit ``quats``, linear ``scales`` and ``opacities`` in
            [0, 1] (the training frame)
        viewmats: [C, 4, 4] world-to-camera of the training views (OpenCV axes), indexed by ``Probe.view``
        Ks: [C, 3, 3] their intrinsics at the training resolution
        probes: what to render

    Returns:
        One depth map [y1 - y0, x1 - x0] per probe (0: no surface).
    """
    from point2act.fusion import render_median_depth
    from point2act.splatting import Views

    out = []
    for p in probes:
        x0, y0, x1, y1 = p.window
        K = Ks[p.view].detach().float().cpu().clone()
        K[0, 2] -= x0
        K[1, 2] -= y0
        d, _spread = render_median_depth(splats, Views.one_size(viewmats[p.view][None], K[None], x1 - x0, y1 - y0))
        out.append(d)
    return out


class TargetConvergence:
    """The stopping rule of the module docstring over a run's probes.

    ``start``: the first step that renders the probes (the reference of the first comparison); ``every``: the
    window, in steps. :meth:`due` says whether a step checks; :meth:`update` takes that step's probe depths and
    returns the worst probe's change (None at the first check), and :attr:`converged` whether it was at most
    :data:`STABLE_FOOTPRINTS`."""

    def __init__(self, probes: Sequence[Probe], focals: Sequence[float], start: int, every: int):
        if len(probes) != len(focals):
            raise ValueError(f"{len(probes)} probes and {len(focals)} focal lengths")
        self.probes = list(probes)
        self.focals = [float(f) for f in focals]
        self.start = int(start)
        self.every = max(1, int(every))
        self.previous: List[np.ndarray] | None = None
        self.worst: float | None = None
        """The last check's worst change (None: no comparison yet)."""

    def due(self, step: int) -> bool:
        return bool(self.probes) and step >= self.start and (step - self.start) % self.every == 0

    def update(self, depths: Sequence[np.ndarray]) -> float | None:
        if len(depths) != len(self.probes):
            raise ValueError(f"{len(depths)} depth maps for {len(self.probes)} probes")
        if self.previous is not None:
            self.worst = max(depth_change(b, n, p.mask, f)
                             for b, n, p, f in zip(self.previous, depths, self.probes, self.focals))
        self.previous = [np.asarray(d, dtype=np.float32).copy() for d in depths]
        return self.worst

    @property
    def converged(self) -> bool:
        return self.worst is not None and self.worst <= STABLE_FOOTPRINTS
