"""The kitchen generator's objects as triangle meshes with their materials, each in its own local frame
(base at z = 0): frying pans (body, neck, grip), pots with a lid and a knob, cans with a pull tab, the
ACRONYM mug loaded from its mesh and split into body and handle, a spatula, and the distractors
(:data:`DISTRACTORS`: bowls, bottles, boards, towels, apples, jars, a knife).
"""

from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np

from .common import box_mesh, revolve, rot_y, rot_z, sphere_mesh, transform
from .kitchen_materials import Material, cloth, flat, inside_outside, label, metal, speckled, wood


def _pan(rng, seed: int, colours=None) -> Dict[str, object]:
    """A frying pan in its local frame (base centre at the origin, the grip along +x): body, neck and
    grip meshes plus materials; the same ``seed`` gives the same pan."""
    r_rim = rng.uniform(0.10, 0.125)
    r_base = r_rim - rng.uniform(0.018, 0.026)
    h = rng.uniform(0.042, 0.055)
    wall, floor = 0.0035, 0.005
    prof = [(0.0, 0.0), (r_base - 0.006, 0.0), (r_base, 0.004), (r_rim, h), (r_rim - wall, h),
            (r_base - wall + (r_rim - r_base) * (floor + 0.004) / h, floor + 0.004), (r_base - wall - 0.006, floor),
            (0.0, floor)]
    bv, bt = revolve(prof, 72)
    # the grip: a bar 2.8 cm wide, 2.2 cm tall, its underside 2-3.2 cm above the table, tilted up 0-5 deg
    length = rng.uniform(0.11, 0.14)
    tilt = math.radians(rng.uniform(0.0, 5.0))
    under = rng.uniform(0.020, 0.032)
    neck_len = rng.uniform(0.025, 0.035)
    gx0 = r_rim + neck_len  # where the grip starts
    gc = np.array([gx0 + 0.5 * length * math.cos(tilt), 0.0, under + 0.011 + 0.5 * length * math.sin(tilt)])
    gv, gt = box_mesh((0.5 * length, 0.014, 0.011))
    gv = transform(gv, rot_y(-tilt), gc)
    # the neck: a flat bar from inside the wall into the grip's first centimetre
    z_start = gc[2] - 0.5 * length * math.sin(tilt)
    r_wall = r_base + (r_rim - r_base) * z_start / h
    n0, n1 = r_wall - 0.006, gx0 + 0.012
    nv, nt = box_mesh((0.5 * (n1 - n0), 0.009, 0.006))
    nv = nv + np.array([0.5 * (n0 + n1), 0.0, z_start])
    if colours is None:
        outs = [(0.55, 0.10, 0.08), (0.12, 0.25, 0.50), (0.62, 0.36, 0.20), (0.30, 0.30, 0.32)]
        colours = (outs[int(rng.integers(len(outs)))], bool(rng.random() < 0.5))
    c_out, wooden = colours
    body_mat = Material(inside_outside((0.10, 0.10, 0.11), c_out, seed, 0.0, 0.0), spec=0.35, shininess=60.0)
    grip_mat = (Material(wood((0.55, 0.36, 0.20), (0.36, 0.21, 0.10), seed + 3), spec=0.12, shininess=20.0, smooth=False)
                if wooden else Material(speckled((0.07, 0.07, 0.08), seed + 3, 0.25, 120.0), spec=0.25, shininess=30.0,
                                        smooth=False))
    neck_mat = Material(metal((0.62, 0.62, 0.64), seed + 5), spec=0.6, shininess=90.0, smooth=False)
    return {"body": (bv, bt, body_mat, c_out), "neck": (nv, nt, neck_mat, (0.62, 0.62, 0.64)),
            "grip": (gv, gt, grip_mat, (0.5, 0.33, 0.18) if wooden else (0.07, 0.07, 0.08)),
            "reach": gx0 + length + 0.01, "radius": r_rim, "colours": colours, "grip_centre": gc}


def _pot_and_lid(rng, seed: int) -> Dict[str, object]:
    r = rng.uniform(0.085, 0.105)
    h = rng.uniform(0.09, 0.12)
    wall = 0.004
    pv, pt = revolve([(0.0, 0.0), (r, 0.0), (r, h), (r - wall, h), (r - wall, 0.006), (0.0, 0.006)], 72)
    # the lid: a rim ring and a shallow dome, resting on the pot
    dome_h = rng.uniform(0.018, 0.028)
    rl = r + 0.006
    th = np.linspace(0.0, 1.0, 12)
    top = [(rl * (1 - t), h + 0.004 + dome_h * math.sin(0.5 * math.pi * t)) for t in th]
    lv, lt = revolve([(0.0, h), (rl, h), *top[:-1], (0.0, h + 0.004 + dome_h)], 72)
    lid_top = h + 0.004 + dome_h
    # the knob: a stem and a flat round cap (one closed profile), its foot 2 mm into the lid
    kr, ks, kh = rng.uniform(0.016, 0.021), rng.uniform(0.007, 0.009), rng.uniform(0.022, 0.03)
    z0 = lid_top - 0.002
    kv, kt = revolve([(0.0, z0), (ks, z0), (ks, z0 + 0.45 * kh), (kr, z0 + 0.55 * kh), (kr, z0 + 0.85 * kh),
                      (0.8 * kr, z0 + kh), (0.0, z0 + kh)], 48)
    # side handles of the pot
    hv, ht = [], []
    for s in (-1, 1):
        v, t = box_mesh((0.02, 0.012, 0.006))
        hv.append(v + np.array([s * (r + 0.015), 0.0, h - 0.02]))
        ht.append(t + sum(len(x) for x in hv[:-1]))
    steel = (0.66, 0.66, 0.68)
    cols = [(0.15, 0.35, 0.30), (0.55, 0.12, 0.10), steel]
    c_pot = cols[int(rng.integers(len(cols)))]
    return {"pot": (pv, pt, Material(inside_outside((0.3, 0.3, 0.31), c_pot, seed, 0, 0), 0.4, 70.0), c_pot),
            "lid": (lv, lt, Material(metal(steel, seed + 1), 0.7, 110.0), steel),
            "knob": (kv, kt, Material(speckled((0.08, 0.08, 0.09), seed + 2, 0.2), 0.3, 40.0), (0.08, 0.08, 0.09)),
            "handles": (np.concatenate(hv), np.concatenate(ht), Material(flat((0.1, 0.1, 0.1)), 0.3, 30.0, False),
                        (0.1, 0.1, 0.1)),
            "radius": r + 0.04}


def _can(rng, seed: int) -> Dict[str, object]:
    r, h = rng.uniform(0.031, 0.034), rng.uniform(0.115, 0.125)
    cv, ct = revolve([(0.0, 0.0), (r - 0.004, 0.0), (r, 0.006), (r, h - 0.008), (r - 0.005, h), (0.0, h)], 64)
    # the pull tab: a plate 2.4 x 1.4 cm lying on the lid, 2 mm proud, its rivet end at the centre
    tv, tt = box_mesh((0.012, 0.007, 0.00125))
    tv = tv + np.array([0.008, 0.0, h + 0.00075])
    bands = [(0.70, 0.05, 0.06), (0.10, 0.30, 0.60), (0.10, 0.45, 0.20), (0.85, 0.55, 0.05)]
    cb = bands[int(rng.integers(len(bands)))]
    return {"can": (cv, ct, Material(label(cb, (0.92, 0.92, 0.90), seed, 0.0, h), 0.5, 80.0), cb),
            "tab": (tv, tt, Material(metal((0.80, 0.80, 0.83), seed + 4), 0.8, 120.0, False), (0.8, 0.8, 0.83)),
            "radius": r, "height": h}


def load_acronym(path: str, scale: float) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """The mug mesh in metres, base at z = 0, axis through the origin, split into body and handle: the
    handle is the triangles whose centroid lies 1.5 mm beyond the body's radius (the median distance
    from the axis of the vertices on the side away from the farthest vertex), turned to +x."""
    import open3d as o3d

    m = o3d.io.read_triangle_mesh(str(path))
    v = np.asarray(m.vertices, dtype=np.float64) * float(scale)
    t = np.asarray(m.triangles, dtype=np.int32)
    if len(t) == 0:
        raise ValueError(f"{path}: no triangles")
    v[:, 2] -= v[:, 2].min()
    rr = np.hypot(v[:, 0], v[:, 1])
    far = int(np.argmax(rr))
    v = v @ rot_z(-math.atan2(v[far, 1], v[far, 0])).T
    back = v[:, 0] < 0
    body_r = float(np.percentile(np.hypot(v[back, 0], v[back, 1]), 90))
    cen = v[t].mean(axis=1)
    is_handle = np.hypot(cen[:, 0], cen[:, 1]) > body_r + 0.0015

    def sub(mask):
        used, inv = np.unique(t[mask].reshape(-1), return_inverse=True)
        return v[used], inv.reshape(-1, 3).astype(np.int32)

    return {"body": sub(~is_handle), "handle": sub(is_handle), "radius": float(rr.max()), "body_radius": body_r}


def _spatula(rng, seed: int) -> Dict[str, object]:
    """A spatula lying on the table, local frame: the handle (a bar 12 x 2.4 x 1.6 cm) along +x from the
    origin, a thin steel neck and blade along -x."""
    hl = rng.uniform(0.11, 0.13)
    hv, ht = box_mesh((hl / 2, 0.012, 0.008))
    hv = hv + np.array([hl / 2, 0.0, 0.008])
    nv, nt = box_mesh((0.035, 0.005, 0.0015))
    nv = nv + np.array([-0.03, 0.0, 0.0075])
    bv, bt = box_mesh((0.045, 0.035, 0.0015))
    bv = bv + np.array([-0.105, 0.0, 0.0015])
    wooden = rng.random() < 0.5
    hm = (Material(wood((0.62, 0.43, 0.25), (0.40, 0.25, 0.12), seed, axis=0), 0.1, 15.0, False) if wooden
          else Material(speckled((0.75, 0.20, 0.15), seed, 0.15), 0.2, 25.0, False))
    steel = Material(metal((0.75, 0.75, 0.77), seed + 1), 0.7, 100.0, False)
    return {"handle": (hv, ht, hm, (0.55, 0.36, 0.2) if wooden else (0.75, 0.2, 0.15)),
            "neck": (nv, nt, steel, (0.75, 0.75, 0.77)), "blade": (bv, bt, steel, (0.75, 0.75, 0.77)),
            "reach": (-0.15, hl)}


def _distractor(kind: str, rng, seed: int) -> Tuple[List[Tuple[str, np.ndarray, np.ndarray, Material, tuple]], float]:
    """[(part suffix, V, T, material, colour)], footprint radius; local frame, base at z = 0."""
    cols = [(0.80, 0.55, 0.15), (0.25, 0.55, 0.65), (0.65, 0.20, 0.35), (0.35, 0.60, 0.25), (0.85, 0.85, 0.80)]
    c = cols[int(rng.integers(len(cols)))]
    if kind == "bowl":
        r, h = rng.uniform(0.06, 0.08), rng.uniform(0.045, 0.06)
        th = np.linspace(0, 0.5 * np.pi, 10)
        outer = [(0.45 * r + 0.55 * r * math.sin(t), h * (1 - math.cos(t))) for t in th]
        inner = [(0.45 * r + 0.55 * (r - 0.005) * math.sin(t), 0.006 + (h - 0.006) * (1 - math.cos(t))) for t in th[::-1]]
        v, t = revolve([(0.0, 0.0), *outer[1:], *inner[:-1], (0.0, 0.006)], 64)
        return [("", v, t, Material(speckled(c, seed, 0.1, 60.0), 0.5, 60.0), c)], r
    if kind == "bottle":
        r, h = rng.uniform(0.03, 0.04), rng.uniform(0.18, 0.24)
        v, t = revolve([(0.0, 0.0), (r, 0.0), (r, 0.65 * h), (0.35 * r, 0.82 * h), (0.35 * r, h), (0.0, h)], 48)
        gc = (0.15, 0.45, 0.25) if rng.random() < 0.5 else (0.45, 0.25, 0.1)
        return [("", v, t, Material(speckled(gc, seed, 0.1, 40.0), 0.9, 120.0), gc)], r
    if kind == "board":
        sx, sy = rng.uniform(0.16, 0.22), rng.uniform(0.11, 0.15)
        v, t = box_mesh((sx / 2, sy / 2, 0.009))
        v = v + np.array([0, 0, 0.009])
        return [("", v, t, Material(wood((0.78, 0.62, 0.42), (0.62, 0.45, 0.28), seed, 1), 0.08, 10.0, False),
                 (0.7, 0.55, 0.35))], 0.5 * math.hypot(sx, sy)
    if kind == "towel":
        sx, sy = rng.uniform(0.14, 0.2), rng.uniform(0.10, 0.14)
        v, t = box_mesh((sx / 2, sy / 2, 0.004))
        v = v + np.array([0, 0, 0.004])
        c2 = cols[int(rng.integers(len(cols)))]
        return [("", v, t, Material(cloth((0.9, 0.9, 0.88), c2, seed), 0.0, 4.0, False), c2)], 0.5 * math.hypot(sx, sy)
    if kind == "apple":
        r = rng.uniform(0.034, 0.042)
        v, t = sphere_mesh(r, 16, 32)
        v[:, 2] *= 0.9
        v = v + np.array([0, 0, 0.9 * r])
        ac = (0.70, 0.10, 0.08) if rng.random() < 0.6 else (0.55, 0.70, 0.15)
        return [("", v, t, Material(speckled(ac, seed, 0.15, 50.0), 0.4, 50.0), ac)], r
    if kind == "jar":
        r, h = rng.uniform(0.035, 0.045), rng.uniform(0.09, 0.13)
        v, t = revolve([(0.0, 0.0), (r, 0.0), (r, h), (0.0, h)], 48)
        return [("", v, t, Material(label(c, (0.95, 0.93, 0.85), seed, 0.0, h), 0.3, 40.0), c)], r
    if kind == "knife":
        v1, t1 = box_mesh((0.055, 0.011, 0.007))
        v1 = v1 + np.array([0.055, 0, 0.007])
        v2, t2 = box_mesh((0.07, 0.012, 0.001))
        v2 = v2 + np.array([-0.07, 0, 0.004])
        return [("_handle", v1, t1, Material(speckled((0.08, 0.08, 0.08), seed, 0.2), 0.3, 30.0, False), (0.08,) * 3),
                ("_blade", v2, t2, Material(metal((0.8, 0.8, 0.82), seed), 0.8, 120.0, False), (0.8, 0.8, 0.82))], 0.13
    raise ValueError(kind)


DISTRACTORS = ("bowl", "bottle", "board", "towel", "apple", "jar", "knife")
