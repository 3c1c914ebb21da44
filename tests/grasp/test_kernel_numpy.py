"""The grasp head's C++ kernels as a torch-free extension (point2act.grasp._kernel, point2act._cpp
.PybindExtension): they plan grasps in a process that never imports torch, take and return numpy arrays, check
their inputs, never write into them, and build into a cache whose key follows the sources (not torch) and
whose module appears whole or not at all."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from point2act import _cpp
from point2act.grasp import _kernel

ROOT = Path(__file__).resolve().parents[2]
OPS = ("contact_candidates", "occupancy_counts", "closing_extent", "grasp_part", "pads_window", "gripper_cloud_hits",
       "ransac_plane_scores", "surface_normals")  # the planner's ops (tsdf_fuse: tests/grasp/test_tsdf.py)


def ext_or_skip():
    try:
        return _kernel.load_extension()
    except Exception as e:  # pragma: no cover - no compiler here
        pytest.skip(f"no CPU extension: {e}")


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, timeout=600)


def test_grasps_are_planned_through_the_kernels_without_torch():
    """A process plans grasps on a tabletop scene and counts occupancy: every op comes from the extension
    (not the numpy fallback), the occupancy equals its reference, and torch is never imported."""
    ext_or_skip()  # built here (once per cache), so that the child does not time its own build
    out = _run("""
        import sys
        import numpy as np
        import point2act.grasp as g
        from point2act.grasp import _kernel
        from point2act.grasp.occupancy import GridViews, occupancy_counts, occupancy_counts_reference
        from point2act.grasp.synthetic import tabletop_scene

        got = {}
        kernel = _kernel.kernel
        def spy(name):
            op = kernel(name)
            got[name] = got.get(name, True) and op is not None
            return op
        _kernel.kernel = spy
        s = tabletop_scene(seed=0)
        r = g.plan_grasps(g.PlanningScene(s["means"], s["opacities"], s["relevancy"],
                                          camera_centers=s["camera_centers"]), g.GraspConfig())
        assert r.grasps, r
        rng = np.random.default_rng(0)
        C, H, W = 2, 30, 40
        depth = rng.uniform(0.5, 2.0, (C, H, W)).astype(np.float32)
        R = np.stack([np.eye(3)] * C).astype(np.float32)
        t = np.array([[0.0, 0.0, 1.0], [0.05, -0.02, 1.1]], np.float32)
        intr = np.tile([30.0, 30.0, 20.0, 15.0], (C, 1)).astype(np.float32)
        ax = np.linspace(-0.4, 0.4, 24).astype(np.float32)
        h, m = occupancy_counts(GridViews(depth, R, t, intr), (ax, ax, ax), 0.05, 0.02, 0.02)
        h0, m0 = occupancy_counts_reference(GridViews(depth, R, t, intr), (ax, ax, ax), 0.05, 0.02, 0.02)
        assert h.dtype == np.int16 and np.array_equal(h, h0) and np.array_equal(m, m0) and h.sum() > 0
        assert all(_kernel.kernel(n) is not None for n in %r)
        print(sorted(n for n, ok in got.items() if ok))
        print("torch" in sys.modules)
    """ % (OPS,))
    assert out.returncode == 0, out.stderr
    used, torch_loaded = out.stdout.split("\n")[-3:-1]
    assert used == str(sorted(OPS)), used
    assert torch_loaded == "False"


def test_loading_the_extension_imports_no_torch():
    ext_or_skip()
    out = _run("""
        import sys
        import point2act.grasp._kernel as k
        m = k.load_extension()
        assert m.__file__.endswith(".so") and k.EXTENSION.build_dir().name in m.__file__
        print(sorted(n for n in sys.modules if n == "torch" or n.startswith("torch.")))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_build_key_follows_the_sources_and_flags_not_torch(tmp_path, monkeypatch):
    """The key hashes the sources, flags, pybind11 and Python: a changed source or flag is a new key; torch's
    version is not in it (the base Extension's key, built against torch, does change with it)."""
    src = tmp_path / "csrc"
    src.mkdir()
    (src / "a.cpp").write_text("int a() { return 1; }\n")
    (src / "a.h").write_text("#pragma once\n")
    ext = _cpp.PybindExtension("t", src, "test")
    flags = ["-O3", "-fopenmp"]
    feats = "fpu sse2 avx2 fma"
    key = ext.build_key(feats, flags)
    assert key == ext.build_key(feats, flags) and key.startswith("cpu")
    assert key != _kernel.EXTENSION.build_key(feats, flags)  # other sources
    assert key != ext.build_key(feats, ["-O2", "-fopenmp"])  # other flags
    other_cpu = ext.build_key(feats + " avx512f", flags)
    assert other_cpu.split("-")[0] != key.split("-")[0] and other_cpu.split("-")[1] == key.split("-")[1]
    (src / "a.cpp").write_text("int a() { return 2; }\n")
    changed = ext.build_key(feats, flags)
    assert changed != key
    (src / "a.h").write_text("#pragma once\n// a comment\n")
    assert ext.build_key(feats, flags) != changed  # a header too
    (src / "a.cpp").write_text("int a() { return 1; }\n")
    (src / "a.h").write_text("#pragma once\n")
    assert ext.build_key(feats, flags) == key

    import types

    fake = types.ModuleType("torch")
    fake.__version__ = "0.0.0+not-torch"
    monkeypatch.setitem(sys.modules, "torch", fake)
    assert ext.build_key(feats, flags) == key
    base = _cpp.Extension("t", src, "test")
    k0 = base.build_key(feats, flags)
    fake.__version__ = "0.0.1+not-torch"
    assert base.build_key(feats, flags) != k0  # the torch extensions' keys do follow torch
    assert ext.build_key(feats, flags) == key


def test_the_key_is_computed_without_torch():
    out = _run("""
        import sys
        from point2act.grasp import _kernel
        print(_kernel.EXTENSION.build_key())
        print("torch" in sys.modules)
    """)
    assert out.returncode == 0, out.stderr
    key, torch_loaded = out.stdout.split()
    assert key == _kernel.EXTENSION.build_key() and torch_loaded == "False"


TINY = """
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace py = pybind11;

PYBIND11_MODULE(P2A_EXTENSION_NAME, m) {
    m.def("twice", [](py::array_t<double, py::array::c_style | py::array::forcecast> a) {
        py::array_t<double> out(a.size());
        for (py::ssize_t i = 0; i < a.size(); ++i) out.mutable_data()[i] = 2 * a.data()[i];
        return out;
    });
}
"""


def test_a_build_is_whole_or_absent_and_two_processes_share_it(tmp_path):
    """Two processes load a new extension at once: one builds (the other waits on the lock), both load the
    same module, no temporary file is left; a broken module file is built again."""
    src = tmp_path / "csrc"
    src.mkdir()
    (src / "tiny.cpp").write_text(TINY)
    cache = tmp_path / "cache"
    code = f"""
        import sys
        import numpy as np
        from pathlib import Path
        from point2act import _cpp
        ext = _cpp.PybindExtension("tiny", Path(r"{src}"), "tiny test extension")
        m = ext.load()
        assert m.twice(np.arange(3.0)).tolist() == [0.0, 2.0, 4.0]
        assert "torch" not in sys.modules
        print(m.__file__)
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TORCH_EXTENSIONS_DIR": str(cache)}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    files = {out.strip() for out, _ in outs}
    assert len(files) == 1
    so = Path(files.pop())
    assert sum(err.count("building tiny test extension") for _, err in outs) == 1
    assert sorted(p.name for p in so.parent.iterdir()) == sorted([so.name, "build.lock"])
    so.write_bytes(b"not a shared object")
    out = _run(code, TORCH_EXTENSIONS_DIR=str(cache))
    assert out.returncode == 0, out.stderr
    assert "building tiny test extension" in out.stderr and out.stdout.strip() == str(so)


def test_array_is_the_input_itself_where_it_already_fits():
    """The kernels' inputs: a C-contiguous array of the dtype is passed as is (read-only ones too: the kernels
    do not write into their inputs); anything else is converted into a new array."""
    w = np.arange(6.0)
    assert _kernel.array(w) is w
    r = np.arange(6.0)
    r.flags.writeable = False
    assert _kernel.array(r) is r
    f = _kernel.array(w, np.float32)
    assert f.dtype == np.float32 and f.tolist() == w.tolist()
    s = _kernel.array(np.arange(12.0).reshape(3, 4)[:, 1])
    assert s.flags.c_contiguous and s.tolist() == [1.0, 5.0, 9.0]
    assert _kernel.array([1, 2], bool).dtype == bool


def _scene(seed=0, K=30, M=2000, T=6):
    rng = np.random.default_rng(seed)
    cloud = rng.uniform(-0.05, 0.05, (M, 3))
    c = rng.uniform(-0.02, 0.02, (K, 3))
    x = rng.normal(size=(K, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    u = np.cross(x, [0.0, 0.0, 1.0])
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(x, u)
    th = 2 * np.pi * np.arange(T) / T
    return c, x, u, v, cloud, th


def test_ops_read_their_inputs_in_place_and_return_new_arrays():
    """Read-only inputs are accepted and unchanged; every output is a new array of the dtype ops.h names."""
    ext = ext_or_skip()
    c, x, u, v, cloud, th = _scene()
    K, T = len(c), len(th)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    args = dict(C=f32(c), X=f32(x), U=f32(u), V=f32(v), Pc=f32(cloud), w2=np.full(K, 0.004),
                f32=f32([0.06 ** 2, 0.01 ** 2, 0.04]))
    boxes = np.array([[0.0, 1.0, 0.01, 1.0, 0.01, -0.05, 0.0, 0.001, 0, 0],
                      [0.0, 0.0, 0.05, 0.0, 0.02, -0.1, -0.05, 0.0, 0, 1]])
    hits_args = (c, x, u, v, cloud, 0.06, np.zeros(K), np.full(K, 0.1), np.cos(th), np.sin(th),
                 np.ones((K, T), bool), np.zeros((K, T)), np.full((K, T), 0.01), np.full((K, T), 0.02), boxes)
    for a in [*args.values(), *(h for h in hits_args if isinstance(h, np.ndarray))]:
        a.flags.writeable = False
    before = [a.tobytes() for a in args.values()] + [a.tobytes() for a in hits_args if isinstance(a, np.ndarray)]
    ep, en = ext.closing_extent(*args.values(), 0.002, 64, -1)
    hits, clear = ext.gripper_cloud_hits(*hits_args, 3, 2)
    after = [a.tobytes() for a in args.values()] + [a.tobytes() for a in hits_args if isinstance(a, np.ndarray)]
    assert before == after
    assert ep.dtype == np.float64 and ep.shape == (K,) and en.shape == (K,) and ep.flags.writeable
    assert hits.dtype == np.int32 and clear.dtype == np.float32 and hits.shape == clear.shape == (K, T)
    assert ep.base is None or not np.shares_memory(ep, args["w2"])
    i, j = ext.contact_candidates(cloud[:50], np.tile([0.0, 0.0, 1.0], (50, 1)), cloud, 0.04, 0.002, 0.9)
    assert i.dtype == j.dtype == np.int64 and len(i) == len(j)
    e = ext.contact_candidates(np.zeros((0, 3)), np.zeros((0, 3)), cloud, 0.04, 0.002, 0.9)
    assert [len(a) for a in e] == [0, 0]


def test_ops_refuse_inputs_of_another_dtype_or_layout():
    """A wrong dtype, a strided view or a wrong shape is a ValueError that names what the op expects."""
    ext = ext_or_skip()
    c, x, u, v, cloud, th = _scene()
    K = len(c)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    good = [f32(c), f32(x), f32(u), f32(v), f32(cloud), np.full(K, 0.004), f32([0.06 ** 2, 0.01 ** 2, 0.04])]
    ext.closing_extent(*good, 0.002, 64, 1)
    with pytest.raises(ValueError, match="float32 frames"):
        ext.closing_extent(c, *good[1:], 0.002, 64, 1)  # float64 centres
    with pytest.raises(ValueError, match="float64 w2"):
        ext.closing_extent(*good[:5], good[5].astype(np.float32), good[6], 0.002, 64, 1)
    strided = np.zeros((K, 6), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        ext.closing_extent(strided, *good[1:], 0.002, 64, 1)
    with pytest.raises(ValueError, match="axes must be"):
        ext.closing_extent(good[0], good[1][:-1], *good[2:], 0.002, 64, 1)
    with pytest.raises(ValueError, match="positive"):
        ext.closing_extent(*good, 0.0, 64, 1)
    with pytest.raises(ValueError, match="float64"):
        ext.contact_candidates(f32(cloud), f32(cloud), f32(cloud), 0.04, 0.002, 0.9)
