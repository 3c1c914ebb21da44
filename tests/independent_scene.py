"""An independent synthetic capture for tests, written from scratch (numpy only): it shares no code,
objects, camera path or file layout choices with ``point2act.synth``, so a test that passes on it
does not pass because the generator and the pipeline share an assumption.

The scene (metres, z up, the table top is z = 0):

- a round table (disk, radius 0.45 m) with a two-tone checker, in front of a plain single-colour
  background (what a ray that misses everything sees);
- the target object: a box (a small cabinet, 14 x 9 x 8 cm) with a spherical **knob** on its front
  face -- the knob is the target part;
- distractors: a sphere (a ball) and a cone, both resting on the table.

Cameras: two rings at different heights (a low ring and a high ring, azimuths offset by half a
step), every camera looking at a point a little above the table centre. Pinhole, no distortion,
160 x 120 pixels. Shading: Lambertian with one directional light plus ambient; no shadows.

Written like a capture a user has: ``transforms.json`` in nerfstudio's format (OpenGL camera-to-
world, ``fl_x``, ``fl_y``, ``cx``, ``cy``, ``w``, ``h``, ``camera_model``), ``images/NNN.png``, and **no
point cloud** (no ``ply_file_path``: splatfacto starts from random points). Beside it, for tests
only (nerfstudio reads none of it): ``points.json`` (a points file from the ground truth: the
visible knob pixel nearest to the centroid of the visible knob pixels, ``[]`` where the knob is
hidden or covers fewer than ``min_visible_px`` pixels), ``ground_truth.json`` (the knob's 3D bbox
and centre, part ids) and ``labels/NNN.npy`` / ``depth/NNN.npy`` (per-pixel part id and z-depth).

Ray convention (nerfstudio's): the ray of pixel (row i, column j) goes through image coordinates
(j + 0.5, i + 0.5); camera direction ((u - cx) / fx, -(v - cy) / fy, -1), rotated by c2w[:3, :3].
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

BACKGROUND = 0
TABLE = 1
CABINET = 2
KNOB = 3
BALL = 4
CONE = 5
PART_NAMES = {BACKGROUND: "background", TABLE: "table", CABINET: "cabinet", KNOB: "knob", BALL: "ball", CONE: "cone"}
TARGET = KNOB
PROMPT = "Point to the knob of the cabinet"

_INF = np.inf


@dataclass
class IndependentSceneConfig:
    width: int = 160
    height: int = 120
    fov_x_deg: float = 62.0
    low_ring: Tuple[int, float, float] = (12, 0.44, 22.0)
    """(views, distance from the look-at point in m, elevation in degrees) of the low ring."""
    high_ring: Tuple[int, float, float] = (12, 0.38, 52.0)
    """The same for the high ring (its azimuths are offset by half a step)."""
    look_at: Tuple[float, float, float] = (0.0, 0.0, 0.05)
    azimuth0_deg: float = -75.0
    """Azimuth of the first low-ring camera (0: on +x; the knob faces -y, i.e. azimuth -90)."""
    background: Tuple[float, float, float] = (0.62, 0.66, 0.72)
    min_visible_px: int = 6
    """A view whose knob covers fewer pixels gets ``[]`` in points.json."""
    seed: int = 7
    """Only for the tiny per-camera jitter of the look-at point."""
    look_at_jitter: float = 0.01
    point_cloud: int = 0
    """Diagnosis only: > 0 writes that many surface points (from the depth maps, with colours) as
    ``sparse_pc.ply`` and ``ply_file_path``; the default 0 writes none, as the tests use it."""


@dataclass
class Scene:
    """Analytic primitives (all metres)."""

    table_radius: float = 0.45
    cabinet_min: Tuple[float, float, float] = (-0.07, -0.045, 0.0)
    cabinet_max: Tuple[float, float, float] = (0.07, 0.045, 0.08)
    knob_centre: Tuple[float, float, float] = (0.0, -0.045 - 0.014, 0.045)
    knob_radius: float = 0.018
    ball_centre: Tuple[float, float, float] = (0.16, 0.10, 0.04)
    ball_radius: float = 0.04
    cone_base: Tuple[float, float, float] = (-0.15, 0.12, 0.0)
    cone_radius: float = 0.045
    cone_height: float = 0.11
    colours: Dict[int, Tuple[float, float, float]] = field(default_factory=lambda: {
        CABINET: (0.30, 0.42, 0.70), KNOB: (0.85, 0.20, 0.15), BALL: (0.25, 0.65, 0.30), CONE: (0.90, 0.75, 0.20),
    })
    light: Tuple[float, float, float] = (0.4, -0.5, 0.75)


# ------------------------------------------------------------------------------------------------
# ray casting: each returns (t [N], normal [N, 3]) with t = inf where the ray misses
# ------------------------------------------------------------------------------------------------
def _plane_z0_disk(o, d, radius):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -o[:, 2] / d[:, 2]
    t = np.where((d[:, 2] < -1e-9) & (t > 1e-6), t, _INF)
    p = o + d * np.where(np.isfinite(t), t, 0.0)[:, None]
    t = np.where(p[:, 0] ** 2 + p[:, 1] ** 2 <= radius**2, t, _INF)
    n = np.broadcast_to(np.array([0.0, 0.0, 1.0]), o.shape).copy()
    return t, n


def _box(o, d, lo, hi):
    lo, hi = np.asarray(lo), np.asarray(hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1, t2 = (lo - o) * inv, (hi - o) * inv
    tmin = np.nanmax(np.minimum(t1, t2), axis=1)
    tmax = np.nanmin(np.maximum(t1, t2), axis=1)
    hit = (tmax >= tmin) & (tmin > 1e-6)
    t = np.where(hit, tmin, _INF)
    p = o + d * np.where(hit, tmin, 0.0)[:, None]
    # the face: the axis where the hit point is on the boundary
    c, half = (lo + hi) / 2, (hi - lo) / 2
    q = (p - c) / half
    axis = np.argmax(np.abs(q), axis=1)
    n = np.zeros_like(o)
    n[np.arange(len(o)), axis] = np.sign(q[np.arange(len(o)), axis])
    return t, n


def _sphere(o, d, c, r):
    oc = o - np.asarray(c)
    b = np.sum(oc * d, axis=1)
    cc = np.sum(oc * oc, axis=1) - r * r
    disc = b * b - cc
    sq = np.sqrt(np.maximum(disc, 0.0))
    t0, t1 = -b - sq, -b + sq
    t = np.where(t0 > 1e-6, t0, np.where(t1 > 1e-6, t1, _INF))
    t = np.where(disc >= 0, t, _INF)
    p = o + d * np.where(np.isfinite(t), t, 0.0)[:, None]
    n = (p - np.asarray(c)) / r
    return t, n


def _cone(o, d, base, radius, height):
    """Upright cone: apex at base + (0, 0, height), radius shrinking linearly; with its base disk."""
    apex = np.asarray(base) + np.array([0.0, 0.0, height])
    k = (radius / height) ** 2
    co = o - apex
    # x^2 + y^2 = k z^2 (z <= 0 below the apex)
    a = d[:, 0] ** 2 + d[:, 1] ** 2 - k * d[:, 2] ** 2
    b = 2 * (co[:, 0] * d[:, 0] + co[:, 1] * d[:, 1] - k * co[:, 2] * d[:, 2])
    c = co[:, 0] ** 2 + co[:, 1] ** 2 - k * co[:, 2] ** 2
    disc = b * b - 4 * a * c
    sq = np.sqrt(np.maximum(disc, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r1, r2 = (-b - sq) / (2 * a), (-b + sq) / (2 * a)
    best = np.full(len(o), _INF)
    for r in (r1, r2):
        z = co[:, 2] + r * d[:, 2]
        ok = (disc >= 0) & np.isfinite(r) & (r > 1e-6) & (z <= 0) & (z >= -height)
        best = np.where(ok & (r < best), r, best)
    p = o + d * np.where(np.isfinite(best), best, 0.0)[:, None] - apex
    n = np.stack([p[:, 0], p[:, 1], -k * p[:, 2]], axis=1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    # base disk (z = base z), seen from below only (the table hides it): kept for completeness
    with np.errstate(divide="ignore", invalid="ignore"):
        tb = (base[2] - o[:, 2]) / d[:, 2]
    pb = o + d * np.where(np.isfinite(tb), tb, 0.0)[:, None]
    onb = (tb > 1e-6) & ((pb[:, 0] - base[0]) ** 2 + (pb[:, 1] - base[1]) ** 2 <= radius**2)
    use_b = onb & (tb < best)
    best = np.where(use_b, tb, best)
    n[use_b] = np.array([0.0, 0.0, -1.0])
    return best, n


def cast(scene: Scene, o: np.ndarray, d: np.ndarray):
    """First hit along each ray: (t [N], part id [N], normal [N, 3], point [N, 3])."""
    hits = [
        (TABLE, _plane_z0_disk(o, d, scene.table_radius)),
        (CABINET, _box(o, d, scene.cabinet_min, scene.cabinet_max)),
        (KNOB, _sphere(o, d, scene.knob_centre, scene.knob_radius)),
        (BALL, _sphere(o, d, scene.ball_centre, scene.ball_radius)),
        (CONE, _cone(o, d, scene.cone_base, scene.cone_radius, scene.cone_height)),
    ]
    t = np.full(len(o), _INF)
    part = np.full(len(o), BACKGROUND, dtype=np.uint8)
    normal = np.zeros_like(o)
    for pid, (tp, n) in hits:
        closer = tp < t
        t = np.where(closer, tp, t)
        part[closer] = pid
        normal[closer] = n[closer]
    point = o + d * np.where(np.isfinite(t), t, 0.0)[:, None]
    return t, part, normal, point


def _albedo(scene: Scene, part: np.ndarray, point: np.ndarray) -> np.ndarray:
    out = np.zeros((len(part), 3))
    for pid, col in scene.colours.items():
        out[part == pid] = col
    # the table: a 5 cm two-tone checker (texture for the reconstruction)
    tb = part == TABLE
    chk = (np.floor(point[tb, 0] / 0.05) + np.floor(point[tb, 1] / 0.05)) % 2
    out[tb] = np.where(chk[:, None] > 0, [0.78, 0.66, 0.50], [0.60, 0.48, 0.34])
    # the cabinet: lighter horizontal bands every 2 cm; the ball and cone: meridian stripes
    cb = part == CABINET
    top = point[cb, 2] > scene.cabinet_max[2] - 1e-6
    band = (np.floor(point[cb, 2] / 0.02 + 1e-6) % 2 > 0) | top
    out[cb] *= np.where(band[:, None], 1.0, 0.8)
    for pid, centre in ((BALL, scene.ball_centre), (CONE, scene.cone_base)):
        m = part == pid
        ang = np.arctan2(point[m, 1] - centre[1], point[m, 0] - centre[0])
        out[m] *= np.where((np.floor(ang / (np.pi / 6)) % 2)[:, None] > 0, 1.0, 0.75)
    return out


# ------------------------------------------------------------------------------------------------
# cameras
# ------------------------------------------------------------------------------------------------
def look_at_c2w(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """OpenGL camera-to-world (x right, y up, looking along -z), z-up world."""
    fwd = target - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, up, -fwd, eye
    return m


def camera_path(cfg: IndependentSceneConfig) -> List[np.ndarray]:
    rng = np.random.default_rng(cfg.seed)
    look = np.asarray(cfg.look_at, dtype=np.float64)
    poses = []
    for ring, (n, dist, elev) in enumerate((cfg.low_ring, cfg.high_ring)):
        step = 360.0 / n
        for k in range(n):
            az = math.radians(cfg.azimuth0_deg + k * step + (step / 2 if ring else 0.0))
            el = math.radians(elev)
            eye = look + dist * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
            target = look + rng.uniform(-cfg.look_at_jitter, cfg.look_at_jitter, 3)
            poses.append(look_at_c2w(eye, target))
    return poses


def intrinsics(cfg: IndependentSceneConfig) -> Dict[str, float]:
    f = (cfg.width / 2) / math.tan(math.radians(cfg.fov_x_deg) / 2)
    return {"fl_x": f, "fl_y": f, "cx": cfg.width / 2, "cy": cfg.height / 2, "w": cfg.width, "h": cfg.height}


def pixel_rays(c2w: np.ndarray, K: Dict[str, float], w: int, h: int):
    """World origins and unit directions [h * w, 3] of every pixel, row-major."""
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    dc = np.stack([(jj - K["cx"]) / K["fl_x"], -(ii - K["cy"]) / K["fl_y"], -np.ones_like(jj)], axis=-1)
    dw = dc.reshape(-1, 3) @ c2w[:3, :3].T
    zlen = np.linalg.norm(dw, axis=1)  # |d| for unit camera z: z-depth = t / |d| after normalising
    dw = dw / zlen[:, None]
    o = np.broadcast_to(c2w[:3, 3], dw.shape).copy()
    return o, dw, zlen


def project(points: np.ndarray, c2w: np.ndarray, K: Dict[str, float]):
    """World points [N, 3] -> (pixel coordinates [N, 2] (x right, y down, origin top-left), z-depth [N])."""
    w2c = np.linalg.inv(c2w)
    pc = points @ w2c[:3, :3].T + w2c[:3, 3]
    z = -pc[:, 2]
    u = K["fl_x"] * pc[:, 0] / z + K["cx"]
    v = -K["fl_y"] * pc[:, 1] / z + K["cy"]
    return np.stack([u, v], axis=1), z


def render_view(scene: Scene, cfg: IndependentSceneConfig, c2w: np.ndarray):
    """(rgb uint8 [h, w, 3], part id [h, w], z-depth [h, w] (inf on the background))."""
    K = intrinsics(cfg)
    o, d, zlen = pixel_rays(c2w, K, cfg.width, cfg.height)
    t, part, normal, point = cast(scene, o, d)
    light = np.asarray(scene.light, dtype=np.float64)
    light /= np.linalg.norm(light)
    # normals face the camera (the cone's inside, seen through its rim, never shows here)
    normal = np.where((np.sum(normal * d, axis=1) > 0)[:, None], -normal, normal)
    shade = 0.35 + 0.65 * np.clip(normal @ light, 0.0, 1.0)
    rgb = _albedo(scene, part, point) * shade[:, None]
    rgb[part == BACKGROUND] = cfg.background
    img = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8).reshape(cfg.height, cfg.width, 3)
    depth = np.where(np.isfinite(t), t / zlen, np.inf).reshape(cfg.height, cfg.width)
    return img, part.reshape(cfg.height, cfg.width), depth


def target_bbox(scene: Scene) -> Tuple[np.ndarray, np.ndarray]:
    c, r = np.asarray(scene.knob_centre), scene.knob_radius
    return c - r, c + r


def point_for_view(labels: np.ndarray, min_px: int) -> List[List[float]]:
    """The visible target pixel nearest to the centroid of the visible target pixels (its centre),
    or [] when fewer than ``min_px`` pixels of the target are visible."""
    ii, jj = np.nonzero(labels == TARGET)
    if len(ii) < min_px:
        return []
    ci, cj = ii.mean(), jj.mean()
    k = int(np.argmin((ii - ci) ** 2 + (jj - cj) ** 2))
    return [[float(jj[k]) + 0.5, float(ii[k]) + 0.5]]


def generate_independent_scene(out: Path, cfg: IndependentSceneConfig | None = None) -> Dict[str, object]:
    """Write the capture to ``out``; returns the ground truth (also in ``out/ground_truth.json``)."""
    from PIL import Image

    cfg = cfg or IndependentSceneConfig()
    scene = Scene()
    out = Path(out)
    for sub in ("images", "labels", "depth"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    K = intrinsics(cfg)
    frames, points, cloud = [], {}, []
    rng = np.random.default_rng(cfg.seed + 1)
    for i, c2w in enumerate(camera_path(cfg)):
        img, labels, depth = render_view(scene, cfg, c2w)
        if cfg.point_cloud > 0:
            ii, jj = np.nonzero(np.isfinite(depth))
            k = rng.choice(len(ii), min(len(ii), cfg.point_cloud // 24 + 1), replace=False)
            ii, jj = ii[k], jj[k]
            z = depth[ii, jj].astype(np.float64)
            pc = np.stack([(jj + 0.5 - K["cx"]) / K["fl_x"] * z, -(ii + 0.5 - K["cy"]) / K["fl_y"] * z, -z], 1)
            cloud.append(np.concatenate([pc @ c2w[:3, :3].T + c2w[:3, 3], img[ii, jj].astype(np.float64)], 1))
        key = f"images/{i:03d}.png"
        Image.fromarray(img).save(out / key)
        np.save(out / f"labels/{i:03d}.npy", labels)
        np.save(out / f"depth/{i:03d}.npy", depth.astype(np.float32))
        frames.append({"file_path": key, "transform_matrix": c2w.tolist()})
        points[key] = point_for_view(labels, cfg.min_visible_px)
    meta = {"camera_model": "OPENCV", **K, "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "frames": frames}
    if cloud:
        c = np.concatenate(cloud)
        head = ("ply\nformat ascii 1.0\nelement vertex %d\nproperty float x\nproperty float y\nproperty float z\n"
                "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n" % len(c))
        body = "".join("%.6f %.6f %.6f %d %d %d\n" % tuple(r) for r in c)
        (out / "sparse_pc.ply").write_text(head + body)
        meta["ply_file_path"] = "sparse_pc.ply"
    (out / "transforms.json").write_text(json.dumps(meta, indent=1))
    (out / "points.json").write_text(json.dumps({"prompt": PROMPT, "coordinates": "pixels", "points": points},
                                                indent=1))
    lo, hi = target_bbox(scene)
    gt = {
        "target": PART_NAMES[TARGET], "target_id": TARGET, "prompt": PROMPT, "units": "metres",
        "bbox_min": lo.tolist(), "bbox_max": hi.tolist(), "centre": list(scene.knob_centre),
        "parts": {str(k): v for k, v in PART_NAMES.items()},
        "views_with_target": sum(1 for v in points.values() if v), "views": len(points),
        "config": asdict(cfg), "scene": {k: v for k, v in asdict(scene).items() if k != "colours"},
    }
    (out / "ground_truth.json").write_text(json.dumps(gt, indent=1))
    return gt


if __name__ == "__main__":  # python tests/independent_scene.py OUT
    import sys

    print(json.dumps(generate_independent_scene(Path(sys.argv[1])), indent=1)[:2000])
