"""Oracle pointer: answers "point to the handle" from the written part masks.

It stands in for a pointing model (and can be made worse with noise and outliers), and
writes the project's points-file format::

    {"prompt": "Point to the handle of the mug", "coordinates": "pixels",
     "points": {"images/frame_0000.png": [[x, y]], "images/frame_0003.png": [], ...}}

Keys are the frames' ``file_path`` strings from transforms.json. Points are [x, y] pixels,
origin at the top-left corner, x right, y down, the centre of pixel (row i, col j) being
(j + 0.5, i + 0.5). ``[]`` means the target is not visible in that view.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from point2act.synth.config import DEFAULT_PROMPT, PART_FIRST_DISTRACTOR, PART_MUG_HANDLE

PICKS = ("nearest_centroid", "random")


@dataclass(frozen=True)
class OracleSettings:
    """How the oracle answers a view: when it sees the target, which target pixel it points at and how it errs.
    Every view of a scene is answered with the same settings (:func:`oracle_points` hands them to
    :func:`oracle_answer`)."""

    noise_px: float = 0.0
    """Std of the Gaussian noise added to the point, pixels per axis."""
    outlier_rate: float = 0.0
    """Probability that the point moves to a random visible distractor pixel."""
    min_visible_px: int = 12
    """Fewer visible target pixels than this: no point (occlusion)."""
    pick: str = "nearest_centroid"
    """Which target pixel: "nearest_centroid" or "random" (:data:`PICKS`)."""


def _pixel_centres(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(N, 2) [x, y] pixel-centre coordinates of the given pixels."""
    return np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float64)


def oracle_answer(
    mask: np.ndarray,
    rng: np.random.Generator,
    target_id: int = PART_MUG_HANDLE,
    distractor_ids: tuple[int, ...] | None = None,
    settings: OracleSettings = OracleSettings(),
) -> list[list[float]]:
    """The oracle's answer for one view's part mask (H, W) uint8: ``[]`` or ``[[x, y]]``, with
    ``settings`` (:class:`OracleSettings`):

    * fewer than ``min_visible_px`` target pixels -> ``[]``;
    * otherwise a visible target pixel centre: the one nearest the centroid of the visible
      target pixels ("nearest_centroid", ties broken in row-major order) or a uniformly
      random one ("random");
    * with probability ``outlier_rate`` the point moves to a random visible distractor
      pixel instead (kept on the target when no distractor is visible);
    * Gaussian noise of std ``noise_px`` per axis is added, then the point is clamped to
      the image ([0, W] x [0, H]).

    The random draws are made in a fixed order whatever the settings, so e.g. changing
    ``noise_px`` does not change which views get outliers.
    """
    noise_px, outlier_rate, min_visible_px, pick = (settings.noise_px, settings.outlier_rate,
                                                    settings.min_visible_px, settings.pick)
    if pick not in PICKS:
        raise ValueError(f"pick must be one of {PICKS}, got {pick!r}")
    h, w = mask.shape
    u_pick = rng.random()
    u_outlier = rng.random()
    u_which = rng.random()
    noise = rng.normal(0.0, 1.0, 2)

    rows, cols = np.nonzero(mask == target_id)
    if len(rows) < max(1, min_visible_px):
        return []
    pix = _pixel_centres(rows, cols)  # (N, 2), row-major order
    if pick == "nearest_centroid":
        c = pix.mean(axis=0)
        point = pix[int(np.argmin(np.sum((pix - c) ** 2, axis=1)))]
    else:
        point = pix[min(int(u_pick * len(pix)), len(pix) - 1)]

    if u_outlier < outlier_rate:
        if distractor_ids is None:
            drows, dcols = np.nonzero(mask >= PART_FIRST_DISTRACTOR)
        else:
            drows, dcols = np.nonzero(np.isin(mask, np.asarray(distractor_ids)))
        if len(drows):
            k = min(int(u_which * len(drows)), len(drows) - 1)
            point = _pixel_centres(drows[k : k + 1], dcols[k : k + 1])[0]

    point = point + noise_px * noise
    x = float(np.clip(point[0], 0.0, float(w)))
    y = float(np.clip(point[1], 0.0, float(h)))
    return [[round(x, 3), round(y, 3)]]


def oracle_points(
    scene_dir: Path | str,
    settings: OracleSettings = OracleSettings(),
    seed: int = 0,
    prompt: str | None = None,
) -> dict[str, Any]:
    """Points-file dict for a generated scene, computed from its ``masks/*.png``.

    Reads transforms.json (frame order, ``part_mask_path``, prompt) and ground_truth.json
    (target and distractor part ids). Each view uses its own generator seeded by
    ``(seed, frame index)``, so answers do not depend on other views. See
    :func:`oracle_answer` for the rules and ``settings``.
    """
    scene_dir = Path(scene_dir)
    meta = json.loads((scene_dir / "transforms.json").read_text())
    gt = json.loads((scene_dir / "ground_truth.json").read_text())
    target_id = int(gt["target_part_id"])
    distractors = tuple(int(p["id"]) for p in gt["parts"] if p.get("role") == "distractor")
    if prompt is None:
        prompt = meta.get("point2act", {}).get("prompt", DEFAULT_PROMPT)
    points: dict[str, list[list[float]]] = {}
    for idx, frame in enumerate(meta["frames"]):
        mask_rel = frame.get("part_mask_path") or "masks/" + Path(frame["file_path"]).name
        mask = np.asarray(Image.open(scene_dir / mask_rel))
        rng = np.random.default_rng([int(seed), idx])
        points[frame["file_path"]] = oracle_answer(
            mask,
            rng,
            target_id=target_id,
            distractor_ids=distractors,
            settings=settings,
        )
    return {"prompt": prompt, "coordinates": "pixels", "points": points}


def write_points_file(points: dict[str, Any], path: Path | str) -> Path:
    """Write a points-file dict as JSON (stable formatting, one line per frame)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "{",
        f'  "prompt": {json.dumps(points["prompt"])},',
        f'  "coordinates": {json.dumps(points["coordinates"])},',
        '  "points": {',
    ]
    items = list(points["points"].items())
    for i, (k, v) in enumerate(items):
        sep = "," if i < len(items) - 1 else ""
        lines.append(f"    {json.dumps(k)}: {json.dumps(v)}{sep}")
    lines += ["  }", "}"]
    path.write_text("\n".join(lines) + "\n")
    return path
