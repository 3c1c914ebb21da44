"""Ray-cast renderer for :class:`~point2act.synth.scene.TabletopScene` (open3d + numpy).

One primary ray per pixel centre through ``open3d.t.geometry.RaycastingScene``; the hit
gives z-depth, the part id (one geometry per part, so masks are exact) and the world
position where the procedural albedo is evaluated. Shading is Lambertian with a fixed
directional light, an ambient term and ray-traced hard shadows; misses get a soft sky
gradient. No anti-aliasing, so RGB, depth and mask agree pixel for pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from point2act._open3d import load as load_open3d

from point2act.synth.camera import Intrinsics, camera_rays
from point2act.synth.config import PART_BACKGROUND, SynthConfig
from point2act.synth.scene import TabletopScene

SKY_HORIZON = np.array([0.86, 0.88, 0.90])
SKY_ZENITH = np.array([0.56, 0.68, 0.86])


@dataclass
class RenderedView:
    """Everything one view produces."""

    rgb: np.ndarray
    """(H, W, 3) uint8."""
    depth: np.ndarray
    """(H, W) float32 z-depth in metres along the camera's viewing axis; 0 where no hit."""
    part: np.ndarray
    """(H, W) uint8 part ids (0 = background)."""
    xyz: np.ndarray
    """(H, W, 3) float32 world hit points (undefined where ``hit`` is False)."""
    hit: np.ndarray
    """(H, W) bool."""


class Renderer:
    """Holds the ray-casting acceleration structure of one scene."""

    def __init__(self, scene: TabletopScene, config: SynthConfig) -> None:
        o3d = load_open3d()

        self._o3d = o3d
        self.scene = scene
        self.config = config
        self.rc = o3d.t.geometry.RaycastingScene()
        self.part_of_geometry: dict[int, int] = {}
        for part in scene.parts:
            gid = self.rc.add_triangles(
                o3d.core.Tensor(part.vertices.astype(np.float32)),
                o3d.core.Tensor(part.triangles.astype(np.uint32)),
            )
            self.part_of_geometry[int(gid)] = part.part_id
        self.parts_by_id = {p.part_id: p for p in scene.parts}
        light = np.asarray(config.light_dir, dtype=np.float64)
        self.light = light / np.linalg.norm(light)

    def render(self, k: Intrinsics, c2w: np.ndarray) -> RenderedView:
        """Render one view for an OpenGL camera-to-world ``c2w`` (4, 4)."""
        o3d = self._o3d
        h, w = k.height, k.width
        rays = camera_rays(k, c2w).reshape(-1, 6)  # (HW, 6)
        ans = self.rc.cast_rays(o3d.core.Tensor(rays))
        t = ans["t_hit"].numpy()  # (HW,)
        gid = ans["geometry_ids"].numpy().astype(np.int64)  # (HW,)
        normals = ans["primitive_normals"].numpy().astype(np.float64)  # (HW, 3)
        hit = np.isfinite(t)

        part = np.full(h * w, PART_BACKGROUND, dtype=np.uint8)
        lut = np.zeros(max(self.part_of_geometry) + 1, dtype=np.uint8)
        for g, pid in self.part_of_geometry.items():
            lut[g] = pid
        part[hit] = lut[gid[hit]]

        d = rays[:, 3:].astype(np.float64)
        o = rays[:, :3].astype(np.float64)
        xyz = np.zeros((h * w, 3), dtype=np.float64)
        xyz[hit] = o[hit] + t[hit, None] * d[hit]
        depth = np.where(hit, t, 0.0).astype(np.float32)  # z-depth: d has unit axial component

        # Background: sky gradient by elevation of the ray.
        dn = d / np.linalg.norm(d, axis=1, keepdims=True)
        s = np.clip(dn[:, 2] * 2.0 + 0.3, 0.0, 1.0)[:, None]
        rgb = (1.0 - s) * SKY_HORIZON[None] + s * SKY_ZENITH[None]

        # Lambertian shading with normals facing the camera.
        n = normals[hit]
        flip = np.sum(n * d[hit], axis=1) > 0
        n[flip] *= -1.0
        ndl = np.clip(n @ self.light, 0.0, 1.0)
        if self.config.shadows:
            origin = xyz[hit] + 3e-4 * n
            srays = np.concatenate([origin, np.broadcast_to(self.light, origin.shape)], axis=1)
            occluded = self.rc.test_occlusions(o3d.core.Tensor(srays.astype(np.float32))).numpy()
            ndl = np.where(occluded, 0.0, ndl)
        amb = self.config.ambient
        shade = amb + (1.0 - amb) * ndl  # (M,)

        albedo = np.zeros((int(hit.sum()), 3))
        part_hit = part[hit]
        pts = xyz[hit]
        for pid, p in self.parts_by_id.items():
            sel = part_hit == pid
            if np.any(sel):
                albedo[sel] = p.albedo(pts[sel])
        rgb[hit] = albedo * shade[:, None]
        rgb8 = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)

        return RenderedView(
            rgb=rgb8.reshape(h, w, 3),
            depth=depth.reshape(h, w),
            part=part.reshape(h, w),
            xyz=xyz.astype(np.float32).reshape(h, w, 3),
            hit=hit.reshape(h, w),
        )
