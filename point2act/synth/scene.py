"""Procedural tabletop geometry: a textured table, a mug with a handle, distractors.

World frame ("capture" frame): metres, z up, table top at z = 0. Every part is a plain
triangle mesh (vertices (V, 3) float64, triangles (T, 3) int32) in world coordinates plus
an albedo function ``(N, 3) world points -> (N, 3) RGB in [0, 1]`` evaluated per ray hit,
so textures have no resolution limit. Each part is registered as its own geometry in the
ray caster, which makes the per-pixel part masks exact (the handle is its own part).

open3d is imported lazily (only the box/sphere/cylinder primitives come from it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from point2act._open3d import load as load_open3d

from .config import (
    PART_FIRST_DISTRACTOR,
    PART_MUG_BODY,
    PART_MUG_HANDLE,
    PART_TABLE,
    TARGETS,
    SynthConfig,
)
from .noise import fbm3, hash01

AlbedoFn = Callable[[np.ndarray], np.ndarray]

# Mug dimensions (metres).
MUG_RADIUS: float = 0.040
"""Outer radius of the mug body (8 cm diameter)."""
MUG_HEIGHT: float = 0.095
"""Height of the mug body."""
MUG_WALL: float = 0.004
"""Wall thickness."""
MUG_FLOOR: float = 0.006
"""Height of the inner floor above the mug's base."""
HANDLE_MAJOR_RADIUS: float = 0.027
"""Radius of the handle's centre-line arc."""
HANDLE_TUBE_RADIUS: float = 0.0065
"""Radius of the handle's tube."""
HANDLE_CENTER_Z: float = 0.050
"""Height of the handle arc's centre above the mug's base."""
HANDLE_ARC_DEG: float = 95.0
"""Handle arc spans [-HANDLE_ARC_DEG, +HANDLE_ARC_DEG] around the outward direction; the
tube ends are buried inside the mug wall."""
HANDLE_CENTER_X: float = MUG_RADIUS - 0.001
"""Local x of the handle arc's centre (the handle points along local +x)."""
MUG_FOOTPRINT: float = HANDLE_CENTER_X + HANDLE_MAJOR_RADIUS + HANDLE_TUBE_RADIUS
"""Radius of a circle (around the mug axis) containing mug + handle footprint."""

TABLE_SIZE: tuple[float, float, float] = (1.2, 0.9, 0.04)
"""Table box size (x, y, thickness), top face at z = 0, centred on the world origin."""

MUG_COLOURS: list[tuple[float, float, float]] = [
    (0.88, 0.86, 0.80),  # cream
    (0.74, 0.17, 0.15),  # red
    (0.17, 0.36, 0.68),  # blue
    (0.20, 0.55, 0.40),  # green
    (0.95, 0.72, 0.22),  # yellow
]
OBJECT_COLOURS: list[tuple[float, float, float]] = [
    (0.85, 0.35, 0.10),  # orange
    (0.30, 0.62, 0.80),  # sky blue
    (0.55, 0.30, 0.62),  # purple
    (0.35, 0.65, 0.25),  # leaf green
    (0.90, 0.82, 0.30),  # mustard
    (0.80, 0.25, 0.45),  # raspberry
    (0.25, 0.25, 0.30),  # charcoal
]


@dataclass
class Part:
    """One mesh with one part id (one geometry in the ray caster)."""

    part_id: int
    """Id written into the masks."""
    name: str
    """Part name, e.g. "mug_handle"."""
    object_name: str
    """Object the part belongs to ("mug" for body and handle)."""
    vertices: np.ndarray
    """(V, 3) float64 world coordinates."""
    triangles: np.ndarray
    """(T, 3) int32 vertex indices."""
    albedo: AlbedoFn
    """(N, 3) world hit points -> (N, 3) RGB albedo in [0, 1]."""
    base_colour: tuple[float, float, float]
    """Mean colour (for the record in ground_truth.json)."""
    role: str = ""
    """"target", "context" (the table, the target object's other parts) or "distractor" (every
    other object); set by :func:`build_scene`."""

    @property
    def bbox(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounds of the vertices, ((3,), (3,))."""
        return self.vertices.min(axis=0), self.vertices.max(axis=0)


@dataclass
class TabletopScene:
    """All parts of one scene plus the target's ground truth."""

    parts: list[Part]
    """Parts in ray-caster geometry order (index == geometry id)."""
    mug_position: np.ndarray
    """(3,) world position of the mug's base centre (z = 0)."""
    mug_yaw: float
    """Rotation of the mug about z, radians (handle points along (cos, sin, 0))."""
    handle_points: np.ndarray
    """(N, 3) float64 points sampled uniformly on the visible (outside the body) handle surface."""
    look_center: np.ndarray
    """(3,) the point the cameras aim at (mug centre)."""
    distractor_names: list[str] = field(default_factory=list)
    """Names of the distractor objects, in part id order."""
    target_points: np.ndarray | None = None
    """(N, 3) float64 points uniform by area on the visible surface of the target part
    (``handle_points`` when the target is the mug handle)."""
    target_part_id: int = PART_MUG_HANDLE
    """Part id of the target part."""
    target_name: str = "mug_handle"
    """Name of the target part (one of :data:`point2act.synth.config.TARGETS`)."""
    extra: dict = field(default_factory=dict)
    """Extra ground-truth records for ground_truth.json (tool pose, occluder, mug mesh); empty
    for the default scene."""


# --------------------------------------------------------------------------- meshes


def _rot_z(yaw: float) -> np.ndarray:
    """(3, 3) rotation about +z."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _grid_triangles(n_rows: int, n_cols: int, wrap_cols: bool) -> np.ndarray:
    """Triangles of a (n_rows, n_cols) vertex grid (row-major), optionally wrapping columns.

    Returns (T, 3) int32.
    """
    tris = []
    cols = n_cols if wrap_cols else n_cols - 1
    for r in range(n_rows - 1):
        for c in range(cols):
            c2 = (c + 1) % n_cols
            a, b = r * n_cols + c, r * n_cols + c2
            d, e = (r + 1) * n_cols + c, (r + 1) * n_cols + c2
            tris.append((a, b, e))
            tris.append((a, e, d))
    return np.asarray(tris, dtype=np.int32)


def mug_body_mesh(segments: int = 72) -> tuple[np.ndarray, np.ndarray]:
    """Open cylindrical shell with a bottom, local frame (axis z, base at z = 0).

    Outer wall, inner wall, top rim annulus, inner floor, outer bottom.
    Returns vertices (V, 3) float64 and triangles (T, 3) int32.
    """
    ang = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    cs, sn = np.cos(ang), np.sin(ang)
    ro, ri = MUG_RADIUS, MUG_RADIUS - MUG_WALL

    def ring(r: float, z: float) -> np.ndarray:
        return np.stack([r * cs, r * sn, np.full_like(cs, z)], axis=1)

    verts: list[np.ndarray] = []
    tris: list[np.ndarray] = []
    offset = 0

    def add_strip(rings: list[np.ndarray]) -> None:
        nonlocal offset
        v = np.concatenate(rings, axis=0)
        tris.append(_grid_triangles(len(rings), segments, wrap_cols=True) + offset)
        verts.append(v)
        offset += len(v)

    def add_disk(r: float, z: float) -> None:
        nonlocal offset
        v = np.concatenate([np.array([[0.0, 0.0, z]]), ring(r, z)], axis=0)
        idx = np.arange(segments)
        t = np.stack([np.zeros(segments, int), 1 + idx, 1 + (idx + 1) % segments], axis=1)
        verts.append(v)
        tris.append(t.astype(np.int32) + offset)
        offset += len(v)

    n_h = 6
    add_strip([ring(ro, z) for z in np.linspace(0.0, MUG_HEIGHT, n_h)])  # outer wall
    add_strip([ring(ri, z) for z in np.linspace(MUG_FLOOR, MUG_HEIGHT, n_h)])  # inner wall
    add_strip([ring(ri, MUG_HEIGHT), ring(ro, MUG_HEIGHT)])  # rim
    add_disk(ri, MUG_FLOOR)  # inner floor
    add_disk(ro, 0.0)  # outer bottom
    return np.concatenate(verts, axis=0), np.concatenate(tris, axis=0).astype(np.int32)


def _handle_surface(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Handle tube surface at arc angle ``theta`` and tube angle ``phi`` (same shape, radians).

    Local mug frame: the arc lies in the xz plane around (HANDLE_CENTER_X, 0, HANDLE_CENTER_Z),
    theta = 0 is the outermost point. Returns (..., 3).
    """
    n1 = np.stack([np.cos(theta), np.zeros_like(theta), np.sin(theta)], axis=-1)  # radial in xz
    n2 = np.stack([np.zeros_like(theta), np.ones_like(theta), np.zeros_like(theta)], axis=-1)
    centre = np.array([HANDLE_CENTER_X, 0.0, HANDLE_CENTER_Z]) + HANDLE_MAJOR_RADIUS * n1
    off = np.cos(phi)[..., None] * n1 + np.sin(phi)[..., None] * n2
    return centre + HANDLE_TUBE_RADIUS * off


def mug_handle_mesh(n_arc: int = 48, n_tube: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Torus-arc handle with capped ends (caps are buried in the mug wall), local mug frame.

    Returns vertices (V, 3) float64 and triangles (T, 3) int32.
    """
    a = math.radians(HANDLE_ARC_DEG)
    theta = np.linspace(-a, a, n_arc)
    phi = np.linspace(0.0, 2 * np.pi, n_tube, endpoint=False)
    th, ph = np.meshgrid(theta, phi, indexing="ij")  # (n_arc, n_tube)
    grid = _handle_surface(th, ph).reshape(-1, 3)
    tris = [_grid_triangles(n_arc, n_tube, wrap_cols=True)]
    verts = [grid]
    offset = len(grid)
    for end, row in ((theta[0], 0), (theta[-1], n_arc - 1)):
        c = _handle_surface(np.array(end), np.array(0.0)) - HANDLE_TUBE_RADIUS * np.array(
            [math.cos(end), 0.0, math.sin(end)]
        )
        verts.append(c[None])
        idx = np.arange(n_tube)
        t = np.stack(
            [np.full(n_tube, offset), row * n_tube + idx, row * n_tube + (idx + 1) % n_tube], axis=1
        )
        tris.append(t.astype(np.int32))
        offset += 1
    return np.concatenate(verts, axis=0), np.concatenate(tris, axis=0).astype(np.int32)


def sample_handle_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform by area on the handle surface outside the mug body, local frame.

    Rejection sampling on the torus arc (area element ~ R + r cos(phi)); points inside the
    mug wall (radius < MUG_RADIUS from the mug axis) are not visible and are dropped.
    Returns (n, 3) float64.
    """
    a = math.radians(HANDLE_ARC_DEG)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = 4 * n
        theta = rng.uniform(-a, a, m)
        phi = rng.uniform(0.0, 2 * np.pi, m)
        accept = rng.uniform(0.0, 1.0, m) * (HANDLE_MAJOR_RADIUS + HANDLE_TUBE_RADIUS) < (
            HANDLE_MAJOR_RADIUS + HANDLE_TUBE_RADIUS * np.cos(phi)
        )
        p = _handle_surface(theta[accept], phi[accept])
        p = p[np.hypot(p[:, 0], p[:, 1]) > MUG_RADIUS + 1e-4]
        out.append(p)
        have += len(p)
    return np.concatenate(out, axis=0)[:n]


def _o3d_arrays(mesh) -> tuple[np.ndarray, np.ndarray]:  # mesh: o3d.geometry.TriangleMesh
    """Vertices (V, 3) float64 and triangles (T, 3) int32 of a legacy open3d mesh."""
    return np.asarray(mesh.vertices, dtype=np.float64).copy(), np.asarray(
        mesh.triangles, dtype=np.int32
    ).copy()


def sample_mesh_points(vertices: np.ndarray, triangles: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform by area on a triangle mesh (V, 3) / (T, 3). Returns (n, 3) float64."""
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(triangles, dtype=np.int64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    t = rng.choice(len(f), size=n, p=area / area.sum())
    u = rng.uniform(0.0, 1.0, (n, 2))
    flip = u.sum(axis=1) > 1.0
    u[flip] = 1.0 - u[flip]
    return a[t] + u[:, :1] * (b[t] - a[t]) + u[:, 1:] * (c[t] - a[t])


MUG_RIM_BAND: float = 0.008
"""Height of the top band of the mug's walls that belongs to the rim part (target "mug_rim")."""


def mug_body_and_rim_meshes(segments: int = 72) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The procedural mug body split in two parts, local frame: the body (walls below the rim band,
    floor, bottom) and the rim (top ``MUG_RIM_BAND`` of the outer and inner walls and the annulus).

    Returns ((V, 3), (T, 3)) for the body and for the rim.
    """
    ang = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    cs, sn = np.cos(ang), np.sin(ang)
    ro, ri = MUG_RADIUS, MUG_RADIUS - MUG_WALL
    z_band = MUG_HEIGHT - MUG_RIM_BAND

    def ring(r: float, z: float) -> np.ndarray:
        return np.stack([r * cs, r * sn, np.full_like(cs, z)], axis=1)

    def strip(rings: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate(rings, axis=0), _grid_triangles(len(rings), segments, wrap_cols=True)

    def disk(r: float, z: float) -> tuple[np.ndarray, np.ndarray]:
        v = np.concatenate([np.array([[0.0, 0.0, z]]), ring(r, z)], axis=0)
        idx = np.arange(segments)
        t = np.stack([np.zeros(segments, int), 1 + idx, 1 + (idx + 1) % segments], axis=1)
        return v, t.astype(np.int32)

    def merge(pieces: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        verts, tris, off = [], [], 0
        for v, t in pieces:
            verts.append(v)
            tris.append(t + off)
            off += len(v)
        return np.concatenate(verts, axis=0), np.concatenate(tris, axis=0).astype(np.int32)

    body = merge([
        strip([ring(ro, z) for z in np.linspace(0.0, z_band, 6)]),
        strip([ring(ri, z) for z in np.linspace(MUG_FLOOR, z_band, 6)]),
        disk(ri, MUG_FLOOR),
        disk(ro, 0.0),
    ])
    rim = merge([
        strip([ring(ro, z_band), ring(ro, MUG_HEIGHT)]),
        strip([ring(ri, z_band), ring(ri, MUG_HEIGHT)]),
        strip([ring(ri, MUG_HEIGHT), ring(ro, MUG_HEIGHT)]),
    ])
    return body, rim


def load_mug_mesh(path: str, scale: float) -> dict:
    """A mug mesh from a file (z up, body axis through the x-y origin), split into body and handle.

    The mesh is scaled to metres, its base moved to z = 0 and rotated about z so that its handle
    points along local +x (like the procedural mug). The handle is the triangles whose centroid lies
    more than 1 mm outside the body radius (the 95th percentile of the vertices' distance from the
    axis, over vertices more than 60 degrees of azimuth away from the farthest vertex).

    Returns {"body": (V, T), "handle": (V, T), "body_radius": float, "height": float,
    "footprint": float}.
    """
    o3d = load_open3d()

    from point2act.errors import Point2ActError

    m = o3d.io.read_triangle_mesh(str(path))
    if len(m.triangles) == 0:
        raise Point2ActError(
            f"{path}: no triangles read (SynthConfig.mug_mesh); give an OBJ or PLY triangle mesh of a mug, z up"
        )
    v, t = _o3d_arrays(m)
    v = v * float(scale)
    v[:, 2] -= v[:, 2].min()
    r = np.hypot(v[:, 0], v[:, 1])
    az = np.arctan2(v[:, 1], v[:, 0])
    far = int(np.argmax(r))
    rot = _rot_z(-float(az[far]))  # handle -> +x
    v = v @ rot.T
    az = np.arctan2(v[:, 1], v[:, 0])
    away = np.abs(az) > math.radians(60.0)
    body_r = float(np.percentile(r[away], 95.0))
    cen = v[t].mean(axis=1)
    is_handle = np.hypot(cen[:, 0], cen[:, 1]) > body_r + 0.001
    if not is_handle.any():
        raise Point2ActError(f"{path}: no handle found (no triangle outside the body radius {body_r:.4f} m)")

    def sub(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        used, inv = np.unique(t[mask].reshape(-1), return_inverse=True)
        return v[used], inv.reshape(-1, 3).astype(np.int32)

    return {"body": sub(~is_handle), "handle": sub(is_handle), "body_radius": body_r,
            "height": float(v[:, 2].max()), "footprint": float(r.max())}


# Tool (a hammer-like tool lying on the table), local frame: head at x in [0, TOOL_HEAD[0]],
# centred on y = 0, handle along +x from the head.
TOOL_HEAD: tuple[float, float, float] = (0.04, 0.10, 0.035)
"""Head box size (x, y, z), metres; it rests on the table."""
TOOL_HANDLE_RADIUS: float = 0.011
"""Radius of the tool's cylindrical handle."""
TOOL_HANDLE_LENGTH: float = 0.13
"""Length of the handle outside the head."""


def tool_meshes() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((V, T) of the head, (V, T) of the handle), tool-local frame (see TOOL_HEAD)."""
    o3d = load_open3d()

    hx, hy, hz = TOOL_HEAD
    head = o3d.geometry.TriangleMesh.create_box(hx, hy, hz)
    hv, ht = _o3d_arrays(head)
    hv = hv - np.array([0.0, hy / 2, 0.0])
    length = TOOL_HANDLE_LENGTH + 0.005  # 5 mm buried in the head
    cyl = o3d.geometry.TriangleMesh.create_cylinder(radius=TOOL_HANDLE_RADIUS, height=length, resolution=40, split=6)
    cv, ct = _o3d_arrays(cyl)  # axis z, centred
    cv = cv[:, [2, 1, 0]] * np.array([1.0, 1.0, -1.0])  # axis -> x (a proper rotation about y)
    cv = cv + np.array([hx - 0.005 + length / 2, 0.0, hz / 2])
    return (hv, ht), (cv, ct)


# --------------------------------------------------------------------------- textures


def _varied(colour: tuple[float, float, float], seed: int, freq: float, amount: float) -> AlbedoFn:
    """Albedo = colour * (1 +- amount) with smooth fbm variation at ``freq`` cycles/m."""
    c = np.asarray(colour, dtype=np.float64)

    def fn(p: np.ndarray) -> np.ndarray:
        v = fbm3(p * freq, seed)  # (N,) in [0, 1]
        return np.clip(c[None] * (1.0 - amount + 2.0 * amount * v)[:, None], 0.0, 1.0)

    return fn


def table_albedo(seed: int) -> AlbedoFn:
    """Parquet-like wood: 6 cm checker tiles with alternating grain direction, per-tile tone,
    warped sinusoidal grain and fine noise. Plenty of texture for reconstruction."""
    light = np.array([0.78, 0.58, 0.38])
    dark = np.array([0.56, 0.37, 0.22])
    tile = 0.06

    def fn(p: np.ndarray) -> np.ndarray:
        i = np.floor(p[:, 0] / tile).astype(np.int64)
        j = np.floor(p[:, 1] / tile).astype(np.int64)
        checker = ((i + j) % 2).astype(bool)
        across = np.where(checker, p[:, 0], p[:, 1])  # coordinate across the grain
        warp = fbm3(p * 9.0, seed + 7)
        grain = 0.5 + 0.5 * np.sin(2 * np.pi * (across * 70.0 + 2.5 * warp))
        tone = hash01(i, j, np.zeros_like(i), seed + 13)
        fine = fbm3(p * 120.0, seed + 17)
        base = np.where(checker[:, None], dark[None], light[None])
        k = 0.74 + 0.14 * grain + 0.14 * tone + 0.10 * fine
        return np.clip(base * k[:, None], 0.0, 1.0)

    return fn


MARKER_WHITE: float = 0.92
"""Albedo of the marker's white cells and of the sheet around it."""
MARKER_BLACK: float = 0.04
"""Albedo of the marker's black cells."""


def marker_bits(dictionary: str, marker_id: int) -> np.ndarray:
    """The marker's cells as a (n, n) bool array (True = white), row 0 at the marker's top edge,
    the black border included (n = marker bits + 2). Uses ``cv2.aruco.generateImageMarker``."""
    import cv2

    from point2act.errors import Point2ActError

    d = getattr(cv2.aruco, dictionary, None)
    if not dictionary.startswith("DICT_") or not isinstance(d, int):
        raise Point2ActError(f"SynthConfig.marker_dictionary {dictionary!r} is not an OpenCV ArUco dictionary "
                             "(e.g. DICT_4X4_50, DICT_5X5_100, DICT_6X6_250)")
    aruco = cv2.aruco.getPredefinedDictionary(d)
    n_dict = int(aruco.bytesList.shape[0])
    if not 0 <= int(marker_id) < n_dict:
        raise Point2ActError(f"SynthConfig.marker_id {marker_id} is not in {dictionary} (ids 0..{n_dict - 1})")
    n = int(aruco.markerSize) + 2
    img = cv2.aruco.generateImageMarker(aruco, int(marker_id), n, borderBits=1)
    return np.asarray(img) > 127


def marker_pose(config: SynthConfig) -> np.ndarray:
    """(4, 4) world-from-marker pose of the synthetic marker: origin at the marker's centre on the
    table top, x along its first edge (top-left -> top-right corner of the marker image), z up (out
    of the printed face), y = z cross x (towards the top edge): OpenCV's ArUco marker frame."""
    t = np.eye(4)
    t[:3, :3] = _rot_z(math.radians(config.marker_yaw_deg))
    t[:3, 3] = (config.marker_x, config.marker_y, 0.0)
    return t


def marker_albedo(base: AlbedoFn, config: SynthConfig) -> AlbedoFn:
    """``base`` (the table) with the ArUco marker of ``config`` printed on it: the marker's cells
    (nearest-cell lookup, sharp edges) on a white sheet one cell wider on every side."""
    bits = marker_bits(config.marker_dictionary, config.marker_id)
    n = bits.shape[0]
    size = float(config.marker_size)
    cell = size / n
    pose = marker_pose(config)
    r, c = pose[:3, :3], pose[:3, 3]

    def fn(p: np.ndarray) -> np.ndarray:
        out = base(p)
        local = (p - c[None]) @ r  # marker-frame coordinates
        u, v = local[:, 0], local[:, 1]
        half = size / 2 + cell
        on_sheet = (np.abs(u) < half) & (np.abs(v) < half) & (np.abs(local[:, 2]) < 1e-4)
        col = np.floor((u + size / 2) / cell).astype(np.int64)
        row = np.floor((size / 2 - v) / cell).astype(np.int64)
        inside = on_sheet & (col >= 0) & (col < n) & (row >= 0) & (row < n)
        white = on_sheet.copy()
        white[inside] = bits[row[inside], col[inside]]
        out[on_sheet] = np.where(white[on_sheet, None], MARKER_WHITE, MARKER_BLACK)
        return out

    return fn


def ball_albedo(centre: np.ndarray, a: tuple, b: tuple, yaw: float, seed: int) -> AlbedoFn:
    """Beach-ball: 8 longitudinal segments alternating colours ``a``/``b`` with mild noise."""
    ca, cb = np.asarray(a), np.asarray(b)

    def fn(p: np.ndarray) -> np.ndarray:
        d = p - centre[None]
        lon = np.arctan2(d[:, 1], d[:, 0]) + yaw
        seg = (np.floor(lon / (np.pi / 4)).astype(np.int64) % 2).astype(bool)
        col = np.where(seg[:, None], ca[None], cb[None])
        v = fbm3(p * 60.0, seed)
        return np.clip(col * (0.9 + 0.2 * v)[:, None], 0.0, 1.0)

    return fn


def can_albedo(base_z: float, height: float, body: tuple, label: tuple, seed: int) -> AlbedoFn:
    """Can: metal-grey top/bottom bands, a coloured body and a striped label in the middle."""
    cbody, clabel = np.asarray(body), np.asarray(label)
    metal = np.array([0.72, 0.72, 0.74])

    def fn(p: np.ndarray) -> np.ndarray:
        h = (p[:, 2] - base_z) / height  # 0..1 along the can
        col = np.repeat(cbody[None], len(p), axis=0)
        in_label = (h > 0.35) & (h < 0.65)
        stripes = (np.floor(h * 40.0).astype(np.int64) % 2).astype(bool)
        col[in_label] = np.where(stripes[in_label, None], clabel[None], 0.92 * np.ones(3)[None])
        col[(h < 0.06) | (h > 0.94)] = metal
        v = fbm3(p * 50.0, seed)
        return np.clip(col * (0.9 + 0.2 * v)[:, None], 0.0, 1.0)

    return fn


# --------------------------------------------------------------------------- layout


def _table_part(config: SynthConfig, s: int) -> Part:
    """The table (part 1): a box of :data:`TABLE_SIZE` with its top face at z = 0, its wood albedo
    seeded by ``s`` and, with ``config.marker_size``, the marker printed on it."""
    o3d = load_open3d()

    tx, ty, tz = TABLE_SIZE
    table = o3d.geometry.TriangleMesh.create_box(tx, ty, tz)
    tv, tt = _o3d_arrays(table)
    tv += np.array([-tx / 2, -ty / 2, -tz])
    table_alb = table_albedo(s)
    if config.marker_size > 0:
        table_alb = marker_albedo(table_alb, config)
    return Part(PART_TABLE, "table", "table", tv, tt, table_alb, (0.67, 0.48, 0.30))


def _mug_meshes(config: SynthConfig) -> tuple[tuple, tuple, tuple | None, float, dict | None]:
    """The mug's meshes in its local frame: ((V, T) of the body, (V, T) of the handle, (V, T) of
    the rim or None, footprint radius, the loaded mesh or None).

    ``config.mug_mesh`` is loaded with :func:`load_mug_mesh`; otherwise the procedural mug, whose
    body is split into body and rim for the "mug_rim" target.
    """
    if config.mug_mesh:
        mesh = load_mug_mesh(config.mug_mesh, config.mug_mesh_scale)
        return mesh["body"], mesh["handle"], None, mesh["footprint"], mesh
    if config.target == "mug_rim":
        body, rim = mug_body_and_rim_meshes()
        return body, mug_handle_mesh(), rim, MUG_FOOTPRINT, None
    return mug_body_mesh(), mug_handle_mesh(), None, MUG_FOOTPRINT, None


def _handle_points_local(
    config: SynthConfig,
    hv: np.ndarray,  # (V, 3) handle vertices, mug-local
    ht: np.ndarray,  # (T, 3) handle triangles
    mesh: dict | None,
    rng: np.random.Generator,
) -> np.ndarray:  # (num_gt_points, 3), mug-local
    """Points on the visible handle surface, mug-local: for a loaded mesh, area-uniform samples of
    the handle mesh outside the body radius; for the procedural mug, :func:`sample_handle_points`."""
    if mesh is not None:
        hp_local = sample_mesh_points(hv, ht, 4 * config.num_gt_points, rng)
        hp_local = hp_local[np.hypot(hp_local[:, 0], hp_local[:, 1]) > mesh["body_radius"] + 1e-4]
        return hp_local[: config.num_gt_points]
    return sample_handle_points(config.num_gt_points, rng)


def _marker_sheet(config: SynthConfig) -> tuple[tuple[np.ndarray, float], dict]:
    """The marker's sheet as a placed footprint ((2,) centre, radius) that distractors and the
    occluder keep off, and the marker's ground-truth record (dictionary, id, size, pose, corners)."""
    n_cells = marker_bits(config.marker_dictionary, config.marker_id).shape[0]
    sheet_half = config.marker_size / 2 * (1 + 2 / n_cells)
    sheet = (np.array([config.marker_x, config.marker_y]), sheet_half * math.sqrt(2))
    pose = marker_pose(config)
    corners = np.array([[-1, 1, 0], [1, 1, 0], [1, -1, 0], [-1, -1, 0]]) * (config.marker_size / 2)
    record = {
        "dictionary": config.marker_dictionary,
        "id": int(config.marker_id),
        "size": float(config.marker_size),
        "world_from_marker": pose.tolist(),
        "corners": (corners @ pose[:3, :3].T + pose[:3, 3]).tolist(),
    }
    return sheet, record


def _tool_parts(
    config: SynthConfig,
    rng: np.random.Generator,
    s: int,
    mug_pos: np.ndarray,  # (3,)
    footprint: float,
    pid: int,
) -> tuple[list[Part], int, np.ndarray, tuple[np.ndarray, float], dict]:
    """The tool lying beside the mug at a seeded angle and yaw: its head (part ``pid``) and handle
    (``pid + 1``).

    Returns (the two parts, the target part id, (num_gt_points, 3) points on the target part's
    visible surface, the tool's placed footprint ((2,) centre, radius), the tool's ground-truth
    record).
    """
    (hdv, hdt), (cv, ct) = tool_meshes()
    tyaw = float(rng.uniform(0.0, 2 * np.pi))
    tool_centre_local = np.array([(TOOL_HEAD[0] + TOOL_HANDLE_LENGTH) / 2, 0.0, 0.0])
    tool_footprint = float(np.hypot(TOOL_HEAD[0] + TOOL_HANDLE_LENGTH, TOOL_HEAD[1]) / 2)
    ang = float(rng.uniform(0.0, 2 * np.pi))
    dist = footprint + tool_footprint + 0.02
    txy = mug_pos[:2] + dist * np.array([math.cos(ang), math.sin(ang)])
    trot = _rot_z(tyaw)
    toff = np.array([txy[0], txy[1], 0.0]) - trot @ tool_centre_local
    tcol = tuple(float(c) for c in OBJECT_COLOURS[int(rng.integers(len(OBJECT_COLOURS)))])
    grip = (0.15, 0.15, 0.17)
    parts = [
        Part(pid, "tool_head", "tool", hdv @ trot.T + toff, hdt,
             _varied(tcol, s + 51, freq=30.0, amount=0.10), tcol),
        Part(pid + 1, "tool_handle", "tool", cv @ trot.T + toff, ct,
             _varied(grip, s + 52, freq=60.0, amount=0.25), grip),
    ]
    if config.target == "tool_head":
        target_id = pid
        tp = sample_mesh_points(hdv, hdt, 2 * config.num_gt_points, rng)
        # drop the hidden bottom face and the face under the handle's buried end
        hidden = (tp[:, 2] < 1e-6) | ((np.abs(tp[:, 0] - TOOL_HEAD[0]) < 1e-6)
                                      & (np.hypot(tp[:, 1], tp[:, 2] - TOOL_HEAD[2] / 2) < TOOL_HANDLE_RADIUS))
        tp = tp[~hidden][: config.num_gt_points]
    else:
        target_id = pid + 1
        tp = sample_mesh_points(cv, ct, 2 * config.num_gt_points, rng)
        tp = tp[tp[:, 0] > TOOL_HEAD[0] + 1e-4][: config.num_gt_points]  # the part outside the head
    record = {"position": [float(txy[0]), float(txy[1]), 0.0], "yaw_rad": tyaw,
              "handle_direction": [math.cos(tyaw), math.sin(tyaw), 0.0]}
    return parts, target_id, tp @ trot.T + toff, (txy, tool_footprint), record


def _occluder_part(
    rng: np.random.Generator,
    s: int,
    parts: list[Part],
    placed: list[tuple[np.ndarray, float]],
    target_id: int,
    target_pts: np.ndarray,  # (N, 3)
    pid: int,
) -> tuple[Part, tuple[np.ndarray, float], dict]:
    """A tall box (part ``pid``) right beside the target, on a seeded side of it: clear of the
    target object's vertices and of the other placed footprints (the mug's too when the target is
    the tool).

    Returns (the occluder part, its placed footprint ((2,) centre, radius), its ground-truth record).
    """
    o3d = load_open3d()

    tc = target_pts.mean(axis=0)
    size = np.array([0.05, 0.05, 0.16])
    m = o3d.geometry.TriangleMesh.create_box(*size)
    ov, ot = _o3d_arrays(m)
    half = 0.5 * float(np.hypot(size[0], size[1]))
    target_obj = next(p.object_name for p in parts if p.part_id == target_id)
    obj_xy = np.concatenate([p.vertices[:, :2] for p in parts if p.object_name == target_obj])
    others = placed[1:] if target_obj == "mug" else [pl for pl in placed if pl is not placed[-1]]
    for trial in range(2000):
        ang = float(rng.uniform(0.0, 2 * np.pi))
        oxy = tc[:2] + (half + 0.01 + 0.1 * trial / 2000) * np.array([math.cos(ang), math.sin(ang)])
        if (np.min(np.linalg.norm(obj_xy - oxy, axis=1)) > half + 0.01
                and all(np.linalg.norm(oxy - c) > fr + half + 0.005 for c, fr in others)):
            break
    else:  # pragma: no cover
        raise RuntimeError("could not place the occluder beside the target")
    ov = (ov - np.array([size[0] / 2, size[1] / 2, 0.0])) @ _rot_z(ang).T + np.array([oxy[0], oxy[1], 0.0])
    ocol = (0.62, 0.62, 0.58)
    part = Part(pid, "occluder", "occluder", ov, ot, _varied(ocol, s + 61, freq=30.0, amount=0.12), ocol)
    return part, (oxy, half), {"position": [float(oxy[0]), float(oxy[1]), 0.0], "size": size.tolist()}


def _distractor_mesh(
    kind: str, oyaw: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """One distractor's mesh of a seeded size, standing on z = 0 around the z axis: (vertices
    (V, 3), triangles (T, 3), footprint radius, radius (ball, can), height (can)); a box is turned
    by ``oyaw``. Radius and height are NaN where the kind has none."""
    o3d = load_open3d()

    r = h = float("nan")
    if kind == "box":
        size = rng.uniform([0.05, 0.04, 0.04], [0.075, 0.06, 0.075])
        m = o3d.geometry.TriangleMesh.create_box(*size)
        v, t = _o3d_arrays(m)
        v = (v - np.array([size[0] / 2, size[1] / 2, 0.0])) @ _rot_z(oyaw).T
        footprint = 0.5 * float(np.hypot(size[0], size[1]))
    elif kind == "ball":
        r = float(rng.uniform(0.026, 0.034))
        m = o3d.geometry.TriangleMesh.create_sphere(radius=r, resolution=32)
        v, t = _o3d_arrays(m)
        v = v + np.array([0.0, 0.0, r])
        footprint = r
    elif kind == "can":
        r = float(rng.uniform(0.030, 0.034))
        h = float(rng.uniform(0.105, 0.125))
        m = o3d.geometry.TriangleMesh.create_cylinder(radius=r, height=h, resolution=64, split=8)
        v, t = _o3d_arrays(m)
        v = v + np.array([0.0, 0.0, h / 2])
        footprint = r
    else:
        raise ValueError(f"unknown distractor kind {kind!r} (use 'box', 'ball' or 'can')")
    return v, t, footprint, r, h


def _distractor_parts(
    config: SynthConfig,
    rng: np.random.Generator,
    s: int,
    mug_pos: np.ndarray,  # (3,)
    placed: list[tuple[np.ndarray, float]],
) -> tuple[list[Part], list[str]]:
    """The distractors of ``config.distractors`` (parts from :data:`PART_FIRST_DISTRACTOR` on) at
    seeded positions in a ring around the mug, clear of the ``placed`` footprints (each distractor's
    is appended to ``placed``), with seeded colours and textures. Returns (parts, names)."""
    colours = list(OBJECT_COLOURS)
    rng.shuffle(colours)
    names: list[str] = []
    parts: list[Part] = []
    for k, kind in enumerate(config.distractors):
        pid = PART_FIRST_DISTRACTOR + k
        col = tuple(float(c) for c in colours[k % len(colours)])
        col2 = tuple(float(c) for c in colours[(k + 3) % len(colours)])
        oyaw = float(rng.uniform(0.0, 2 * np.pi))
        v, t, footprint, r, h = _distractor_mesh(kind, oyaw, rng)
        for _ in range(1000):
            ang = rng.uniform(0.0, 2 * np.pi)
            dist = rng.uniform(0.13, 0.27)
            xy = mug_pos[:2] + dist * np.array([math.cos(ang), math.sin(ang)])
            if all(np.linalg.norm(xy - c) > fr + footprint + 0.015 for c, fr in placed):
                break
        else:  # pragma: no cover - the ring is large enough for a handful of objects
            raise RuntimeError("could not place distractors without overlap")
        placed.append((xy, footprint))
        v = v + np.array([xy[0], xy[1], 0.0])
        name = f"{kind}" if kind not in names else f"{kind}_{k}"
        names.append(name)
        if kind == "ball":
            alb = ball_albedo(np.array([xy[0], xy[1], r]), col, (0.95, 0.95, 0.92), oyaw, s + 10 + k)
        elif kind == "can":
            alb = can_albedo(0.0, h, col, col2, s + 10 + k)
        else:
            alb = _varied(col, s + 10 + k, freq=30.0, amount=0.10)
        parts.append(Part(pid, name, name, v, t, alb, col))
    return parts, names


def build_scene(config: SynthConfig) -> TabletopScene:
    """Build the seeded tabletop scene (geometry, textures, target ground truth).

    In seeded order: the table, the mug (position, yaw, colour) and its handle points, the marker's
    sheet, the rim, the tool, the occluder and the distractors; then each part's role.
    """
    rng = np.random.default_rng([config.seed, 0x5C3E])
    s = int(config.seed) * 1000 + 17  # texture noise seed
    parts = [_table_part(config, s)]

    # Mug: seeded position near the origin and yaw (handle direction).
    mug_pos = np.array([rng.uniform(-0.04, 0.04), rng.uniform(-0.04, 0.04), 0.0])
    yaw = float(rng.uniform(0.0, 2 * np.pi))
    rot = _rot_z(yaw)
    mug_colour = MUG_COLOURS[int(rng.integers(len(MUG_COLOURS)))]
    if config.target not in TARGETS:
        raise ValueError(f"unknown target {config.target!r}; use one of {', '.join(TARGETS)}")
    extra: dict = {}
    n_parts = PART_FIRST_DISTRACTOR + len(config.distractors)  # next free part id
    (bv, bt), (hv, ht), rim, footprint, mesh = _mug_meshes(config)
    if mesh is not None:
        extra["mug_mesh"] = {"file": Path(config.mug_mesh).name, "scale": config.mug_mesh_scale,
                             "body_radius": mesh["body_radius"], "height": mesh["height"]}
    mug_alb = _varied(mug_colour, s + 1, freq=25.0, amount=0.07)
    parts.append(
        Part(PART_MUG_BODY, "mug_body", "mug", bv @ rot.T + mug_pos, bt, mug_alb, mug_colour)
    )
    parts.append(
        Part(PART_MUG_HANDLE, "mug_handle", "mug", hv @ rot.T + mug_pos, ht, mug_alb, mug_colour)
    )
    handle_pts = _handle_points_local(config, hv, ht, mesh, rng) @ rot.T + mug_pos
    target_pts, target_id = handle_pts, PART_MUG_HANDLE
    placed: list[tuple[np.ndarray, float]] = [(mug_pos[:2], footprint)]
    if config.marker_size > 0:
        sheet, extra["marker"] = _marker_sheet(config)
        placed.append(sheet)
    look = mug_pos + np.array([0.0, 0.0, 0.045])
    if rim is not None:
        rv, rt = rim
        parts.append(Part(n_parts, "mug_rim", "mug", rv @ rot.T + mug_pos, rt, mug_alb, mug_colour))
        target_id, n_parts = n_parts, n_parts + 1
        target_pts = sample_mesh_points(rv, rt, config.num_gt_points, rng) @ rot.T + mug_pos
    if config.target.startswith("tool_"):
        # the tool lies beside the mug; the cameras aim at it
        tool, target_id, target_pts, tool_place, extra["tool"] = _tool_parts(
            config, rng, s, mug_pos, footprint, n_parts
        )
        parts += tool
        n_parts += 2
        placed.append(tool_place)
        look = np.array([tool_place[0][0], tool_place[0][1], 0.02])
    if config.occluder:
        occluder, occluder_place, extra["occluder"] = _occluder_part(
            rng, s, parts, placed, target_id, target_pts, n_parts
        )
        parts.append(occluder)
        placed.append(occluder_place)

    # Distractors at seeded, non-overlapping positions around the mug.
    distractors, names = _distractor_parts(config, rng, s, mug_pos, placed)
    parts += distractors

    target_obj = next(p.object_name for p in parts if p.part_id == target_id)
    for p in parts:
        p.role = ("target" if p.part_id == target_id
                  else "context" if p.part_id == PART_TABLE or p.object_name == target_obj else "distractor")
    parts.sort(key=lambda p: p.part_id)
    return TabletopScene(parts, mug_pos, yaw, handle_pts, look, names, target_points=target_pts,
                         target_part_id=target_id, target_name=config.target, extra=extra)
