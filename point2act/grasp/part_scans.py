"""What each grasp candidate holds: the part between the fingers, per contact pair and approach angle.

Candidates are (pair ``k``, approach angle ``t``); see :mod:`point2act.grasp.box_hits` for the pair's frame
(``sx`` along the closing axis from the pair's centre, ``su``, ``sv`` across it; approach ``t`` gives the
gripper coordinates ``y = su sin t - sv cos t``, ``z = su cos t + sv sin t``, ``z`` along the approach from
the contacts). For each candidate, from the cloud of what the fingers must not enter (:class:`PartCloud`:
``occupied``, what the grasp can hold; ``target``, the target's):

1. the part's far side along the approach: the end of the run of occupied points, within the contacts'
   half-width ``h`` across and ``|y| <= half_y``, that starts at the contacts (:func:`run_end`); the grasp
   depth puts the fingertips ``tip`` past it, clipped to ``[min_depth, max_depth]``, and at most ``room``
   (the support plane's limit, where the pads still reach the contacts, ``room >= 0``, and hold at least
   ``min_depth`` of the part from its near side, below). Where the part goes on beyond
   ``max_depth`` (a wall, a rim, a rod along the approach) the pads hold it where it was pointed at: the
   fingertips ``tip`` past ``hold`` (the action point's depth along the approach), at most ``long_depth``
   and at least ``min_depth`` past the part's near end (the run back towards the palm from the contacts,
   at most ``long_depth`` of it): the pads slide along the part, up to its end, to what was asked for;
2. the part's extent across the closing axis where the finger pads will be (``z`` in ``[depth - L,
   depth]``), connected to the contacts: the opening (``half_opening``, with ``pad_x + clr``, at most
   ``half_open``), centred at ``offset`` along ``x``; ``fits`` when it fits with the margin ``mg``;
3. the closing region between the pads: ``n_close`` occupied points (0 when it does not fit) and
   ``n_rel`` of them the target's;
4. with per-point weights (:class:`PathWeights`, the planner's ``avoid`` relevancy): ``w_max``, the largest of
   them (at least 0) over the points, occupied or not, in the pads' depth range and across ``|x - offset| <=
   half_opening + extra`` (the closing region widened, e.g. to the fingers' path).

The C++ kernel (``point2act/grasp/csrc/grasp_part.cpp``, :func:`grasp_part`) scans the cloud once per
pair; :func:`grasp_part_reference` is the numpy definition, every (pair, point, angle) as arrays, for tests
and where the extension cannot be built. Both compute the same float32 and float64 expressions in the same
order: their answers are equal, not close (``w_max`` too: a maximum does not depend on the order).
So do ``csrc/pads_window.cpp`` (:func:`_pads_window`, the scan of the pads' window that
:func:`pads_touch_contacts` and :func:`pad_quality` share) and its numpy definition
:func:`_pads_window_reference`: the same entries, in the same order.
"""

from __future__ import annotations

import math
from typing import Dict, Tuple

import numpy as np

from point2act.grasp import _kernel
from point2act.grasp.frames import (CandidateIds, CandidatePoses, ClosingLine, DepthLimits, OrientedPoints, PadContact, PairFrames,
                     PairScan, PairSpan, PartCloud, PathWeights)

__all__ = ["angles", "closing_extent", "closing_extent_reference", "entries", "grasp_part", "grasp_part_reference",
           "grasp_part_reference_entries", "hold_depth", "near_box", "pad_quality", "pads_touch_contacts", "run_end",
           "scatter"]


def _y_limit(half_y: float) -> np.float32:
    """The float32 bound on ``|y|`` of :func:`angles` (and of the kernel: they must be the same number)."""
    return np.float32(half_y * (1 + 1e-6))


def _z_window(lengths: Dict[str, float]) -> Tuple[float, float]:
    """What some finger or the part's depth can reach along the approach: z in ``[-L, L]`` (the part's near
    and far sides) or ``[depth - L, depth]`` for a depth in ``[min_depth - long_depth, max_depth]``."""
    return (lengths["min_depth"] - lengths["long_depth"] - lengths["L"] - 1e-6,
            max(lengths["L"], lengths["max_depth"]) + 1e-6)


def scatter(out: np.ndarray, idx, vals: np.ndarray, op=np.maximum) -> None:
    """``op.at(out, idx, vals)`` (``idx`` an index or a tuple of index arrays into ``out``), with a sort and
    ``op.reduceat`` (``ufunc.at`` is slow)."""
    flat = np.ravel_multi_index(idx, out.shape) if isinstance(idx, tuple) else np.asarray(idx)
    if not len(flat):
        return
    order = np.argsort(flat, kind="stable")
    f, v = flat[order], np.asarray(vals)[order]
    first = np.flatnonzero(np.r_[True, f[1:] != f[:-1]])
    o = out.reshape(-1)
    o[f[first]] = op(o[f[first]], op.reduceat(v, first))


def near_box(centres: np.ndarray, cloud: np.ndarray, radius: float) -> Tuple[np.ndarray, np.ndarray]:
    """The frame every pair scan works in (:func:`entries` and the kernels that must equal it): the centres'
    mean ``o`` [3] and the indices [M'] of the ``cloud`` points inside the centres' box grown by ``radius``."""
    lo, hi = centres.min(0) - radius, centres.max(0) + radius
    return centres.mean(0), np.flatnonzero(np.all((cloud >= lo) & (cloud <= hi), axis=1))


def entries(frames: PairFrames, cloud: np.ndarray, radius: float, select=None, chunk: int = 1 << 22):
    """Every (pair k, cloud point j) within ``radius`` of the pair's centre ``frames.centres[k]`` (and, with
    ``select(k, sx, su, sv) -> mask`` on [k, M] arrays, where it holds), with the point's coordinates in the
    pair's frame: ``(k [E], j [E], sx [E] (signed, along x), su [E], sv [E])``. Dense and elementwise, in chunks
    of pairs (faster than a k-d tree's ball query for these sizes), in float32 about the centres' mean."""
    centres, x, u, v = frames
    e = np.zeros(0, np.int64)
    f = np.zeros(0, np.float32)
    if not len(centres) or not len(cloud):
        return e, e, f, f, f
    o, cand = near_box(centres, cloud, radius)
    if not len(cand):
        return e, e, f, f, f
    Pc = (cloud[cand] - o).astype(np.float32)
    C = (centres - o).astype(np.float32)
    X, Uu, Vv = (np.asarray(a, dtype=np.float32) for a in (x, u, v))
    step = max(1, chunk // len(cand))
    ks, js, sxs, sus, svs = [], [], [], [], []
    r2 = np.float32(radius * radius)
    for k0 in range(0, len(centres), step):
        sl = slice(k0, k0 + step)
        Ck = C[sl]
        # elementwise, not BLAS: a GEMM's last bits depend on the arrays' alignment, and a candidate on
        # a box's edge must not flip between two exports of the same run
        D = [Pc[None, :, i] - Ck[:, i, None] for i in range(3)]
        d2 = D[0] * D[0] + D[1] * D[1] + D[2] * D[2]
        sx = D[0] * X[sl, 0, None] + D[1] * X[sl, 1, None] + D[2] * X[sl, 2, None]
        m = d2 <= r2
        su = D[0] * Uu[sl, 0, None] + D[1] * Uu[sl, 1, None] + D[2] * Uu[sl, 2, None]
        sv = D[0] * Vv[sl, 0, None] + D[1] * Vv[sl, 1, None] + D[2] * Vv[sl, 2, None]
        if select is not None:
            m &= select(np.arange(k0, k0 + len(Ck)), sx, su, sv)
        kk, jj = np.nonzero(m)
        ks.append(kk + k0)
        js.append(cand[jj])
        sxs.append(sx[kk, jj])
        sus.append(su[kk, jj])
        svs.append(sv[kk, jj])
    return (np.concatenate(ks), np.concatenate(js), np.concatenate(sxs), np.concatenate(sus), np.concatenate(svs))


def angles(su: np.ndarray, sv: np.ndarray, half_y: float, T: int, z_lo: float = -np.inf,
            z_hi: float = np.inf) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The (entry, approach angle) pairs whose gripper ``|y| <= half_y`` and ``z_lo <= z <= z_hi``, for
    entries with in-plane coordinates ``su, sv`` [E] around the closing axis and ``T`` approach angles
    ``t = 2 pi k / T`` (the gripper's ``z = su cos t + sv sin t``, ``y = su sin t - sv cos t``): ``(e [M],
    t [M], y [M], z [M])``, grouped by angle. One pass over the entries per angle (float32)."""
    su = np.asarray(su, dtype=np.float32)
    sv = np.asarray(sv, dtype=np.float32)
    theta = 2 * np.pi * np.arange(T) / T
    ct, st = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    lim = _y_limit(half_y)
    es, ts, ys, zs = [], [], [], []
    for k in range(T):
        y = su * st[k] - sv * ct[k]
        e = np.flatnonzero(np.abs(y) <= lim)
        z = su[e] * ct[k] + sv[e] * st[k]
        inz = (z >= z_lo) & (z <= z_hi)
        e, z = e[inz], z[inz]
        es.append(e)
        ts.append(np.full(len(e), k, np.int64))
        ys.append(y[e])
        zs.append(z)
    return np.concatenate(es), np.concatenate(ts), np.concatenate(ys), np.concatenate(zs)


def run_end(gid: np.ndarray, vals: np.ndarray, start: np.ndarray, gap: float, size: int, vmax: float) -> np.ndarray:
    """Per group ``g`` (of ``size``): how far a part reaches, connected, from where the fingers touch it
    at ``start[g]``: the far end of the run of values ``vals`` (with ``gid == g``, all in
    ``[start - gap, vmax]``) that begins within ``gap`` of ``start[g]`` and goes on while no empty
    stretch of about ``gap`` (between one and two) separates them (values are binned by ``gap / 2``);
    ``start[g]`` where no value lies within ``gap`` of it."""
    start = np.asarray(start, dtype=np.float64)
    out = start.copy()
    if not len(gid) or gap <= 0:
        return out
    b = 0.5 * gap
    nb = _nb(vmax, float(start.min()), gap)
    idx = np.clip(((vals - start[gid] + gap) / b).astype(np.int64), 0, nb - 1)
    occ = np.zeros((size, nb), dtype=bool)
    occ[gid, idx] = True
    has_start = occ[:, :4].any(1)  # a value within gap of the start
    brk = ~occ[:, :-1] & ~occ[:, 1:]  # two empty bins in a row: the part ends
    brk[:, :3] = False
    first_brk = np.where(brk.any(1), brk.argmax(1), nb - 1)
    mask = occ & (np.arange(nb)[None, :] <= first_brk[:, None])
    last = nb - 1 - np.argmax(mask[:, ::-1], axis=1)
    ok = has_start & mask.any(1)
    run = ok[gid] & (idx <= last[gid])  # the values in the run: its end is the largest
    scatter(out, gid[run], vals[run])
    return out


def closing_extent_reference(frames: PairFrames, cloud, w2, line: ClosingLine) -> Tuple[np.ndarray, np.ndarray]:
    """How far the part reaches across each contact pair's closing axis, connected, from its contacts: the
    ends ``(ext_p [K], ext_n [K])`` of the runs (:func:`run_end`) of the ``cloud`` [M, 3] points inside the
    finger's cylinder around the axis (``line``: ``su^2 + sv^2 <= half_y^2``, ``|sx| <= half_open``, within
    ``radius`` of the pair's centre; ``frames`` [K]) from the contacts at ``+w2`` and ``-w2`` [K] along ``x``;
    ``gap`` apart, points are one part. The numpy definition of :func:`closing_extent` (the same answer)."""
    half_y, half_open, gap, radius = line
    K = len(frames.centres)
    w2 = np.asarray(w2, dtype=np.float64).reshape(K)
    qk, _qj, qx, _qu, _qv = entries(frames, cloud, radius,
                                    lambda k, sx, su, sv: (su * su + sv * sv <= half_y**2) & (np.abs(sx) <= half_open))
    side_p = qx >= w2[qk] - gap
    side_n = -qx >= w2[qk] - gap
    return (run_end(qk[side_p], qx[side_p], w2, gap, K, half_open),
            run_end(qk[side_n], -qx[side_n], w2, gap, K, half_open))


def closing_extent(frames: PairFrames, cloud, w2, line: ClosingLine) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`closing_extent_reference` with the C++ kernel (``csrc/closing_extent.cpp``): one pass over the
    cloud per pair, no [pairs x points] arrays; equal answers."""
    half_y, half_open, gap, radius = line
    c, x, u, v = (np.ascontiguousarray(np.asarray(a, dtype=np.float64).reshape(-1, 3)) for a in frames)
    cloud = np.asarray(cloud, dtype=np.float64).reshape(-1, 3)
    K = len(c)
    w2 = np.ascontiguousarray(np.asarray(w2, dtype=np.float64).reshape(K))
    if not K or not len(cloud) or gap <= 0:
        return w2.copy(), w2.copy()
    kernel = _kernel.kernel("closing_extent")
    if kernel is None:  # pragma: no cover - no compiler: the reference gives the same answer, slower
        return closing_extent_reference(PairFrames(c, x, u, v), cloud, w2, line)
    o, cand = near_box(c, cloud, radius)  # as entries()
    if not len(cand):
        return w2.copy(), w2.copy()
    t_ = _kernel.array
    f32 = np.array([np.float32(radius * radius), np.float32(half_y**2), np.float32(half_open)], np.float32)
    ext_p, ext_n = kernel(t_(c - o, np.float32), t_(x, np.float32), t_(u, np.float32), t_(v, np.float32),
                          t_(cloud[cand] - o, np.float32), t_(w2), t_(f32, np.float32), float(gap),
                          _nb(half_open, float(w2.min()), gap), -1)
    return ext_p, ext_n


def _nb(vmax: float, start_min: float, gap: float) -> int:
    """:func:`run_end`'s bin count for starts whose smallest is ``start_min``."""
    return int(math.ceil((vmax - float(start_min) + gap) / (0.5 * gap))) + 2


def _depth(z_far: np.ndarray, z_near: np.ndarray, hold: np.ndarray, room: np.ndarray,
           lengths: Dict[str, float]) -> np.ndarray:
    """The grasp depth [K, T] from the part's far and near sides ``z_far``, ``z_near`` and the depth to hold
    a long part at, ``hold`` (step 1)."""
    tip = z_far + lengths["tip"]
    lo = np.maximum(z_near, -lengths["long_depth"]) + lengths["min_depth"]
    long = np.minimum(np.maximum(hold + lengths["tip"], lo), lengths["long_depth"])
    depth = np.where(tip <= lengths["max_depth"], np.maximum(tip, lengths["min_depth"]), long)
    # the support plane's limit, where the pads still reach the contacts and hold min_depth of the part from
    # its near side (a part lying on the table, lower than the contacts' depth plus min_depth: a loop of
    # scissors, a tool's handle)
    depth = np.where((room < depth) & (room >= np.maximum(lo, 0.0)), room, depth)
    return depth


def _holds(hold, K: int, T: int) -> np.ndarray:  # [K, T]
    """``hold`` as float64 [K, T]; ``inf`` everywhere for None (a long part is held ``long_depth`` deep)."""
    return np.full((K, T), np.inf) if hold is None else np.asarray(hold, dtype=np.float64).reshape(K, T)


def hold_depth(c: np.ndarray, u: np.ndarray, v: np.ndarray, point, T: int) -> np.ndarray:  # [K, T]
    """How far ``point`` [3] lies along each approach ``t`` (of ``T``) from the pairs' centres ``c`` [K, 3]
    (frames ``u``, ``v`` [K, 3]; the gripper's ``z = su cos t + sv sin t``): the ``hold`` of
    :func:`grasp_part`; ``inf`` everywhere without a point (a long part is held ``long_depth`` deep)."""
    c = np.asarray(c, dtype=np.float64).reshape(-1, 3)
    if point is None:
        return _holds(None, len(c), T)
    d = np.asarray(point, dtype=np.float64).reshape(1, 3) - c
    th = 2 * np.pi * np.arange(T) / T
    return np.sum(d * u, 1)[:, None] * np.cos(th)[None] + np.sum(d * v, 1)[:, None] * np.sin(th)[None]


def grasp_part_reference(frames: PairFrames, span: PairSpan, cloud: PartCloud, limits: DepthLimits, scan: PairScan,
                         weights: PathWeights | None = None) -> Dict[str, np.ndarray]:
    """:func:`grasp_part` with numpy arrays (module docstring), ``weights`` as there."""
    return grasp_part_reference_entries(frames, span, cloud, limits, scan, weights)[0]


def grasp_part_reference_entries(frames: PairFrames, span: PairSpan, cloud: PartCloud, limits: DepthLimits,
                                 scan: PairScan, weights: PathWeights | None = None):
    """:func:`grasp_part_reference`'s answer and the entries it is drawn from, ``(gid [E], j [E], xe [E], inz
    [E])``: candidate ``k * T + t``, cloud index, ``sx`` and whether the point lies in the pads' depth range;
    ``w_max`` is the largest ``weights.weights[j]`` (at least 0) over those with ``inz`` and ``|xe - offset| <=
    half_opening + weights.extra``."""
    T, lengths = scan
    c, x, u, v = (np.asarray(a, dtype=np.float64).reshape(-1, 3) for a in frames)
    fit, h, sp, sn = span
    occ, rel = cloud.occupied, cloud.target
    room, hold = limits
    K = len(c)
    fk_ = np.flatnonzero(fit)
    L, gap, reach = lengths["L"], lengths["gap"], lengths["reach"]
    qk, qj, qx, qu, qv = entries(PairFrames(c[fk_], x[fk_], u[fk_], v[fk_]), cloud.points, lengths["radius"],
                                  lambda k, sx, su, sv: np.abs(sx) <= reach)
    qk = fk_[qk]
    e, tt, _py, pz = angles(qu, qv, lengths["half_y"], T, *_z_window(lengths))
    ke = qk[e]
    xe = qx[e].astype(np.float64)
    gid = ke * T + tt
    occ_e = occ[qj[e]]
    inner = np.abs(xe) < h[ke]
    run = inner & occ_e & (pz >= -gap) & (pz <= L)
    z_far = run_end(gid[run], pz[run], np.zeros(K * T), gap, K * T, L).reshape(K, T)
    back = inner & occ_e & (pz >= -L) & (pz <= gap)
    z_near = -run_end(gid[back], -pz[back], np.zeros(K * T), gap, K * T, L).reshape(K, T)
    depth = _depth(z_far, z_near, _holds(hold, K, T), room, lengths)
    dep_e = depth.reshape(-1)[gid]
    inz = (pz >= dep_e - L) & (pz <= dep_e)
    m = inz & (xe >= sp[ke] - gap)
    ep = run_end(gid[m], xe[m], np.repeat(sp, T), gap, K * T, reach).reshape(K, T)
    m = inz & (-xe >= sn[ke] - gap)
    en = run_end(gid[m], -xe[m], np.repeat(sn, T), gap, K * T, reach).reshape(K, T)
    offset = 0.5 * (ep - en)
    half_part = 0.5 * (ep + en)
    half_opening = np.minimum(half_part + lengths["pad_x"] + lengths["clr"], lengths["half_open"])
    fits_kt = half_part + lengths["mg"] <= lengths["half_open"]
    cl = inz & occ_e & (np.abs(xe - offset.reshape(-1)[gid]) < half_opening.reshape(-1)[gid])
    n_close = np.bincount(gid[cl], minlength=K * T).reshape(K, T) * fits_kt
    n_rel = np.bincount(gid[cl], weights=rel[qj[e[cl]]].astype(np.float64), minlength=K * T).reshape(K, T)
    out = {"depth": depth, "offset": offset, "half_opening": half_opening, "n_close": n_close.astype(np.int64),
           "n_rel": n_rel}
    if weights is not None:
        wp = inz & (np.abs(xe - offset.reshape(-1)[gid]) <= half_opening.reshape(-1)[gid] + weights.extra)
        w_max = np.zeros(K * T)
        scatter(w_max, gid[wp], np.asarray(weights.weights, dtype=np.float64)[qj[e[wp]]], np.maximum)
        out["w_max"] = w_max.reshape(K, T)
    return out, (gid, qj[e], xe, inz)


def _pads_window_reference(frames: PairFrames, cloud, depth, which: CandidateIds, scan: PairScan):
    """The ``cloud`` points in the pads' window (``|y| <= half_y``, ``z`` in ``[depth - L, depth]``, ``|x| <=
    reach``) of every approach of the pairs ``which.k`` [M] at their ``depth`` [K, T]: ``(uk, inv, gid, k0, t, x,
    j)``, the pairs (``np.unique(ks)``, with its inverse), per entry its group ``gid`` (``uk`` index x T +
    approach), pair ``k0``, approach ``t``, coordinate along the closing axis ``x`` (float64, from the
    float32 scan of :func:`entries` and :func:`angles`) and cloud index ``j``. The scan that
    :func:`pads_touch_contacts` and :func:`pad_quality` share (:func:`_pads_window`); the entries are grouped
    by approach, then pair, then cloud point (:func:`angles` over :func:`entries`). With ``which.t`` [M] (the
    candidates' approaches) only the entries of the candidates ``(k, t)`` asked for, in the same order."""
    ks, ts = which
    T, lengths = scan
    c, x, u, v = (np.asarray(a, dtype=np.float64).reshape(-1, 3) for a in frames)
    uk, inv = np.unique(ks, return_inverse=True)
    qk, qj, qx, qu, qv = entries(PairFrames(c[uk], x[uk], u[uk], v[uk]), cloud, lengths["radius"],
                                 lambda k, sx, su, sv: np.abs(sx) <= lengths["reach"])
    e, tt, _py, pz = angles(qu, qv, lengths["half_y"], T, *_z_window(lengths))
    k0 = uk[qk[e]]
    d = np.asarray(depth, dtype=np.float64)[k0, tt]
    inz = (pz >= d - lengths["L"]) & (pz <= d)
    gid = qk[e] * T + tt
    if ts is not None:
        inz &= _asked(inv, ts, len(uk), T).reshape(-1)[gid]
    return uk, inv, gid[inz], k0[inz], tt[inz], qx[e][inz].astype(np.float64), qj[e][inz]


def _asked(inv: np.ndarray, ts, n: int, T: int) -> np.ndarray:  # [n, T] bool
    """Which of the ``n`` pairs' approaches are asked for: the candidates ``(uk[inv], ts)``."""
    want = np.zeros(n * T, bool)
    want[inv.reshape(-1) * T + np.asarray(ts, dtype=np.int64).reshape(-1)] = True
    return want.reshape(n, T)


def _pads_window(frames: PairFrames, cloud, depth, which: CandidateIds, scan: PairScan, num_threads: int = -1):
    """:func:`_pads_window_reference` with the C++ kernel (``csrc/pads_window.cpp``): one pass over the cloud
    per pair, no [pairs x points] or [entries x angles] arrays; the same arrays, in the same order (with
    ``which.t``, the entries of the candidates asked for only: what :func:`pads_touch_contacts` and
    :func:`pad_quality` read)."""
    ks, ts = which
    T, lengths = scan
    c, x, u, v = (np.asarray(a, dtype=np.float64).reshape(-1, 3) for a in frames)
    cloud = np.asarray(cloud, dtype=np.float64).reshape(-1, 3)
    kernel = _kernel.kernel("pads_window")
    if kernel is None:  # pragma: no cover - no compiler: the reference gives the same answer, slower
        return _pads_window_reference(PairFrames(c, x, u, v), cloud, depth, which, scan)
    uk, inv = np.unique(ks, return_inverse=True)
    e = np.zeros(0, np.int64)
    o, cand = near_box(c[uk], cloud, lengths["radius"]) if len(uk) and len(cloud) else (None, e)  # as entries()
    if not len(cand):
        return uk, inv, e, uk[e], e, np.zeros(0), e
    t_ = _kernel.array
    theta = 2 * np.pi * np.arange(T) / T
    ct, st = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    z_lo, z_hi = _z_window(lengths)
    f32 = np.array([np.float32(lengths["radius"] * lengths["radius"]), np.float32(lengths["reach"]),
                    _y_limit(lengths["half_y"]), np.float32(z_lo), np.float32(z_hi)], np.float32)
    gid, k0, tt, xe, j = kernel(
        t_(c[uk] - o, np.float32), t_(x[uk], np.float32), t_(u[uk], np.float32), t_(v[uk], np.float32),
        t_(cloud[cand] - o, np.float32), t_(np.asarray(depth, dtype=np.float64)[uk].reshape(len(uk), T)),
        t_(ct, np.float32), t_(st, np.float32), t_(f32, np.float32),
        t_(np.ones((len(uk), T)) if ts is None else _asked(inv, ts, len(uk), T), np.uint8), t_(uk, np.int64),
        t_(cand, np.int64), float(lengths["L"]), int(num_threads))
    return uk, inv, gid, k0.astype(uk.dtype, copy=False), tt, xe, j


def pads_touch_contacts(frames: PairFrames, cloud, span: PairSpan, depth, which: CandidateIds,
                        scan: PairScan) -> np.ndarray:
    """Whether the pads of candidates ``which`` (pair ``k`` [M], approach angle ``t`` [M]) touch the part at both of
    their contacts at their depth: on each side some ``cloud`` point in the pads' window (``|y| <= half_y``,
    ``z`` in ``[depth - L, depth]``) lies within ``gap`` of the contact along the closing axis (where the
    run that gives the opening starts, :func:`run_end`). Where it does not, the pads hold something
    else than the pair (a part held at the action point, beyond which one contact lies): its opening
    then reaches out to an empty contact and the part sits off centre between the fingers, and the pair's
    antipodal quality says nothing about it. Arguments as :func:`grasp_part`'s (of ``span`` the contacts'
    distances), ``cloud`` [N, 3] its points, ``depth`` [K, T] its result; returns [M] bool."""
    ks, ts = np.asarray(which.k, dtype=np.int64), np.asarray(which.t, dtype=np.int64)
    T = scan.T
    out = np.zeros(len(ks), bool)
    if not len(ks) or not len(cloud):
        return out
    uk, inv, gid, k0, _tt, xe, _j = _pads_window(frames, cloud, depth, CandidateIds(ks, ts), scan)
    gap = scan.lengths["gap"]
    hit_p = np.zeros(len(uk) * T, bool)
    hit_n = np.zeros(len(uk) * T, bool)
    hit_p[gid[np.abs(xe - np.asarray(span.contact_pos)[k0]) < gap]] = True
    hit_n[gid[np.abs(-xe - np.asarray(span.contact_neg)[k0]) < gap]] = True
    g = inv * T + ts
    return hit_p[g] & hit_n[g]


def pad_quality(frames: PairFrames, surface: OrientedPoints, poses: CandidatePoses, which: CandidateIds,
                scan: PairScan, contact: PadContact) -> Tuple[np.ndarray, np.ndarray]:
    """Antipodal quality where the pads touch, for candidates ``which`` (pair ``k`` [M], approach angle ``t``
    [M]).

    Closing, each pad meets first the surface point farthest out along the closing axis among the
    ``surface`` points [N, 3] (normals [N, 3], unoriented) between the pads (``|x - offset| <= half_opening``,
    ``|y| <= half_y``, ``z`` in ``[depth - L, depth]``). A pad presses along ``x``; the surface there takes it
    within its friction cone when the surface normal lies within ``atan(mu)`` of ``x``. Of the points within
    ``band`` (the surface samples' spacing) of a pad's extreme, the one whose normal faces the pad best stands
    for its contact: a flat pad settles where the surface faces it, and on a smooth part the extreme is such a
    place (its normal along ``x``), while where none faces it within the cone the pad meets the part on a
    slant (a corner, a loop that goes on beyond the finger's edge, a slope) and slips. Returns ``(quality
    [M], found [M])``: ``1 - max(angle_+, angle_-) / atan(mu)`` clipped to [0, 1] (0 outside the cone), and
    whether both pads meet a point. Arguments otherwise as :func:`pads_touch_contacts`'s; ``poses`` [K, T] as
    :func:`grasp_part` gives them; ``contact``: ``band``, ``mu``, and ``up``, ``sides``. The pair's own antipodal
    quality (its contacts' normals) says how the pads would hold where the pair lies; this is where they do.

    ``up`` [3] (the support plane's normal) and ``sides`` [K] bool: for those pairs a pad meets the part at
    its side, which views from above may not have seen; a point whose normal lies nearer ``up`` than the
    plane (a top face's edge) does not stand for that contact, and a pad that meets only such points has no
    contact found (``found`` false)."""
    ks, ts = np.asarray(which.k, dtype=np.int64), np.asarray(which.t, dtype=np.int64)
    T = scan.T
    M = len(ks)
    q, found = np.zeros(M), np.zeros(M, bool)
    points, normals = surface
    band, mu, up, sides = contact
    if not M or not len(points):
        return q, found
    x = np.asarray(frames.x, dtype=np.float64).reshape(-1, 3)
    offset = np.asarray(poses.offset, dtype=np.float64)
    half_opening = np.asarray(poses.half_opening, dtype=np.float64)
    # the entries of those asked for
    uk, inv, gid, k0, tt, xe, j = _pads_window(frames, points, poses.depth, CandidateIds(ks, ts), scan)
    G = len(uk) * T
    keep = np.abs(xe - offset[k0, tt]) <= half_opening[k0, tt]  # between the pads
    gid, k0, xe, j = gid[keep], k0[keep], xe[keep], j[keep]
    hi = np.full(G, -np.inf)
    lo = np.full(G, np.inf)
    scatter(hi, gid, xe, np.maximum)
    scatter(lo, gid, xe, np.minimum)
    # |cos| of each point's normal to its candidate's closing axis (float64)
    nj = np.asarray(normals, dtype=np.float64)[j]
    cos = np.abs(np.sum(nj * x[k0], 1))
    if up is not None and sides is not None:
        top = np.asarray(sides, bool)[k0] & (np.abs(nj @ np.asarray(up, dtype=np.float64)) > math.sqrt(0.5))
        cos = np.where(top, -1.0, cos)
    best = []
    for side in (xe >= hi[gid] - band, xe <= lo[gid] + band):
        b = np.full(G, -1.0)
        scatter(b, gid[side], cos[side], np.maximum)
        best.append(b)
    g = inv * T + ts
    worst = np.arccos(np.clip(np.minimum(*best), 0.0, 1.0))
    met = (best[0] >= 0) & (best[1] >= 0)
    quality = np.where(met, np.clip(1.0 - worst / math.atan(mu), 0.0, 1.0), 0.0)
    return quality[g], met[g]


def grasp_part(frames: PairFrames, span: PairSpan, cloud: PartCloud, limits: DepthLimits, scan: PairScan,
               weights: PathWeights | None = None) -> Dict[str, np.ndarray]:
    """Per candidate (pair ``k`` of ``K``, approach ``t`` of ``T``; module docstring): ``depth``, ``offset``,
    ``half_opening``, ``n_close`` and ``n_rel``, each ``[K, T]``, and with ``weights`` also ``w_max`` [K, T].

    Args:
        frames: [K] the pairs' frames (``x`` the closing axis).
        span: [K] the pairs to look at (``fits``; the others keep the values of an empty neighbourhood), the
            contacts' half-width (plus pad and clearance) and their distances from the centre along ``+x`` and
            ``-x``.
        cloud: [M] what the fingers must not enter, what of it the grasp holds and what is the target's.
        limits: [K, T] the deepest TCP the support plane allows (``room``, ``inf``: no plane) and where a part
            longer than the fingers reach is held (``hold``: the action point's depth along the approach,
            :func:`hold_depth`; None: ``long_depth`` past the contacts).
        scan: ``T``, the approaches per pair, and ``lengths``, in capture units: ``half_y`` (a finger's half
            width), ``L`` (finger length), ``reach`` (how far across the closing axis a point may lie), ``radius``
            (a pair's neighbourhood), ``gap`` (a part's connectivity), ``tip``, ``min_depth``, ``max_depth``,
            ``long_depth``, ``pad_x``, ``clr``, ``half_open``, ``mg``.
        weights: [M] float64 per-point weights and ``extra``, or None: ``w_max`` is the largest weight (at least
            0) over each candidate's points in the pads' depth range (occupied or not) with ``|x - offset| <=
            half_opening + extra``.
    """
    T, lengths = scan
    c, x, u, v = (np.ascontiguousarray(np.asarray(a, dtype=np.float64).reshape(-1, 3)) for a in frames)
    occ, rel = cloud.occupied, cloud.target
    points = np.asarray(cloud.points, dtype=np.float64).reshape(-1, 3)
    K = len(c)
    fit = np.asarray(span.fits, dtype=bool)
    h, sp, sn = (np.asarray(a, dtype=np.float64).reshape(K) for a in span[1:])
    room = np.asarray(limits.room, dtype=np.float64).reshape(K, T)
    hold = _holds(limits.hold, K, T)
    w = None if weights is None else np.asarray(weights.weights, dtype=np.float64).reshape(len(points))
    extra = 0.0 if weights is None else weights.extra
    fk_ = np.flatnonzero(fit)
    kernel = _kernel.kernel("grasp_part") if len(fk_) and len(points) else None
    if kernel is None:  # no pair to look at, or no compiler: the reference gives the same answer, slower
        return grasp_part_reference(PairFrames(c, x, u, v), PairSpan(fit, h, sp, sn), PartCloud(points, occ, rel),
                                    DepthLimits(room, hold), scan, None if w is None else PathWeights(w, extra))
    r = lengths["radius"]
    o, cand = near_box(c[fk_], points, r)  # as entries(), around the pairs that fit
    Pc = np.ascontiguousarray((points[cand] - o).astype(np.float32))
    C = np.ascontiguousarray((c - o).astype(np.float32))
    theta = 2 * np.pi * np.arange(T) / T
    ct, st = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    flags = (np.asarray(occ, dtype=bool)[cand].astype(np.uint8) | (np.asarray(rel, dtype=bool)[cand].astype(np.uint8) << 1))
    L, gap, reach = lengths["L"], lengths["gap"], lengths["reach"]
    z_lo, z_hi = _z_window(lengths)
    f32 = [np.float32(r * r), np.float32(reach), _y_limit(lengths["half_y"]), np.float32(z_lo), np.float32(z_hi),
           np.float32(-gap), np.float32(L)]
    nbs = [_nb(L, 0.0, gap), _nb(reach, float(sp.min()), gap), _nb(reach, float(sn.min()), gap)]

    def t_(a):
        return _kernel.array(a, np.asarray(a).dtype)

    depth, offset, half_opening, n_close, n_rel, w_max = kernel(
        t_(C), t_(x.astype(np.float32)), t_(u.astype(np.float32)), t_(v.astype(np.float32)), t_(fit.astype(np.uint8)),
        t_(Pc), t_(flags), t_(h), t_(sp), t_(sn), t_(room), t_(hold), t_(ct), t_(st),
        _kernel.array(np.array(f32, np.float32), np.float32),
        [float(lengths[k]) for k in ("L", "reach", "gap", "tip", "min_depth", "max_depth", "long_depth", "pad_x",
                                     "clr", "half_open", "mg")], nbs, None if w is None else t_(w[cand]), float(extra),
        -1)
    out = {"depth": depth, "offset": offset, "half_opening": half_opening, "n_close": n_close, "n_rel": n_rel}
    if w is not None:
        out["w_max"] = w_max
    return out
