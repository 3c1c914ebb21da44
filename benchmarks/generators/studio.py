"""The "studio" generator: analytic primitives ray cast in numpy, Oren-Nayar under a soft area light.

What differs from point2act.synth and from :mod:`.kitchen`:

- **renderer**: no triangles at all: exact ray intersections with boxes, elliptic cylinders, open
  vessels (pans, pots, cups: outer and inner walls, rim, floor), spheres and spherical caps (lids), in
  numpy; silhouettes are exact (a sphere's outline is a true conic);
- **shading**: Oren-Nayar rough diffuse (sigma 0.35), no specular, a soft area light (4 shadow rays per
  pixel over a 7 degree cone: penumbras), a sky/ground hemisphere ambient;
- **camera response**: auto exposure (the view's mean brightness is brought to a target, with jitter),
  an exponential (filmic) tone curve, gamma 1/2, vignetting, and seeded sensor noise;
- **textures**: gingham tablecloth, paper board, polka dots, stripes and ribbed rubber, enamel speckle;
- **background**: a plain board and a flat backdrop ("plain"), or a small clothed table with its edge
  and a concrete floor in view ("edge");
- **cameras**: one ring ("ring"), two rings ("rings2") or a few-view capture ("fewview"), a longer lens
  (52 degrees) with an off-centre principal point;
- **objects**: straight-walled pans with an *elliptic* bar grip (2.8 x 2.2 cm), pots with a domed lid
  and a ball knob, cans with a tab, a screwdriver and a wrench, balls, blocks, cups, posts.

The judge's meshes (meshes.npz) are fine tessellations of the same shapes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .common import (PROMPTS, GenConfig, GenScene, Intr, Part, View, camera_path, exposed_points, fbm, place,
                     revolve, rot_y, rot_z, transform, value_noise, write_scene)
from .studio_shapes import INF, Box, Dome, ECyl, Placed, Sphere, Vessel, _merge

FOV_X_DEG = 52.0


# ------------------------------------------------------------------------------------------ textures
def paper(c, seed):
    c = np.asarray(c, float)
    return lambda p: c * (0.92 + 0.16 * fbm(p, 45.0, seed, 4))[:, None]


def gingham(c, seed, pitch=0.012):
    c = np.asarray(c, float)
    white = np.array([0.93, 0.92, 0.90])

    def f(p):
        a = (np.floor(p[:, 0] / pitch) % 2).astype(float)
        b = (np.floor(p[:, 1] / pitch) % 2).astype(float)
        m = (a + b)[:, None] / 2
        return (white * (1 - m) + c * m) * (0.94 + 0.12 * value_noise(p, 700.0, seed))[:, None]

    return f


def dots(c, c_dot, seed, pitch=0.02):
    c, cd = np.asarray(c, float), np.asarray(c_dot, float)

    def f(p):
        q = p / pitch
        cell = np.floor(q)
        jit = np.stack([value_noise(cell, 1.0, seed + k) for k in range(3)], 1) * 0.5 + 0.25
        inside = np.linalg.norm(q - cell - jit, axis=1) < 0.22
        return np.where(inside[:, None], cd, c) * (0.95 + 0.1 * value_noise(p, 300.0, seed))[:, None]

    return f


def stripes(c1, c2, axis, pitch, seed):
    a, b = np.asarray(c1, float), np.asarray(c2, float)
    return lambda p: np.where(((np.floor(p[:, axis] / pitch) % 2) > 0)[:, None], a, b) * (
        0.93 + 0.14 * value_noise(p, 250.0, seed))[:, None]


def enamel(c_in, c_out, seed, r_in):
    a, b = np.asarray(c_in, float), np.asarray(c_out, float)

    def f(p):
        inner = np.hypot(p[:, 0], p[:, 1]) < r_in + 1e-4
        speck = value_noise(p, 600.0, seed) > 0.82
        col = np.where(inner[:, None], a, b)
        return np.where(speck[:, None], col * 0.55 + 0.4, col)

    return f


def concrete(seed):
    return lambda p: np.array([0.52, 0.51, 0.49]) * (0.8 + 0.4 * fbm(p, 12.0, seed, 5))[:, None]


# ------------------------------------------------------------------------------------------ objects
@dataclass
class Piece:
    """One part's shapes in the object's frame, its albedo (object frame) and record colour."""

    suffix: str
    shapes: List[Placed]
    albedo: Callable
    colour: tuple
    mesh: Optional[Tuple[np.ndarray, np.ndarray]] = None
    """The judge's mesh (None: the shapes' own, merged)."""


def _I():
    return np.eye(3)


def _along_x(shape, centre, tilt=0.0):
    """A z-axis shape turned so that its axis runs along x (tilted up by ``tilt``), centred at ``centre``."""
    R = rot_y(-tilt) @ rot_y(math.pi / 2)
    return Placed(shape, R, np.asarray(centre, float))


def _pan(rng, seed) -> Dict[str, object]:
    r_out = rng.uniform(0.095, 0.12)
    h = rng.uniform(0.035, 0.05)
    r_in = r_out - 0.004
    length = rng.uniform(0.11, 0.14)
    tilt = math.radians(rng.uniform(0.0, 6.0))
    under = rng.uniform(0.022, 0.03)
    neck_len = rng.uniform(0.02, 0.03)
    gx0 = r_out + neck_len
    gc = np.array([gx0 + 0.5 * length * math.cos(tilt), 0.0, under + 0.011 + 0.5 * length * math.sin(tilt)])
    grip = _along_x(ECyl(0.011, 0.014, -0.5 * length, 0.5 * length), gc, tilt)
    # rx along the rotated x (world z): 1.1 cm half height; ry (world y): 1.4 cm half width
    z_start = gc[2] - 0.5 * length * math.sin(tilt)
    n0, n1 = r_out - 0.003, gx0 + 0.012
    neck = Placed(Box((0.5 * (n1 - n0), 0.008, 0.005)), _I(), np.array([0.5 * (n0 + n1), 0.0, z_start]))
    outs = [(0.85, 0.82, 0.72), (0.25, 0.45, 0.55), (0.75, 0.35, 0.15), (0.35, 0.5, 0.3)]
    c_out = outs[int(rng.integers(len(outs)))]
    grips = [((0.12, 0.12, 0.13), (0.22, 0.22, 0.24)), ((0.45, 0.1, 0.08), (0.6, 0.18, 0.12))]
    g1, g2 = grips[int(rng.integers(len(grips)))]
    return {"pieces": [Piece("body", [Placed(Vessel(r_out, r_in, h, 0.005), _I(), np.zeros(3))],
                             enamel((0.16, 0.15, 0.15), c_out, seed, r_in), c_out),
                       Piece("neck", [neck], lambda p: np.tile([0.6, 0.6, 0.62], (len(p), 1)), (0.6, 0.6, 0.62)),
                       Piece("grip", [grip], stripes(g1, g2, 0, 0.006, seed + 1), g1)],
            "radius": r_out, "reach": gx0 + length + 0.01, "grip_centre": gc}


def _pot_and_lid(rng, seed) -> Dict[str, object]:
    r = rng.uniform(0.085, 0.105)
    h = rng.uniform(0.085, 0.105)
    a = r + 0.004  # the lid's radius
    hd = rng.uniform(0.02, 0.03)
    rs = (a * a + hd * hd) / (2 * hd)
    zb = h
    zc = zb + hd - rs
    top = zb + hd
    kr = rng.uniform(0.014, 0.018)
    stem_r, stem_top = 0.006, top + 0.012
    kc = stem_top + 0.8 * kr
    knob_shapes = [Placed(ECyl(stem_r, stem_r, top - 0.003, stem_top + 0.001), _I(), np.zeros(3)),
                   Placed(Sphere(kr), _I(), np.array([0.0, 0.0, kc]))]
    # the knob's judge mesh: the closed profile of stem and ball
    zj = kc - math.sqrt(kr * kr - stem_r * stem_r)  # where the stem meets the ball
    th0 = math.asin((zj - kc) / kr)
    th = np.linspace(th0, math.pi / 2, 32)
    knob_mesh = revolve([(0.0, top - 0.003), (stem_r, top - 0.003), (stem_r, zj),
                         *[(kr * math.cos(x), kc + kr * math.sin(x)) for x in th[1:-1]], (0.0, kc + kr)], 96)
    pc = [(0.2, 0.3, 0.5), (0.55, 0.55, 0.57), (0.5, 0.2, 0.15)][int(rng.integers(3))]
    return {"pieces": [Piece("pot", [Placed(Vessel(r, r - 0.004, h, 0.006), _I(), np.zeros(3))],
                             enamel((0.3, 0.3, 0.32), pc, seed, r - 0.004), pc),
                       Piece("lid", [Placed(Dome(rs, zc, zb), _I(), np.zeros(3))],
                             dots((0.8, 0.8, 0.82), (0.35, 0.35, 0.4), seed + 1, 0.025), (0.8, 0.8, 0.82)),
                       Piece("knob", knob_shapes, stripes((0.85, 0.6, 0.1), (0.6, 0.35, 0.05), 2, 0.005, seed + 2),
                             (0.85, 0.6, 0.1), knob_mesh)],
            "radius": r + 0.01}


def _can(rng, seed) -> Dict[str, object]:
    r, h = rng.uniform(0.031, 0.034), rng.uniform(0.115, 0.125)
    c = [(0.8, 0.1, 0.1), (0.1, 0.35, 0.7), (0.95, 0.75, 0.1)][int(rng.integers(3))]
    tab = Placed(Box((0.011, 0.0065, 0.00125)), _I(), np.array([0.007, 0.0, h + 0.00075]))
    return {"pieces": [Piece("body", [Placed(ECyl(r, r, 0.0, h), _I(), np.zeros(3))],
                             stripes(c, (0.9, 0.9, 0.9), 2, 0.012, seed), c),
                       Piece("tab", [tab], lambda p: np.tile([0.78, 0.78, 0.8], (len(p), 1)), (0.78, 0.78, 0.8))],
            "radius": r}


def _screwdriver(rng, seed) -> Dict[str, object]:
    hr, hl, sl = rng.uniform(0.014, 0.017), rng.uniform(0.09, 0.11), rng.uniform(0.08, 0.11)
    handle = _along_x(ECyl(hr, hr, -hl / 2, hl / 2), [hl / 2, 0.0, hr])
    shaft = _along_x(ECyl(0.003, 0.003, -sl / 2 - 0.003, sl / 2), [-sl / 2, 0.0, hr])
    c = [(0.85, 0.15, 0.1), (0.95, 0.8, 0.1), (0.1, 0.4, 0.8)][int(rng.integers(3))]
    return {"pieces": [Piece("handle", [handle], stripes(c, (0.1, 0.1, 0.1), 0, 0.008, seed), c),
                       Piece("shaft", [shaft], lambda p: np.tile([0.7, 0.7, 0.72], (len(p), 1)), (0.7, 0.7, 0.72))],
            "reach": (-sl, hl)}


def _distractor(kind, rng, seed) -> Tuple[List[Piece], float]:
    cols = [(0.9, 0.45, 0.1), (0.2, 0.6, 0.7), (0.6, 0.25, 0.6), (0.4, 0.7, 0.3), (0.9, 0.85, 0.5)]
    c = cols[int(rng.integers(len(cols)))]
    c2 = cols[int(rng.integers(len(cols)))]
    if kind == "ball":
        r = rng.uniform(0.028, 0.04)
        return [Piece("", [Placed(Sphere(r), _I(), np.array([0, 0, r]))], dots(c, c2, seed, 0.015), c)], r
    if kind == "block":
        s = rng.uniform([0.04, 0.04, 0.03], [0.07, 0.06, 0.08])
        return [Piece("", [Placed(Box(tuple(s / 2)), _I(), np.array([0, 0, s[2] / 2]))],
                      stripes(c, c2, 2, 0.01, seed), c)], 0.5 * float(np.hypot(s[0], s[1]))
    if kind == "cup":
        r, h = rng.uniform(0.035, 0.045), rng.uniform(0.07, 0.1)
        return [Piece("", [Placed(Vessel(r, r - 0.004, h, 0.006), _I(), np.zeros(3))],
                      enamel((0.9, 0.9, 0.9), c, seed, r - 0.004), c)], r
    if kind == "post":
        r, h = rng.uniform(0.02, 0.03), rng.uniform(0.12, 0.18)
        return [Piece("", [Placed(ECyl(r, r, 0.0, h), _I(), np.zeros(3))], stripes(c, c2, 2, 0.02, seed), c)], r
    if kind == "wrench":
        bar = Placed(Box((0.075, 0.01, 0.003)), _I(), np.array([0, 0, 0.003]))
        e1 = Placed(Box((0.012, 0.017, 0.004)), _I(), np.array([0.08, 0, 0.004]))
        e2 = Placed(Box((0.01, 0.014, 0.004)), _I(), np.array([-0.078, 0, 0.004]))
        return [Piece("", [bar, e1, e2], lambda p: np.tile([0.62, 0.63, 0.66], (len(p), 1)) *
                      (0.9 + 0.2 * value_noise(p, 200.0, seed))[:, None], (0.62, 0.63, 0.66))], 0.095
    raise ValueError(kind)


DISTRACTORS = ("ball", "block", "cup", "post", "wrench")


# ------------------------------------------------------------------------------------------ scene
def build_scene(cfg: GenConfig) -> GenScene:
    rng = np.random.default_rng([cfg.seed, 0x57D0])
    s = int(cfg.seed) * 613 + 29
    bg = cfg.background or "plain"
    parts: List[Part] = []

    def add(name, obj, role, piece: Piece, R, t):
        pid = len(parts) + 1
        shapes = [Placed(p.shape, R @ p.R, R @ p.t + t) for p in piece.shapes]
        if piece.mesh is not None:
            v, tt = transform(piece.mesh[0], R, t), piece.mesh[1]
        else:
            v, tt = _merge([sh.mesh() for sh in shapes])
        alb = piece.albedo
        parts.append(Part(pid, name, obj, role, v, tt, tuple(float(x) for x in piece.colour),
                          (lambda f, R_, t_: (lambda p: f((p - t_) @ R_)))(alb, R, t), shapes))
        return pid

    if bg == "plain":
        tx0, tx1, ty0, ty1 = -1.2, 1.2, -1.2, 1.2
        board = Piece("", [Placed(Box((1.2, 1.2, 0.01)), _I(), np.array([0, 0, -0.01]))],
                      paper((0.78, 0.77, 0.74), s), (0.78, 0.77, 0.74))
    elif bg == "edge":
        tx0, tx1 = -rng.uniform(0.32, 0.38), rng.uniform(0.32, 0.38)
        ty0, ty1 = -rng.uniform(0.2, 0.26), rng.uniform(0.3, 0.36)
        cloth_c = [(0.75, 0.15, 0.15), (0.15, 0.3, 0.65), (0.2, 0.5, 0.25)][int(rng.integers(3))]
        board = Piece("", [Placed(Box(((tx1 - tx0) / 2, (ty1 - ty0) / 2, 0.012)), _I(),
                                  np.array([(tx0 + tx1) / 2, (ty0 + ty1) / 2, -0.012]))], gingham(cloth_c, s), cloth_c)
    else:
        raise ValueError(f"studio background {bg!r}: 'plain' or 'edge'")
    table_id = add("table", "table", "context", board, _I(), np.zeros(3))
    bounds = ((tx0 + 0.02, tx1 - 0.02), (ty0 + 0.02, ty1 - 0.02))
    placed: List[Tuple[np.ndarray, float]] = []
    centre = np.array([rng.uniform(-0.04, 0.04), rng.uniform(-0.03, 0.05), 0.0])
    yaw = float(rng.uniform(0, 2 * np.pi))
    R = rot_z(yaw)
    kind = cfg.kind
    twin = confuser = None
    extra: Dict[str, object] = {"background": bg, "path": cfg.path}

    def put_object(d, obj, role, c, target_suffix=None):
        tid = None
        for pc in d["pieces"]:
            pid = add(f"{obj}_{pc.suffix}", obj, "target" if pc.suffix == target_suffix else role, pc, R, c)
            if pc.suffix == target_suffix:
                tid = pid
        return tid

    if kind in ("pan", "two_pans"):
        d = _pan(np.random.default_rng([cfg.seed, 0x9A8]), s + 3)
        if kind == "two_pans":
            gap = rng.uniform(0.03, 0.06)
            side = np.array([-math.sin(yaw), math.cos(yaw), 0.0])
            off = (d["radius"] + 0.5 * gap) * side
            c_t, c_b = centre + off, centre - off
        else:
            c_t = centre
        tid = put_object(d, "pan", "context", c_t, "grip")
        placed.append((c_t[:2] + R[:2, 0] * 0.3 * d["reach"], 0.5 * d["reach"] + 0.5 * d["radius"]))
        look = c_t + R @ np.array([0.35 * d["reach"], 0.0, 0.03])
        if kind == "two_pans":
            d2 = _pan(np.random.default_rng([cfg.seed, 0x9A8]), s + 3)
            put_object(d2, "pan_b", "confuser", c_b)
            placed.append((c_b[:2] + R[:2, 0] * 0.3 * d["reach"], 0.5 * d["reach"] + 0.5 * d["radius"]))
            twin, confuser = ("pan_b", "pan_b_grip"), ("pan_b", R @ d["grip_centre"] + c_b)
            look = centre + R @ np.array([0.35 * d["reach"], 0.0, 0.03])
            extra["twin_offset"] = (c_b - c_t).tolist()
        radius, prompt = ((0.7, 0.95) if kind == "two_pans" else (0.58, 0.85)), PROMPTS[kind]
    elif kind == "lid_knob":
        d = _pot_and_lid(rng, s + 5)
        tid = put_object(d, "pot", "context", centre, "knob")
        placed.append((centre[:2], d["radius"]))
        look = centre + np.array([0, 0, 0.08])
        radius, prompt = (0.5, 0.75), PROMPTS[kind]
    elif kind == "can_tab":
        d = _can(rng, s + 7)
        tid = put_object(d, "can", "context", centre, "tab")
        placed.append((centre[:2], d["radius"]))
        look = centre + np.array([0, 0, 0.07])
        radius, prompt = (0.4, 0.62), PROMPTS[kind]
    elif kind == "tool":
        d = _screwdriver(rng, s + 9)
        tid = put_object(d, "screwdriver", "context", centre, "handle")
        lo, hi = d["reach"]
        placed.append((centre[:2] + R[:2, 0] * 0.5 * (lo + hi), 0.5 * (hi - lo)))
        look = centre + R @ np.array([0.03, 0, 0.01])
        radius, prompt = (0.4, 0.62), "Point to the handle of the screwdriver"
    else:
        raise ValueError(f"studio has no scene kind {kind!r}")

    pool = list(DISTRACTORS)
    if kind == "tool":
        pool = ["wrench", *[k for k in pool if k != "wrench"]]
    else:
        rng.shuffle(pool)
    for i in range(cfg.distractors):
        k = pool[i % len(pool)]
        pieces, fr = _distractor(k, rng, s + 40 + i)
        try:
            xy = place(rng, placed, fr, look, (0.12, 0.3), bounds)
        except RuntimeError:  # no room left on a small table: one distractor fewer
            continue
        Rd = rot_z(rng.uniform(0, 2 * np.pi))
        name = k if not any(p.object_name == k for p in parts) else f"{k}_{i}"
        for pc in pieces:
            pid = len(parts) + 1
            shapes = [Placed(p.shape, Rd @ p.R, Rd @ p.t + np.array([xy[0], xy[1], 0.0])) for p in pc.shapes]
            v, tt = _merge([sh.mesh() for sh in shapes])
            td = np.array([xy[0], xy[1], 0.0])
            parts.append(Part(pid, f"{name}{pc.suffix}", name, "distractor", v, tt, tuple(float(x) for x in pc.colour),
                              (lambda f, R_, t_: (lambda p: f((p - t_) @ R_)))(pc.albedo, Rd, td), shapes))
    if bg == "edge":
        add("floor", "room", "context", Piece("", [Placed(Box((3.0, 3.0, 0.02)), _I(), np.array([0, 0, -0.74]))],
                                              concrete(s + 77), (0.52, 0.51, 0.49)), _I(), np.zeros(3))
    tgt = next(p for p in parts if p.part_id == tid)
    others = [p for p in parts if p.part_id != tid and p.name not in ("table", "floor")]
    tp = exposed_points(tgt, others, cfg.num_gt_points, np.random.default_rng([cfg.seed, 0x6E8]))
    return GenScene(parts, tid, tgt.name, prompt, look, tp, {"part_id": table_id, "x": (tx0, tx1), "y": (ty0, ty1)},
                    twin, confuser, {**extra, "camera_radius": list(radius)})


# ------------------------------------------------------------------------------------------ renderer
class StudioRenderer:
    def __init__(self, scene: GenScene, seed: int, background: str) -> None:
        self.scene, self.seed = scene, int(seed)
        rng = np.random.default_rng([seed, 0x11648])
        az, el = rng.uniform(0, 2 * np.pi), math.radians(rng.uniform(50, 75))
        main = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        # 4 directions over a 7 degree cone around the main one: the area light's penumbra
        u = np.cross(main, [0, 0, 1.0])
        u /= np.linalg.norm(u)
        v = np.cross(main, u)
        a = math.radians(7.0)
        self.lights = [main * math.cos(a) + math.sin(a) * (math.cos(k * np.pi / 2 + 0.4) * u + math.sin(k * np.pi / 2 + 0.4) * v)
                       for k in range(4)]
        self.light_col = np.array([1.0, 0.98, 0.95]) * 2.2
        self.sky, self.ground = np.array([0.55, 0.62, 0.75]), np.array([0.35, 0.3, 0.25])
        self.backdrop = np.array([0.80, 0.82, 0.84]) if background == "plain" else np.array([0.62, 0.60, 0.58])
        sigma2 = 0.35**2
        self.A, self.B = 1 - 0.5 * sigma2 / (sigma2 + 0.33), 0.45 * sigma2 / (sigma2 + 0.09)

    def cast(self, o, d, only=None):
        t = np.full(len(o), INF)
        n = np.zeros_like(o)
        pid = np.zeros(len(o), np.uint8)
        for p in self.scene.parts:
            if only is not None and p.part_id not in only:
                continue
            for sh in p.shape:
                ts, ns = sh.hit(o, d)
                closer = ts < t
                t = np.where(closer, ts, t)
                n[closer] = ns[closer]
                pid[closer] = p.part_id
        return t, n, pid

    def render(self, k: Intr, c2w: np.ndarray, only=None) -> View:
        from .common import rays

        o, d = rays(k, c2w)
        t, n, pid = self.cast(o, d, only)
        hit = np.isfinite(t)
        h, w = k.height, k.width
        xyz = np.zeros_like(o)
        xyz[hit] = o[hit] + t[hit, None] * d[hit]
        if only is not None:
            return View(np.zeros((h, w, 3), np.uint8), np.where(hit, t, 0).reshape(h, w), pid.reshape(h, w),
                        xyz.reshape(h, w, 3), hit.reshape(h, w))
        dn = d / np.linalg.norm(d, axis=1, keepdims=True)
        flip = np.sum(n * dn, 1) > 0
        n[flip] *= -1
        rgb = np.tile(self.backdrop, (h * w, 1))
        H = np.flatnonzero(hit)
        if len(H):
            P, N, V = xyz[H] + 3e-4 * n[H], n[H], -dn[H]
            alb = np.zeros((len(H), 3))
            for p in self.scene.parts:
                sel = pid[H] == p.part_id
                if sel.any():
                    alb[sel] = p.material(xyz[H][sel])
            amb = 0.5 * (1 + N[:, 2:3]) * self.sky + 0.5 * (1 - N[:, 2:3]) * self.ground
            col = alb * amb * 0.55
            cos_r = np.clip(np.sum(N * V, 1), 0, 1)
            vt = V - N * cos_r[:, None]
            vt /= np.maximum(np.linalg.norm(vt, axis=1, keepdims=True), 1e-9)
            th_r = np.arccos(cos_r)
            for L in self.lights:
                cos_i = np.clip(N @ L, 0, 1)
                lit = cos_i > 0
                ts, _, _ = self.cast(P[lit], np.broadcast_to(L, (int(lit.sum()), 3)).copy())
                vis = np.zeros(len(P))
                vis[lit] = ~np.isfinite(ts)
                lt = L[None] - N * cos_i[:, None]
                lt /= np.maximum(np.linalg.norm(lt, axis=1, keepdims=True), 1e-9)
                cphi = np.clip(np.sum(lt * vt, 1), 0, 1)
                th_i = np.arccos(cos_i)
                alpha, beta = np.maximum(th_i, th_r), np.minimum(th_i, th_r)
                on = cos_i * (self.A + self.B * cphi * np.sin(alpha) * np.tan(np.minimum(beta, 1.5)))
                col += 0.25 * (vis * on)[:, None] * alb * self.light_col
            rgb[H] = col
        # camera: auto exposure to a mid grey (jittered), filmic curve, gamma 1/2, vignette, noise
        vr = np.random.default_rng([self.seed, int.from_bytes(hashlib.sha256(np.round(c2w, 9).tobytes()).digest()[:4],
                                                              "little")])
        lum = float(np.mean(rgb @ np.array([0.3, 0.59, 0.11])))
        e = 0.42 / max(lum, 1e-3) * math.exp(vr.normal(0, 0.08))
        y = 1 - np.exp(-1.6 * e * rgb)
        j, i = np.meshgrid((np.arange(w) + 0.5 - w / 2) / (w / 2), (np.arange(h) + 0.5 - h / 2) / (w / 2))
        vig = (1 - 0.22 * (i**2 + j**2)).reshape(-1, 1)
        out = np.clip(y * vig, 0, 1) ** 0.5 + vr.normal(0, 1.2 / 255, y.shape)
        rgb8 = np.clip(np.round(out * 255), 0, 255).astype(np.uint8)
        return View(rgb8.reshape(h, w, 3), np.where(hit, t, 0).reshape(h, w), pid.reshape(h, w), xyz.reshape(h, w, 3),
                    hit.reshape(h, w))


def intrinsics(cfg: GenConfig) -> Intr:
    f = 0.5 * cfg.width / math.tan(math.radians(FOV_X_DEG) / 2)
    s = cfg.width / 256
    return Intr(f, f, cfg.width / 2 - 2.3 * s, cfg.height / 2 + 1.7 * s, cfg.width, cfg.height)


def generate(out: Path, cfg: GenConfig) -> dict:
    scene = build_scene(cfg)
    r = StudioRenderer(scene, cfg.seed, scene.extra["background"])
    k = intrinsics(cfg)
    rng = np.random.default_rng([cfg.seed, 0xCA5])
    c2ws = camera_path(cfg.path, cfg.num_views, scene.look_center, rng, tuple(scene.extra["camera_radius"]),
                       rng.uniform(0, 2 * np.pi))
    notes = ("benchmarks.generators.studio: analytic primitives ray cast in numpy, Oren-Nayar under a soft area light, "
             "auto exposure, filmic curve, vignette and noise; target centroid/bbox of its exposed surface points")
    return write_scene(out, cfg, scene, r.render, k, c2ws, notes)
