"""The "kitchen" generator: triangle meshes ray cast with open3d, Blinn-Phong shading.

What differs from point2act.synth (Lambert, one light, fbm-tinted flat colours, a sky, a hemisphere of
24 cameras, a mug and boxes/balls/cans):

- **renderer**: open3d ``RaycastingScene`` with *smooth* (interpolated vertex) normals on curved parts,
  Blinn-Phong specular highlights per material (shininess 8-120), a key light with hard shadows plus
  a warm point lamp (inverse-square falloff, its own shadows), a tinted ambient term, and an sRGB-like
  gamma encoding;
- **exposure**: per view gain (x0.8-1.2) and white balance (+-6 % per channel), as a phone does;
- **textures**: wood grain (table, boards, handles), woven cloth (towels), glazed tiles (wall, floor),
  brushed metal and non-stick coating (pans), printed can labels;
- **background**: a finite table whose edge is in view with the floor below it, a tiled wall behind,
  and clutter beyond the table ("edge"), or a counter against the wall ("wall");
- **cameras**: a hand-held arc on one side (unequal distances, roll) or a few-view capture (8-12),
  a wider lens (66 degrees);
- **objects**: frying pans with flared walls and a bar grip (2.8 x 2.2 cm), pots with lids and knobs,
  cans with pull tabs, the ACRONYM mug, a spatula and a knife, bowls, bottles, boards, towels;
- the seed cloud, when written, carries 1.5 mm of SfM-like noise.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from .common import (PROMPTS, GenConfig, GenScene, Intr, Part, View, box_mesh, camera_path, exposed_points, look_at,
                     place, revolve, rot_z, transform, write_scene)
from .kitchen_materials import Material, _local, flat, speckled, tiles, wood
from .kitchen_meshes import DISTRACTORS, _can, _distractor, _pan, _pot_and_lid, _spatula, load_acronym

FOV_X_DEG = 66.0


# ------------------------------------------------------------------------------------------ scene
def _add_part(parts: List[Part], name, obj, role, v, t, mat, colour, pose=None) -> int:
    """Append a part with the next id to ``parts`` and return its id; ``pose`` (R, t): its object's
    placement, so that the texture moves with the object."""
    pid = len(parts) + 1
    if pose is not None:
        mat = Material(_local(mat.albedo, *pose), mat.spec, mat.shininess, mat.smooth)
    parts.append(Part(pid, name, obj, role, np.asarray(v, float), np.asarray(t, np.int32),
                      tuple(float(x) for x in colour), mat))
    return pid


def _put_part(parts: List[Part], d, key, name, obj, role, R_, t_) -> int:
    """Add the mesh ``d[key]`` (vertices, triangles, material, colour; object-local) placed by
    rotation ``R_`` and translation ``t_``; returns its part id."""
    v, t, mat, col = d[key]
    return _add_part(parts, name, obj, role, transform(v, R_, t_), t, mat, col, (R_, t_))


def _table(rng, parts: List[Part], bg: str, s: int) -> Tuple[Tuple[float, float, float, float], tuple, int]:
    """The table (part 1), its top at z = 0 with a seeded size and wood; for the "edge" background the
    objects' group sits near its front edge (-y). Returns ((x0, x1, y0, y1) of the top, the wood's
    dark colour, the table's part id)."""
    if bg == "edge":
        tx0, tx1 = -rng.uniform(0.40, 0.50), rng.uniform(0.40, 0.50)
        ty0, ty1 = -rng.uniform(0.22, 0.28), rng.uniform(0.38, 0.45)
    elif bg == "wall":
        tx0, tx1, ty0, ty1 = -0.8, 0.8, -rng.uniform(0.30, 0.36), rng.uniform(0.26, 0.30)
    else:
        raise ValueError(f"kitchen background {bg!r}: 'edge' or 'wall'")
    tv, tt = box_mesh(((tx1 - tx0) / 2, (ty1 - ty0) / 2, 0.015))
    tv = tv + np.array([(tx0 + tx1) / 2, (ty0 + ty1) / 2, -0.015])
    woods = [((0.72, 0.52, 0.32), (0.50, 0.32, 0.17)), ((0.80, 0.68, 0.50), (0.62, 0.48, 0.32)),
             ((0.45, 0.28, 0.16), (0.30, 0.17, 0.09))]
    wl, wd = woods[int(rng.integers(len(woods)))]
    table_id = _add_part(parts, "table", "table", "context", tv, tt, Material(wood(wl, wd, s, 0), 0.15, 25.0, False),
                         wl)
    return (tx0, tx1, ty0, ty1), wd, table_id


def _pans(cfg: GenConfig, rng, parts: List[Part], s: int, centre: np.ndarray, yaw: float, R: np.ndarray,
          placed: List[Tuple[np.ndarray, float]], extra: Dict[str, object]) -> tuple:
    """The "pan" scene's pan (its grip the target) or the "two_pans" scene's two identical pans side
    by side, handles parallel, the target on the left as the cameras' side sees it and the other the
    confuser. Appends their footprints to ``placed`` and the twin's offset to ``extra``.

    Returns (target part id, look-at point, camera radius range, twin, confuser).
    """
    kind = cfg.kind
    twin = confuser = None
    pan_seed = s + 11
    d = _pan(np.random.default_rng([cfg.seed, 0x9A7]), pan_seed)
    if kind == "two_pans":
        # side by side, handles parallel, the target on the left as the cameras' side sees it
        gap = rng.uniform(0.025, 0.05)
        side = np.array([-math.sin(yaw), math.cos(yaw), 0.0])  # the grip's left
        off = (d["radius"] + 0.5 * gap) * side
        c_t, c_b = centre + off, centre - off
        d2 = _pan(np.random.default_rng([cfg.seed, 0x9A7]), pan_seed)
    else:
        c_t = centre
    _put_part(parts, d, "body", "pan_body", "pan", "context", R, c_t)
    _put_part(parts, d, "neck", "pan_neck", "pan", "context", R, c_t)
    tid = _put_part(parts, d, "grip", "pan_grip", "pan", "target", R, c_t)
    placed.append((c_t[:2] + R[:2, 0] * 0.5 * d["reach"] * 0.6, 0.5 * d["reach"] + 0.5 * d["radius"]))
    look = c_t + R @ np.array([0.35 * d["reach"], 0.0, 0.03])
    if kind == "two_pans":
        _put_part(parts, d2, "body", "pan_b_body", "pan_b", "confuser", R, c_b)
        _put_part(parts, d2, "neck", "pan_b_neck", "pan_b", "confuser", R, c_b)
        _put_part(parts, d2, "grip", "pan_b_grip", "pan_b", "confuser", R, c_b)
        placed.append((c_b[:2] + R[:2, 0] * 0.5 * d["reach"] * 0.6, 0.5 * d["reach"] + 0.5 * d["radius"]))
        twin = ("pan_b", "pan_b_grip")
        confuser = ("pan_b", R @ d["grip_centre"] + c_b)
        look = centre + R @ np.array([0.35 * d["reach"], 0.0, 0.03])
        extra["twin_offset"] = (c_b - c_t).tolist()
    radius = (0.62, 0.9) if kind == "two_pans" else (0.5, 0.78)
    return tid, look, radius, twin, confuser


def _target_object(cfg: GenConfig, rng, parts: List[Part], s: int, centre: np.ndarray, yaw: float,
                   placed: List[Tuple[np.ndarray, float]], extra: Dict[str, object]) -> tuple:
    """The object of ``cfg.kind`` at ``centre`` turned by ``yaw``, with its target part (pans,
    :func:`_pans`; a pot with a lid; a can; the ACRONYM mug; a spatula). Appends its footprint to
    ``placed``.

    Returns (target part id, look-at point, camera radius range, prompt, twin, confuser).
    """
    kind = cfg.kind
    R = rot_z(yaw)
    twin = confuser = None
    if kind in ("pan", "two_pans"):
        tid, look, radius, twin, confuser = _pans(cfg, rng, parts, s, centre, yaw, R, placed, extra)
        prompt = PROMPTS[kind]
    elif kind == "lid_knob":
        d = _pot_and_lid(rng, s + 21)
        for key in ("pot", "handles", "lid"):
            _put_part(parts, d, key, f"pot_{key}", "pot", "context", R, centre)
        tid = _put_part(parts, d, "knob", "lid_knob", "pot", "target", R, centre)
        placed.append((centre[:2], d["radius"]))
        look = centre + np.array([0, 0, 0.08])
        radius, prompt = (0.45, 0.7), PROMPTS[kind]
    elif kind == "can_tab":
        d = _can(rng, s + 31)
        _put_part(parts, d, "can", "can_body", "can", "context", R, centre)
        tid = _put_part(parts, d, "tab", "can_tab", "can", "target", R, centre)
        placed.append((centre[:2], d["radius"]))
        look = centre + np.array([0, 0, 0.07])
        radius, prompt = (0.36, 0.6), PROMPTS[kind]
    elif kind == "acronym_mug":
        if not cfg.mug_mesh:
            raise ValueError("kind 'acronym_mug' needs GenConfig.mug_mesh")
        m = load_acronym(cfg.mug_mesh, cfg.mug_mesh_scale)
        glaze = [(0.90, 0.88, 0.82), (0.20, 0.30, 0.55), (0.55, 0.15, 0.12)][int(rng.integers(3))]
        mat = Material(speckled(glaze, s + 41, 0.08, 70.0), 0.55, 90.0)
        _add_part(parts, "mug_body", "mug", "context", transform(m["body"][0], R, centre), m["body"][1], mat, glaze,
                  (R, centre))
        tid = _add_part(parts, "mug_handle", "mug", "target", transform(m["handle"][0], R, centre), m["handle"][1],
                        mat, glaze, (R, centre))
        placed.append((centre[:2], m["radius"]))
        look = centre + np.array([0, 0, 0.05])
        radius, prompt = (0.36, 0.6), PROMPTS[kind]
    elif kind == "tool":
        d = _spatula(rng, s + 51)
        _put_part(parts, d, "blade", "spatula_blade", "spatula", "context", R, centre)
        _put_part(parts, d, "neck", "spatula_neck", "spatula", "context", R, centre)
        tid = _put_part(parts, d, "handle", "spatula_handle", "spatula", "target", R, centre)
        lo, hi = d["reach"]
        placed.append((centre[:2] + R[:2, 0] * 0.5 * (lo + hi), 0.5 * (hi - lo)))
        look = centre + R @ np.array([0.02, 0, 0.01])
        radius, prompt = (0.38, 0.62), "Point to the handle of the spatula"
    else:
        raise ValueError(f"kitchen has no scene kind {kind!r}")
    return tid, look, radius, prompt, twin, confuser


def _add_distractors(cfg: GenConfig, rng, parts: List[Part], s: int, placed: List[Tuple[np.ndarray, float]],
                     look: np.ndarray, bounds: tuple) -> None:
    """``cfg.distractors`` objects from :data:`DISTRACTORS` (the knife first in "tool" scenes,
    otherwise in seeded order) at seeded free places on the table within ``bounds``; a distractor
    with no room left is dropped."""
    kind = cfg.kind
    pool = list(DISTRACTORS) if kind != "tool" else ["knife", *[k for k in DISTRACTORS if k != "knife"]]
    if kind != "tool":
        rng.shuffle(pool)
    for i in range(cfg.distractors):
        k = pool[i % len(pool)]
        pieces, fr = _distractor(k, rng, s + 61 + i)
        try:
            xy = place(rng, placed, fr, look, (0.1, 0.3), bounds)
        except RuntimeError:  # no room left on the table: one distractor fewer
            continue
        Rd, td = rot_z(rng.uniform(0, 2 * np.pi)), np.array([xy[0], xy[1], 0.0])
        name = k if not any(p.object_name == k for p in parts) else f"{k}_{i}"
        for suf, v, t, mat, col in pieces:
            _add_part(parts, f"{name}{suf}", name, "distractor", transform(v, Rd, td), t, mat, col, (Rd, td))


def _add_room(rng, parts: List[Part], bg: str, s: int, top: Tuple[float, float, float, float], wd: tuple) -> float:
    """The room around the table: for the "edge" background a tiled floor, the table's legs (wood
    colour ``wd``) and clutter on the floor by a wall at a seeded distance; for "wall" the wall at the
    table's back edge. Returns the wall's y."""
    tx0, tx1, ty0, ty1 = top
    fv, ft = box_mesh((2.5, 2.5, 0.02))
    if bg == "edge":
        _add_part(parts, "floor", "room", "context", fv + np.array([0, 0, -0.77]), ft,
                  Material(tiles((0.55, 0.52, 0.48), (0.3, 0.3, 0.3), 0.3, s + 71), 0.1, 20.0, False),
                  (0.55, 0.52, 0.48))
        for sx in (tx0 + 0.04, tx1 - 0.04):
            for sy in (ty0 + 0.04, ty1 - 0.04):
                lv, lt = box_mesh((0.02, 0.02, 0.37))
                _add_part(parts, "table_leg", "room", "context", lv + np.array([sx, sy, -0.4]), lt,
                          Material(flat(wd), 0.1, 20, False), wd)
        wall_y = ty1 + rng.uniform(0.3, 0.5)
        for i in range(3):  # clutter beyond the table: on the floor by the wall
            k = ["bin", "crate", "stool"][i]
            bx = rng.uniform(-0.9, 0.9)
            if k == "bin":
                v, t = revolve([(0, 0), (0.14, 0), (0.16, 0.45), (0, 0.45)], 32)
            elif k == "crate":
                v, t = box_mesh((0.2, 0.15, 0.15))
                v = v + np.array([0, 0, 0.15])
            else:
                v, t = revolve([(0, 0), (0.15, 0), (0.15, 0.6), (0, 0.6)], 32)
            c = [(0.3, 0.5, 0.3), (0.6, 0.45, 0.3), (0.5, 0.2, 0.2)][i]
            _add_part(parts, f"room_{k}", "room", "context", v + np.array([bx, wall_y - 0.22, -0.75]), t,
                      Material(speckled(c, s + 81 + i, 0.2, 20.0), 0.2, 20.0, k != "crate"), c)
    else:
        wall_y = ty1
    wv, wt = box_mesh((2.5, 0.02, 1.2))
    _add_part(parts, "wall", "room", "context", wv + np.array([0, wall_y + 0.02, 0.4]), wt,
              Material(tiles((0.86, 0.85, 0.80), (0.55, 0.55, 0.52), 0.1, s + 91, vertical=True), 0.2, 40.0, False),
              (0.86, 0.85, 0.8))
    return wall_y


def build_scene(cfg: GenConfig) -> GenScene:
    """The seeded kitchen scene of ``cfg``: the table, the target's object near its centre, the
    distractors, the room, and points on the target's exposed surface (its neighbours within 0.5 m
    hiding the rest)."""
    rng = np.random.default_rng([cfg.seed, 0x41C7])
    s = int(cfg.seed) * 977 + 5
    bg = cfg.background or "edge"
    parts: List[Part] = []
    top, wd, table_id = _table(rng, parts, bg, s)
    tx0, tx1, ty0, ty1 = top
    bounds = ((tx0 + 0.02, tx1 - 0.02), (ty0 + 0.02, ty1 - 0.02))
    placed: List[Tuple[np.ndarray, float]] = []
    centre = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.02, 0.06), 0.0])
    yaw = float(rng.uniform(0, 2 * np.pi))
    extra: Dict[str, object] = {"background": bg, "path": cfg.path}
    tid, look, radius, prompt, twin, confuser = _target_object(cfg, rng, parts, s, centre, yaw, placed, extra)
    _add_distractors(cfg, rng, parts, s, placed, look, bounds)
    wall_y = _add_room(rng, parts, bg, s, top, wd)

    tgt = next(p for p in parts if p.part_id == tid)
    others = [p for p in parts if p.part_id != tid and np.linalg.norm(p.vertices.mean(0) - tgt.vertices.mean(0)) < 0.5]
    tp = exposed_points(tgt, others, cfg.num_gt_points, np.random.default_rng([cfg.seed, 0x6E7]))
    if cfg.kind == "two_pans":
        extra["twin_note"] = "pan_b is the target pan's identical copy (the pointer's twin and same-spot confuser)"
    return GenScene(parts, tid, tgt.name, prompt, look, tp, {"part_id": table_id, "x": (tx0, tx1), "y": (ty0, ty1)},
                    twin, confuser, {**extra, "camera_radius": list(radius), "wall_y": float(wall_y)})


# ------------------------------------------------------------------------------------------ renderer
class KitchenRenderer:
    """Blinn-Phong, a key light with shadows, a warm point lamp with shadows, tinted ambient; per view
    exposure and white balance from a hash of the camera pose; gamma 1/2.2."""

    def __init__(self, scene: GenScene, seed: int) -> None:
        import open3d as o3d

        self.o3d, self.scene, self.seed = o3d, scene, int(seed)
        rng = np.random.default_rng([seed, 0x11647])
        az, el = rng.uniform(0, 2 * np.pi), math.radians(rng.uniform(45, 70))
        self.key = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        self.key_col = np.array([1.0, 0.97, 0.92]) * 0.9
        la = az + rng.uniform(2.0, 4.2)
        self.lamp = scene.look_center + np.array([0.7 * math.cos(la), 0.7 * math.sin(la), rng.uniform(0.5, 0.8)])
        self.lamp_col = np.array([1.0, 0.78, 0.52]) * 0.35  # at 1 m
        self.amb = np.array([0.30, 0.32, 0.36])
        self._scenes: Dict[Optional[frozenset], tuple] = {}
        self.normals = {}
        for p in scene.parts:
            vn = np.zeros_like(p.vertices)
            fn = np.cross(p.vertices[p.triangles[:, 1]] - p.vertices[p.triangles[:, 0]],
                          p.vertices[p.triangles[:, 2]] - p.vertices[p.triangles[:, 0]])
            for k in range(3):
                np.add.at(vn, p.triangles[:, k], fn)
            self.normals[p.part_id] = vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)

    def _rc(self, only):
        key = None if only is None else frozenset(only)
        if key not in self._scenes:
            o3d = self.o3d
            rc = o3d.t.geometry.RaycastingScene()
            lut = {}
            for p in self.scene.parts:
                if only is not None and p.part_id not in only:
                    continue
                g = rc.add_triangles(o3d.core.Tensor(p.vertices.astype(np.float32)),
                                     o3d.core.Tensor(p.triangles.astype(np.uint32)))
                lut[int(g)] = p
            self._scenes[key] = (rc, lut)
        return self._scenes[key]

    def render(self, k: Intr, c2w: np.ndarray, only=None) -> View:
        from .common import rays

        o3d = self.o3d
        rc, lut = self._rc(only)
        o, d = rays(k, c2w)
        ans = rc.cast_rays(o3d.core.Tensor(np.concatenate([o, d], 1).astype(np.float32)))
        t = ans["t_hit"].numpy().astype(np.float64)
        gid = ans["geometry_ids"].numpy().astype(np.int64)
        prim = ans["primitive_ids"].numpy().astype(np.int64)
        uv = ans["primitive_uvs"].numpy().astype(np.float64)
        fnorm = ans["primitive_normals"].numpy().astype(np.float64)
        hit = np.isfinite(t)
        h, w = k.height, k.width
        part = np.zeros(h * w, np.uint8)
        xyz = np.zeros((h * w, 3))
        xyz[hit] = o[hit] + t[hit, None] * d[hit]
        rgb = np.tile(np.array([0.55, 0.56, 0.58]), (h * w, 1))  # what no wall covers: a dim ceiling
        n = fnorm.copy()
        alb = np.zeros((h * w, 3))
        spec = np.zeros(h * w)
        shin = np.ones(h * w)
        for g, p in lut.items():
            sel = hit & (gid == g)
            if not sel.any():
                continue
            part[sel] = p.part_id
            if p.material.smooth:
                tri = p.triangles[prim[sel]]
                vn = self.normals[p.part_id]
                u, v = uv[sel, 0:1], uv[sel, 1:2]
                nn = (1 - u - v) * vn[tri[:, 0]] + u * vn[tri[:, 1]] + v * vn[tri[:, 2]]
                n[sel] = nn / np.maximum(np.linalg.norm(nn, axis=1, keepdims=True), 1e-12)
            spec[sel], shin[sel] = p.material.spec, p.material.shininess
        dn = d / np.linalg.norm(d, axis=1, keepdims=True)
        flip = np.sum(n * dn, axis=1) > 0
        n[flip] *= -1
        for g, p in lut.items():
            sel = hit & (gid == g)
            if sel.any():
                alb[sel] = p.material.albedo(xyz[sel], n[sel])
        if only is None and hit.any():
            H = np.flatnonzero(hit)
            P, N, V = xyz[H] + 4e-4 * n[H], n[H], -dn[H]
            col = alb[H] * self.amb * (0.75 + 0.25 * N[:, 2:3])
            # key light
            ndl = np.clip(N @ self.key, 0, 1)
            occ = rc.test_occlusions(o3d.core.Tensor(np.concatenate([P, np.broadcast_to(self.key, P.shape)], 1)
                                                     .astype(np.float32))).numpy()
            vis = (~occ).astype(float) * (ndl > 0)
            hv = V + self.key
            hv /= np.linalg.norm(hv, axis=1, keepdims=True)
            sp = spec[H] * np.clip(np.sum(N * hv, axis=1), 0, 1) ** shin[H]
            col += vis[:, None] * self.key_col * (alb[H] * ndl[:, None] + sp[:, None])
            # the lamp
            L = self.lamp - P
            dist = np.linalg.norm(L, axis=1)
            Ln = L / dist[:, None]
            ndl2 = np.clip(np.sum(N * Ln, axis=1), 0, 1)
            occ2 = rc.test_occlusions(o3d.core.Tensor(np.concatenate([P, L], 1).astype(np.float32)), tnear=1e-4,
                                      tfar=0.999).numpy()
            vis2 = (~occ2).astype(float) * (ndl2 > 0) / np.maximum(dist, 0.3) ** 2
            hv2 = V + Ln
            hv2 /= np.linalg.norm(hv2, axis=1, keepdims=True)
            sp2 = spec[H] * np.clip(np.sum(N * hv2, axis=1), 0, 1) ** shin[H]
            col += vis2[:, None] * self.lamp_col * (alb[H] * ndl2[:, None] + sp2[:, None])
            rgb[H] = col
        # the phone's exposure and white balance for this view
        vr = np.random.default_rng([self.seed, int.from_bytes(hashlib.sha256(np.round(c2w, 9).tobytes()).digest()[:4],
                                                              "little")])
        gain = vr.uniform(0.8, 1.2) * 0.95
        wb = 1.0 + vr.uniform(-0.06, 0.06, 3)
        out = np.clip(rgb * gain * wb, 0, 1) ** (1 / 2.2)
        rgb8 = np.clip(np.round(out * 255), 0, 255).astype(np.uint8)
        return View(rgb8.reshape(h, w, 3), np.where(hit, t, 0.0).reshape(h, w), part.reshape(h, w),
                    xyz.reshape(h, w, 3), hit.reshape(h, w))


def intrinsics(cfg: GenConfig) -> Intr:
    f = 0.5 * cfg.width / math.tan(math.radians(FOV_X_DEG) / 2)
    return Intr(f, f, cfg.width / 2, cfg.height / 2, cfg.width, cfg.height)


def cameras(cfg: GenConfig, scene: GenScene, k: Intr, renderer: KitchenRenderer) -> List[np.ndarray]:
    """The capture's camera path; a hand-held arc whose side hides the target in more than half the
    views is walked again on another side (what a person would do)."""
    rng = np.random.default_rng([cfg.seed, 0xCA3])
    rad = tuple(scene.extra["camera_radius"])
    wall_y = float(scene.extra["wall_y"])
    for attempt in range(6):
        side = -0.5 * np.pi + rng.uniform(-0.9, 0.9) + attempt * 1.1
        c2ws = camera_path(cfg.path, cfg.num_views, scene.look_center, rng, rad, side)
        for i, c in enumerate(c2ws):  # nobody stands in the wall: a camera behind it is mirrored to the front
            if c[1, 3] > wall_y - 0.08:
                m = np.diag([1.0, -1.0, 1.0])
                look = scene.look_center
                eye = c[:3, 3].copy()
                eye[1] = 2 * look[1] - eye[1]
                fwd = -c[:3, 2]
                target = eye + m @ fwd
                roll = math.atan2(np.dot(np.cross(_level_right(fwd), c[:3, 0]), fwd), np.dot(_level_right(fwd), c[:3, 0]))
                c2ws[i] = look_at(eye, target, roll)
        vis = [(renderer.render(_small(k), c).part == scene.target_part_id).sum() >= 3 for c in c2ws]
        if np.mean(vis) >= 0.5:
            break
    return c2ws


def _level_right(fwd: np.ndarray) -> np.ndarray:
    r = np.cross(fwd, [0.0, 0.0, 1.0])
    return r / np.linalg.norm(r)


def _small(k: Intr) -> Intr:
    return Intr(k.fx / 4, k.fy / 4, k.cx / 4, k.cy / 4, max(k.width // 4, 1), max(k.height // 4, 1))


def render_and_write(out: Path, cfg: GenConfig, scene: GenScene, notes: str) -> dict:
    """Render ``scene`` with the kitchen's renderer from ``cfg``'s cameras and write its folder into ``out``;
    returns its ground_truth.json dict (``notes`` says how the scene was made)."""
    r = KitchenRenderer(scene, cfg.seed)
    k = intrinsics(cfg)
    c2ws = cameras(cfg, scene, k, r)
    return write_scene(out, cfg, scene, r.render, k, c2ws, notes, pc_noise=0.0015 if cfg.point_cloud else 0.0)


def generate(out: Path, cfg: GenConfig) -> dict:
    notes = ("benchmarks.generators.kitchen: open3d ray casting, Blinn-Phong with a key light and a lamp, per view "
             "exposure and white balance; target centroid/bbox of its exposed surface points; object centroids are "
             "bbox centres")
    return render_and_write(out, cfg, build_scene(cfg), notes)
