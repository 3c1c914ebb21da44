"""A ray-cast scene with known surfaces for the start-cloud tests (tests/test_triangulate.py,
tests/test_photo_start.py): a textured floor and a textured box seen by posed pinhole cameras, numpy only."""

import numpy as np

W, H = 320, 240


def texture(seed: int, n: int = 64) -> np.ndarray:
    """A blobby random RGB texture [n*8, n*8, 3] in [0, 1] (corners for SIFT at several scales)."""
    rng = np.random.default_rng(seed)
    small = rng.random((n, n, 3))
    big = np.kron(small, np.ones((8, 8, 1)))
    return 0.15 + 0.7 * big


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-to-camera [4, 4], OpenCV axes (z forward, y down), world z up."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    vm = np.eye(4)
    vm[:3, :3] = R
    vm[:3, 3] = -R @ eye
    return vm


def render(vm: np.ndarray, K: np.ndarray, tex_floor: np.ndarray, tex_box: list, box: tuple) -> np.ndarray:
    """Ray cast the floor z = 0 (texture over [-1, 1]^2) and an axis-aligned box (lo, hi) whose six faces
    carry the textures ``tex_box``; returns the [H, W, 3] uint8 image."""
    R, t = vm[:3, :3], vm[:3, 3]
    eye = -R.T @ t
    j, i = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    d_cam = np.stack([(j - K[0, 2]) / K[0, 0], (i - K[1, 2]) / K[1, 1], np.ones_like(j)], -1)
    d = d_cam @ R  # world directions (R^T d_cam, row vectors)
    img = np.full((H, W, 3), 0.5)
    best = np.full((H, W), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        tf = -eye[2] / d[..., 2]
    pf = eye + tf[..., None] * d
    ok = (tf > 0) & (np.abs(pf[..., 0]) < 1) & (np.abs(pf[..., 1]) < 1)
    n = tex_floor.shape[0]
    u = np.clip(((pf[..., 0] + 1) / 2 * n).astype(int), 0, n - 1)
    v = np.clip(((pf[..., 1] + 1) / 2 * n).astype(int), 0, n - 1)
    img[ok] = tex_floor[v[ok], u[ok]]
    best[ok] = tf[ok]
    lo, hi = (np.asarray(b, dtype=np.float64) for b in box)
    faces = [(axis, plane) for axis in range(3) for plane in (lo[axis], hi[axis])]
    for tex, (axis, plane) in zip(tex_box, faces):
        m = tex.shape[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            tb = (plane - eye[axis]) / d[..., axis]
        p = eye + tb[..., None] * d
        o1, o2 = [a for a in range(3) if a != axis]
        inside = ((tb > 0) & (tb < best) & (p[..., o1] >= lo[o1]) & (p[..., o1] <= hi[o1])
                  & (p[..., o2] >= lo[o2]) & (p[..., o2] <= hi[o2]))
        ta = np.clip(((p[..., o1] - lo[o1]) / (hi[o1] - lo[o1]) * m).astype(int), 0, m - 1)
        tb_ = np.clip(((p[..., o2] - lo[o2]) / (hi[o2] - lo[o2]) * m).astype(int), 0, m - 1)
        img[inside] = tex[ta[inside], tb_[inside]]
        best[inside] = tb[inside]
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def distance_to_scene(p: np.ndarray, box: tuple) -> np.ndarray:
    """Distance of points [M, 3] to the floor (z = 0) or the box's surface, whichever is nearer."""
    lo, hi = (np.asarray(b, dtype=np.float64) for b in box)
    d_floor = np.abs(p[:, 2])
    q = np.maximum(lo - p, 0) + np.maximum(p - hi, 0)
    outside = np.linalg.norm(q, axis=1)
    inside = np.min(np.minimum(p - lo, hi - p), axis=1)
    d_box = np.where((q > 0).any(1), outside, np.maximum(inside, 0))
    return np.minimum(d_floor, d_box)


def ring_scene(num_views: int = 16):
    """``num_views`` cameras on a ring around the box at 1.3 m, looking at its middle: (images, Ks, viewmats, box)."""
    K = np.array([[260.0, 0, W / 2], [0, 260.0, H / 2], [0, 0, 1]])
    box = ((-0.2, -0.15, 0.0), (0.2, 0.15, 0.25))
    tex_f, tex_b = texture(1), [texture(10 + f, 8) for f in range(6)]
    vms = []
    for k in range(num_views):
        az = 2 * np.pi * k / num_views
        eye = np.array([1.3 * np.cos(az), 1.3 * np.sin(az), 0.9 + 0.2 * (k % 2)])
        vms.append(look_at(eye, np.array([0.0, 0.0, 0.1])))
    vms = np.stack(vms)
    images = [render(vm, K, tex_f, tex_b, box) for vm in vms]
    return images, np.repeat(K[None], len(vms), 0), vms, box
