"""Pointer error models: what an MLLM pointer gets wrong, simulated on a synthetic scene.

Each view's answer starts from the oracle's (the visible target pixel nearest the centroid of the
visible target pixels, as :mod:`point2act.synth.oracle`), then the model applies, in this order:

1. **hidden target** (fewer than ``min_visible_px`` target pixels): ``[]``; with ``occlusion`` the
   pointer instead answers where the target *would* be, the projection of the target's centroid,
   which lands on whatever hides it (the mug body, the occluder box, ...);
2. **occlusion-heavy views** (``occlusion``, the target less than ``occluded_below`` visible, i.e.
   visible pixels / pixels it covers when rendered alone): the same guess, the projection of the
   target's centroid (on the occluder when that pixel is hidden);
3. **no point** (probability ``none_rate``): ``[]`` although the target is visible;
4. **outlier** (probability ``outlier_rate``): a random visible pixel of the scene's *confuser*,
   one distractor object picked per scene and seed (MLLM mistakes are systematic: the same wrong
   object in many views), or of any visible distractor when the confuser is not visible;
5. **pixel noise**: Gaussian, ``noise_px`` per axis; the point is clamped to the image.

The random draws of a view are made in a fixed order whatever the settings (as the oracle's), so a
higher outlier rate only adds outlier views: the 40 % outlier views include the 20 % ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from point2act.synth.camera import Intrinsics, project


@dataclass(frozen=True)
class ErrorModel:
    """One pointer error level."""

    name: str
    """Short name used in tables and file names, e.g. "out20"."""
    noise_px: float = 0.0
    """Standard deviation of the Gaussian pixel noise, per axis, pixels."""
    outlier_rate: float = 0.0
    """Probability that a view's point lands on a distractor (the scene's confuser) instead."""
    none_rate: float = 0.0
    """Probability that the pointer answers "no point" ([]) on a view where the target is visible."""
    occlusion: bool = False
    """Occlusion-heavy behaviour: where the target is hidden or mostly hidden, point where it would
    be (the projection of its centroid), i.e. on the occluder."""
    occluded_below: float = 0.5
    """With ``occlusion``: views where less than this fraction of the target is visible guess."""
    min_visible_px: int = 12
    """Fewer visible target pixels than this: the target is hidden in that view."""


#: The sweep of the benchmark (the issue's list plus 60 % outliers and "no point" answers).
LEVELS: Dict[str, ErrorModel] = {
    m.name: m
    for m in (
        ErrorModel("clean"),
        ErrorModel("noise5", noise_px=5.0),
        ErrorModel("out20", outlier_rate=0.2),
        ErrorModel("out40", outlier_rate=0.4),
        ErrorModel("out60", outlier_rate=0.6),
        ErrorModel("occlusion", occlusion=True),
        ErrorModel("none30", none_rate=0.3),
    )
}


@dataclass
class ViewInfo:
    """What the pointer needs to know about one view of a scene."""

    mask: np.ndarray
    """[H, W] uint8 part ids."""
    alone: np.ndarray
    """[H, W] bool: pixels the target covers when rendered alone (no occluders)."""
    intrinsics: Intrinsics
    """Pinhole intrinsics."""
    c2w: np.ndarray
    """[4, 4] OpenGL camera-to-world."""


def _centres(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:  # -> [N, 2] (x, y)
    return np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float64)


def answer(
    view: ViewInfo,
    model: ErrorModel,
    rng: np.random.Generator,
    target_id: int,
    target_centroid: np.ndarray,  # [3]
    confuser_id: Optional[int],
    distractor_ids: Sequence[int],
) -> tuple[List[List[float]], str]:
    """One view's answer (``[]`` or ``[[x, y]]`` in pixels) and its kind: "target", "outlier",
    "occluder" (a guess where the hidden target would be), "none" (no point although visible),
    "hidden" (no point, target hidden) or "out_of_view"."""
    u_none, u_out, u_which = rng.random(), rng.random(), rng.random()
    noise = rng.normal(0.0, 1.0, 2)
    mask = view.mask
    h, w = mask.shape
    rows, cols = np.nonzero(mask == target_id)
    n_vis, n_alone = len(rows), int(view.alone.sum())
    (gx, gy), gz = (v[0] for v in project(np.asarray(target_centroid, dtype=np.float64)[None], view.intrinsics,
                                          view.c2w))
    in_image = gz > 0 and 0.0 <= gx < w and 0.0 <= gy < h
    hidden = n_vis < max(1, model.min_visible_px)
    guess = model.occlusion and in_image and (hidden or n_vis < model.occluded_below * max(n_alone, 1))
    if guess:
        point = np.array([gx, gy])
        kind = "target" if mask[int(gy), int(gx)] == target_id else "occluder"
    elif hidden:
        return [], "hidden" if in_image else "out_of_view"
    elif u_none < model.none_rate:
        return [], "none"
    else:
        pix = _centres(rows, cols)
        c = pix.mean(axis=0)
        point = pix[int(np.argmin(np.sum((pix - c) ** 2, axis=1)))]
        kind = "target"
        if u_out < model.outlier_rate:
            dr, dc = (np.nonzero(mask == confuser_id) if confuser_id is not None else (np.zeros(0, int),) * 2)
            if len(dr) < max(1, model.min_visible_px):
                dr, dc = np.nonzero(np.isin(mask, np.asarray(list(distractor_ids), dtype=np.int64)))
            if len(dr):
                k = min(int(u_which * len(dr)), len(dr) - 1)
                point = _centres(dr[k : k + 1], dc[k : k + 1])[0]
                kind = "outlier"
    point = point + model.noise_px * noise
    x = float(np.clip(point[0], 0.0, float(w)))
    y = float(np.clip(point[1], 0.0, float(h)))
    return [[round(x, 3), round(y, 3)]], kind


def pick_confuser(distractor_objects: Dict[str, List[int]], seed: int) -> Optional[str]:
    """The scene's confuser: one distractor object (name), drawn with ``seed``."""
    names = sorted(distractor_objects)
    if not names:
        return None
    return names[int(np.random.default_rng([int(seed), 0xC0F]).integers(len(names)))]


def simulate(
    views: Sequence[ViewInfo],
    file_paths: Sequence[str],
    model: ErrorModel,
    seed: int,
    target_id: int,
    target_centroid: np.ndarray,  # [3]
    distractor_objects: Dict[str, List[int]],
    prompt: str,
) -> tuple[Dict[str, Any], List[str]]:
    """Points-file dict (``point2act.points`` format) for all views and each view's answer kind.

    View ``i`` draws from ``default_rng([seed, i])``; the confuser object from ``seed``.
    """
    conf = pick_confuser(distractor_objects, seed)
    # the confuser's visible pixels may span several part ids (mug body + handle): pick the largest
    conf_ids = distractor_objects.get(conf, []) if conf else []
    all_d = sorted({i for ids in distractor_objects.values() for i in ids})
    points: Dict[str, List[List[float]]] = {}
    kinds: List[str] = []
    for i, (v, fp) in enumerate(zip(views, file_paths)):
        rng = np.random.default_rng([int(seed), i])
        cid = None
        if conf_ids:
            counts = [(int((v.mask == c).sum()), c) for c in conf_ids]
            cid = max(counts)[1]
        pts, kind = answer(v, model, rng, target_id, target_centroid, cid, all_d)
        points[fp] = pts
        kinds.append(kind)
    return {"prompt": prompt, "coordinates": "pixels", "points": points}, kinds
