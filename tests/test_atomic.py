"""Atomic writes (point2act.io): a crash mid-write keeps the previous file and leaves no temporary
file; a full disk (ENOSPC) is a clear Point2ActError naming the file; corrupt files are never trusted."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import point2act.io as pio
from point2act.errors import Point2ActError
from point2act.io import WriteError, atomic_write, save_torch_atomic, write_json_atomic


def _litter(d: Path):
    return sorted(p.name for p in Path(d).rglob("*") if p.name.endswith(pio.TMP_SUFFIX))


class Boom(RuntimeError):
    pass


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# ----------------------------------------------------------------------------------------------
# the helper
# ----------------------------------------------------------------------------------------------
def test_json_write_replaces_and_reads_back(tmp_path):
    p = tmp_path / "sub" / "a.json"
    assert write_json_atomic(p, {"x": [1, 2.5]}) == p
    assert json.loads(p.read_text()) == {"x": [1, 2.5]}
    write_json_atomic(p, {"x": 3})
    assert json.loads(p.read_text()) == {"x": 3}
    assert _litter(tmp_path) == []


def test_crash_mid_write_keeps_previous_file_and_no_temp(tmp_path):
    p = tmp_path / "a.json"
    write_json_atomic(p, {"v": 1})
    before = p.read_bytes()

    def half_then_crash(f):
        f.write('{"v": 2, "trunc')  # half a file reaches the temporary file
        raise Boom("killed mid-write")

    with pytest.raises(Boom):
        atomic_write(p, half_then_crash)
    assert p.read_bytes() == before
    assert _litter(tmp_path) == []


def test_nan_is_refused_and_previous_file_kept(tmp_path):
    p = tmp_path / "a.json"
    write_json_atomic(p, {"v": 1})
    with pytest.raises(ValueError):
        write_json_atomic(p, {"v": float("nan")})
    assert json.loads(p.read_text()) == {"v": 1}
    assert _litter(tmp_path) == []


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_full_disk_is_a_clear_error_and_previous_file_kept(tmp_path, monkeypatch, where):
    p = tmp_path / "grasps.json"
    write_json_atomic(p, {"v": 1})
    if where == "write":
        def dump(obj, f, **kw):
            f.write("{")
            f.flush()  # the bytes reach the OS, then the disk is full
            _enospc()

        monkeypatch.setattr(pio.json, "dump", dump)
    else:
        monkeypatch.setattr(pio.os, "fsync", _enospc)
    with pytest.raises(Point2ActError) as ei:
        write_json_atomic(p, {"v": 2})
    msg = str(ei.value)
    assert str(p) in msg and "no space left" in msg
    assert isinstance(ei.value, OSError) and ei.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert json.loads(p.read_text()) == {"v": 1}
    assert _litter(tmp_path) == []


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WriteError) as ei:
        write_json_atomic(blocker / "a.json", {"v": 1})  # parent is a file
    assert str(blocker / "a.json") in str(ei.value)


def test_torch_save_atomic_crash_and_full_disk(tmp_path, monkeypatch):
    p = tmp_path / "ch.pt"
    save_torch_atomic({"logits": torch.arange(5.0)}, p)
    before = p.read_bytes()

    def crash(obj, f, *a, **k):
        f.write(b"PK\x03\x04partial")
        raise Boom("killed")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(Boom):
        save_torch_atomic({"logits": torch.zeros(5)}, p)
    monkeypatch.setattr(torch, "save", lambda obj, f, *a, **k: (f.write(b"PK"), _enospc()))
    with pytest.raises(WriteError, match="no space left"):
        save_torch_atomic({"logits": torch.zeros(5)}, p)
    monkeypatch.undo()
    assert p.read_bytes() == before
    assert torch.equal(torch.load(p)["logits"], torch.arange(5.0))
    assert _litter(tmp_path) == []


def test_separate_temp_dir_keeps_destination_folder_clean(tmp_path):
    d = tmp_path / "nerfstudio_models"
    seen = []

    def write(f):
        seen.append(sorted(x.name for x in d.iterdir()) if d.exists() else [])
        f.write(b"data")

    atomic_write(d / "step-000000001.ckpt", write, binary=True, tmp_dir=tmp_path)
    assert seen == [[]]  # the destination folder never held a temporary file
    assert (d / "step-000000001.ckpt").read_bytes() == b"data"
    assert _litter(tmp_path) == []


# ----------------------------------------------------------------------------------------------
# the writers
# ----------------------------------------------------------------------------------------------
def test_every_writer_uses_the_one_helper():
    import point2act.channels as channels
    import point2act.export.grasps_json as grasps_json
    import point2act.grasp.result as result
    import point2act.points as points
    import point2act.cache_file as cache_file

    assert points.write_json_atomic is write_json_atomic
    assert grasps_json.write_json_atomic is write_json_atomic  # grasps.json and its timings (write_grasps)
    assert result.write_json_atomic is write_json_atomic
    assert channels.write_json_atomic is write_json_atomic and channels.atomic_write is pio.atomic_write
    assert cache_file.atomic_write is pio.atomic_write  # the run's cache, every section


def test_answer_cache_full_disk_warns_and_keeps_pointing(tmp_path, monkeypatch, caplog):
    from point2act.pointing.answer_cache import AnswerCache, CachedPointer
    from point2act.pointing.config import PointerConfig

    class Fixed:
        config = PointerConfig(backend="oracle")

        def point(self, image, prompt, key=None):
            return [[1.0, 2.0]]

    cache = AnswerCache(tmp_path / "cache")
    cp = CachedPointer(Fixed(), cache)
    monkeypatch.setattr(pio.os, "fsync", _enospc)
    img = torch.zeros(4, 4, 3, dtype=torch.uint8).numpy()
    with caplog.at_level(logging.WARNING, logger="point2act.pointing.answer_cache"):
        assert cp.point(img, "p", key="v0") == [[1.0, 2.0]]
    assert "no space left" in caplog.text
    assert cp.stats.writes == 0 and _litter(tmp_path) == []
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_corrupt_answer_cache_entry_is_not_trusted(tmp_path, caplog):
    from point2act.pointing.answer_cache import AnswerCache, CachedPointer
    from point2act.pointing.config import PointerConfig

    calls = []

    class Fixed:
        config = PointerConfig(backend="oracle")

        def point(self, image, prompt, key=None):
            calls.append(key)
            return [[3.0, 4.0]]

    cache = AnswerCache(tmp_path / "cache")
    cp = CachedPointer(Fixed(), cache)
    img = torch.zeros(4, 4, 3, dtype=torch.uint8).numpy()
    cp.point(img, "p", key="v0")
    (entry,) = list((tmp_path / "cache").rglob("*.json"))
    entry.write_bytes(entry.read_bytes()[:25])  # truncated, as a kill under a non-atomic writer would leave it
    with caplog.at_level(logging.WARNING, logger="point2act.pointing.answer_cache"):
        assert CachedPointer(Fixed(), cache).point(img, "p", key="v0") == [[3.0, 4.0]]
    assert len(calls) == 2 and "corrupt cache entry" in caplog.text
    assert json.loads(entry.read_text())["points"] == [[3.0, 4.0]]  # rewritten whole


def _fake_run(tmp_path) -> Path:
    cfg = tmp_path / "run" / "config.yml"
    cfg.parent.mkdir()
    cfg.write_text("# not read by the channel functions\n")
    return cfg


def test_channel_save_crash_and_full_disk_keep_previous_channel(tmp_path, monkeypatch):
    from point2act.channels import ChannelInfo, channels_dir, list_channels, load_channel, save_channel

    cfg = _fake_run(tmp_path)
    save_channel(cfg, ChannelInfo("ball", "the ball", "grasp"), torch.arange(6.0), {"file": "step-1.ckpt"})
    before = {p.name: p.read_bytes() for p in channels_dir(cfg).iterdir()}
    monkeypatch.setattr(np, "savez", lambda f, *a, **k: (f.write(b"PK"), _enospc()))
    with pytest.raises(WriteError) as ei:
        save_channel(cfg, ChannelInfo("ball", "the ball", "grasp"), torch.zeros(6), {"file": "step-2.ckpt"})
    assert "ball.npz" in str(ei.value) and "no space left" in str(ei.value)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in channels_dir(cfg).iterdir()} == before
    assert np.array_equal(load_channel(cfg, "ball", 6)["logits"], np.arange(6.0))
    assert list(list_channels(cfg)) == ["ball"]


def test_corrupt_channel_files_are_reported_not_trusted(tmp_path):
    from point2act.channels import INDEX_NAME, ChannelInfo, channels_dir, list_channels, load_channel, save_channel

    cfg = _fake_run(tmp_path)
    save_channel(cfg, ChannelInfo("ball", "the ball", "grasp"), torch.arange(6.0), {"file": "step-1.ckpt"})
    pt = channels_dir(cfg) / "ball.npz"
    pt.write_bytes(pt.read_bytes()[:40])
    with pytest.raises(Point2ActError, match="corrupt relevancy channel 'ball'") as ei:
        load_channel(cfg, "ball", 6)
    assert str(pt) in str(ei.value)
    idx = channels_dir(cfg) / INDEX_NAME
    idx.write_text(idx.read_text()[:30])
    with pytest.raises(Point2ActError, match="corrupt relevancy channel index") as ei:
        list_channels(cfg)
    assert str(idx) in str(ei.value)


def _keyed_run(tmp_path):
    from point2act import cache_file

    cfg = _fake_run(tmp_path)
    ck = cfg.parent / "nerfstudio_models" / "step-000000001.ckpt"
    ck.parent.mkdir()
    ck.write_bytes(b"x")
    return cfg, cache_file.run_key(cfg, ck, None)


def test_corrupt_run_cache_is_not_read_and_is_written_anew(tmp_path):
    """A run cache cut short (a crash while copying it) is not read; the next section written replaces it."""
    from point2act import cache_file

    cfg, key = _keyed_run(tmp_path)
    cache_file.cache_path(cfg).write_bytes(b"PK\x03\x04 truncated")
    assert cache_file.read_section(cfg, "query-d2") is None
    cache_file.write_section(cfg, key, "query-d2", {"version": 2}, {"means": np.arange(6, dtype=np.float32)})
    meta, arrs = cache_file.read_section(cfg, "query-d2")
    assert meta["version"] == 2 and np.array_equal(arrs["means"], np.arange(6, dtype=np.float32))


def test_mapped_section_is_private_and_equals_the_written_one(tmp_path):
    """A section read with ``mmap=True`` is mapped, not read: its arrays are the written ones, and a write into
    them never reaches the file; another section sits beside it."""
    from point2act import cache_file

    cfg, key = _keyed_run(tmp_path)
    g = np.random.default_rng(0)
    arrs = {"crow": np.arange(7, dtype=np.int64), "val": g.random(6).astype(np.float32)}
    cache_file.write_section(cfg, key, "a", {"n": 6}, arrs)
    path = cache_file.cache_path(cfg)
    before = path.read_bytes()
    _meta, got = cache_file.read_section(cfg, "a", mmap=True)
    for name, a in arrs.items():
        assert np.array_equal(got[name], a)
    if got["val"].flags.writeable:
        got["val"] *= -1.0
    assert path.read_bytes() == before
    cache_file.write_section(cfg, key, "b", {}, {"x": np.zeros(2)})
    assert set(cache_file.sections(cfg)) >= {"a", "b"}


# ----------------------------------------------------------------------------------------------
# the CLI
# ----------------------------------------------------------------------------------------------
def test_cli_point_on_a_full_disk_exits_2_naming_the_file(tmp_path, monkeypatch, capsys):
    from point2act.cli import entrypoint
    from point2act.synth import SynthConfig, generate_scene

    generate_scene(tmp_path / "scene", SynthConfig(seed=0, num_views=3, width=64, height=48, num_seed_points=500))
    out = tmp_path / "points.json"
    out.write_text('{"prompt": "old", "coordinates": "pixels", "points": {}}\n')
    before = out.read_bytes()
    monkeypatch.setenv("POINT2ACT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("POINT2ACT_DEBUG", raising=False)
    monkeypatch.setattr(pio.os, "fsync", _enospc)
    with pytest.raises(SystemExit) as ei:
        entrypoint(["point", "--data", str(tmp_path / "scene"), "--prompt", "the handle", "--backend", "oracle",
                    "--output", str(out)])
    monkeypatch.undo()
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert "point2act: error:" in err and str(out) in err and "no space left" in err
    assert "Traceback" not in err
    assert out.read_bytes() == before
    assert _litter(tmp_path) == []
