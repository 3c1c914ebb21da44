"""Gripper boxes against a cloud, per contact pair and approach angle: the planner's collision checks.

Candidates are (pair ``k``, approach angle ``t``). Pair ``k``'s *entries* are the cloud points near it
(:func:`pair_entries`), in the pair's frame: ``sx`` along its closing axis, ``su``,
``sv`` across it. Approach ``t`` (angle ``theta[t]``) turns the gripper about the closing axis, so a
point's gripper coordinates are ``x = sx - offset[k, t]``, ``y = su sin(theta) - sv cos(theta)``, ``z = su
cos(theta) + sv sin(theta)`` (:class:`~point2act.grasp.frames.CandidatePoses`). A box (one row of ``boxes``, see
:func:`box`) is given relative to the grasp (``ax = |x|``, ``zr = z - depth[k, t]``, ``hh = half_opening[k, t]``):
``ax`` in ``[xa0 + xh0 hh, xa1 + xh1 hh]``, ``|y| <= y_half``, ``zr`` in ``[z_lo, z_hi]``.

The C++ kernel (``point2act/grasp/csrc/gripper_boxes.cpp``, one of the grasp head's kernels,
:func:`gripper_cloud_hits`) sorts the cloud into small cells once per call, finds each pair's points in the
cells its radius and band reach, and stops a candidate at its first ``min_points`` hits (the answer does not
depend on the order points are tested); the numpy reference (:func:`pair_entries`, then
:func:`gripper_box_hits_reference`: every (entry, angle)) is for tests and where the extension cannot be
built.
"""

from __future__ import annotations

from typing import List, NamedTuple, Tuple

import numpy as np

from point2act.grasp import _kernel
from point2act.grasp.frames import LiveCandidates, PairFrames

__all__ = ["PairEntries", "PairReach", "box", "gripper_box_hits_reference", "gripper_cloud_hits",
           "gripper_cloud_hits_reference", "offsets_of", "pair_entries"]

L2, LINF = 0, 1
HIT, DISTANCE = 0, 1


def box(x: Tuple[float, float, float, float], y_half: float, z: Tuple[float, float], margin: float = 0.0,
        metric: int = L2, role: int = HIT) -> List[float]:
    """One row of ``boxes``: ``x = (xa0, xh0, xa1, xh1)`` (``ax`` from ``xa0 + xh0 hh`` to ``xa1 + xh1 hh``),
    ``y_half``, ``z = (z_lo, z_hi)`` relative to the TCP depth, the ``margin`` a point may be away and
    still hit (``metric`` L2: Euclidean; LINF: per axis), ``role`` HIT (count points) or DISTANCE (the
    smallest Euclidean excess, no margin)."""
    return [float(x[0]), float(x[1]), float(x[2]), float(x[3]), float(y_half), float(z[0]), float(z[1]),
            float(margin), float(metric), float(role)]


class PairReach(NamedTuple):
    """The cloud points each pair meets: within ``radius`` of its centre, ``|sx|`` in ``[band_lo, band_hi]``."""

    radius: float
    """How far from the pair's centre a point may lie."""
    band_lo: np.ndarray | float  # [K]
    """The least ``|sx|`` per pair (or one for all)."""
    band_hi: np.ndarray | float  # [K]
    """The largest ``|sx|`` per pair (or one for all)."""


class PairEntries(NamedTuple):
    """Each pair's entries in its frame, sorted by pair (:func:`pair_entries`)."""

    offsets: np.ndarray  # [K + 1] int64
    """CSR offsets: pair ``k``'s entries are ``offsets[k]:offsets[k + 1]`` (:func:`offsets_of`)."""
    sx: np.ndarray  # [E]
    """Along the pair's closing axis."""
    su: np.ndarray  # [E]
    """Along its ``u`` axis."""
    sv: np.ndarray  # [E]
    """Along its ``v`` axis."""


def offsets_of(k: np.ndarray, K: int) -> np.ndarray:
    """CSR offsets [K + 1] of entries sorted by pair index ``k`` [E]."""
    k = np.asarray(k, dtype=np.int64)
    if len(k) and np.any(np.diff(k) < 0):
        raise ValueError("entries must be sorted by pair")
    return np.searchsorted(k, np.arange(K + 1)).astype(np.int64)


def _excess(ax, ay, zr, hh, b):
    xlo, xhi = b[0] + b[1] * hh, b[2] + b[3] * hh
    ex = np.maximum(np.maximum(xlo - ax, ax - xhi), 0.0)
    ey = np.maximum(ay - b[4], 0.0)
    ez = np.maximum(np.maximum(b[5] - zr, zr - b[6]), 0.0)
    return ex, ey, ez


def gripper_box_hits_reference(
    entries: PairEntries,  # [E]
    candidates: LiveCandidates,  # [K, T]
    boxes: np.ndarray,  # [B, 10]
    min_points: int = 1,
) -> Tuple[np.ndarray, np.ndarray]:
    """``(hits [K, T] int32, clear [K, T] float32)``: per live candidate, the points within a HIT box's
    margin (capped at ``min_points``) and the smallest distance to a DISTANCE box (inf without one)."""
    offsets, sx, su, sv = entries
    theta, (off, hh, dep), alive = candidates
    K, T = alive.shape
    hits = np.zeros((K, T), np.int32)
    clear = np.full((K, T), np.inf, np.float32)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 10)
    k_of = np.repeat(np.arange(K), np.diff(offsets))
    su, sv, sx = (np.asarray(a, dtype=np.float32).astype(np.float64) for a in (su, sv, sx))
    th = np.asarray(theta, dtype=np.float64)
    cos_t, sin_t = np.cos(th), np.sin(th)
    for t in range(T):
        ct, st = cos_t[t], sin_t[t]
        live = alive[k_of, t]
        e = np.flatnonzero(live)
        if not len(e):
            continue
        kk = k_of[e]
        ax = np.abs(sx[e] - off[kk, t])
        ay = np.abs(su[e] * st - sv[e] * ct)
        zr = su[e] * ct + sv[e] * st - dep[kk, t]
        hit = np.zeros(len(e), bool)
        best = np.full(len(e), np.inf)
        for b in boxes:
            ex, ey, ez = _excess(ax, ay, zr, hh[kk, t], b)
            if int(b[9]) == DISTANCE:
                best = np.minimum(best, np.sqrt(ex * ex + ey * ey + ez * ez))
            elif int(b[8]) == L2:
                hit |= ex * ex + ey * ey + ez * ez <= b[7] * b[7]
            else:
                hit |= np.maximum(np.maximum(ex, ey), ez) <= b[7]
        hits[:, t] = np.minimum(np.bincount(kk[hit], minlength=K), min_points)
        col = np.full(K, np.inf)
        np.minimum.at(col, kk, best)
        clear[:, t] = col
    clear[~alive] = np.inf
    return hits, clear


def pair_entries(frames: PairFrames, cloud, reach: PairReach):
    """Pair ``k``'s entries, dense (for tests and the reference): the ``cloud`` [M, 3] points that pair ``k``
    meets (``reach``), as ``(k [E] sorted, sx, su, sv [E])``."""
    c, x, u, v, cloud = (np.asarray(a, dtype=np.float64).reshape(-1, 3) for a in (*frames, cloud))
    radius, band_lo, band_hi = reach
    D = cloud[None, :, :] - c[:, None, :]  # [K, M, 3]
    sx, su, sv = (np.einsum("kmi,ki->km", D, a) for a in (x, u, v))
    m = (np.einsum("kmi,kmi->km", D, D) <= radius * radius)
    m &= (np.abs(sx) >= np.asarray(band_lo)[:, None]) & (np.abs(sx) <= np.asarray(band_hi)[:, None])
    k, j = np.nonzero(m)
    return k, sx[k, j], su[k, j], sv[k, j]


def gripper_cloud_hits_reference(frames: PairFrames, cloud, reach: PairReach, candidates: LiveCandidates, boxes,
                                 min_points: int = 1):
    """:func:`gripper_box_hits_reference` on :func:`pair_entries`."""
    k, sx, su, sv = pair_entries(frames, cloud, reach)
    entries = PairEntries(offsets_of(k, len(np.asarray(frames.centres).reshape(-1, 3))), sx, su, sv)
    return gripper_box_hits_reference(entries, candidates, boxes, min_points)


def gripper_cloud_hits(frames: PairFrames, cloud, reach: PairReach, candidates: LiveCandidates, boxes,
                       min_points: int = 1):
    """``(hits [K, T], clear [K, T])`` of the gripper boxes ``boxes`` [B, 10] (:func:`box`) at the ``candidates``'
    poses (approach angles ``theta`` [T], the candidates ``alive`` [K, T] bool) against ``cloud`` [M, 3]:
    pair ``k`` (``frames[k]``) meets the points ``reach`` gives it (:func:`pair_entries`); the C++ kernel finds
    them while it tests them, in the cloud's cells that the pair's radius and band reach (the cloud is first
    cut to the pairs' bounding box grown by the radius)."""
    c = np.asarray(frames.centres, dtype=np.float64).reshape(-1, 3)
    x, u, v = frames.x, frames.u, frames.v
    radius, band_lo, band_hi = reach
    theta, (off, hh, dep), alive = candidates
    cloud = np.asarray(cloud, dtype=np.float64).reshape(-1, 3)
    if len(c) and len(cloud):
        lo, hi = c.min(0) - radius, c.max(0) + radius
        cloud = cloud[np.all((cloud >= lo) & (cloud <= hi), axis=1)]
    kernel = _kernel.kernel("gripper_cloud_hits")
    if kernel is None:  # pragma: no cover - no compiler: the reference gives the same answer, slower
        return gripper_cloud_hits_reference(PairFrames(c, x, u, v), cloud, reach, candidates, boxes, min_points)
    f64 = _kernel.array
    th = np.asarray(theta, dtype=np.float64)
    K = len(c)
    hits, clear = kernel(
        f64(c), f64(np.reshape(x, (K, 3))), f64(np.reshape(u, (K, 3))), f64(np.reshape(v, (K, 3))),
        f64(cloud.reshape(-1, 3)), float(radius), f64(np.broadcast_to(band_lo, (K,))), f64(np.broadcast_to(band_hi, (K,))),
        f64(np.cos(th)), f64(np.sin(th)), _kernel.array(alive, bool), f64(off), f64(hh),
        f64(dep), f64(np.asarray(boxes, dtype=np.float64).reshape(-1, 10)), int(min_points), -1,
    )
    return hits, clear
