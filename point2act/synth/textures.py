"""Albedo textures of the synthetic tabletop: functions ``(N, 3) world points -> (N, 3) RGB in
[0, 1]`` evaluated per ray hit (no resolution limit): wood, the ArUco marker printed on the table,
and the objects' colours with procedural noise.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from point2act.synth.config import SynthConfig
from point2act.synth.meshes import _rot_z
from point2act.synth.noise import fbm3, hash01

AlbedoFn = Callable[[np.ndarray], np.ndarray]
"""(N, 3) world points -> (N, 3) RGB albedo in [0, 1]."""


def _varied(colour: tuple[float, float, float], seed: int, freq: float, amount: float) -> AlbedoFn:
    """Albedo = colour * (1 +- amount) with smooth fbm variation at ``freq`` cycles/m."""
    c = np.asarray(colour, dtype=np.float64)

    def fn(p: np.ndarray) -> np.ndarray:
        v = fbm3(p * freq, seed)  # (N,) in [0, 1]
        return np.clip(c[None] * (1.0 - amount + 2.0 * amount * v)[:, None], 0.0, 1.0)

    return fn


def table_albedo(seed: int) -> AlbedoFn:
    """Parquet-like wood: 6 cm checker tiles with alternating grain direction, per-tile tone,
    warped sinusoidal grain and fine noise. Plenty of texture for reconstruction."""
    light = np.array([0.78, 0.58, 0.38])
    dark = np.array([0.56, 0.37, 0.22])
    tile = 0.06

    def fn(p: np.ndarray) -> np.ndarray:
        i = np.floor(p[:, 0] / tile).astype(np.int64)
        j = np.floor(p[:, 1] / tile).astype(np.int64)
        checker = ((i + j) % 2).astype(bool)
        across = np.where(checker, p[:, 0], p[:, 1])  # coordinate across the grain
        warp = fbm3(p * 9.0, seed + 7)
        grain = 0.5 + 0.5 * np.sin(2 * np.pi * (across * 70.0 + 2.5 * warp))
        tone = hash01(i, j, np.zeros_like(i), seed + 13)
        fine = fbm3(p * 120.0, seed + 17)
        base = np.where(checker[:, None], dark[None], light[None])
        k = 0.74 + 0.14 * grain + 0.14 * tone + 0.10 * fine
        return np.clip(base * k[:, None], 0.0, 1.0)

    return fn


MARKER_WHITE: float = 0.92
"""Albedo of the marker's white cells and of the sheet around it."""
MARKER_BLACK: float = 0.04
"""Albedo of the marker's black cells."""


def marker_bits(dictionary: str, marker_id: int) -> np.ndarray:
    """The marker's cells as a (n, n) bool array (True = white), row 0 at the marker's top edge,
    the black border included (n = marker bits + 2). Uses ``cv2.aruco.generateImageMarker``."""
    import cv2

    from point2act.errors import Point2ActError

    d = getattr(cv2.aruco, dictionary, None)
    if not dictionary.startswith("DICT_") or not isinstance(d, int):
        raise Point2ActError(f"SynthConfig.marker_dictionary {dictionary!r} is not an OpenCV ArUco dictionary "
                             "(e.g. DICT_4X4_50, DICT_5X5_100, DICT_6X6_250)")
    aruco = cv2.aruco.getPredefinedDictionary(d)
    n_dict = int(aruco.bytesList.shape[0])
    if not 0 <= int(marker_id) < n_dict:
        raise Point2ActError(f"SynthConfig.marker_id {marker_id} is not in {dictionary} (ids 0..{n_dict - 1})")
    n = int(aruco.markerSize) + 2
    img = cv2.aruco.generateImageMarker(aruco, int(marker_id), n, borderBits=1)
    return np.asarray(img) > 127


def marker_pose(config: SynthConfig) -> np.ndarray:
    """(4, 4) world-from-marker pose of the synthetic marker: origin at the marker's centre on the
    table top, x along its first edge (top-left -> top-right corner of the marker image), z up (out
    of the printed face), y = z cross x (towards the top edge): OpenCV's ArUco marker frame."""
    t = np.eye(4)
    t[:3, :3] = _rot_z(math.radians(config.marker_yaw_deg))
    t[:3, 3] = (config.marker_x, config.marker_y, 0.0)
    return t


def marker_albedo(base: AlbedoFn, config: SynthConfig) -> AlbedoFn:
    """``base`` (the table) with the ArUco marker of ``config`` printed on it: the marker's cells
    (nearest-cell lookup, sharp edges) on a white sheet one cell wider on every side."""
    bits = marker_bits(config.marker_dictionary, config.marker_id)
    n = bits.shape[0]
    size = float(config.marker_size)
    cell = size / n
    pose = marker_pose(config)
    r, c = pose[:3, :3], pose[:3, 3]

    def fn(p: np.ndarray) -> np.ndarray:
        out = base(p)
        local = (p - c[None]) @ r  # marker-frame coordinates
        u, v = local[:, 0], local[:, 1]
        half = size / 2 + cell
        on_sheet = (np.abs(u) < half) & (np.abs(v) < half) & (np.abs(local[:, 2]) < 1e-4)
        col = np.floor((u + size / 2) / cell).astype(np.int64)
        row = np.floor((size / 2 - v) / cell).astype(np.int64)
        inside = on_sheet & (col >= 0) & (col < n) & (row >= 0) & (row < n)
        white = on_sheet.copy()
        white[inside] = bits[row[inside], col[inside]]
        out[on_sheet] = np.where(white[on_sheet, None], MARKER_WHITE, MARKER_BLACK)
        return out

    return fn


def ball_albedo(centre: np.ndarray, a: tuple, b: tuple, yaw: float, seed: int) -> AlbedoFn:
    """Beach-ball: 8 longitudinal segments alternating colours ``a``/``b`` with mild noise."""
    ca, cb = np.asarray(a), np.asarray(b)

    def fn(p: np.ndarray) -> np.ndarray:
        d = p - centre[None]
        lon = np.arctan2(d[:, 1], d[:, 0]) + yaw
        seg = (np.floor(lon / (np.pi / 4)).astype(np.int64) % 2).astype(bool)
        col = np.where(seg[:, None], ca[None], cb[None])
        v = fbm3(p * 60.0, seed)
        return np.clip(col * (0.9 + 0.2 * v)[:, None], 0.0, 1.0)

    return fn


def can_albedo(base_z: float, height: float, body: tuple, label: tuple, seed: int) -> AlbedoFn:
    """Can: metal-grey top/bottom bands, a coloured body and a striped label in the middle."""
    cbody, clabel = np.asarray(body), np.asarray(label)
    metal = np.array([0.72, 0.72, 0.74])

    def fn(p: np.ndarray) -> np.ndarray:
        h = (p[:, 2] - base_z) / height  # 0..1 along the can
        col = np.repeat(cbody[None], len(p), axis=0)
        in_label = (h > 0.35) & (h < 0.65)
        stripes = (np.floor(h * 40.0).astype(np.int64) % 2).astype(bool)
        col[in_label] = np.where(stripes[in_label, None], clabel[None], 0.92 * np.ones(3)[None])
        col[(h < 0.06) | (h > 0.94)] = metal
        v = fbm3(p * 50.0, seed)
        return np.clip(col * (0.9 + 0.2 * v)[:, None], 0.0, 1.0)

    return fn

