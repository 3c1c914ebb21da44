"""Ground-truth metrics: distance to the target part's surface, hits, grasps against the true meshes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np

HIT_RADIUS_M = 0.01
"""A point "hits" the target when it lies within this distance of the target's surface."""


def closed_pieces(vertices: np.ndarray, triangles: np.ndarray) -> list:
    """The closed pieces of a mesh (``vertices`` [V, 3], ``triangles`` [T, 3]) as open3d raycasting scenes: the
    whole mesh when it is watertight, else each connected piece that is (a ray-parity inside test holds within
    one closed piece, not across pieces that intersect)."""
    import open3d as o3d

    m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(vertices, dtype=np.float64)),
                                  o3d.utility.Vector3iVector(np.asarray(triangles, dtype=np.int32)))
    m.merge_close_vertices(1e-7)
    if m.is_watertight():
        pieces = [m]
    else:
        labels = np.asarray(m.cluster_connected_triangles()[0])
        pieces = []
        for c in np.unique(labels):
            piece = o3d.geometry.TriangleMesh(m)
            piece.remove_triangles_by_mask(labels != c)
            piece.remove_unreferenced_vertices()
            if piece.is_watertight():
                pieces.append(piece)
    scenes = []
    for piece in pieces:
        sc = o3d.t.geometry.RaycastingScene()
        sc.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(piece))
        scenes.append(sc)
    return scenes


class TargetSurface:
    """Distances to the target part: to its ground-truth surface points (capture frame, metres), and 0
    inside it where its mesh is closed (a point on the axis of a hammer's 2.2 cm handle is on the
    target, although 1.1 cm from its surface). A mesh that is a union of closed pieces (PyBullet's
    random_urdfs objects: convex pieces that intersect, so the union is not one watertight surface) is solid
    inside every closed piece; its open pieces, if any, count by their surface only."""

    def __init__(self, points: np.ndarray, mesh: Optional[tuple] = None) -> None:
        # points: [N, 3]; mesh: (vertices [V, 3], triangles [T, 3]) of the target part, or None
        from scipy.spatial import cKDTree

        self.points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        self.centroid = self.points.mean(axis=0)
        self._tree = cKDTree(self.points)
        self._solids = [] if mesh is None else closed_pieces(mesh[0], mesh[1])

    @property
    def closed(self) -> bool:
        """Whether inside points count as on the target (its mesh, or a piece of it, is closed)."""
        return bool(self._solids)

    def inside(self, p: Sequence[float]) -> bool:
        """Is ``p`` [3] inside a closed piece of the target's mesh (False when none is closed)?"""
        if not self._solids:
            return False
        import open3d as o3d

        q = o3d.core.Tensor(np.asarray(p, dtype=np.float32).reshape(1, 3))
        return any(bool(s.compute_occupancy(q, nsamples=3).numpy()[0] > 0.5) for s in self._solids)

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
    from point2act.synth.meshes import sample_mesh_points
    from point2act.synth.scene import build_scene

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


def scene_surface_labelled(config, spacing: float = 0.002, table_half: float = 0.3, seed: int = 0,
                           twin: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """([M, 3] points, [M] part ids) on the true surfaces of a benchmark scene (the twin mug included
    when ``twin``), as :func:`scene_surface_points`; for :func:`point2act.grasp.evaluate.judge_grasp`."""
    from point2act.synth.meshes import sample_mesh_points

    from .suite import build_bench_scene

    scene = build_bench_scene(config, twin=twin)
    rng = np.random.default_rng(seed)
    pts, labels = [], []
    for p in scene.parts:
        if p.name == "table":
            c = scene.look_center
            g = np.arange(-table_half, table_half + 1e-9, spacing)
            gx, gy = np.meshgrid(c[0] + g, c[1] + g)
            q = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1)
        else:
            v, f = p.vertices, p.triangles
            area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum()
            n = int(min(max(area / spacing**2 * 2.0, 500), 200_000))
            q = sample_mesh_points(v, f, n, rng)
        pts.append(q)
        labels.append(np.full(len(q), p.part_id, dtype=np.int64))
    return np.concatenate(pts, axis=0), np.concatenate(labels)


def judge_top_grasp(grasp: Dict[str, Any], points: np.ndarray, labels: np.ndarray, target_id: int,
                    gripper=None) -> Dict[str, Any]:
    """:func:`point2act.grasp.evaluate.judge_grasp` of one grasps.json grasp against the true meshes
    (table top z = 0): {"on_target", "collision_free", "success" (both), "target_fraction"}."""
    from point2act.grasp import GripperConfig
    from point2act.grasp.evaluate import GroundTruth, judge_grasp

    truth = GroundTruth(points, labels, table_z=0.0)
    v = judge_grasp(grasp, gripper or GripperConfig(), truth, int(target_id))
    return {"on_target": bool(v.on_target), "collision_free": bool(v.collision_free),
            "success": bool(v.on_target and v.collision_free), "target_fraction": float(v.target_fraction)}


def unit_values(records: Sequence[Dict[str, Any]], key: str = "hit") -> Dict[tuple, float]:
    """Per (scene, seed) unit: the weighted mean of ``key`` over its records (one record per unit for
    most methods; the single-view lifts carry weight 1/answered views: the expected value of one
    random answered view)."""
    acc: Dict[tuple, list] = {}
    for r in records:
        u = (r["scene"], r["seed"])
        a = acc.setdefault(u, [0.0, 0.0])
        a[0] += float(r["weight"]) * float(r[key])
        a[1] += float(r["weight"])
    return {u: a[0] / a[1] for u, a in acc.items() if a[1] > 0}


def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of per-unit ``values`` and its percentile bootstrap ``1 - alpha``
    interval, resampling the units (scene x pointer seed) with replacement. nan for no values."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(v), size=(int(n_boot), len(v)))
    means = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(v.mean()), float(lo), float(hi)


def bootstrap_ci_clustered(unit_vals: Dict[tuple, float], n_boot: int = 2000, alpha: float = 0.05,
                           seed: int = 0) -> tuple[float, float, float]:
    """As :func:`bootstrap_ci` over (scene, seed) units, but resampling *scenes* (with all their
    seeds) and then seeds within each drawn scene: the two-level bootstrap over scenes x seeds (seeds
    of one scene share its geometry, so they are not independent)."""
    by_scene: Dict[Any, list] = {}
    for (sc, _sd), x in sorted(unit_vals.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        by_scene.setdefault(sc, []).append(float(x))
    if not by_scene:
        return float("nan"), float("nan"), float("nan")
    groups = [np.asarray(g) for g in by_scene.values()]
    mean = float(np.mean(np.concatenate(groups)))
    rng = np.random.default_rng(seed)
    S = len(groups)
    means = np.empty(int(n_boot))
    for b in range(int(n_boot)):
        tot, n = 0.0, 0
        for s in rng.integers(0, S, S):
            g = groups[s]
            pick = g[rng.integers(0, len(g), len(g))]
            tot += pick.sum()
            n += len(pick)
        means[b] = tot / n
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return mean, float(lo), float(hi)


def mesh_surface_labelled(scene_dir: Path, spacing: float = 0.002, table_half: float = 0.3, reach: float = 0.45,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`scene_surface_labelled` for a scene of :mod:`benchmarks.generators`, from its
    ``meshes.npz``: the table top (z = 0) as a grid within ``table_half`` of the target and inside the
    table's edges, every other part by area, about ``spacing`` apart; parts wholly farther than ``reach``
    from the target (the room, the floor) are left out: no grasp near the target reaches them."""
    import json

    from point2act.synth.meshes import sample_mesh_points

    sd = Path(scene_dir)
    m = np.load(sd / "meshes.npz")
    gt = json.loads((sd / "ground_truth.json").read_text())
    c = np.asarray(gt["centroid"], dtype=np.float64)
    tid, x0, x1, y0, y1 = m["table"]
    rng = np.random.default_rng(seed)
    pts, labels = [], []
    for pid in m["ids"]:
        pid = int(pid)
        if pid == int(tid):
            g = np.arange(-table_half, table_half + 1e-9, spacing)
            gx, gy = np.meshgrid(c[0] + g, c[1] + g)
            q = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1)
            q = q[(q[:, 0] >= x0) & (q[:, 0] <= x1) & (q[:, 1] >= y0) & (q[:, 1] <= y1)]
        else:
            v, f = m[f"v{pid}"], m[f"t{pid}"]
            lo, hi = v.min(axis=0), v.max(axis=0)
            if np.linalg.norm(np.clip(c, lo, hi) - c) > reach:
                continue
            area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1).sum()
            n = int(min(max(area / spacing**2 * 2.0, 500), 200_000))
            q = sample_mesh_points(v, f, n, rng)
        pts.append(q)
        labels.append(np.full(len(q), pid, dtype=np.int64))
    return np.concatenate(pts, axis=0), np.concatenate(labels)
