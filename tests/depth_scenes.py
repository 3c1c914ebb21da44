"""Small tabletop scenes with exact depth views, for the grasp head's tests (not collected by pytest).

Each scene is a list of named triangle meshes (metres, z up, the table top at z = 0) seen by a ring
of pinhole cameras; :func:`field_of` turns it into what ``point2act export`` hands the planner: a
Gaussian field (surface samples as centres, relevancy on the target) and depth views
(:class:`point2act.fusion.DepthViews`), clean or with the faults of a short reconstruction: depth
noise, foreground/background blends at silhouettes (expected depth), floaters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np

from point2act.fusion import DepthViews
from point2act.grasp.evaluate import degrade_depth, look_at_viewmat, raycast_depth
from point2act.synth.meshes import sample_mesh_points

W, H = 256, 192
FX = 0.5 * W / math.tan(math.radians(58.0) / 2)  # the synthetic captures' 58 deg field of view
K = np.array([[FX, 0.0, W / 2], [0.0, FX, H / 2], [0.0, 0.0, 1.0]])


def box_mesh(lo, hi) -> Tuple[np.ndarray, np.ndarray]:
    import open3d as o3d

    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    m = o3d.geometry.TriangleMesh.create_box(*(hi - lo))
    return np.asarray(m.vertices) + lo, np.asarray(m.triangles)


def cylinder_mesh(radius, z0, z1, cx=0.0, cy=0.0, resolution=64) -> Tuple[np.ndarray, np.ndarray]:
    import open3d as o3d

    m = o3d.geometry.TriangleMesh.create_cylinder(radius=radius, height=z1 - z0, resolution=resolution, split=4)
    return np.asarray(m.vertices) + np.array([cx, cy, 0.5 * (z0 + z1)]), np.asarray(m.triangles)


@dataclass
class Scene:
    parts: Dict[str, Tuple[np.ndarray, np.ndarray]]
    """name -> (vertices, triangles)."""
    target: str
    look_at: np.ndarray
    views: int = 12
    radius: float = 0.5
    elevations: Tuple[float, ...] = (30.0, 55.0)
    labels_surface: List[str] = field(default_factory=list)

    def viewmats(self) -> np.ndarray:
        out = []
        for k in range(self.views):
            az = 2 * math.pi * k / self.views
            el = math.radians(self.elevations[k % len(self.elevations)])
            eye = self.look_at + self.radius * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az),
                                                         math.sin(el)])
            out.append(look_at_viewmat(eye, self.look_at))
        return np.stack(out)

    def surface(self, density: float = 4e5, seed: int = 0, skip=("table",)) -> Tuple[np.ndarray, np.ndarray]:
        """Area-uniform samples of every part (``density`` per m^2) and their part names."""
        rng = np.random.default_rng(seed)
        pts, names = [], []
        for name, (V, F) in self.parts.items():
            if name in skip:
                continue
            A = 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)
            n = max(100, int(A.sum() * density))
            pts.append(sample_mesh_points(V, F, n, rng))
            names.append(np.full(n, name, dtype=object))
        return np.concatenate(pts), np.concatenate(names)


def pan_scene() -> Scene:
    """A frying pan: a body (cylinder, radius 9 cm, 4.5 cm tall) and its bar handle, 2.8 cm wide and
    2.2 cm tall, 2 to 4.2 cm above the table, 13 cm long (5 mm of it inside the body)."""
    return Scene(parts={"table": box_mesh([-0.3, -0.3, -0.02], [0.3, 0.3, 0.0]),
                        "pan": cylinder_mesh(0.09, 0.0, 0.045),
                        "bar": box_mesh([0.085, -0.014, 0.02], [0.215, 0.014, 0.042])},
                 target="bar", look_at=np.array([0.08, 0.0, 0.03]))


def too_wide_scene() -> Scene:
    """The target is a 12 x 12 x 10 cm block (wider than the Panda's 8 cm opening every way), with a
    graspable 2 cm post 8 mm from its side."""
    return Scene(parts={"table": box_mesh([-0.3, -0.3, -0.02], [0.3, 0.3, 0.0]),
                        "block": box_mesh([-0.06, -0.06, 0.0], [0.06, 0.06, 0.10]),
                        "post": box_mesh([0.068, -0.01, 0.0], [0.088, 0.01, 0.09])},
                 target="block", look_at=np.array([0.0, 0.0, 0.04]))


def enclosed_scene() -> Scene:
    """The target, a 3 cm cube, sits inside a closed 9 cm box: no view sees it."""
    return Scene(parts={"table": box_mesh([-0.3, -0.3, -0.02], [0.3, 0.3, 0.0]),
                        "case": box_mesh([-0.045, -0.045, 0.0], [0.045, 0.045, 0.09]),
                        "cube": box_mesh([-0.015, -0.015, 0.02], [0.015, 0.015, 0.05])},
                 target="cube", look_at=np.array([0.0, 0.0, 0.04]))


def lying_handle_scene() -> Scene:
    """A tool lying on the table: a 3 cm round handle (a 16-sided prism along x), 12 cm long, resting on
    the table (its underside at z = 0), with a 1 cm shaft beyond it. No grasp can close past its
    underside: the fingertips must stop above the table."""
    v, f = cylinder_mesh(0.015, -0.06, 0.06, resolution=16)
    v = v[:, [2, 1, 0]] + np.array([0.0, 0.0, 0.015])  # axis along x, on the table
    f = f[:, ::-1]
    return Scene(parts={"table": box_mesh([-0.3, -0.3, -0.02], [0.3, 0.3, 0.0]),
                        "handle": (v, f),
                        "shaft": box_mesh([0.06, -0.005, 0.01], [0.16, 0.005, 0.02])},
                 target="handle", look_at=np.array([0.0, 0.0, 0.015]))


def wall_handle_scene(gap: float = 0.008) -> Scene:
    """A handle on a wall: a bar 1 cm thick and 1.3 cm wide, 2 to 8 cm above the table, held ``gap`` in front
    of a wall by two 1 cm connectors. The fingertips the part asks for (5 mm past the bar) meet the wall's
    cells; every other approach puts a finger in the gap or beside the bar against the wall."""
    boxes = [box_mesh([-0.005, -0.0065, 0.02], [0.005, 0.0065, 0.08]),
             box_mesh([0.005, -0.0065, 0.07], [0.005 + gap, 0.0065, 0.08]),
             box_mesh([0.005, -0.0065, 0.02], [0.005 + gap, 0.0065, 0.03])]
    V = np.concatenate([b[0] for b in boxes])
    F = np.concatenate([b[1] + 8 * i for i, b in enumerate(boxes)])
    return Scene(parts={"table": box_mesh([-0.3, -0.3, -0.02], [0.3, 0.3, 0.0]),
                        "wall": box_mesh([0.005 + gap, -0.12, 0.0], [0.06 + gap, 0.12, 0.12]),
                        "handle": (V, F)},
                 target="handle", look_at=np.array([0.0, 0.0, 0.05]))


def tab_scene() -> Scene:
    """A can (radius 3.3 cm, 12 cm tall) with a pull tab lying flat on its lid (2.4 x 1.4 x 0.2 cm):
    no parallel-jaw grasp holds the tab alone."""
    return Scene(parts={"table": box_mesh([-0.3, -0.3, -0.02], [0.3, 0.3, 0.0]),
                        "can": cylinder_mesh(0.033, 0.0, 0.12),
                        "tab": box_mesh([-0.012, -0.007, 0.12], [0.012, 0.007, 0.122])},
                 target="tab", look_at=np.array([0.0, 0.0, 0.1]))


def rim_scene() -> Scene:
    """The synthetic mug without its handle (point2act.synth's: radius 4 cm, 9.5 cm tall), its rim the target: the
    top 8 mm of its walls and the annulus. The wall goes on 8.7 cm below the rim: a grasp that holds the wall
    deep holds mostly the mug's body."""
    from point2act.synth.meshes import mug_body_and_rim_meshes

    body, rim = mug_body_and_rim_meshes()
    return Scene(parts={"table": box_mesh([-0.3, -0.3, -0.02], [0.3, 0.3, 0.0]), "mug": body, "rim": rim},
                 target="rim", look_at=np.array([0.0, 0.0, 0.06]))


def depth_views(scene: Scene, noisy: bool = False, seed: int = 0) -> DepthViews:
    """Exact depth of the scene's meshes from its cameras; ``noisy``: degraded as a short reconstruction's
    expected depth is (:func:`point2act.grasp.evaluate.degrade_depth`)."""
    V = scene.viewmats()
    Ks = np.repeat(K[None], len(V), 0)
    d, _lab = raycast_depth(list(scene.parts.values()), V, Ks, W, H)
    if noisy:
        d = degrade_depth(d, seed)
    return DepthViews(d.astype(np.float32), (d > 0).astype(np.float32), Ks, V)


def field_of(scene: Scene, noisy: bool = False, seed: int = 0) -> Dict[str, np.ndarray]:
    """Gaussian arrays (``means``, ``opacities``, ``scales``, ``relevancy``) of the scene: surface samples
    (the table too), relevancy 0.85-1 on the target, 0-0.2 elsewhere. ``noisy``: 2 mm noise on the
    centres and 400 opaque floaters within 3 cm of the target (fuzz around a thin part)."""
    rng = np.random.default_rng(seed)
    pts, names = scene.surface(density=2.5e5, seed=seed, skip=())
    tgt = names == scene.target
    means = pts.copy()
    opac = rng.uniform(0.7, 1.0, len(pts))
    rel = np.where(tgt, rng.uniform(0.85, 1.0, len(pts)), rng.uniform(0.0, 0.2, len(pts)))
    if noisy:
        means = means + rng.normal(0, 0.002, means.shape)
        tp = pts[tgt]
        fl = tp[rng.integers(0, len(tp), 400)] + rng.normal(0, 0.015, (400, 3))
        means = np.concatenate([means, fl])
        opac = np.r_[opac, rng.uniform(0.3, 1.0, 400)]
        rel = np.r_[rel, rng.uniform(0.0, 1.0, 400)]
    scales = np.full((len(means), 3), 0.002)
    return {"means": means, "opacities": opac, "scales": scales, "relevancy": rel}
