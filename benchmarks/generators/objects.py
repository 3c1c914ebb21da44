"""The "objects" generator: a table with object meshes that nobody on this team designed.

The kitchen and studio generators (and point2act.synth) build their objects from shapes this team chose;
a method tuned on them may have learnt those shapes. These scenes put *external* meshes on the table:
PyBullet's ``pybullet_data/random_urdfs/NNN/NNN.obj``, 1000 procedurally generated objects made for
grasping research (each a union of 4-10 convex pieces, the collision meshes of their URDFs). The
``pybullet`` wheel ships them (benchmark dependency, ``pip install pybullet``); only the data files are
read, never the physics engine, and ``point2act`` never imports either.

**Held-out rule.** The object ids are 000-999. Objects with an EVEN id are the development half, objects
with an ODD id the test half, held out: a scene's ``GenConfig.kind`` names its half ("dev" or "test")
and every object it shows is drawn, deterministically from its seed, from that half only. Nobody looks
at a test object's mesh or a test scene's images one by one (tests check only the parity of the ids a
test scene draws); rules are chosen on dev scenes, test scenes are run to report.

A scene: the kitchen's table and room (:func:`.kitchen._table`, :func:`.kitchen._add_room`), the
**target object** near the table's middle (its visual mesh scaled so that its largest side is 5-12 cm,
turned by a random yaw, resting on the table: lowest vertex at z = 0) and ``GenConfig.distractors``
other objects of the same half around it without overlap. Every object is one part (the target part is
the whole target object) with its own named colour, plain (one flat colour: nothing for feature matching
to triangulate) or textured with one of the kitchen's textures in that colour; the prompt names the
target's colour ("Point to the red object"). Rendering, cameras and the scene folder are the kitchen's
(:func:`.kitchen.render_and_write`).

The target's mesh is not watertight (overlapping convex pieces), so the accuracy benchmark's
``TargetSurface`` measures distances to its surface points only; those points leave out what lies
buried inside another piece of the object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .common import GenConfig, GenScene, Part, exposed_points, is_closed, place, rot_z, transform
from .kitchen import _add_part, _add_room, _table, render_and_write
from .kitchen_materials import Material, cloth, flat, label, metal, speckled, tiles, wood

NUM_OBJECTS = 1000
"""random_urdfs' object ids: 000-999."""
HALVES = {"dev": 0, "test": 1}
"""The half of a scene (``GenConfig.kind``) -> the parity of its object ids (dev: even, test: odd)."""
SIDE_M = (0.05, 0.12)
"""The range of an object's largest side (its bounding box in its own frame), metres."""
PALETTE: Dict[str, Tuple[float, float, float]] = {
    "red": (0.72, 0.08, 0.07), "blue": (0.10, 0.22, 0.68), "green": (0.12, 0.52, 0.18),
    "yellow": (0.88, 0.74, 0.08), "orange": (0.92, 0.42, 0.05), "purple": (0.42, 0.14, 0.58),
    "white": (0.88, 0.88, 0.85), "black": (0.06, 0.06, 0.07), "pink": (0.92, 0.45, 0.62),
    "teal": (0.05, 0.50, 0.52),
}
"""Named base colours (linear RGB) of the objects; the objects of one scene have different ones."""
TEXTURES = ("plain", "speckled", "wood", "cloth", "checker", "label", "metal")
"""An object's surface: "plain" (one flat colour, about a third of the objects) or a kitchen texture."""
PLAIN_SHARE = 0.35
"""The share of plain objects."""


class MissingMeshes(FileNotFoundError):
    """pybullet_data (the ``pybullet`` wheel) is not installed, or lacks random_urdfs."""


# ------------------------------------------------------------------------------------------ the meshes
def data_root() -> Path:
    """The ``random_urdfs`` folder of the installed pybullet_data; :class:`MissingMeshes` without it."""
    try:
        import pybullet_data  # the data files only: importing it does not load the physics engine
    except ImportError as e:
        raise MissingMeshes("the objects generator reads pybullet_data/random_urdfs: pip install pybullet "
                            "(a benchmark dependency, pinned in requirements.lock)") from e
    root = Path(pybullet_data.getDataPath()) / "random_urdfs"
    if not (root / "000" / "000.obj").is_file():
        raise MissingMeshes(f"{root}: no random_urdfs meshes in this pybullet_data")
    return root


def half_of(object_id: int) -> str:
    """The half an object id belongs to: "dev" (even) or "test" (odd)."""
    return "dev" if int(object_id) % 2 == HALVES["dev"] else "test"


def half_ids(half: str) -> List[int]:
    """Every object id of ``half`` ("dev": the even ids, "test": the odd ids), ascending."""
    if half not in HALVES:
        raise ValueError(f"objects: GenConfig.kind is the half of random_urdfs, 'dev' or 'test': {half!r}")
    return list(range(HALVES[half], NUM_OBJECTS, 2))


def pick_ids(cfg: GenConfig) -> List[int]:
    """The object ids of ``cfg``'s scene, target first: ``1 + cfg.distractors`` different ids of the
    half ``cfg.kind``, drawn from the seed alone (reading no mesh)."""
    pool = half_ids(cfg.kind)
    rng = np.random.default_rng([int(cfg.seed), 0x0B1D5])
    return [int(i) for i in rng.choice(pool, size=1 + max(int(cfg.distractors), 0), replace=False)]


def load_obj(path: Path) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An OBJ's triangles as written (units of the file): (vertices [V, 3] float64, triangles [T, 3]
    int32, piece [T] int32: the index of the ``o`` block each triangle belongs to). Polygons are fanned."""
    verts: List[List[float]] = []
    tris: List[List[int]] = []
    piece: List[int] = []
    k = 0
    for line in Path(path).read_text().splitlines():
        a = line.split()
        if not a:
            continue
        if a[0] == "o":
            k += 1 if verts or tris else 0
        elif a[0] == "v":
            verts.append([float(x) for x in a[1:4]])
        elif a[0] == "f":
            idx = [int(x.split("/")[0]) for x in a[1:]]
            idx = [i - 1 if i > 0 else len(verts) + i for i in idx]  # 1-based, or negative: relative
            for j in range(1, len(idx) - 1):
                tris.append([idx[0], idx[j], idx[j + 1]])
                piece.append(k)
    if not tris:
        raise ValueError(f"{path}: no faces")
    piece_ids = np.unique(np.asarray(piece, np.int32), return_inverse=True)[1].astype(np.int32)  # 0, 1, ...
    return np.asarray(verts, np.float64), np.asarray(tris, np.int32), piece_ids


def fit_object(v: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, Dict[str, float]]:
    """The mesh ``v`` [V, 3] (file units) scaled so that its largest side is in :data:`SIDE_M`,
    turned by a random yaw, its bounding box centred on the z axis and its lowest vertex at z = 0.
    Returns (vertices [V, 3] metres, {"side_m", "scale", "yaw"})."""
    side = float(rng.uniform(*SIDE_M))
    scale = side / float(np.ptp(v, axis=0).max())
    yaw = float(rng.uniform(0, 2 * np.pi))
    w = transform(v * scale, rot_z(yaw), (0.0, 0.0, 0.0))
    lo, hi = w.min(axis=0), w.max(axis=0)
    w = w - np.array([0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]), lo[2]])
    return w, {"side_m": side, "scale": scale, "yaw": yaw}


def self_buried(points: np.ndarray, v: np.ndarray, t: np.ndarray, piece: np.ndarray,
                margin: float = 1e-5) -> np.ndarray:  # points [N, 3] -> [N] bool
    """Which of ``points`` (on the object's surface) lie more than ``margin`` inside one of its convex
    pieces (the faces of one piece buried in another: no camera sees them). random_urdfs' pieces are
    convex (a convex decomposition), so a point on a piece is never inside its own hull."""
    from scipy.spatial import ConvexHull

    out = np.zeros(len(points), bool)
    if int(piece.max()) == 0:  # one piece: a point on it is on its surface (it need not be convex)
        return out
    for k in range(int(piece.max()) + 1):
        idx = np.unique(t[piece == k])
        if len(idx) < 4:
            continue
        try:
            eq = ConvexHull(v[idx]).equations  # [F, 4]: outward unit normal, offset
        except Exception:  # noqa: BLE001  (a flat piece: nothing is inside it)
            continue
        out |= (points @ eq[:, :3].T + eq[:, 3]).max(axis=1) < -margin
    return out


# ------------------------------------------------------------------------------------------ surfaces
def _material(rng: np.random.Generator, colour: Sequence[float], seed: int,
              height: float) -> Tuple[Material, str]:
    """A random surface in the named ``colour``: plain (:data:`PLAIN_SHARE`) or one of the kitchen's
    textures tinted with it (the object's local frame, metres; ``height``: its top's z). Returns
    (material, texture name)."""
    c = np.asarray(colour, float)
    kind = "plain" if rng.random() < PLAIN_SHARE else TEXTURES[1 + int(rng.integers(len(TEXTURES) - 1))]
    if kind == "plain":
        albedo = flat(c)
    elif kind == "speckled":
        albedo = speckled(c, seed, float(rng.uniform(0.12, 0.25)), float(rng.uniform(60, 160)))
    elif kind == "wood":
        albedo = wood(c, 0.55 * c, seed, axis=int(rng.integers(3)), ring_freq=float(rng.uniform(90, 160)))
    elif kind == "cloth":
        albedo = cloth(c, 0.45 * c + 0.45, seed, pitch=float(rng.uniform(0.0015, 0.003)))
    elif kind == "checker":
        size = float(rng.uniform(0.008, 0.016))
        albedo = tiles(c, 0.3 * c + 0.05, size, seed, vertical=bool(rng.random() < 0.5))
    elif kind == "label":
        albedo = label(c, (0.93, 0.92, 0.88), seed, 0.0, height)
    else:
        albedo = metal(c, seed)
    mat = Material(albedo, spec=float(rng.uniform(0.05, 0.6)), shininess=float(rng.uniform(8, 100)))
    return mat, kind


# ------------------------------------------------------------------------------------------ scene
def _exposed_target_points(cfg: GenConfig, parts: List[Part], tgt: Part, piece: np.ndarray) -> np.ndarray:
    """[num_gt_points, 3] points on the target's exposed surface: not buried in another part within
    0.5 m (:func:`.common.exposed_points`) nor inside another of its own convex pieces."""
    others = [p for p in parts if p.part_id != tgt.part_id and np.linalg.norm(p.vertices.mean(0) -
                                                                               tgt.vertices.mean(0)) < 0.5]
    rng = np.random.default_rng([cfg.seed, 0x6E7])
    out = np.zeros((0, 3))
    for _ in range(6):
        q = exposed_points(tgt, others, 3 * cfg.num_gt_points, rng)
        out = np.concatenate([out, q[~self_buried(q, tgt.vertices, tgt.triangles, piece)]])
        if len(out) >= cfg.num_gt_points:
            break
    return out[: cfg.num_gt_points]


def build_scene(cfg: GenConfig) -> GenScene:
    """The seeded scene of ``cfg`` (``cfg.kind``: the half, "dev" or "test"): the table, the target
    object near its middle, the distractors around it, the room, and points on the target's exposed
    surface."""
    root = data_root()
    ids = pick_ids(cfg)
    rng = np.random.default_rng([cfg.seed, 0x0B7EC])
    s = int(cfg.seed) * 977 + 7
    bg = cfg.background or "edge"
    parts: List[Part] = []
    top, wd, table_id = _table(rng, parts, bg, s)
    tx0, tx1, ty0, ty1 = top
    bounds = ((tx0 + 0.02, tx1 - 0.02), (ty0 + 0.02, ty1 - 0.02))
    centre = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.02, 0.06), 0.0])
    names = [str(n) for n in rng.permutation(list(PALETTE))[: len(ids)]]
    placed: List[Tuple[np.ndarray, float]] = []
    objects: List[Dict[str, object]] = []
    tid, tpiece, height = -1, np.zeros(0, np.int32), 0.0
    for i, oid in enumerate(ids):
        v0, t, piece = load_obj(root / f"{oid:03d}" / f"{oid:03d}.obj")
        v, fit = fit_object(v0, rng)
        radius = float(np.linalg.norm(v[:, :2], axis=1).max())
        if i == 0:
            xy = centre[:2]
            placed.append((xy, radius))
        else:
            try:
                xy = place(rng, placed, radius, centre, (0.1, 0.25), bounds)
            except RuntimeError:  # no room left on the table: one distractor fewer
                continue
        mat, tex = _material(rng, PALETTE[names[i]], s + 31 * i, float(v[:, 2].max()))
        R, tr = np.eye(3), np.array([xy[0], xy[1], 0.0])
        obj = f"urdf_{oid:03d}"
        role = "target" if i == 0 else "distractor"
        pid = _add_part(parts, obj, obj, role, v + tr, t, mat, PALETTE[names[i]], (R, tr))
        if i == 0:
            tid, tpiece, height = pid, piece, float(v[:, 2].max())
        objects.append({"id": oid, "part_id": pid, "colour": names[i], "texture": tex,
                        "side_m": fit["side_m"], "yaw": fit["yaw"], "watertight": is_closed(v, t)})
    wall_y = _add_room(rng, parts, bg, s, top, wd)
    tgt = next(p for p in parts if p.part_id == tid)
    tp = _exposed_target_points(cfg, parts, tgt, tpiece)
    look = centre + np.array([0.0, 0.0, 0.4 * height])
    extra: Dict[str, object] = {
        "background": bg, "path": cfg.path, "half": cfg.kind, "object_ids": [o["id"] for o in objects],
        "external_objects": objects, "camera_radius": [0.34, 0.58], "wall_y": float(wall_y),
        "source": "pybullet_data/random_urdfs (even ids: dev half, odd ids: test half)"}
    prompt = f"Point to the {names[0]} object"
    table = {"part_id": table_id, "x": (tx0, tx1), "y": (ty0, ty1)}
    return GenScene(parts, tid, tgt.name, prompt, look, tp, table, extra=extra)


def generate(out: Path, cfg: GenConfig) -> dict:
    """Write the scene of ``cfg`` into ``out`` (the kitchen's renderer, cameras and writer); returns
    its ground_truth.json dict."""
    if cfg.generator != "objects":
        raise ValueError(f"objects.generate: a {cfg.generator!r} config")
    notes = ("benchmarks.generators.objects: pybullet_data/random_urdfs meshes (even ids dev, odd ids "
             "test) on the kitchen's table, rendered by the kitchen's renderer; target centroid/bbox of its "
             "exposed surface points; object centroids are bbox centres")
    return render_and_write(out, cfg, build_scene(cfg), notes)
