"""Procedural tabletop geometry: a textured table, a mug with a handle, distractors, laid out
seeded (:func:`build_scene`); the objects' meshes come from :mod:`point2act.synth.meshes`, their
textures from :mod:`point2act.synth.textures`.

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
from typing import NamedTuple
from pathlib import Path

import numpy as np

from point2act._open3d import load as load_open3d

from point2act.synth.config import (
    PART_FIRST_DISTRACTOR,
    PART_MUG_BODY,
    PART_MUG_HANDLE,
    PART_TABLE,
    TARGETS,
    SynthConfig,
)
from point2act.synth.meshes import (
    MUG_FOOTPRINT,
    TOOL_HANDLE_LENGTH,
    TOOL_HANDLE_RADIUS,
    TOOL_HEAD,
    _distractor_mesh,
    _o3d_arrays,
    _rot_z,
    load_mug_mesh,
    mug_body_and_rim_meshes,
    mug_body_mesh,
    mug_handle_mesh,
    sample_handle_points,
    sample_mesh_points,
    tool_meshes,
)
from point2act.synth.textures import (
    AlbedoFn,
    _varied,
    ball_albedo,
    can_albedo,
    marker_albedo,
    marker_bits,
    marker_pose,
    table_albedo,
)

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


class _TargetPart(NamedTuple):
    """The scene's target part as the scene builder places it: its part id (which names the object it belongs
    to) and its sampled surface points (where it is)."""

    part_id: int
    """Part id of the target part."""
    points: np.ndarray  # (N, 3)
    """Points on its visible surface, world coordinates."""


def _occluder_part(
    rng: np.random.Generator,
    s: int,
    parts: list[Part],
    placed: list[tuple[np.ndarray, float]],
    target: _TargetPart,
    pid: int,
) -> tuple[Part, tuple[np.ndarray, float], dict]:
    """A tall box (part ``pid``) right beside the ``target``, on a seeded side of it: clear of the
    target object's vertices and of the other placed footprints (the mug's too when the target is
    the tool).

    Returns (the occluder part, its placed footprint ((2,) centre, radius), its ground-truth record).
    """
    o3d = load_open3d()

    tc = target.points.mean(axis=0)
    size = np.array([0.05, 0.05, 0.16])
    m = o3d.geometry.TriangleMesh.create_box(*size)
    ov, ot = _o3d_arrays(m)
    half = 0.5 * float(np.hypot(size[0], size[1]))
    target_obj = next(p.object_name for p in parts if p.part_id == target.part_id)
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
            rng, s, parts, placed, _TargetPart(target_id, target_pts), n_parts
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
