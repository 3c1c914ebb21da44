"""The load programs the load cases run beside point2act: ``python -m benchmarks.faults.loads torch|sim``.

- ``torch``: another torch program with 2 threads multiplying 512x512 matrices in a loop (a perception node);
- ``sim``: a physics-like simulation: pybullet stepping a scene of 200 falling boxes, and every 20 steps numpy and
  open3d work on their poses (a point cloud of the boxes' corners, a voxel downsample, its normals).

The busy loops are ``python3 -c "while True: pass"`` (:data:`benchmarks.faults.load.LOADS`).
"""

from __future__ import annotations

import sys


def torch_matmul() -> None:
    import torch

    torch.set_num_threads(2)
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    while True:
        a = torch.tanh(a @ b)


def simulation() -> None:
    import numpy as np
    import pybullet as pb

    from point2act._open3d import load

    o3d = load()
    pb.connect(pb.DIRECT)
    pb.setGravity(0, 0, -9.81)
    plane = pb.createCollisionShape(pb.GEOM_PLANE)
    pb.createMultiBody(0, plane)
    box = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=[0.05, 0.05, 0.05])
    rng = np.random.default_rng(0)
    bodies = []

    def drop():
        for b in bodies:
            pb.removeBody(b)
        bodies.clear()
        for _ in range(200):
            pos = rng.uniform([-0.5, -0.5, 0.2], [0.5, 0.5, 2.0])
            bodies.append(pb.createMultiBody(0.1, box, basePosition=pos.tolist()))

    corners = np.array([[x, y, z] for x in (-0.05, 0.05) for y in (-0.05, 0.05) for z in (-0.05, 0.05)])
    step = 0
    drop()
    while True:
        pb.stepSimulation()
        step += 1
        if step % 20 == 0:
            poses = [pb.getBasePositionAndOrientation(b) for b in bodies]
            pos = np.array([p for p, _ in poses])
            pts = (pos[:, None, :] + corners[None]).reshape(-1, 3)
            pts = np.concatenate([pts, pts + rng.normal(0, 0.01, pts.shape)])
            pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
            pc = pc.voxel_down_sample(0.01)
            pc.estimate_normals()
        if step % 2400 == 0:
            drop()


if __name__ == "__main__":
    {"torch": torch_matmul, "sim": simulation}[sys.argv[1]]()
