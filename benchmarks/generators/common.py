"""What the benchmark's scene generators share: the scene record, meshes for the judge, camera paths,
noise, and the writer of the scene folder that the accuracy protocol and the oracle pointer read.

Nothing here renders: each generator brings its own renderer (:mod:`.kitchen`: open3d ray casting of
meshes with Blinn-Phong shading; :mod:`.studio`: analytic ray-primitive intersection in numpy with
Oren-Nayar shading). The folder layout is point2act.synth's (see ``point2act/synth/generate.py``):

    transforms.json            nerfstudio-data, OpenGL camera-to-world, ``ply_file_path`` only with a cloud
    images/frame_0000.png      RGB, 8 bit
    depths/frame_0000.png      uint16 true z-depth in millimetres (0 = no surface), ``true_depth_path``
    sensor_depths/frame_0000.png   with ``sensor_depth``: what an RGB-D camera measures, ``depth_file_path``
    masks/frame_0000.png       uint8 part ids (ground_truth.json "parts")
    sparse_pc.ply              optional seed point cloud
    ground_truth.json          target part id, centroid, bbox, parts and objects with roles
                               ("target", "context", "distractor", "confuser"), the twin and the
                               confuser's same spot where the scene has them
    ground_truth_points.npy    (N, 3) float32 points on the target part's exposed surface
    points/oracle.json         the oracle pointer's answers (``point2act.synth.oracle``: the visible
                               target pixel nearest the centroid of the visible target pixels)
    target_alone.npz           [V, H, W] bool: the target rendered alone (the occlusion error model)
    meshes.npz                 every part's triangle mesh (metres), for the grasp judge and the hit test

World frame: metres, z up, the table top at z = 0.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from point2act.synth.meshes import sample_mesh_points

ROLES = ("target", "context", "distractor", "confuser")
"""Roles of ground_truth.json's objects: the target part; "context" (the table, the room, the target
object's other parts); "distractor" (other objects on the table); "confuser" (the object a scene names
as the pointer's systematic mistake: the other pan of the two-pans scenes)."""


# ------------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class GenConfig:
    """One scene of a generator. The same config gives byte-identical files."""

    generator: str = "kitchen"
    """"kitchen" (:mod:`.kitchen`) or "studio" (:mod:`.studio`)."""
    kind: str = "pan"
    """What is on the table and which part is the target: "pan" (a frying pan's grip), "two_pans" (the
    grip of one of two identical pans), "lid_knob" (a pot lid's knob), "can_tab" (a can's pull tab),
    "acronym_mug" (the ACRONYM mug's handle, kitchen only), "tool" (a tool's handle)."""
    seed: int = 0
    """Layout, colours, cameras, exposure: everything random."""
    path: str = "handheld"
    """Camera path: "handheld" (an arc on one side, unequal distances, rolled), "fewview" (8-12 views
    all round, large jitter), "ring" (one ring), "rings2" (two rings at two heights)."""
    num_views: int = 20
    """Views (8-12 for "fewview")."""
    width: int = 256
    height: int = 192
    num_seed_points: int = 8000
    """Size of sparse_pc.ply (with ``point_cloud``)."""
    point_cloud: bool = True
    """Write sparse_pc.ply and ``ply_file_path`` (False: splatfacto starts from random points)."""
    sensor_depth: bool = False
    """Also write what an RGB-D camera measures (:func:`sensor_depth`) as ``depth_file_path``, which
    training reads; the true depth stays in ``true_depth_path`` either way."""
    background: str = ""
    """kitchen: "edge" (the table's edge, the floor and a wall in view, clutter beyond the table) or
    "wall" (a counter against a tiled wall); studio: "plain" (a large board, a flat backdrop) or
    "edge" (a small table, its edge and the floor in view). "": the generator's default."""
    distractors: int = 3
    """Objects on the table besides the target's (and the second pan)."""
    num_gt_points: int = 2000
    """Points sampled on the target's exposed surface (ground_truth_points.npy)."""
    mug_mesh: str = ""
    """The ACRONYM mug's OBJ (kind "acronym_mug"); never copied into the scene folder."""
    mug_mesh_scale: float = 1.0
    """Metres per mesh unit."""

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        if d["mug_mesh"]:
            d["mug_mesh"] = Path(d["mug_mesh"]).name  # the same scene wherever the data is mounted
        return d


PROMPTS = {
    "pan": "Point to the handle of the frying pan",
    "two_pans": "Point to the handle of the frying pan on the left",
    "lid_knob": "Point to the knob of the pot lid",
    "can_tab": "Point to the pull tab of the can",
    "acronym_mug": "Point to the handle of the mug",
    "tool": "Point to the handle of the tool",
}


# ------------------------------------------------------------------------------------------ scene
@dataclass
class Part:
    """One part: a mask id, a closed (where it matters) triangle mesh in world metres, and whatever its
    generator's renderer needs (``material``; ``shape`` for analytic primitives)."""

    part_id: int
    name: str
    object_name: str
    role: str
    vertices: np.ndarray
    triangles: np.ndarray
    colour: Tuple[float, float, float]
    material: Any = None
    shape: Any = None

    @property
    def bbox(self) -> Tuple[np.ndarray, np.ndarray]:
        return self.vertices.min(axis=0), self.vertices.max(axis=0)


@dataclass
class GenScene:
    parts: List[Part]
    target_part_id: int
    target_name: str
    prompt: str
    look_center: np.ndarray
    target_points: np.ndarray
    """[N, 3] points on the target's exposed surface."""
    table: Dict[str, Any]
    """{"part_id", "x": (lo, hi), "y": (lo, hi)}: the table top (z = 0) for the judge's samples."""
    twin: Optional[Tuple[str, str]] = None
    """(twin object, its part name matching the target) in two-pans scenes."""
    confuser: Optional[Tuple[str, np.ndarray]] = None
    """(object, [3] its same spot): the pointer's forced confuser and where its same-spot answers go."""
    extra: Dict[str, Any] = field(default_factory=dict)

    def part(self, pid: int) -> Part:
        return next(p for p in self.parts if p.part_id == pid)


# ------------------------------------------------------------------------------------------ noise
def _hash3(ix, iy, iz, seed: int) -> np.ndarray:
    """Integer lattice -> [0, 1) (a PCG-like mix; independent of point2act.synth.noise)."""
    h = (np.asarray(ix, np.int64) * 1103515245 + np.asarray(iy, np.int64) * 2654435761
         + np.asarray(iz, np.int64) * 40503 + int(seed) * 9176 + 12345) & 0xFFFFFFFF
    h = h.astype(np.uint64)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x7FEB352D)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x846CA68B)) & np.uint64(0xFFFFFFFF)
    h ^= h >> np.uint64(16)
    return h.astype(np.float64) / 4294967296.0


def value_noise(p: np.ndarray, freq: float, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1) of world points [N, 3] at ``freq`` cells per metre."""
    q = np.asarray(p, dtype=np.float64) * freq
    i = np.floor(q).astype(np.int64)
    f = q - i
    f = f * f * (3 - 2 * f)
    out = np.zeros(len(q))
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = (f[:, 0] if dx else 1 - f[:, 0]) * (f[:, 1] if dy else 1 - f[:, 1]) * (f[:, 2] if dz else 1 - f[:, 2])
                out += w * _hash3(i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz, seed)
    return out


def fbm(p: np.ndarray, freq: float, seed: int, octaves: int = 4) -> np.ndarray:
    """Fractal sum of :func:`value_noise`, in [0, 1)."""
    tot, amp, norm = np.zeros(len(p)), 1.0, 0.0
    for o in range(octaves):
        tot += amp * value_noise(p, freq * 2**o, seed + 101 * o)
        norm += amp
        amp *= 0.5
    return tot / norm


# ------------------------------------------------------------------------------------------ meshes
def box_mesh(half: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """Closed box centred on the origin, outward triangles."""
    hx, hy, hz = half
    v = np.array([[x, y, z] for x in (-hx, hx) for y in (-hy, hy) for z in (-hz, hz)], dtype=np.float64)
    # vertex index = 4*ix + 2*iy + iz
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    t = []
    for a, b, c, d in quads:
        t += [(a, b, c), (a, c, d)]
    return v, np.asarray(t, dtype=np.int32)


def revolve(profile: Sequence[Tuple[float, float]], segments: int = 64) -> Tuple[np.ndarray, np.ndarray]:
    """Closed surface of revolution about z of a closed (r, z) profile (r = 0 points become poles).
    The profile runs counter-clockwise in the (r, z) half plane for outward normals."""
    ang = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    cs, sn = np.cos(ang), np.sin(ang)
    verts: List[np.ndarray] = []
    rings: List[Any] = []  # int (pole index) or array of indices
    n = 0
    for r, z in profile:
        if r <= 1e-12:
            verts.append(np.array([[0.0, 0.0, z]]))
            rings.append(n)
            n += 1
        else:
            verts.append(np.stack([r * cs, r * sn, np.full(segments, z)], axis=1))
            rings.append(np.arange(n, n + segments))
            n += segments
    tris = []
    m = len(profile)
    k = np.arange(segments)
    k1 = (k + 1) % segments
    for i in range(m):
        a, b = rings[i], rings[(i + 1) % m]
        if isinstance(a, int) and isinstance(b, int):
            continue
        if isinstance(a, int):
            tris.append(np.stack([np.full(segments, a), b[k1], b[k]], axis=1))
        elif isinstance(b, int):
            tris.append(np.stack([a[k], a[k1], np.full(segments, b)], axis=1))
        else:
            tris.append(np.stack([a[k], a[k1], b[k1]], axis=1))
            tris.append(np.stack([a[k], b[k1], b[k]], axis=1))
    return np.concatenate(verts), np.concatenate(tris).astype(np.int32)


def cylinder_mesh(radius: float, z0: float, z1: float, segments: int = 48) -> Tuple[np.ndarray, np.ndarray]:
    """Closed cylinder about z from z0 to z1."""
    return revolve([(0.0, z0), (radius, z0), (radius, z1), (0.0, z1)], segments)


def sphere_mesh(radius: float, rings: int = 24, segments: int = 48) -> Tuple[np.ndarray, np.ndarray]:
    th = np.linspace(-np.pi / 2, np.pi / 2, rings + 1)
    return revolve([(0.0 if abs(t) == np.pi / 2 else radius * math.cos(t), radius * math.sin(t)) for t in th], segments)


def transform(v: np.ndarray, R: np.ndarray, t: Sequence[float]) -> np.ndarray:
    return np.asarray(v, dtype=np.float64) @ np.asarray(R).T + np.asarray(t, dtype=np.float64)


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def is_closed(v: np.ndarray, t: np.ndarray) -> bool:
    """Is the triangle mesh watertight (open3d's test, after merging coincident vertices)?"""
    import open3d as o3d

    m = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(np.asarray(v, np.float64)),
                                  o3d.utility.Vector3iVector(np.asarray(t, np.int32)))
    m.merge_close_vertices(1e-7)
    return bool(m.is_watertight())


def exposed_points(target: Part, others: Sequence[Part], n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, 3] points on the target's surface that are not buried in another part (a grip's end inside
    its neck, a knob's foot inside the lid) nor under the table top."""
    import open3d as o3d

    rc = o3d.t.geometry.RaycastingScene()  # every other part: the distance test
    solid = o3d.t.geometry.RaycastingScene()  # the closed ones: the inside test
    n_solid = 0
    for p in others:
        if p.role == "target":
            continue
        v, t = o3d.core.Tensor(p.vertices.astype(np.float32)), o3d.core.Tensor(p.triangles.astype(np.uint32))
        rc.add_triangles(v, t)
        if is_closed(p.vertices, p.triangles):
            solid.add_triangles(v, t)
            n_solid += 1
    out = np.zeros((0, 3))
    for _ in range(8):
        q = sample_mesh_points(target.vertices, target.triangles, 4 * n, rng)
        keep = q[:, 2] > 1e-4
        if others:
            # a point on another part's face counts as buried when it is inside it or within 0.3 mm
            qt = o3d.core.Tensor(q.astype(np.float32))
            keep &= rc.compute_distance(qt).numpy() > 3e-4
            if n_solid:
                keep &= solid.compute_occupancy(qt, nsamples=3).numpy() < 0.5
        out = np.concatenate([out, q[keep]])
        if len(out) >= n:
            break
    return out[:n]


# ------------------------------------------------------------------------------------------ cameras
@dataclass
class Intr:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int


def look_at(eye: np.ndarray, target: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """OpenGL camera-to-world looking from ``eye`` at ``target`` (z-up world), rolled by ``roll`` rad
    about the viewing axis."""
    fwd = np.asarray(target, float) - np.asarray(eye, float)
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    c, s = math.cos(roll), math.sin(roll)
    right, up = c * right + s * up, -s * right + c * up
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, -fwd, eye
    return m


def rays(k: Intr, c2w: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Per pixel (row-major) world origins and directions [H*W, 3]; the directions have a unit
    component along the viewing axis, so a hit's ray parameter is its z-depth."""
    j, i = np.meshgrid(np.arange(k.width) + 0.5, np.arange(k.height) + 0.5)
    dc = np.stack([(j - k.cx) / k.fx, -(i - k.cy) / k.fy, -np.ones_like(j)], axis=-1).reshape(-1, 3)
    d = dc @ c2w[:3, :3].T
    o = np.broadcast_to(c2w[:3, 3], d.shape).copy()
    return o, d


def project(p: np.ndarray, k: Intr, c2w: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    w2c = np.linalg.inv(c2w)
    q = np.asarray(p, float) @ w2c[:3, :3].T + w2c[:3, 3]
    z = -q[:, 2]
    return np.stack([k.fx * q[:, 0] / z + k.cx, -k.fy * q[:, 1] / z + k.cy], axis=1), z


def _sph(az: float, el: float) -> np.ndarray:
    return np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])


def camera_path(kind: str, n: int, centre: np.ndarray, rng: np.random.Generator, radius: Tuple[float, float],
                side_az: float = 0.0) -> List[np.ndarray]:
    """``n`` OpenGL c2w around ``centre``:

    - "handheld": a person walking an arc of 110-150 degrees on one side (centred on ``side_az``),
      distances drawn per view in ``radius`` (unequal), elevation wandering 22-58 degrees, roll
      jittered +-9 degrees, the look-at point jittered 3 cm; views in walking order with back-steps;
    - "fewview": ``n`` views (8-12) all round, azimuth gaps jittered by +-40 % of a step, elevations
      20-65 degrees, roll +-4 degrees;
    - "ring": one ring at a fixed elevation (35-45 degrees) and distance, evenly spaced, no roll;
    - "rings2": two rings (28 and 55 degrees), the upper one closer and offset by half a step.
    """
    lo, hi = radius
    out = []
    if kind == "handheld":
        span = math.radians(rng.uniform(110, 150))
        a0 = side_az - span / 2
        el = rng.uniform(0.5, 0.8)
        for i in range(n):
            u = (i + rng.uniform(-0.6, 0.6)) / max(n - 1, 1)
            az = a0 + span * min(max(u, 0.0), 1.0)
            el = float(np.clip(el + rng.normal(0, 0.09), math.radians(22), math.radians(58)))
            r = rng.uniform(lo, hi)
            look = centre + rng.uniform(-0.03, 0.03, 3)
            out.append(look_at(look + r * _sph(az, el), look, math.radians(rng.uniform(-9, 9))))
    elif kind == "fewview":
        a0 = rng.uniform(0, 2 * np.pi)
        for i in range(n):
            az = a0 + 2 * np.pi * (i + rng.uniform(-0.4, 0.4)) / n
            el = math.radians(rng.uniform(20, 65))
            r = rng.uniform(lo, hi)
            look = centre + rng.uniform(-0.02, 0.02, 3)
            out.append(look_at(look + r * _sph(az, el), look, math.radians(rng.uniform(-4, 4))))
    elif kind == "ring":
        a0 = rng.uniform(0, 2 * np.pi)
        el = math.radians(rng.uniform(35, 45))
        r = 0.5 * (lo + hi)
        for i in range(n):
            out.append(look_at(centre + r * _sph(a0 + 2 * np.pi * i / n, el), centre))
    elif kind == "rings2":
        a0 = rng.uniform(0, 2 * np.pi)
        n1 = (n + 1) // 2
        for i in range(n):
            upper = i >= n1
            m = n - n1 if upper else n1
            j = i - n1 if upper else i
            az = a0 + 2 * np.pi * (j + (0.5 if upper else 0.0)) / m
            el = math.radians(55 if upper else 28)
            r = lo if upper else hi
            out.append(look_at(centre + r * _sph(az, el), centre))
    else:
        raise ValueError(f"unknown camera path {kind!r}")
    return out


# ------------------------------------------------------------------------------------------ writer
@dataclass
class View:
    rgb: np.ndarray
    """[H, W, 3] uint8."""
    depth: np.ndarray
    """[H, W] float z-depth, metres (0: no hit)."""
    part: np.ndarray
    """[H, W] uint8 part ids."""
    xyz: np.ndarray
    """[H, W, 3] world hit points."""
    hit: np.ndarray
    """[H, W] bool."""


def _r(x: Any, nd: int = 7) -> Any:
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return [_r(v, nd) for v in x]
    if isinstance(x, (float, np.floating)):
        v = round(float(x), nd)
        return 0.0 if v == 0 else v
    if isinstance(x, np.integer):
        return int(x)
    return x


def sensor_depth(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # [H, W] m -> [H, W] uint16 mm
    """What an active RGB-D sensor returns for the true z-depth ``depth`` (metres, 0 = no surface):
    axial noise of standard deviation ``1.2 mm + 1.9 mm/m^2 * (z - 0.4 m)^2`` (Nguyen, Izadi and Lovell
    2012, the structured-light model), no return where the depth jumps by more than 2 cm to a
    4-neighbour (the sensor loses edges), and 1 mm quantisation."""
    z = np.asarray(depth, dtype=np.float64)
    sigma = 0.0012 + 0.0019 * (z - 0.4) ** 2
    noisy = z + sigma * rng.standard_normal(z.shape)
    pad = np.pad(z, 1, mode="edge")
    jump = np.zeros(z.shape, bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        jump |= np.abs(pad[dy : dy + z.shape[0], dx : dx + z.shape[1]] - z) > 0.02
    noisy[(z <= 0) | jump] = 0.0
    return np.clip(np.round(noisy * 1000.0), 0, 65535).astype(np.uint16)


def _png(arr: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(arr)).save(path, format="PNG", optimize=False, compress_level=6)


def _ply(xyz: np.ndarray, rgb: np.ndarray, path: Path) -> None:
    """Binary little-endian PLY, written by hand (no open3d: byte-stable)."""
    head = ("ply\nformat binary_little_endian 1.0\n"
            f"element vertex {len(xyz)}\nproperty float x\nproperty float y\nproperty float z\n"
            "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n").encode()
    rec = np.zeros(len(xyz), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
    rec["x"], rec["y"], rec["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    rec["r"], rec["g"], rec["b"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    path.write_bytes(head + rec.tobytes())


def write_scene(out: Path, cfg: GenConfig, scene: GenScene, render: Callable[..., View], k: Intr,
                c2ws: Sequence[np.ndarray], notes: str, pc_noise: float = 0.0) -> Dict[str, Any]:
    """Render every view and write the scene folder (module docstring). ``render(k, c2w, only=None)``
    renders a view (``only``: a set of part ids rendered alone); ``pc_noise``: standard deviation (m)
    of the seed cloud's position noise (an SfM-like cloud). Returns ground_truth.json's dict."""
    from point2act.synth.oracle import oracle_points, write_points_file

    out = Path(out)
    for sub in ("images", "depths", "masks", "points"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([cfg.seed, 0xC10D])
    n = len(c2ws)
    per_view = [cfg.num_seed_points // n + (1 if i < cfg.num_seed_points % n else 0) for i in range(n)]
    frames, cloud_xyz, cloud_rgb, alone = [], [], [], []
    for i, c2w in enumerate(c2ws):
        v = render(k, c2w)
        name = f"frame_{i:04d}.png"
        _png(v.rgb, out / "images" / name)
        _png(np.clip(np.round(v.depth * 1000.0), 0, 65535).astype(np.uint16), out / "depths" / name)
        _png(v.part, out / "masks" / name)
        frames.append({"file_path": f"images/{name}", "transform_matrix": _r(c2w, 9),
                       "true_depth_path": f"depths/{name}", "part_mask_path": f"masks/{name}"})
        if cfg.sensor_depth:
            (out / "sensor_depths").mkdir(exist_ok=True)
            _png(sensor_depth(v.depth, np.random.default_rng([cfg.seed, 0xDE97, i])), out / "sensor_depths" / name)
            frames[-1]["depth_file_path"] = f"sensor_depths/{name}"
        alone.append(render(k, c2w, only={scene.target_part_id}).hit)
        if cfg.point_cloud:
            idx = np.flatnonzero(v.hit.reshape(-1))
            take = np.sort(rng.choice(idx, size=min(per_view[i], len(idx)), replace=False)) if len(idx) else idx
            cloud_xyz.append(v.xyz.reshape(-1, 3)[take] + pc_noise * rng.normal(size=(len(take), 3)))
            cloud_rgb.append(v.rgb.reshape(-1, 3)[take])
    np.savez_compressed(out / "target_alone.npz", alone=np.stack(alone))
    meshes = {"ids": np.array([p.part_id for p in scene.parts], dtype=np.int64),
              "names": np.array([p.name for p in scene.parts]),
              "table": np.array([scene.table["part_id"], *scene.table["x"], *scene.table["y"]], dtype=np.float64)}
    for p in scene.parts:
        meshes[f"v{p.part_id}"] = p.vertices.astype(np.float64)
        meshes[f"t{p.part_id}"] = p.triangles.astype(np.int32)
    np.savez_compressed(out / "meshes.npz", **meshes)

    tp = scene.target_points.astype(np.float32)
    np.save(out / "ground_truth_points.npy", tp)
    centroid = tp.astype(np.float64).mean(axis=0)
    bmin, bmax = tp.min(axis=0).astype(np.float64), tp.max(axis=0).astype(np.float64)
    parts_table = [{"id": 0, "name": "background", "role": "background"}]
    objects = []
    for p in scene.parts:
        parts_table.append({"id": p.part_id, "name": p.name, "role": p.role})
        lo, hi = p.bbox
        c = centroid if p.part_id == scene.target_part_id else 0.5 * (lo + hi)
        if p.part_id == scene.target_part_id:
            lo, hi = bmin, bmax
        objects.append({"name": p.name, "object": p.object_name, "part_id": p.part_id, "role": p.role,
                        "centroid": _r(c), "bbox_min": _r(lo), "bbox_max": _r(hi), "colour": _r(list(p.colour), 4)})
    gt: Dict[str, Any] = {
        "target": scene.target_name, "frame": "capture", "units": "metres", "centroid": _r(centroid),
        "bbox_min": _r(bmin), "bbox_max": _r(bmax), "num_points": int(len(tp)), "points_file": "ground_truth_points.npy",
        "target_part_id": scene.target_part_id, "prompt": scene.prompt, "generator": cfg.generator,
        "parts": parts_table, "objects": objects, "masks": "masks/*.png: uint8 part ids as in 'parts'",
        "meshes": "meshes.npz: v{id} / t{id} per part (metres); 'table': [part id, x lo, x hi, y lo, y hi]",
        "notes": notes,
    }
    if scene.twin is not None:
        tw_obj, tw_part = scene.twin
        gt["twin"] = {"object": tw_obj, "part_id": next(p.part_id for p in scene.parts if p.name == tw_part)}
    if scene.confuser is not None:
        gt["confuser"] = {"object": scene.confuser[0], "spot": _r(scene.confuser[1])}
    gt.update({k: _r(v) for k, v in scene.extra.items()})
    (out / "ground_truth.json").write_text(json.dumps(gt, indent=2) + "\n")

    transforms: Dict[str, Any] = {
        "camera_model": "OPENCV", "fl_x": _r(k.fx, 9), "fl_y": _r(k.fy, 9), "cx": _r(k.cx, 9), "cy": _r(k.cy, 9),
        "w": k.width, "h": k.height, "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "frames": frames,
    }
    if cfg.point_cloud:
        _ply(np.concatenate(cloud_xyz), np.concatenate(cloud_rgb), out / "sparse_pc.ply")
        transforms["ply_file_path"] = "sparse_pc.ply"
    transforms["point2act"] = {
        "prompt": scene.prompt, "units": "metres", "world": "z up, table top at z=0",
        "camera_convention": "transform_matrix is camera-to-world, OpenGL (x right, y up, looks along -z)",
        "true_depth": ("frames[].true_depth_path: 16-bit PNG, millimetres, z-depth; 0 = no surface (ground "
                       "truth, not read by training)"),
        "masks": "frames[].part_mask_path: uint8 part ids, table in ground_truth.json",
        "ground_truth": "ground_truth.json", "points": "points/oracle.json",
        "generator": f"benchmarks.generators.{cfg.generator}", "config": _r(cfg.to_dict()),
    }
    (out / "transforms.json").write_text(json.dumps(transforms, indent=2) + "\n")
    pts = oracle_points(out, prompt=scene.prompt)
    write_points_file(pts, out / "points" / "oracle.json")
    return gt


def config_key(cfg: GenConfig) -> str:
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


# ------------------------------------------------------------------------------------------ placement
def place(rng: np.random.Generator, placed: List[Tuple[np.ndarray, float]], radius: float, centre: np.ndarray,
          dist: Tuple[float, float], bounds: Optional[Tuple[Tuple[float, float], Tuple[float, float]]] = None,
          gap: float = 0.015, tries: int = 4000) -> np.ndarray:
    """A free xy for a footprint of ``radius``: ``dist`` from ``centre`` (the range grows with the
    tries), ``gap`` from every ``placed`` (xy, radius), inside ``bounds`` ((x lo, hi), (y lo, hi))."""
    for k in range(tries):
        ang = rng.uniform(0, 2 * np.pi)
        d = rng.uniform(dist[0], dist[1] + 0.15 * k / tries)
        xy = centre[:2] + d * np.array([math.cos(ang), math.sin(ang)])
        if bounds is not None:
            (x0, x1), (y0, y1) = bounds
            if not (x0 + radius < xy[0] < x1 - radius and y0 + radius < xy[1] < y1 - radius):
                continue
        if all(np.linalg.norm(xy - c) > r + radius + gap for c, r in placed):
            placed.append((xy, radius))
            return xy
    raise RuntimeError("could not place an object without overlap")


def visible_fraction(masks: Sequence[np.ndarray], target_id: int, min_px: int = 12) -> float:
    return float(np.mean([(m == target_id).sum() >= min_px for m in masks]))
