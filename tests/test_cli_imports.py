"""What a per-request command imports before it works: `point2act query` and `point2act export` parse their options
without typeguard (tyro imports it to check a default against an ``X | None`` annotation; point2act.cli writes
``Optional[X]``), and the grasp planner runs without open3d (its TSDF, DBSCAN, voxel grid and normals are
point2act's own) and without scipy's subpackages but its k-d tree (point2act._scipy) and scipy.sparse."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _modules_after(code: str) -> set:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("command", ["query", "export", "demo", "grasp"])
def test_parsing_a_command_does_not_import_typeguard(command, tmp_path):
    mods = _modules_after(
        "from point2act.cli import entrypoint\n"
        f"try:\n    entrypoint([{command!r}, '--help'])\nexcept SystemExit:\n    pass")
    assert "tyro" in mods
    assert "typeguard" not in mods


def test_planning_grasps_and_fusing_depth_do_not_import_open3d():
    code = (
        "import numpy as np\n"
        "from point2act.fusion import DepthViews, tsdf_fuse\n"
        "from point2act.grasp import GraspConfig, PlanningScene, plan_grasps\n"
        "from point2act.grasp.synthetic import tabletop_scene\n"
        "s = tabletop_scene(seed=0)\n"
        "res = plan_grasps(PlanningScene(s['means'], s['opacities'], s['relevancy'], "
        "camera_centers=s['camera_centers'], scales=s['scales']), GraspConfig())\n"
        "assert res.grasps, res.warning\n"
        "K = np.array([[60.0, 0, 32], [0, 60.0, 24], [0, 0, 1]])\n"
        "d = np.full((1, 48, 64), 0.5, np.float32)\n"
        "pts = tsdf_fuse(DepthViews(d, None, K[None], np.eye(4)[None]), np.array([0, 0, 0.5]), 0.2, 0.01)\n"
        "assert len(pts) > 0\n")
    mods = _modules_after(code)
    assert {"point2act.grasp.planner", "point2act.grasp.tsdf", "scipy.spatial._ckdtree"} <= mods
    assert "open3d" not in mods
    assert not {"scipy.spatial", "scipy.spatial.transform", "scipy.special", "scipy.sparse.csgraph",
                "scipy.linalg"} & mods
