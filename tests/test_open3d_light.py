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


def _write_ply(path, header_props, rec, fmt="binary_little_endian"):
    head = f"ply\nformat {fmt} 1.0\nelement vertex {len(rec)}\n" + "".join(f"property {p}\n" for p in header_props)
    path.write_bytes((head + "end_header\n").encode() + rec.tobytes())


def test_ply_clouds_are_open3ds_values(tmp_path):
    """plyfile's reading of a cloud's vertices against open3d's: the same float64 points and colours (uchar / 255.0),
    with and without colours; what it does not read (float colours, not a PLY) is left to open3d."""
    import numpy as np

    from point2act._open3d import load, read_ply_cloud

    rng = np.random.default_rng(0)
    rec = np.empty(500, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
    for k in "xyz":
        rec[k] = rng.normal(size=500)
    for k in "rgb":
        rec[k] = rng.integers(0, 256, 500)
    rec["r"][:256] = np.arange(256)  # every byte value: c / 255.0 as open3d divides
    _write_ply(tmp_path / "c.ply", ["float x", "float y", "float z", "uchar red", "uchar green", "uchar blue"], rec)
    plain = np.ascontiguousarray(rng.normal(size=(300, 3)))
    _write_ply(tmp_path / "p.ply", ["double x", "double y", "double z"], plain.view([("x", "<f8"), ("y", "<f8"), ("z", "<f8")]).ravel())
    o3d = load()
    for name in ("c.ply", "p.ply"):
        got, want = read_ply_cloud(tmp_path / name), o3d.io.read_point_cloud(str(tmp_path / name))
        assert got.points.tobytes() == np.asarray(want.points).tobytes()
        assert got.has_colors() == want.has_colors()
        assert got.colors.reshape(-1, 3).tobytes() == np.asarray(want.colors).reshape(-1, 3).tobytes()
    fcol = np.zeros(4, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "<f4"), ("green", "<f4"), ("blue", "<f4")])
    _write_ply(tmp_path / "f.ply", ["float x", "float y", "float z", "float red", "float green", "float blue"], fcol)
    (tmp_path / "n.ply").write_text("not a ply")
    assert read_ply_cloud(tmp_path / "f.ply") is None and read_ply_cloud(tmp_path / "n.ply") is None


def test_ply_reader_stand_in_reads_without_open3d_and_gives_the_real_module_for_anything_else(tmp_path):
    import numpy as np

    rec = np.zeros(3, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    rec["x"] = [1, 2, 3]
    _write_ply(tmp_path / "a.ply", ["float x", "float y", "float z"], rec)
    out = _run(f"""
        import sys
        from point2act._open3d import ply_reader
        with ply_reader():
            import open3d as o3d
            pc = o3d.io.read_point_cloud({str(tmp_path / "a.ply")!r})
            print(pc.points[:, 0].tolist(), "open3d.geometry" in sys.modules)
            print(type(o3d.geometry.PointCloud()).__name__, "open3d.geometry" in sys.modules)
        import open3d
        print(getattr(open3d, "__point2act_stand_in__", False), hasattr(open3d, "pipelines"))
    """)
    assert out.splitlines() == ["[1.0, 2.0, 3.0] False", "PointCloud True", "False True"]
