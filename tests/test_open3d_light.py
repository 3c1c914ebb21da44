"""point2act._open3d: open3d imported without plotly and dash, its plotly viewer still there when called."""

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_open3d_loads_without_plotly_and_dash_and_works():
    out = _run("""
        import sys
        import numpy as np
        from point2act._open3d import load
        o3d = load()
        assert "dash" not in sys.modules and "plotly" not in sys.modules, "the viewer's imports came in"
        pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.random.default_rng(0).random((200, 3))))
        pc.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=0.3, max_nn=20))
        vol = o3d.pipelines.integration.UniformTSDFVolume(length=1.0, resolution=16, sdf_trunc=0.1,
            color_type=o3d.pipelines.integration.TSDFVolumeColorType.NoColor)
        assert load() is o3d
        print(len(pc.normals), type(vol).__name__)
    """)
    assert out == "200 UniformTSDFVolume"


def test_open3d_plotly_viewer_is_imported_on_first_call():
    out = _run("""
        import sys
        import numpy as np
        from point2act._open3d import load
        o3d = load()
        pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.zeros((3, 3))))
        fig = o3d.visualization.get_plotly_fig([pc])
        import open3d.visualization.draw_plotly as real
        assert not getattr(real, "__point2act_stand_in__", False)
        print(type(fig).__module__.split(".")[0], "dash" in sys.modules)
    """)
    assert out == "plotly True"
