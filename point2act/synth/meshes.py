"""Procedural meshes of the synthetic tabletop's objects: the mug (body, handle, rim), the tool,
the distractors, a mug loaded from a file, and points sampled on their surfaces.

Each mesh is in its object's local frame: metres, z up, standing on z = 0 (the tool lies on it);
vertices (V, 3) float64, triangles (T, 3) int32. :mod:`point2act.synth.scene` places them.

open3d is imported lazily (only the box/sphere/cylinder primitives and mesh files come from it).
"""

from __future__ import annotations

import math

import numpy as np

from point2act._open3d import load as load_open3d

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

