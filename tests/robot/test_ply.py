"""point2act.robot.ply.write_relevancy_ply: read back with Open3D's tensor reader (custom attributes kept)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from point2act.errors import Point2ActError
from point2act.robot.ply import PLY_DTYPE, relevancy_colours, write_relevancy_ply

o3d = pytest.importorskip("open3d")


def _data(n: int = 200):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(n, 3)), rng.uniform(0, 2, n), rng.uniform(0, 1, n), rng.uniform(-0.1, 1.1, (n, 3)))


def test_roundtrip_open3d(tmp_path: Path) -> None:
    means, rel, op, col = _data()
    p = write_relevancy_ply(tmp_path / "out" / "relevancy.ply", means, rel, op, col)
    assert p == tmp_path / "out" / "relevancy.ply"
    assert [f for f in os.listdir(p.parent)] == ["relevancy.ply"]  # no temporary file left
    pc = o3d.t.io.read_point_cloud(str(p))
    assert set(pc.point) >= {"positions", "relevancy", "opacity", "colors"}
    np.testing.assert_allclose(pc.point["positions"].numpy(), means, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(pc.point["relevancy"].numpy().ravel(), rel, rtol=1e-6)
    np.testing.assert_allclose(pc.point["opacity"].numpy().ravel(), op, rtol=1e-6)
    cols = pc.point["colors"].numpy()
    assert cols.dtype == np.uint8
    np.testing.assert_array_equal(cols, np.round(np.clip(col, 0, 1) * 255).astype(np.uint8))
    # the file is exactly the header plus N packed little-endian records
    raw = p.read_bytes()
    head, body = raw.split(b"end_header\n", 1)
    assert b"format binary_little_endian 1.0" in head and b"property float relevancy" in head
    assert b"comment frame: capture frame, capture units" in head
    assert len(body) == len(means) * PLY_DTYPE.itemsize == len(means) * 23
    np.testing.assert_array_equal(np.frombuffer(body, PLY_DTYPE)["relevancy"], rel.astype(np.float32))


def test_base_frame_and_default_colours(tmp_path: Path) -> None:
    means, rel, op, _ = _data(50)
    m = np.eye(4)
    m[:3, :3] = 0.25 * np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    m[:3, 3] = [0.5, 0.0, -0.1]
    p = write_relevancy_ply(tmp_path / "base.ply", means, rel, op, None, base_from_capture=m)
    pc = o3d.t.io.read_point_cloud(str(p))
    np.testing.assert_allclose(pc.point["positions"].numpy(), means @ m[:3, :3].T + m[:3, 3], atol=1e-6)
    assert b"comment frame: robot base frame, metres" in p.read_bytes()[:400]
    cols = pc.point["colors"].numpy()
    np.testing.assert_array_equal(cols, relevancy_colours(rel))
    top = int(np.argmax(rel))
    assert cols[top].tolist() == [255, 255, 255] and relevancy_colours(np.zeros(2)).tolist() == [[0, 0, 0]] * 2
    # legacy reader: positions and colours
    legacy = o3d.io.read_point_cloud(str(p))
    assert len(legacy.points) == 50 and legacy.has_colors()


def test_bad_inputs_write_nothing(tmp_path: Path) -> None:
    means, rel, op, col = _data(10)
    target = tmp_path / "bad.ply"
    bad_rel = rel.copy()
    bad_rel[3] = np.nan
    for args, match in [
        ((means[:, :2], rel, op, col), r"means must be \(N, 3\)"),
        ((means, rel[:5], op, col), "relevancy must have one value per point"),
        ((means, rel, op[:9], col), "opacity must have one value per point"),
        ((means, rel, op, col[:, :2]), "colors must be"),
        ((means, bad_rel, op, col), "relevancy has 1 non-finite"),
    ]:
        with pytest.raises(Point2ActError, match=match):
            write_relevancy_ply(target, *args)
    with pytest.raises(Point2ActError, match="determinant"):
        write_relevancy_ply(target, means, rel, op, col, base_from_capture=np.diag([1.0, 1.0, -1.0, 1.0]))
    assert not target.exists() and os.listdir(tmp_path) == []


def test_empty_cloud(tmp_path: Path) -> None:
    p = write_relevancy_ply(tmp_path / "empty.ply", np.zeros((0, 3)), np.zeros(0), np.zeros(0))
    assert b"element vertex 0" in p.read_bytes()


def test_torch_tensors(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    means, rel, op, col = _data(20)
    p = write_relevancy_ply(tmp_path / "t.ply", torch.from_numpy(means).float(), torch.from_numpy(rel)[:, None],
                            torch.from_numpy(op), torch.from_numpy(col))
    pc = o3d.t.io.read_point_cloud(str(p))
    np.testing.assert_allclose(pc.point["relevancy"].numpy().ravel(), rel, rtol=1e-6)
