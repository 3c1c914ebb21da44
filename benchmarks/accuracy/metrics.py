"""Ground-truth metrics: distance to the target part's surface, hits, grasps against the true meshes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

HIT_RADIUS_M = 0.01
"""A point "hits" the target when it lies within this distance of the target's surface."""


class TargetSurface:
    """Distances to the target part: to its ground-truth surface points (capture frame, metres), and 0
    inside it when its mesh is closed (a point on the axis of a hammer's 2.2 cm handle is on the
    target, although 1.1 cm from its surface)."""

    def __init__(self, points: np.ndarray, mesh: Optional[tuple] = None) -> None:
        # points: [N, 3]; mesh: (vertices [V, 3], triangles [T, 3]) of the target part, or None
        from scipy.spatial import cKDTree

        self.points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        self.centroid = self.points.mean(axis=0)
        self._tree = cKDTree(self.points)
        self._solid = None
        if mesh is not None:
            import open3d as o3d

            m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(mesh[0], dtype=np.float64)),
                                          o3d.utility.Vector3iVector(np.asarray(mesh[1], dtype=np.int32)))
            m.merge_close_vertices(1e-7)
            if m.is_watertight():
                self._solid = o3d.t.geometry.RaycastingScene()
                self._solid.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(m))

    @property
    def closed(self) -> bool:
        """Whether inside points count as on the target (the mesh is watertight)."""
        return self._solid is not None

    def inside(self, p: Sequence[float]) -> bool:
        """Is ``p`` [3] inside the target's closed mesh (False when it is not closed)?"""
        if self._solid is None:
            return False
        import open3d as o3d

        q = o3d.core.Tensor(np.asarray(p, dtype=np.float32).reshape(1, 3))
        return bool(self._solid.compute_occupancy(q, nsamples=3).numpy()[0] > 0.5)

    def distance(self, p: Optional[Sequence[float]]) -> float:
        """Distance (m) from ``p`` [3] to the target: 0 inside its closed mesh, else to the nearest
        target surface point; inf for None."""
        if p is None:
            return float("inf")
        if self.inside(p):
            return 0.0
        d, _ = self._tree.query(np.asarray(p, dtype=np.float64).reshape(3))
        return float(d)

    def centroid_distance(self, p: Optional[Sequence[float]]) -> float:
        """Distance (m) from ``p`` to the target's centroid; inf for None."""
        return float("inf") if p is None else float(np.linalg.norm(np.asarray(p, dtype=np.float64) - self.centroid))


def scene_surface_points(config, spacing: float = 0.002, table_half: float = 0.3, seed: int = 0) -> np.ndarray:
    """[M, 3] points on the true surfaces of a synthetic scene (every part; the table top as a grid
    within ``table_half`` of the cameras' look-at point), about ``spacing`` apart."""
    from point2act.synth.scene import build_scene, sample_mesh_points

    scene = build_scene(config)
    rng = np.random.default_rng(seed)
    out = []
    for p in scene.parts:
        if p.name == "table":
            c = scene.look_center
            g = np.arange(-table_half, table_half + 1e-9, spacing)
            gx, gy = np.meshgrid(c[0] + g, c[1] + g)
            out.append(np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1))
            continue
        v, f = p.vertices, p.triangles
        area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum()
        n = int(min(max(area / spacing**2 * 2.0, 500), 200_000))
        out.append(sample_mesh_points(v, f, n, rng))
    return np.concatenate(out, axis=0)


def grasp_collides(grasp: Dict[str, Any], surface: np.ndarray, gripper=None) -> bool:
    """Does a grasps.json grasp's gripper (two fingers and the palm, at its opening) contain any true
    surface point, or reach below the table top (z < 0)?"""
    from point2act.grasp import GripperConfig
    from point2act.grasp.evaluate import gripper_contacts

    hits, below = gripper_contacts(grasp, gripper or GripperConfig(), surface, tol=0.0, table_z=0.0)
    return below or sum(hits.values()) > 0


def grasp_penetration(grasp: Dict[str, Any], surface: np.ndarray, gripper=None) -> float:
    """How deep (m) a grasps.json grasp's gripper boxes reach into the true scene: the largest depth of
    a true surface point inside a finger or the palm (distance to the box's nearest face), or below the
    table top (z < 0). 0 when collision-free."""
    from point2act.grasp import GripperConfig, grasp_to_gripper_boxes

    depth = 0.0
    for box in grasp_to_gripper_boxes(grasp, gripper or GripperConfig()).values():
        depth = max(depth, -float(box.corners()[:, 2].min()))
        near = surface[np.linalg.norm(surface - box.center, axis=1) <= np.linalg.norm(box.half_extents) + 1e-9]
        if len(near):
            loc = np.abs((near - box.center) @ box.rotation)
            inside = np.all(loc <= box.half_extents, axis=1)
            if inside.any():
                depth = max(depth, float((box.half_extents - loc[inside]).min(axis=1).max()))
    return depth


def weighted_median(values: Sequence[float], weights: Sequence[float]) -> float:
    """The weighted median (the smallest value whose cumulative weight reaches half); inf counts
    as a value. nan for no values."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if len(v) == 0:
        return float("nan")
    order = np.argsort(v, kind="stable")
    cw = np.cumsum(w[order])
    return float(v[order][int(np.searchsorted(cw, 0.5 * cw[-1] - 1e-12))])


def load_gt_points(scene_dir: Path) -> np.ndarray:
    """The scene's ``ground_truth_points.npy`` ([N, 3], metres, capture frame)."""
    return np.load(Path(scene_dir) / "ground_truth_points.npy").astype(np.float64)
