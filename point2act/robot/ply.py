"""The relevancy field as a point cloud: a binary little-endian PLY of the Gaussian centres.

Properties, per vertex (in this order)::

    float x, y, z      position: capture frame, capture units; or robot base frame, metres, when
                       base_from_capture is given
    float relevancy    the Gaussian's relevancy scalar (as stored, not normalised)
    float opacity      its opacity in [0, 1]
    uchar red, green, blue   its colour; without colours, relevancy / max(relevancy) as a
                       black-red-yellow-white ramp

The header carries ``comment`` lines naming the frame and units. Open3D's tensor reader keeps
the custom properties: ``o3d.t.io.read_point_cloud(path).point["relevancy"]`` ((N, 1) float32);
CloudCompare and MeshLab show them as scalar fields. Written with numpy (no plyfile), atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from point2act.errors import Point2ActError
from point2act.io import atomic_write

__all__ = ["write_relevancy_ply", "PLY_DTYPE"]

PLY_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("relevancy", "<f4"), ("opacity", "<f4"),
                      ("red", "u1"), ("green", "u1"), ("blue", "u1")])
"""One vertex record, as written."""


def _array(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor (torch itself is never imported here)
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise Point2ActError(f"write_relevancy_ply: {name} must be an array of numbers.") from None


def relevancy_colours(relevancy: np.ndarray) -> np.ndarray:
    """(N, 3) uint8: relevancy / max(relevancy) (negatives as 0) on a black-red-yellow-white ramp."""
    r = np.clip(np.asarray(relevancy, dtype=np.float64), 0.0, None)
    top = float(r.max()) if r.size else 0.0
    t = r / top if top > 0 else np.zeros_like(r)
    rgb = np.stack([np.clip(3 * t, 0, 1), np.clip(3 * t - 1, 0, 1), np.clip(3 * t - 2, 0, 1)], axis=1)
    return np.round(rgb * 255).astype(np.uint8)


def write_relevancy_ply(
    path: os.PathLike | str,
    means: Any,
    relevancy: Any,
    opacity: Any,
    colors: Any | None = None,
    base_from_capture: np.ndarray | None = None,
) -> Path:
    """Write the Gaussians' centres with relevancy, opacity and colour as a binary PLY; returns ``path``.

    Args:
        path: the .ply file (written atomically: a temporary file in its folder, then a rename).
        means: (N, 3) centres, capture frame, capture units.
        relevancy: (N,) relevancy.
        opacity: (N,) opacity (after the sigmoid), in [0, 1].
        colors: (N, 3) RGB in [0, 1] (clipped), or None for the relevancy ramp.
        base_from_capture: optional (4, 4) similarity (see :mod:`point2act.robot.calibrate`):
            the points are written in the robot base frame, metres.

    Numpy arrays or CPU/GPU torch tensors. Non-finite values are refused (Point2ActError).
    """
    path = Path(path)
    xyz = _array(means, "means")
    n = xyz.shape[0] if xyz.ndim == 2 else -1
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise Point2ActError(f"write_relevancy_ply: means must be (N, 3), got shape {list(xyz.shape)}.")
    cols = {"relevancy": _array(relevancy, "relevancy").reshape(-1), "opacity": _array(opacity, "opacity").reshape(-1)}
    for k, v in cols.items():
        if v.shape != (n,):
            raise Point2ActError(f"write_relevancy_ply: {k} must have one value per point ({n}), got {v.size}.")
    rgb: np.ndarray
    if colors is None:
        rgb = relevancy_colours(cols["relevancy"])
    else:
        c = _array(colors, "colors")
        if c.shape != (n, 3):
            raise Point2ActError(f"write_relevancy_ply: colors must be (N, 3) = ({n}, 3), got {list(c.shape)}.")
        if not np.all(np.isfinite(c)):
            raise Point2ActError("write_relevancy_ply: colors has non-finite values.")
        rgb = np.round(np.clip(c, 0.0, 1.0) * 255).astype(np.uint8)
    for k, v in (("means", xyz), *cols.items()):
        bad = int(np.sum(~np.isfinite(v)))
        if bad:
            raise Point2ActError(f"write_relevancy_ply: {k} has {bad} non-finite values (NaN/inf); the field is "
                                 "broken there. Nothing was written.")
    frame = "capture frame, capture units"
    if base_from_capture is not None:
        from point2act.robot.frame import split_similarity

        split_similarity(base_from_capture)  # checks it
        m = np.asarray(base_from_capture, dtype=np.float64)
        xyz = xyz @ m[:3, :3].T + m[:3, 3]
        frame = "robot base frame, metres"
    rec = np.empty(n, dtype=PLY_DTYPE)
    rec["x"], rec["y"], rec["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    rec["relevancy"], rec["opacity"] = cols["relevancy"], cols["opacity"]
    rec["red"], rec["green"], rec["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    header = "\n".join([
        "ply",
        "format binary_little_endian 1.0",
        "comment point2act relevancy point cloud (Gaussian centres)",
        f"comment frame: {frame}",
        f"element vertex {n}",
        "property float x",
        "property float y",
        "property float z",
        "property float relevancy",
        "property float opacity",
        "property uchar red",
        "property uchar green",
        "property uchar blue",
        "end_header",
    ]) + "\n"

    def _write(f) -> None:
        f.write(header.encode("ascii"))
        f.write(rec.tobytes())

    return atomic_write(path, _write, binary=True)
