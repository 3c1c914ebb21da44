"""Occupancy from depth views: free, occupied and unknown cells (OctoMap / voxblox style).

The grasp planner checks the gripper against this grid rather than against surface samples fused
from a short reconstruction's depth. On thin parts (a handle, a bar) such a surface is fuzzy: floaters
and the blend of foreground and background depth at silhouettes read as solid, and space no view has
seen reads as empty. An occupancy grid keeps what the views actually say about each cell.

Integration (projective, like voxblox's projective integrator; every view counts once per cell):
the centre of each cell is projected into each view; with ``delta = z_cell - d`` (z-depth of the
cell minus the measured depth, both along the view's optical axis; ``d`` the nearest depth over the
cell's footprint in the view, :func:`footprint_depth`, so that a cell is carved free only when it
lies in front of everything it covers):

* ``delta < -hit_front * voxel``: the view's ray passed through the cell before reaching the
  surface: a **miss** (free-space evidence);
* ``-hit_front * voxel <= delta <= hit_back * voxel``: the cell holds the measured surface (or lies
  just behind it): a **hit**;
* ``delta > hit_back * voxel``: behind the surface, occluded: no evidence. So is a cell outside the
  view, behind the camera, or at a pixel without a measurement (depth 0: e.g. rendered opacity
  below ``FUSION_MIN_ALPHA``, zeroed by the caller). A pixel whose ray saw nothing at all (depth
  ``inf``: rendered opacity near 0) is a miss for every cell along it.

Each cell's log-odds ``L = hits * l_hit + misses * l_miss`` (an order-free sum, without OctoMap's
clamping) sets its state. The default sensor model is symmetric, ``l_hit = logit(0.7)``, ``l_miss =
logit(0.3)``: a cell is occupied when more views see a surface in it than see through it. OctoMap's
default for range sensors (``l_miss = logit(0.4)``) trusts one hit as much as two misses; a
radiance field's expected depth blends foreground and background at every silhouette, so hits in
the air beside thin parts are common, and with OctoMap's weights two of them outweigh four views
that see through (``p_miss=0.4`` gives that model back).

* **occupied**: ``hits >= min_hits`` (several views saw a surface there) and ``L > 0`` (more
  surface evidence than free-space evidence);
* **free**: not occupied, and at least one view's ray passed through it (``misses >= 1``): a
  floater that one view sees and another sees through is free, so is a cell where rays passed
  more often than surfaces were seen;
* **unknown**: everything else: never observed (inside solids, behind everything, out of view),
  or seen as a surface by fewer than ``min_hits`` views and passed through by none.

The planner's rule for unknown cells (:mod:`point2act.grasp.planner`): **unknown is not free**. No
part of the gripper (fingers, palm) may be in an occupied *or unknown* cell at the grasp pose or
anywhere on the straight approach from the pre-grasp pose; only the closing region (between the
fingers, where the object is) may hold them. An unknown cell is the inside of an object or space
that no view saw into; a grasp planned through it cannot be checked, so the planner only approaches
from the sides the views saw. Cells below the support plane are left to the plane test.

numpy only. Frames: ``viewmats`` are world-to-camera with OpenCV axes (x right, y down, z forward),
``Ks`` pinhole intrinsics with pixel (i, j)'s centre at (j + 0.5, i + 0.5), as gsplat renders them
(:mod:`point2act.fusion`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Tuple

import numpy as np

from point2act.grasp import _kernel

__all__ = ["OccupancyGrid", "UNKNOWN", "FREE", "OCCUPIED", "CellGrid", "DepthMaps", "GridViews", "classify",
           "footprint_depth", "integrate_depth", "occupancy_counts", "occupancy_counts_reference", "occupancy_cube",
           "DepthSensor", "P_HIT", "P_MISS"]

UNKNOWN, FREE, OCCUPIED = 0, 1, 2
"""Cell states of :attr:`OccupancyGrid.state`."""
P_HIT = 0.7
"""Default probability that a cell is occupied given one view's hit (OctoMap's default)."""
P_MISS = 0.3
"""Default probability that a cell is occupied given one view's miss (OctoMap's default is 0.4)."""
L_HIT = math.log(P_HIT / (1 - P_HIT))
L_MISS = math.log(P_MISS / (1 - P_MISS))


@dataclass
class OccupancyGrid:
    """An axis-aligned grid of cubic cells in a world frame, with per-cell evidence and state.

    Cell ``(i, j, k)`` spans ``origin + voxel * ([i, j, k], [i + 1, j + 1, k + 1])``."""

    origin: np.ndarray  # [3]
    """World position of the grid's minimum corner."""
    voxel: float
    """Cell side (world units)."""
    hits: np.ndarray  # [nx, ny, nz] int16
    """Views that saw a surface in the cell."""
    misses: np.ndarray  # [nx, ny, nz] int16
    """Views whose ray passed through the cell."""
    state: np.ndarray  # [nx, ny, nz] uint8
    """UNKNOWN (0), FREE (1) or OCCUPIED (2)."""
    l_hit: float = L_HIT
    """Log-odds of one hit (the sensor model the state was classified with)."""
    l_miss: float = L_MISS
    """Log-odds of one miss."""

    @property
    def shape(self) -> Tuple[int, int, int]:
        return tuple(int(v) for v in self.state.shape)  # type: ignore[return-value]

    @property
    def log_odds(self) -> np.ndarray:  # [nx, ny, nz] float32
        return (self.hits.astype(np.float32) * self.l_hit + self.misses.astype(np.float32) * self.l_miss).astype(np.float32)

    @property
    def upper(self) -> np.ndarray:  # [3]
        """World position of the grid's maximum corner."""
        return self.origin + self.voxel * np.asarray(self.shape, dtype=np.float64)

    def centers(self, mask: np.ndarray | None = None) -> np.ndarray:  # [M, 3]
        """World positions of the centres of the cells where ``mask`` [nx, ny, nz] is True (all cells
        without a mask), in C order."""
        idx = np.argwhere(mask) if mask is not None else np.indices(self.shape).reshape(3, -1).T
        return self.origin + (idx.astype(np.float64) + 0.5) * self.voxel

    def index_of(self, points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:  # [M, 3] int, [M] bool
        """Cell index of each point [M, 3] and whether it lies inside the grid."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        ijk = np.floor((p - self.origin) / self.voxel).astype(np.int64)
        inside = np.all((ijk >= 0) & (ijk < np.asarray(self.shape)), axis=1) & np.isfinite(p).all(1)
        return ijk, inside

    def contains(self, points: np.ndarray) -> np.ndarray:  # [M] bool
        """Whether each point [M, 3] lies inside the grid."""
        return self.index_of(points)[1]

    def state_at(self, points: np.ndarray, outside: int = UNKNOWN) -> np.ndarray:  # [M] uint8
        """State of the cell holding each point [M, 3]; ``outside`` for points outside the grid."""
        ijk, inside = self.index_of(points)
        out = np.full(len(ijk), outside, dtype=np.uint8)
        out[inside] = self.state[tuple(ijk[inside].T)]
        return out

    def counts(self) -> dict:
        """Number of cells per state."""
        return {"unknown": int((self.state == UNKNOWN).sum()), "free": int((self.state == FREE).sum()),
                "occupied": int((self.state == OCCUPIED).sum())}


def log_odds(p: float) -> float:
    """``log(p / (1 - p))``; ``p`` in (0, 1)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"a sensor-model probability must lie in (0, 1), got {p}")
    return math.log(p / (1.0 - p))


def classify(hits: np.ndarray, misses: np.ndarray, min_hits: int = 2, p_hit: float = P_HIT,
             p_miss: float = P_MISS) -> np.ndarray:
    """Cell states from the evidence counts (same shapes): OCCUPIED where ``hits >= min_hits`` and the
    log-odds is positive, FREE where some ray passed through and it is not occupied, else UNKNOWN."""
    L = hits.astype(np.float32) * log_odds(p_hit) + misses.astype(np.float32) * log_odds(p_miss)
    occupied = (hits >= max(int(min_hits), 1)) & (L > 0)
    state = np.full(hits.shape, UNKNOWN, dtype=np.uint8)
    state[(misses >= 1) & ~occupied] = FREE
    state[occupied] = OCCUPIED
    return state


def footprint_depth(depth: np.ndarray, K: np.ndarray, voxel: float) -> np.ndarray:  # [H, W]
    """The nearest measured depth over each pixel's neighbourhood as wide as a cell's footprint (the
    cell's half-diagonal at the view's median depth, at least one pixel): a cell is carved free only
    when it lies in front of every surface its footprint covers, so a part thinner than a few pixels
    is not carved away by the rays that pass just beside it (a cell's centre pixel can see past a
    surface the cell holds). Depth 0 (no measurement) is ignored unless the whole neighbourhood has
    none; ``inf`` (the ray saw nothing) counts as the farthest depth."""
    from point2act.grasp.window import window_min

    d = np.asarray(depth, dtype=np.float32)
    finite = np.isfinite(d) & (d > 0)
    if not finite.any():
        return d
    f = 0.5 * float(K[0, 0] + K[1, 1])
    r = int(max(1, min(4, round(0.5 * math.sqrt(3.0) * voxel * f / float(np.median(d[finite]))))))
    big = np.float32(3e38)
    m = window_min(np.where(d > 0, d, big), 2 * r + 1)
    return np.where(m >= big, np.where(np.isinf(m), np.inf, 0.0), m).astype(np.float32)


class DepthMaps(NamedTuple):
    """Depth maps and the cameras that took them: the views a grid is integrated from (world units)."""

    depths: np.ndarray  # [C, H, W]
    """z-depth per pixel; 0 = no measurement, ``inf`` = the ray saw nothing."""
    Ks: np.ndarray  # [C, 3, 3]
    """Pinhole intrinsics."""
    viewmats: np.ndarray  # [C, 4, 4]
    """World-to-camera, OpenCV axes."""


class CellGrid(NamedTuple):
    """Where a grid's cells lie (world units): cell ``(i, j, k)`` spans ``origin + voxel * ([i, j, k], [i + 1,
    j + 1, k + 1])``."""

    origin: np.ndarray  # [3]
    """The grid's minimum corner."""
    voxel: float
    """The cells' side."""
    shape: Tuple[int, int, int]
    """Cells per axis."""


class GridViews(NamedTuple):
    """The depth views as the counting kernel reads them (float32): in the frame of the grid's middle, each with
    the depth it measured (over each cell's footprint, :func:`footprint_depth`)."""

    depths: np.ndarray  # [C, H, W] float32
    """z-depth; 0 = no measurement, ``inf`` = the ray saw nothing."""
    R: np.ndarray  # [C, 3, 3] float32
    """World-to-camera rotations."""
    t: np.ndarray  # [C, 3] float32
    """Translations of the grid's middle (``R @ mid`` + the view's translation)."""
    intr: np.ndarray  # [C, 4] float32
    """``fx, fy, cx, cy``."""


def occupancy_counts_reference(
    views: GridViews,  # [C]
    axes: Tuple[np.ndarray, np.ndarray, np.ndarray],  # [nx], [ny], [nz] float32 cell centres about the middle
    near: float,
    front: float,
    back: float,
) -> Tuple[np.ndarray, np.ndarray]:
    """Per cell, how many views see it in front of their measured depth by more than ``front`` (misses)
    and how many within ``[-front, back]`` of it (hits): int16 ``(hits, misses)`` [nx, ny, nz]. A view
    sees a cell whose z-depth is above ``near`` and whose centre projects into the image onto a measured
    depth (> 0). Numpy, in float32 (the cell offsets are small; the translations absorb the rest), slabs
    of x of about 2M cells; :func:`occupancy_counts` is the C++ kernel, equal answers."""
    depths, R, t, intr = views
    shape = tuple(len(a) for a in axes)
    C, H, W = depths.shape
    n = int(np.prod(shape))
    hits = np.zeros(n, dtype=np.int16)
    misses = np.zeros(n, dtype=np.int16)
    front32, back32 = np.float32(front), np.float32(back)
    chunk = max(1, (1 << 21) // (shape[1] * shape[2]))
    for c in range(C):
        d_img = depths[c]
        R32 = R[c]
        fx, fy, cx, cy = (np.float32(v) for v in intr[c])
        # per-axis contributions: cam = R[:, 0] x + R[:, 1] y + R[:, 2] z + t
        gy = R32[:, 1][None, :] * axes[1][:, None]  # [ny, 3]
        gz = R32[:, 2][None, :] * axes[2][:, None]  # [nz, 3]
        yz = (gy[:, None, :] + gz[None, :, :]).reshape(-1, 3) + t[c]  # [ny*nz, 3]
        for x0 in range(0, shape[0], chunk):
            xs = axes[0][x0 : x0 + chunk]
            cam = (R32[:, 0][None, None, :] * xs[:, None, None] + yz[None]).reshape(-1, 3)
            z = cam[:, 2]
            ok = z > near
            zi = np.where(ok, z, np.float32(1.0))
            u = fx * cam[:, 0] / zi + cx
            v = fy * cam[:, 1] / zi + cy
            ok &= (u >= 0) & (u < W) & (v >= 0) & (v < H)
            sel = np.flatnonzero(ok)
            if not len(sel):
                continue
            d = d_img[v[sel].astype(np.int64), u[sel].astype(np.int64)]
            meas = d > 0
            sel, d = sel[meas], d[meas]
            delta = z[sel] - d
            base = x0 * shape[1] * shape[2]
            miss = delta < -front32
            hit = ~miss & (delta <= back32)
            misses[base + sel[miss]] += 1
            hits[base + sel[hit]] += 1
    return hits.reshape(shape), misses.reshape(shape)


def occupancy_counts(views: GridViews, axes, near: float, front: float, back: float) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`occupancy_counts_reference` with the C++ kernel (``csrc/occupancy_counts.cpp``)."""
    f32 = [np.ascontiguousarray(np.asarray(a, dtype=np.float32)) for a in (*views, *axes)]
    if f32[0].shape[0] == 0:
        z = np.zeros(tuple(len(a) for a in axes), np.int16)
        return z, z.copy()
    kernel = _kernel.kernel("occupancy_counts")
    if kernel is None:  # pragma: no cover - no compiler: the reference gives the same answer, slower
        return occupancy_counts_reference(GridViews(*f32[:4]), tuple(f32[4:]), near, front, back)
    return kernel(*(_kernel.array(a, np.float32) for a in f32), float(near), float(front), float(back), -1)


@dataclass(frozen=True)
class DepthSensor:
    """How the depth views count as evidence for the cells (module docstring): the hit band, the sensor model
    and what decides a cell's state."""

    hit_front: float = 0.5
    """The hit band's extent in front of the measured depth, in voxels."""
    hit_back: float = 1.5
    """The hit band's extent behind the measured depth, in voxels."""
    min_hits: int = 2
    """An occupied cell is seen as a surface by at least this many views (:func:`classify`)."""
    near: float = 0.0
    """Cells closer to a camera than this (z-depth) are not observed by it."""
    p_hit: float = P_HIT
    """The probability of occupancy a hit stands for (the sensor model)."""
    p_miss: float = P_MISS
    """The probability of occupancy a miss stands for (the sensor model)."""
    footprint: bool = True
    """Compare each cell with the nearest depth over its footprint in the view (:func:`footprint_depth`), not
    with the depth at its centre's pixel alone."""


def integrate_depth(
    views: DepthMaps,  # [C]
    grid: CellGrid,
    sensor: DepthSensor | None = None,
) -> OccupancyGrid:
    """Integrate the ``views``' depth maps into the cells of ``grid`` (world units, the depth maps' units): per
    cell and view a hit, a miss or nothing (module docstring), then :func:`classify`, as ``sensor`` says (None:
    :class:`DepthSensor`'s defaults)."""
    depths, Ks, viewmats = views
    origin, voxel, shape = grid
    sensor = sensor if sensor is not None else DepthSensor()
    hit_front, hit_back, min_hits, near = sensor.hit_front, sensor.hit_back, sensor.min_hits, sensor.near
    p_hit, p_miss, footprint = sensor.p_hit, sensor.p_miss, sensor.footprint
    depths = np.asarray(depths, dtype=np.float32)
    if depths.ndim != 3:
        raise ValueError(f"integrate_depth: depths must be [C, H, W], got shape {depths.shape}")
    C, H, W = depths.shape
    Ks = np.asarray(Ks, dtype=np.float64).reshape(C, 3, 3)
    viewmats = np.asarray(viewmats, dtype=np.float64).reshape(C, 4, 4)
    if not (voxel > 0 and math.isfinite(voxel)):
        raise ValueError(f"integrate_depth: voxel must be positive and finite, got {voxel}")
    shape = tuple(int(v) for v in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"integrate_depth: shape must be 3 positive ints, got {shape}")
    origin = np.asarray(origin, dtype=np.float64).reshape(3)
    # cell centres relative to the grid's centre (float32 keeps memory and time down; the offsets
    # are small, the view translations absorb the rest in float64)
    mid = origin + 0.5 * voxel * np.asarray(shape, dtype=np.float64)
    axes = [((np.arange(s, dtype=np.float64) + 0.5) * voxel + origin[a] - mid[a]).astype(np.float32)
            for a, s in enumerate(shape)]
    views = [c for c in range(C) if np.any(depths[c] > 0)]
    d_fp = np.zeros((len(views), H, W), np.float32)
    R32 = np.zeros((len(views), 3, 3), np.float32)
    t32 = np.zeros((len(views), 3), np.float32)
    intr = np.zeros((len(views), 4), np.float32)
    for i, c in enumerate(views):
        d_fp[i] = footprint_depth(depths[c], Ks[c], voxel) if footprint else depths[c]
        R = viewmats[c, :3, :3]
        R32[i] = R
        t32[i] = viewmats[c, :3, 3] + R @ mid
        intr[i] = [Ks[c, 0, 0], Ks[c, 1, 1], Ks[c, 0, 2], Ks[c, 1, 2]]
    hits, misses = occupancy_counts(GridViews(d_fp, R32, t32, intr), axes, max(near, 1e-6), hit_front * voxel,
                                    hit_back * voxel)
    return OccupancyGrid(origin=origin, voxel=float(voxel), hits=hits, misses=misses,
                         state=classify(hits, misses, min_hits, p_hit, p_miss), l_hit=log_odds(p_hit),
                         l_miss=log_odds(p_miss))


def occupancy_cube(
    views: DepthMaps,  # [C]
    center: np.ndarray,  # [3]
    side: float,
    voxel: float,
    max_cells: int = 128,
    **kw,
) -> OccupancyGrid:
    """:func:`integrate_depth` on a cube of ``side`` centred at ``center``, with cells of ``voxel`` or
    larger so that the cube has at most ``max_cells`` cells per side; ``kw``: the :class:`DepthSensor`'s
    fields."""
    if not (side > 0 and math.isfinite(side)):
        raise ValueError(f"occupancy_cube: side must be positive and finite, got {side}")
    voxel = max(float(voxel), float(side) / max(int(max_cells), 1))
    n = max(1, int(math.ceil(side / voxel)))
    center = np.asarray(center, dtype=np.float64).reshape(3)
    return integrate_depth(views, CellGrid(center - 0.5 * n * voxel, voxel, (n, n, n)), DepthSensor(**kw))
