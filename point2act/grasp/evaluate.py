"""Judge a grasp against known geometry: does it close on the target part, and is it collision-free?

Used by the tests, the demo and the accuracy benchmark, with ground-truth surface samples of a
synthetic scene (``points`` [M, 3] with a part label each). Plain numpy.

* **Closes on the target**: the closing region (the box swept between the fingers' inner faces,
  ``finger_width`` deep along y, ``finger_length`` long behind the TCP) holds at least
  ``min_points`` surface points, and at least ``min_fraction`` of them belong to the target part.
* **Collision-free**: no surface point lies inside a finger or the palm box shrunk by ``tol``
  (the true geometry, not the reconstruction the planner saw), and no box reaches below the
  support plane ``z = table_z`` by more than ``tol``.
* **Approach free** (reported apart): the same for the volume the boxes sweep on the straight
  approach from the pre-grasp pose (``GripperConfig.pregrasp_distance`` back along the approach).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, NamedTuple, Tuple

import numpy as np

from point2act._open3d import load as load_open3d

from point2act.grasp.config import GripperConfig
from point2act.grasp.geometry import Box, grasp_pose, grasp_to_gripper_boxes, points_in_box

__all__ = ["GraspVerdict", "GroundTruth", "OnTargetRule", "judge_grasp", "closing_box", "gripper_contacts", "approach_contacts",
           "raycast_depth", "look_at_viewmat", "degrade_depth"]


@dataclass
class GraspVerdict:
    on_target: bool
    """The closing region holds enough points and mostly the target's."""
    collision_free: bool
    """No true surface point inside the fingers or palm, nothing below the table."""
    target_fraction: float
    """Fraction of the closing region's points that belong to the target (0 when empty)."""
    closing_points: int
    """Surface points inside the closing region."""
    colliding_points: Dict[str, int]
    """Per box (finger_neg_x, finger_pos_x, palm): surface points inside it."""
    approach_free: bool = True
    """Nothing in the way of the straight approach from the pre-grasp pose (:func:`approach_contacts`)."""

    def to_dict(self) -> Dict[str, Any]:
        return dict(self.__dict__)


def closing_box(grasp: Any, gripper: GripperConfig) -> Box:
    """The region between the fingers of a grasp (a :class:`Grasp` or a grasps.json dict)."""
    pos, R, opening = grasp_pose(grasp, gripper)
    L, fw = gripper.units(gripper.finger_length), gripper.units(gripper.finger_width)
    return Box(center=pos - R[:, 2] * L / 2, half_extents=np.array([opening / 2, fw / 2, L / 2]), rotation=R)


def gripper_contacts(
    grasp: Any,
    gripper: GripperConfig,
    points: np.ndarray,  # [M, 3] true surface samples, capture frame
    tol: float = 0.001,
    table_z: float | None = None,
) -> Tuple[Dict[str, int], bool]:
    """Per box (finger_neg_x, finger_pos_x, palm): surface points inside it shrunk by ``tol``; and
    whether a box reaches below the support plane ``z = table_z`` by more than ``tol``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    hits: Dict[str, int] = {}
    below = False
    for name, box in grasp_to_gripper_boxes(grasp, gripper).items():
        hits[name] = int(points_in_box(points, box, tol=tol).sum())
        if table_z is not None and box.corners()[:, 2].min() < table_z - tol:
            below = True
    return hits, below


@dataclass(frozen=True)
class OnTargetRule:
    """When a grasp closes on the target (module docstring)."""

    min_points: int = 5
    """The closing region holds at least this many surface points ..."""
    min_fraction: float = 0.5
    """... and at least this share of them belong to the target part."""


class GroundTruth(NamedTuple):
    """The true scene grasps are judged against (capture frame, z up): its surface, each point labelled with its
    part, and the table."""

    points: np.ndarray  # [M, 3]
    """True surface samples."""
    labels: np.ndarray  # [M]
    """The part label of each point."""
    table_z: float | None = None
    """The support plane ``z = table_z`` (None: no table)."""


def judge_grasp(
    grasp: Any,
    gripper: GripperConfig,
    truth: GroundTruth,
    target: Any,
    tol: float = 0.001,
    rule: OnTargetRule | None = None,
) -> GraspVerdict:
    """Verdict for one grasp against the ``truth``; ``target`` is a label (or a collection of labels) of the
    target part; ``tol`` in capture units; ``rule``: when it closes on the target (None: :class:`OnTargetRule`'s
    defaults)."""
    points, labels, table_z = truth
    rule = rule if rule is not None else OnTargetRule()
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    labels = np.asarray(labels).reshape(-1)
    near = _near(grasp, gripper, points, tol)  # a synthetic scene's 2 M points take the boxes 0.5 s a grasp
    points, labels = points[near], labels[near]
    targets = set(np.atleast_1d(np.asarray(target, dtype=object)).tolist())
    inside = points_in_box(points, closing_box(grasp, gripper))
    n_in = int(inside.sum())
    frac = float(np.mean([lab in targets for lab in labels[inside]])) if n_in else 0.0
    hits, below = gripper_contacts(grasp, gripper, points, tol, table_z)
    n_app, below_app = approach_contacts(grasp, gripper, points, tol, table_z)
    return GraspVerdict(
        on_target=n_in >= rule.min_points and frac >= rule.min_fraction,
        collision_free=not below and sum(hits.values()) == 0,
        target_fraction=frac,
        closing_points=n_in,
        colliding_points=hits,
        approach_free=not below_app and n_app == 0,
    )


def _near(grasp: Any, gripper: GripperConfig, points: np.ndarray, tol: float) -> np.ndarray:  # [M] bool
    """The points within reach of any box the judge counts points in: the closing region, the fingers and the
    palm, and their sweep back from the pre-grasp pose. Each lies within ``|box centre - grasp position| +
    |half extents| + pre-grasp distance`` of the grasp position, so points further away change no verdict."""
    pos = grasp_pose(grasp, gripper)[0]
    boxes = [closing_box(grasp, gripper), *grasp_to_gripper_boxes(grasp, gripper).values()]
    reach = max(float(np.linalg.norm(b.center - pos) + np.linalg.norm(b.half_extents)) for b in boxes)
    reach += gripper.units(gripper.pregrasp_distance) + abs(tol) + 1e-6
    d = points - pos
    return np.einsum("ij,ij->i", d, d) <= reach * reach


def approach_contacts(
    grasp: Any,
    gripper: GripperConfig,
    points: np.ndarray,  # [M, 3] true surface samples, capture frame
    tol: float = 0.001,
    table_z: float | None = None,
) -> Tuple[int, bool]:
    """The straight approach from the pre-grasp pose (``gripper.pregrasp_distance`` back along the
    approach) to the grasp: surface points inside the volume the fingers and the palm sweep (each
    box stretched back along -z by that distance, shrunk by ``tol``), and whether it reaches below
    ``z = table_z`` by more than ``tol``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pre = gripper.units(gripper.pregrasp_distance)
    n, below = 0, False
    for box in grasp_to_gripper_boxes(grasp, gripper).values():
        R = box.rotation
        swept = Box(center=box.center - R[:, 2] * pre / 2,
                    half_extents=box.half_extents + np.array([0.0, 0.0, pre / 2]), rotation=R)
        n += int(points_in_box(points, swept, tol=tol).sum())
        if table_z is not None and swept.corners()[:, 2].min() < table_z - tol:
            below = True
    return n, below


def look_at_viewmat(eye: np.ndarray, target: np.ndarray, up=(0.0, 0.0, 1.0)) -> np.ndarray:  # [4, 4]
    """World-to-camera matrix (OpenCV axes: x right, y down, z forward) of a camera at ``eye`` looking
    at ``target``."""
    eye, target = np.asarray(eye, dtype=np.float64), np.asarray(target, dtype=np.float64)
    z = target - eye
    z /= np.linalg.norm(z)
    up = np.asarray(up, dtype=np.float64)
    if abs(float(np.dot(z, up))) > 0.99:
        up = np.array([0.0, 1.0, 0.0])
    xx = np.cross(z, up)
    xx /= np.linalg.norm(xx)
    y = np.cross(z, xx)
    V = np.eye(4)
    V[:3, :3] = np.stack([xx, y, z])
    V[:3, 3] = -V[:3, :3] @ eye
    return V


def raycast_depth(
    meshes,  # sequence of (vertices [V, 3], triangles [F, 3])
    viewmats: np.ndarray,  # [C, 4, 4] world-to-camera, OpenCV axes
    Ks: np.ndarray,  # [C, 3, 3]
    width: int,
    height: int,
) -> Tuple[np.ndarray, np.ndarray]:  # z-depth [C, H, W] (0: no hit), id of the mesh hit [C, H, W] (-1: none)
    """Exact z-depth of triangle meshes seen by pinhole cameras (open3d's ``RaycastingScene``), pixel
    (i, j) through image point (j + 0.5, i + 0.5): the depth views of a known scene."""
    o3d = load_open3d()

    scene = o3d.t.geometry.RaycastingScene()
    ids = []
    for V, F in meshes:
        ids.append(scene.add_triangles(np.asarray(V, dtype=np.float32), np.asarray(F, dtype=np.uint32)))
    lut = np.full(max(ids) + 1 if ids else 1, -1, dtype=np.int64)
    for k, i in enumerate(ids):
        lut[i] = k
    j, i = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    depths, labels = [], []
    for V, K in zip(np.asarray(viewmats, dtype=np.float64), np.asarray(Ks, dtype=np.float64)):
        d_cam = np.stack([(j - K[0, 2]) / K[0, 0], (i - K[1, 2]) / K[1, 1], np.ones_like(j)], -1)  # z = 1
        R, t = V[:3, :3], V[:3, 3]
        o = -R.T @ t
        d = d_cam @ R  # world direction with unit z-depth: t_hit is the z-depth
        rays = np.concatenate([np.broadcast_to(o, d.shape), d], -1).reshape(-1, 6).astype(np.float32)
        ans = scene.cast_rays(o3d.core.Tensor(rays))
        th = ans["t_hit"].numpy().reshape(height, width)
        gid = ans["geometry_ids"].numpy().reshape(height, width).astype(np.int64)
        hit = np.isfinite(th)
        depths.append(np.where(hit, th, 0.0).astype(np.float32))
        labels.append(np.where(hit, lut[np.clip(gid, 0, len(lut) - 1)], -1))
    return np.stack(depths), np.stack(labels)


def degrade_depth(depths: np.ndarray, seed: int = 0, noise: float = 0.002, edge_px: int = 1,
                  edge_jump: float = 0.01, floater_every: int = 3) -> np.ndarray:  # [C, H, W]
    """What a short reconstruction's expected depth does to exact depth maps [C, H, W] (0: none):
    within ``edge_px`` pixels of every depth edge (a jump above ``edge_jump``) the depth is a random
    blend of the nearest and the farthest depth around it (fuzz around thin parts, in every view),
    Gaussian noise of ``noise``, and three floater blobs (6-12 px patches at 60-90 % of the depth
    behind them) in every ``floater_every``-th view."""
    rng = np.random.default_rng(seed)
    d = np.asarray(depths, dtype=np.float32).copy()
    C, H, W = d.shape
    k = 2 * edge_px + 1
    for c in range(C):
        x = d[c]
        pad = np.pad(x, edge_px, mode="edge")
        win = np.stack([pad[i : i + H, j : j + W] for i in range(k) for j in range(k)])
        lo, hi = win.min(0), win.max(0)
        a = rng.uniform(0.0, 1.0, x.shape).astype(np.float32)
        x = np.where((hi - lo) > edge_jump, a * lo + (1 - a) * hi, x)
        x = x + rng.normal(0, noise, x.shape).astype(np.float32) * (x > 0)
        if floater_every and c % floater_every == 0:
            for _ in range(3):
                s = int(rng.integers(6, 13))
                i0, j0 = int(rng.integers(H // 4, 3 * H // 4)), int(rng.integers(W // 4, 3 * W // 4))
                x[i0 : i0 + s, j0 : j0 + s] *= rng.uniform(0.6, 0.9)
        d[c] = x
    return d
