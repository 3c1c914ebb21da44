"""point_views (policies, progress, metadata), the oracle pointer, make_pointer and lazy imports."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from point2act.pointing import (
    Pointer,
    PointerConfig,
    PointingConfigError,
    PointingParseError,
    image_size,
    load_image,
    make_pointer,
    point_views,
)


class FakePointer:
    """Answers from a table; a view mapped to an exception raises it."""

    def __init__(self, table, **cfg):
        self.config = PointerConfig(
            backend="openai", base_url="http://127.0.0.1:1/v1", model="fake", family="json", **cfg
        )
        self.table = table
        self.calls = []

    def point(self, image, prompt, *, key=None):
        self.calls.append((key, prompt, load_image(image).size))
        answer = self.table[key]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self):
        pass


def img(w=32, h=24):
    return np.zeros((h, w, 3), np.uint8)


TABLE = {
    "a.png": [[1.0, 2.0]],
    "b.png": PointingParseError("json", "garbage answer", "no JSON points"),
    "c.png": [],
}


def test_fake_pointer_satisfies_protocol():
    assert isinstance(FakePointer(TABLE), Pointer)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_point_views_empty_policy(caplog, concurrency):
    caplog.set_level(logging.INFO, logger="point2act")
    p = FakePointer(TABLE, concurrency=concurrency)
    out = point_views(p, {k: img() for k in TABLE}, "grasp the mug", progress=True)
    assert out["prompt"] == "grasp the mug" and out["coordinates"] == "pixels"
    assert out["points"] == {"a.png": [[1.0, 2.0]], "b.png": [], "c.png": []}
    assert list(out["points"]) == ["a.png", "b.png", "c.png"]
    md = out["metadata"]
    assert set(md["seconds_per_view"]) == set(TABLE) and md["seconds_total"] >= 0
    assert list(md["parse_errors"]) == ["b.png"] and "garbage answer" in md["parse_errors"]["b.png"]
    assert md["on_parse_error"] == "empty" and md["model"] == "fake" and md["family"] == "json"
    assert "view b.png: unparseable answer, recording no point" in caplog.text
    assert "view a.png: 1 point(s) in" in caplog.text  # per-view timing in the log
    json.dumps(out)  # serialisable as is


def test_point_views_skip_and_raise():
    p = FakePointer(TABLE, on_parse_error="skip")
    out = point_views(p, {k: img() for k in TABLE}, "x", progress=False)
    assert out["points"] == {"a.png": [[1.0, 2.0]], "c.png": []}
    with pytest.raises(PointingParseError) as err:
        point_views(
            FakePointer(TABLE), {k: img() for k in TABLE}, "x", progress=False, on_parse_error="raise"
        )
    assert "b.png" in str(err.value) and "garbage answer" in str(err.value)
    with pytest.raises(PointingConfigError):
        point_views(FakePointer(TABLE), {}, "x", on_parse_error="ignore")


def test_point_views_other_errors_propagate():
    p = FakePointer({"a.png": RuntimeError("GPU on fire")})
    with pytest.raises(RuntimeError, match="GPU on fire"):
        point_views(p, {"a.png": img()}, "x", progress=False)


def test_point_views_loads_paths(tmp_path):
    Image.fromarray(np.full((10, 20, 3), 7, np.uint8)).save(tmp_path / "v.png")
    p = FakePointer({"images/v.png": [[3, 4]]})
    out = point_views(p, {"images/v.png": tmp_path / "v.png"}, "x", progress=False)
    assert out["points"] == {"images/v.png": [[3.0, 4.0]]}
    assert p.calls == [("images/v.png", "x", (20, 10))]


def test_load_image_and_size(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    assert load_image(arr).size == (7, 5) and np.array_equal(np.asarray(load_image(arr)), arr)
    assert load_image(np.ones((5, 7, 3), np.float32)).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(np.zeros((5, 7), np.uint8)).mode == "RGB"
    assert load_image(np.zeros((5, 7, 4), np.uint8)).mode == "RGB"
    Image.fromarray(arr).save(tmp_path / "a.png")
    assert (
        image_size(tmp_path / "a.png")
        == (7, 5)
        == image_size(arr)
        == image_size(load_image(str(tmp_path / "a.png")))
    )
    with pytest.raises(ValueError):
        load_image(np.zeros((5, 7, 2), np.uint8))


# --------------------------------------------------------------------------- oracle


def fake_oracle(scene_dir, noise_px=0.0, outlier_rate=0.0, seed=0):
    fake_oracle.calls.append((scene_dir, noise_px, outlier_rate, seed))
    return {
        "prompt": "Point to the handle of the mug",
        "coordinates": "pixels",
        "points": {"images/frame_0000.png": [[10.0, 20.0]], "images/frame_0001.png": []},
    }


fake_oracle.calls = []


def test_oracle_with_injected_function(caplog):
    fake_oracle.calls.clear()
    cfg = PointerConfig(backend="oracle", scene_dir="/scene", noise_px=2.0, outlier_rate=0.1, seed=3)
    caplog.set_level(logging.INFO, logger="point2act")
    p = make_pointer(cfg, oracle_fn=fake_oracle)
    out = point_views(
        p,
        {"images/frame_0000.png": img(), "frame_0001.png": img(), "images/frame_0001": img()},
        "anything",
        progress=False,
    )
    assert out["points"] == {
        "images/frame_0000.png": [[10.0, 20.0]],
        "frame_0001.png": [],
        "images/frame_0001": [],
    }
    assert fake_oracle.calls == [("/scene", 2.0, 0.1, 3)]  # called once, unsupported knobs dropped
    assert "min_visible_px" in caplog.text
    assert out["metadata"]["backend"] == "oracle" and "family" not in out["metadata"]
    assert p.point("some/dir/frame_0000.png", "x") == [[10.0, 20.0]]  # key from the path's name
    with pytest.raises(KeyError):
        p.point(img(), "x", key="frame_9999.png")
    with pytest.raises(PointingConfigError):
        p.point(img(), "x")


def test_oracle_needs_scene_dir():
    with pytest.raises(PointingConfigError):
        make_pointer(PointerConfig(backend="oracle"))


def test_oracle_default_is_synth_oracle_points(tmp_path):
    """The default oracle is point2act.synth.oracle_points, imported lazily, on a hand-made scene."""
    synth = pytest.importorskip("point2act.synth")
    if not hasattr(synth, "oracle_points"):
        pytest.skip("point2act.synth.oracle_points not available")
    from point2act.synth.config import PART_MUG_HANDLE

    (tmp_path / "masks").mkdir()
    frames = []
    for i, visible in enumerate([25, 0, 6]):  # target pixels in view: the occlusion rule needs 12
        mask = np.zeros((24, 32), np.uint8)
        if visible == 25:
            mask[10:15, 20:25] = PART_MUG_HANDLE  # 25 px, centroid pixel (22, 12) -> centre (22.5, 12.5)
        elif visible:
            mask[2:4, 2:5] = PART_MUG_HANDLE
        Image.fromarray(mask).save(tmp_path / "masks" / f"frame_{i:04d}.png")
        frames.append(
            {"file_path": f"images/frame_{i:04d}.png", "part_mask_path": f"masks/frame_{i:04d}.png"}
        )
    (tmp_path / "transforms.json").write_text(json.dumps({"frames": frames}))
    (tmp_path / "ground_truth.json").write_text(json.dumps({"target_part_id": PART_MUG_HANDLE, "parts": []}))

    p = make_pointer(PointerConfig(backend="oracle", scene_dir=str(tmp_path)))
    out = point_views(
        p, {f["file_path"]: img() for f in frames}, "Point to the handle of the mug", progress=False
    )
    assert out["points"] == {
        "images/frame_0000.png": [[22.5, 12.5]],
        "images/frame_0001.png": [],
        "images/frame_0002.png": [],  # 6 px: occluded (ORACLE_MIN_VISIBLE_PX)
    }
    # noise is seeded
    a = make_pointer(PointerConfig(backend="oracle", scene_dir=str(tmp_path), noise_px=3.0, seed=1))
    b = make_pointer(PointerConfig(backend="oracle", scene_dir=str(tmp_path), noise_px=3.0, seed=1))
    assert (
        a.point(img(), "x", key="frame_0000.png")
        == b.point(img(), "x", key="frame_0000.png")
        != [[22.5, 12.5]]
    )


# --------------------------------------------------------------------------- factory & imports


def test_make_pointer_errors():
    with pytest.raises(PointingConfigError):
        make_pointer(PointerConfig(backend="llava"))  # type: ignore[arg-type]
    with pytest.raises(PointingConfigError):
        make_pointer(PointerConfig(on_parse_error="ignore", scene_dir="/s"))  # type: ignore[arg-type]
    with pytest.raises(PointingConfigError):
        make_pointer(PointerConfig(family="llava", scene_dir="/s"))  # type: ignore[arg-type]
    with pytest.raises(PointingConfigError, match="trust_remote_code"):
        make_pointer(PointerConfig(backend="molmo"))


def test_config_fields_have_docstrings():
    """tyro shows the attribute docstrings as --help text: every field needs one."""
    import ast
    import dataclasses

    import point2act.pointing.config as mod

    tree = ast.parse(Path(mod.__file__).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "PointerConfig")
    documented = set()
    for a, b in zip(cls.body, cls.body[1:]):
        if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant):
            documented.add(a.target.id)
    assert {f.name for f in dataclasses.fields(PointerConfig)} == documented


def test_import_is_light():
    code = (
        "import sys, point2act.pointing, point2act.pointing.hf_backend, point2act.pointing.openai_backend, "
        "point2act.pointing.oracle; "
        "bad = [m for m in ('torch', 'transformers', 'httpx', 'rich') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
