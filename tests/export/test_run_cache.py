"""The run's one cache file (:mod:`point2act.cache_file`) and its export section (:mod:`point2act.export.cached_inputs`):
what a section holds reads back equal; the file is current only while every file of its key is unchanged; a
section written under the file's key joins the others, one written under a new key starts a new file. The
export that reads it: tests/e2e/test_export_inputs.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from point2act import cache_file
from point2act.export import ExportOptions, Field, FieldLabel, RunInputs, SceneGaussians
from point2act.export import cached_inputs as ec
from point2act.fusion import DepthViews
from point2act.grasp import GraspConfig
from point2act.where.consensus import ViewAnswers


def _run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "nerfstudio_models").mkdir(parents=True)
    for name in ("config.yml", "points.json", "nerfstudio_models/step-000000099.ckpt"):
        (run / name).write_text(name)
    (run / "dataparser_transforms.json").write_text('{"transform": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], '
                                                   '"scale": 1.0}')
    return run / "config.yml"


def _key(config: Path):
    return cache_file.run_key(config, config.parent / "nerfstudio_models/step-000000099.ckpt", None)


def _cached(config: Path, rng, views: bool = True, depth: bool = True, rel: bool = True) -> ec.CachedInputs:
    n = 50
    arrays = SceneGaussians(rng.normal(size=(n, 3)), rng.random(n), rng.random((n, 3)), rng.random(n))
    va = None
    if views:
        va = [ViewAnswers(rng.normal(size=(4, 4)), rng.normal(size=(3, 3)), rng.random((k, 2)) * 10, 2.5 + k,
                          rng.random((6 + k, 8)).astype(np.float32), view_id=k, split="eval" if k == 2 else "train")
              for k in range(3)]
        va[1].depth[0, 0] = np.nan
    dv = None
    if depth:
        d = rng.random((2, 5, 7)).astype(np.float32)
        dv = DepthViews(d, d * 0.5, rng.random((2, 3, 3)), rng.random((2, 4, 4)), 12.5,
                        d * 0.25 if rel else None, np.full_like(d, np.inf))
    field = Field(arrays.relevancy, va, "" if views else "no answers", label=FieldLabel(prompt="the handle"))
    inputs = RunInputs(arrays, field, rng.normal(size=(4, 3)), dv, "the handle", "a note", run=config)
    return ec.CachedInputs(inputs, None, 2)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (ViewAnswers, DepthViews, Field, SceneGaussians)):
        return all(_same(getattr(a, f), getattr(b, f)) for f in vars(a) if f != "K_inv")
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and a and not isinstance(a[0], (str, int)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("views,depth,rel", [(True, True, True), (False, True, False), (True, False, True)])
def test_export_inputs_read_back_equal(tmp_path, views, depth, rel):
    config = _run(tmp_path)
    cached = _cached(config, np.random.default_rng(0), views, depth, rel)
    ec.save(config, _key(config), cached)
    back = ec.load(config)
    assert back.data == cached.data and back.support_downscale == cached.support_downscale
    for name in ("gaussians", "field", "centers", "depth_views", "prompt", "start_note", "keypoints", "avoid"):
        assert _same(getattr(cached.inputs, name), getattr(back.inputs, name)), name


def test_the_cache_is_current_until_a_file_of_its_key_changes(tmp_path):
    config = _run(tmp_path)
    ec.save(config, _key(config), _cached(config, np.random.default_rng(1)))
    assert ec.load(config) is not None
    newer = config.parent / "nerfstudio_models/step-000000199.ckpt"
    newer.write_text("newer")  # a resumed training's save
    assert ec.load(config) is None
    os.remove(newer)
    assert ec.load(config) is not None
    (config.parent / "points.json").write_text("other answers")
    assert ec.load(config) is None


def test_a_touched_file_with_the_same_bytes_keeps_the_cache_current(tmp_path, monkeypatch):
    """The key is the files' bytes (issue 84): a ``touch`` of every file of the key, or a file written back with
    the same bytes, keeps the cache current and rebuilds nothing; other bytes of the same size make it stale.
    Unchanged files are not hashed again (their stat is as recorded); a touched one is hashed once a process."""
    config = _run(tmp_path)
    pf = tmp_path / "answers.json"
    pf.write_text("the points")
    key = cache_file.run_key(config, config.parent / "nerfstudio_models/step-000000099.ckpt", pf)
    assert all(len(k[2]) == 64 for k in key if len(k) == 3)  # sha256 of each file there is
    ec.save(config, key, _cached(config, np.random.default_rng(5)))
    path = cache_file.cache_path(config)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    cache_file._DIGESTS.clear()
    hashed = []
    real = cache_file._digest

    def digest(p, sig):
        if (str(p), tuple(sig)) not in cache_file._DIGESTS:  # read, not remembered
            hashed.append(Path(p).name)
        return real(p, sig)

    monkeypatch.setattr(cache_file, "_digest", digest)
    assert cache_file.is_current(config) and not hashed  # as written: no file read
    for f in [Path(k[0]) for k in key if len(k) == 3]:
        st = f.stat()
        os.utime(f, ns=(st.st_atime_ns + 10**9, st.st_mtime_ns + 10**9))  # touch
    assert cache_file.is_current(config) and ec.load(config) is not None
    assert sorted(hashed) == sorted(Path(k[0]).name for k in key if len(k) == 3)  # each hashed once
    pf.write_text("the points")  # rewritten, the same bytes
    assert cache_file.is_current(config)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before  # nothing rewritten
    pf.write_text("other pts!")  # the same size, other bytes
    assert not cache_file.is_current(config) and ec.load(config) is None
    pf.write_text("the points")
    assert cache_file.is_current(config)


def test_a_writer_killed_mid_write_leaves_the_old_file(tmp_path, monkeypatch):
    """A write that dies half-way (an exception inside the write, as a SIGKILL would stop it) leaves the cache file
    as it was, still read; the next writer removes what a killed one left (its temporary file) and writes."""
    from point2act.io import TMP_SUFFIX

    config = _run(tmp_path)
    key = _key(config)
    cache_file.write_section(config, key, "weights_d2", {"n": 3}, {"val": np.arange(3.0)})
    path = cache_file.cache_path(config)
    before = path.read_bytes()
    real = np.lib.format.write_array
    calls = []

    def dying(fh, arr, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # not an OSError: nothing catches it on its way out
        return real(fh, arr, **kw)

    monkeypatch.setattr(np.lib.format, "write_array", dying)
    with pytest.raises(KeyboardInterrupt):
        cache_file.write_section(config, key, "export", {"m": 1}, {"a": np.arange(5.0), "b": np.ones(4)})
    monkeypatch.setattr(np.lib.format, "write_array", real)
    assert path.read_bytes() == before
    assert cache_file.read_section(config, "weights_d2")[0] == {"n": 3}
    from point2act.io import _OWNER

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a writer's process that has ended: what a SIGKILL before the rename leaves
    left = path.parent / f".{path.name}.{_OWNER.split('-')[0]}-{gone.pid}-x1y2{TMP_SUFFIX}"
    left.write_bytes(before[: len(before) // 2])
    cache_file.write_section(config, key, "export", {"m": 1}, {"a": np.arange(5.0)})
    assert not left.exists() and not list(path.parent.glob(f"*{TMP_SUFFIX}"))
    assert cache_file.read_section(config, "export")[0] == {"m": 1}
    assert cache_file.read_section(config, "weights_d2")[0] == {"n": 3}


def test_sections_share_the_file_under_one_key(tmp_path):
    config = _run(tmp_path)
    key = _key(config)
    cache_file.write_section(config, key, "weights_d2", {"n": 3}, {"val": np.arange(3.0)})
    ec.save(config, key, _cached(config, np.random.default_rng(2)))
    meta, arrs = cache_file.read_section(config, "weights_d2")  # kept beside the export section
    assert meta == {"n": 3} and np.array_equal(arrs["val"], np.arange(3.0))
    assert ec.load(config) is not None
    assert len(list(config.parent.glob("*.npz"))) == 1  # one cache file
    (config.parent / "points.json").write_text("other answers")
    cache_file.write_section(config, _key(config), "weights_d2", {"n": 4}, {"val": np.arange(4.0)})
    assert ec.load(config) is None  # a new key starts a new file: the old export section is gone
    assert cache_file.read_section(config, "weights_d2")[0] == {"n": 4}


def test_one_write_writes_the_blocks_sections_together_at_its_end(tmp_path, monkeypatch):
    """Inside cache_file.one_write the sections wait for the block's end and go to the file in one atomic write,
    beside the sections the file held; an exception in the block still writes what was computed."""
    config = _run(tmp_path)
    key = _key(config)
    cache_file.write_section(config, key, "info", {"v": 1}, {"a": np.arange(2.0)})
    writes = []
    real = cache_file.atomic_write
    monkeypatch.setattr(cache_file, "atomic_write", lambda *a, **k: (writes.append(a[0]), real(*a, **k))[1])
    with cache_file.one_write(config):
        cache_file.write_section(config, key, "weights_d2", {"n": 3}, {"val": np.arange(3.0)})
        cache_file.write_section(config, key, "query-d2", {"q": 1}, {"x": np.ones(2)})
        cache_file.write_section(config, key, "query-d2", {"q": 2}, {"y": np.zeros(1)})  # the later replaces
        assert writes == [] and "weights_d2" not in cache_file.sections(config)
    assert len(writes) == 1
    assert set(cache_file.sections(config)) >= {"info", "weights_d2", "query-d2"}
    assert cache_file.read_section(config, "info")[0] == {"v": 1}
    meta, arrs = cache_file.read_section(config, "query-d2")
    assert meta == {"q": 2} and set(arrs) == {"y"}
    with pytest.raises(RuntimeError, match="later stage"):
        with cache_file.one_write(config):
            cache_file.write_section(config, key, "fusion-views", {"f": 1}, {"z": np.ones(3)})
            raise RuntimeError("a later stage failed")
    assert len(writes) == 2 and cache_file.read_section(config, "fusion-views")[0] == {"f": 1}


def test_the_export_section_serves_what_it_holds(tmp_path):
    """``serving`` is the one decision whether the cache serves a request: the views at its support resolution,
    the depth renders its grasps are fused on, and for a channel's grasps what its relevancy is computed from."""
    from point2act.export.request import ExportRequest

    config = _run(tmp_path)
    ec.save(config, _key(config), _cached(config, np.random.default_rng(3), depth=False))
    cfg = GraspConfig()
    cfg.region.support_downscale = 2
    serving = lambda cfg, grasps=True, **kw: ec.serving(config, lambda c: ExportRequest(cfg, grasps=grasps), **kw)  # noqa: E731
    assert serving(cfg) is None  # no depth renders to fuse
    got = serving(cfg, grasps=False)
    assert got is not None and got[0].grasp_config is cfg and got[1].support_downscale == 2
    other = GraspConfig()
    other.region.support_downscale = 1  # views at another resolution than the config asks for
    assert serving(other, grasps=False) is None
    cfg.surface.fuse_depth = False
    assert serving(cfg) is not None
    ec.save(config, _key(config), _cached(config, np.random.default_rng(3), depth=True))
    cfg.surface.fuse_depth = True
    assert serving(cfg) is not None
    assert serving(cfg, channel_relevancy=True) is None  # no fusion-views section for a channel's relevancy
    assert serving(cfg, grasps=False, channel_relevancy=True) is not None


def test_unreadable_or_other_version_is_not_read(tmp_path, monkeypatch):
    config = _run(tmp_path)
    path = cache_file.cache_path(config)
    path.write_bytes(b"not a zip")
    assert ec.load(config) is None
    ec.save(config, _key(config), _cached(config, np.random.default_rng(4)))
    whole = path.read_bytes()
    for n in (10, len(whole) // 2, len(whole) - 10):  # a copy cut short
        path.write_bytes(whole[:n])
        assert ec.load(config) is None
    path.write_bytes(whole)
    assert ec.load(config) is not None
    monkeypatch.setattr(cache_file, "CACHE_VERSION", cache_file.CACHE_VERSION + 1)
    assert ec.load(config) is None


def test_views_read_at_another_pixel_cap_are_made_again_the_rest_kept(tmp_path, monkeypatch):
    """An export section whose views' surfaces were read at another most pixels per view (SUPPORT_MAX_PIXELS) is
    not read; the cache's other sections are."""
    config = _run(tmp_path)
    ec.save(config, _key(config), _cached(config, np.random.default_rng(5)))
    cache_file.write_section(config, _key(config), "other", {"n": 1}, {"a": np.arange(3)})
    assert ec.load(config) is not None
    monkeypatch.setattr(ec, "SUPPORT_MAX_PIXELS", ec.SUPPORT_MAX_PIXELS * 4)
    assert ec.load(config) is None
    meta, arrs = cache_file.read_section(config, "other")
    assert meta["n"] == 1 and np.array_equal(arrs["a"], np.arange(3))


@pytest.mark.parametrize("option", [{"channels": "grasp"}, {"grasp_channel": "grasp"},
                                    {"handover_direction": (1.0, 0.0, 0.0)}])
def test_options_that_need_the_run_are_not_the_own_field(tmp_path, option):
    from point2act.cli import Export, export_options

    config = _run(tmp_path)
    assert not Export(load_config=config, **option).channels_of().own_field_only
    assert Export(load_config=config).channels_of().own_field_only
    assert export_options(Export(load_config=config)) == ExportOptions()


def test_the_export_package_imports_no_torch():
    """``point2act export``'s stages and the run's cache import numpy and point2act's plain modules only: by
    structure, not by where an import stands in a function."""
    import subprocess
    import sys

    code = ("import sys, point2act.export, point2act.export.cached_inputs, point2act.cache_file, point2act.grasp.planner; "
            "print(' '.join(m for m in ('torch', 'nerfstudio', 'gsplat') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == []
