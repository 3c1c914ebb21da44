"""Pointer error models: what an MLLM pointer gets wrong, simulated on a synthetic scene.

Each view's answer starts from the oracle's (the visible target pixel nearest the centroid of the
visible target pixels, as :mod:`point2act.synth.oracle`; with ``pick="random"`` a random visible
target pixel: a region target such as a rim, where each view names a different spot), then the model
applies, in this order:

1. **hidden target** (fewer than ``min_visible_px`` target pixels): ``[]``; with ``occlusion`` the
   pointer instead answers where the target *would* be, the projection of the target's centroid,
   which lands on whatever hides it (the mug body, the occluder box, ...);
2. **occlusion-heavy views** (``occlusion``, the target less than ``occluded_below`` visible, i.e.
   visible pixels / pixels it covers when rendered alone): the same guess, the projection of the
   target's centroid (on the occluder when that pixel is hidden);
3. **no point** (probability ``none_rate``): ``[]`` although the target is visible;
4. **outlier** (probability ``outlier_rate``): a point on the scene's *confuser*, one distractor
   object picked per scene and seed (MLLM mistakes are systematic: the same wrong object in many
   views). ``outlier_mode="random"``: a random visible pixel of it (or of any visible distractor when
   the confuser is not visible); ``"same_spot"``: the *same 3D spot* of the confuser in every outlier
   view (the projection of the top centre of its bounding box, or the confuser pixel nearest to it
   where that spot is hidden), so that the outlier rays agree with each other;
5. **wrong twin** (probability ``twin_rate``, scenes with a twin of the target object): the pointer
   does the right thing on the wrong object, the oracle's pick on the twin's corresponding part
   (two alike mugs, the target named by a spatial phrase);
6. **pixel noise**: Gaussian, ``noise_px + noise_frac * image diagonal`` per axis, clamped to the image;
7. **multi-point answers** (``num_points`` > 1): the answer lists ``num_points`` points; the first is
   the one above, the others random visible target pixels, and each of them (the first included) is
   replaced by a random confuser pixel with probability ``point_wrong_rate``.

The random draws of a view are made in a fixed order whatever the settings (as the oracle's), so a
higher rate only adds views: the 40 % outlier views include the 20 % ones, the 50 % twin views the 30 % ones.
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
    noise_frac: float = 0.0
    """More Gaussian noise, per axis, as a fraction of the image diagonal (resolution-independent)."""
    outlier_mode: str = "random"
    """"random": an outlier is a random pixel of the confuser; "same_spot": the same 3D spot of it."""
    twin_rate: float = 0.0
    """Probability that a view names the twin object's corresponding part (scenes with a twin only)."""
    num_points: int = 1
    """Points per answer (multi-point answers)."""
    point_wrong_rate: float = 0.0
    """With ``num_points``: probability that each point of an answer is on the confuser instead."""
    pick: str = "nearest_centroid"
    """How the pointer picks its target pixel: "nearest_centroid" (the oracle) or "random"."""
    twin_only: bool = False
    """The level only applies to scenes with a twin (other scenes are not run at this level)."""

    def noise_std(self, width: int, height: int) -> float:
        """Per-axis noise standard deviation in pixels at this image size."""
        return float(self.noise_px + self.noise_frac * float(np.hypot(width, height)))


#: The sweep of the benchmark. The first seven are the levels of the first version; the others the
#: realistic errors of the fair protocol (same-spot confusion, twins, multi-point answers,
#: resolution-scaled noise, region targets answered at a random spot).
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
        ErrorModel("noise2d", noise_frac=0.02),
        ErrorModel("noise4d", noise_frac=0.04),
        ErrorModel("same20", outlier_rate=0.2, outlier_mode="same_spot"),
        ErrorModel("same40", outlier_rate=0.4, outlier_mode="same_spot"),
        ErrorModel("same60", outlier_rate=0.6, outlier_mode="same_spot"),
        ErrorModel("twin30", twin_rate=0.3, twin_only=True),
        ErrorModel("twin50", twin_rate=0.5, twin_only=True),
        ErrorModel("multi3", num_points=3, point_wrong_rate=0.3),
        ErrorModel("spread", pick="random"),
    )
}
#: The levels of the fair protocol's default run (``--levels protocol``).
PROTOCOL_LEVELS = ("clean", "noise2d", "noise4d", "out20", "out40", "out60", "same20", "same40", "same60",
                   "twin30", "twin50", "multi3", "spread", "occlusion", "none30")
#: Levels on the x axis of the outlier plot: (label, levels per outlier rate 0, 20, 40, 60 %).
OUTLIER_SWEEPS = {"random pixel of the confuser": ("clean", "out20", "out40", "out60"),
                  "same spot of the confuser": ("clean", "same20", "same40", "same60")}


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


def _oracle_pick(pix: np.ndarray) -> np.ndarray:  # [N, 2] -> [2]
    c = pix.mean(axis=0)
    return pix[int(np.argmin(np.sum((pix - c) ** 2, axis=1)))]


def _project1(p: np.ndarray, view: ViewInfo) -> tuple[float, float, bool]:
    (x, y), z = (v[0] for v in project(np.asarray(p, dtype=np.float64).reshape(1, 3), view.intrinsics, view.c2w))
    h, w = view.mask.shape
    return float(x), float(y), bool(z > 0 and 0.0 <= x < w and 0.0 <= y < h)


def same_spot_pixel(view: ViewInfo, spot: np.ndarray, ids: Sequence[int], min_px: int = 1) -> Optional[np.ndarray]:
    """The pixel of a 3D ``spot`` of an object (part ``ids``) in a view: its projection when that
    pixel shows the object, else the object's visible pixel nearest to the projection; None when
    fewer than ``min_px`` of its pixels are visible or the spot is behind the camera."""
    m = np.isin(view.mask, np.asarray(list(ids), dtype=np.int64))
    rows, cols = np.nonzero(m)
    if len(rows) < max(1, min_px):
        return None
    (x, y), z = (v[0] for v in project(np.asarray(spot, dtype=np.float64).reshape(1, 3), view.intrinsics, view.c2w))
    if not z > 0:
        return None
    h, w = m.shape
    if 0.0 <= x < w and 0.0 <= y < h and m[int(y), int(x)]:
        return np.array([x, y])
    pix = _centres(rows, cols)
    return pix[int(np.argmin(np.sum((pix - np.array([x, y])) ** 2, axis=1)))]


def answer(
    view: ViewInfo,
    model: ErrorModel,
    rng: np.random.Generator,
    target_id: int,
    target_centroid: np.ndarray,  # [3]
    confuser_id: Optional[int],
    distractor_ids: Sequence[int],
    confuser_spot: Optional[np.ndarray] = None,  # [3] the confuser's "same spot" (outlier_mode same_spot)
    confuser_ids: Sequence[int] = (),  # all part ids of the confuser object (default: [confuser_id])
    twin_id: Optional[int] = None,  # part id of the twin's part corresponding to the target
) -> tuple[List[List[float]], str]:
    """One view's answer (``[]`` or ``[[x, y], ...]`` in pixels) and its kind: "target", "outlier",
    "twin", "occluder" (a guess where the hidden target would be), "none" (no point although
    visible), "hidden" (no point, target hidden) or "out_of_view". For multi-point answers the kind
    is that of the first point."""
    u_none, u_out, u_which = rng.random(), rng.random(), rng.random()
    noise = rng.normal(0.0, 1.0, 2)
    # draws added with the new error models (after the first version's, which they leave unchanged)
    u_twin, u_pick = rng.random(), rng.random()
    u_multi = rng.random((max(model.num_points, 1), 3))
    noise_multi = rng.normal(0.0, 1.0, (max(model.num_points, 1), 2))
    mask = view.mask
    h, w = mask.shape
    rows, cols = np.nonzero(mask == target_id)
    n_vis, n_alone = len(rows), int(view.alone.sum())
    gx, gy, in_image = _project1(target_centroid, view)
    hidden = n_vis < max(1, model.min_visible_px)
    guess = model.occlusion and in_image and (hidden or n_vis < model.occluded_below * max(n_alone, 1))
    conf_ids = list(confuser_ids) or ([confuser_id] if confuser_id is not None else [])

    def confuser_random(u: float) -> Optional[np.ndarray]:
        dr, dc = (np.nonzero(mask == confuser_id) if confuser_id is not None else (np.zeros(0, int),) * 2)
        if len(dr) < max(1, model.min_visible_px):
            dr, dc = np.nonzero(np.isin(mask, np.asarray(list(distractor_ids), dtype=np.int64)))
        if not len(dr):
            return None
        k = min(int(u * len(dr)), len(dr) - 1)
        return _centres(dr[k : k + 1], dc[k : k + 1])[0]

    pix = _centres(rows, cols) if n_vis else np.zeros((0, 2))
    if guess:
        point = np.array([gx, gy])
        kind = "target" if mask[int(gy), int(gx)] == target_id else "occluder"
    elif hidden:
        return [], "hidden" if in_image else "out_of_view"
    elif u_none < model.none_rate:
        return [], "none"
    else:
        if model.pick == "random":
            point = pix[min(int(u_pick * len(pix)), len(pix) - 1)]
        else:
            point = _oracle_pick(pix)
        kind = "target"
        if u_out < model.outlier_rate:
            q = None
            if model.outlier_mode == "same_spot" and confuser_spot is not None and conf_ids:
                q = same_spot_pixel(view, confuser_spot, conf_ids, model.min_visible_px)
            if q is None:
                q = confuser_random(u_which)
            if q is not None:
                point, kind = q, "outlier"
        elif u_twin < model.twin_rate and twin_id is not None:
            tr, tc = np.nonzero(mask == twin_id)
            if len(tr) >= max(1, model.min_visible_px):
                point, kind = _oracle_pick(_centres(tr, tc)), "twin"
    std = model.noise_std(w, h)
    pts = [point + std * noise]
    if model.num_points > 1 and len(pix):
        first_wrong = u_multi[0, 0] < model.point_wrong_rate
        if first_wrong and kind == "target":
            q = confuser_random(u_multi[0, 1])
            if q is not None:
                pts[0], kind = q + std * noise, "outlier"
        for j in range(1, model.num_points):
            if u_multi[j, 0] < model.point_wrong_rate:
                q = confuser_random(u_multi[j, 1])
            else:
                q = pix[min(int(u_multi[j, 2] * len(pix)), len(pix) - 1)]
            if q is not None:
                pts.append(q + std * noise_multi[j])
    out = []
    for p in pts:
        x = float(np.clip(p[0], 0.0, float(w)))
        y = float(np.clip(p[1], 0.0, float(h)))
        out.append([round(x, 3), round(y, 3)])
    return out, kind


def _entropy(seed: int, scene_seed: Optional[int], *tail: int) -> List[int]:
    return [int(seed), *(() if scene_seed is None else (int(scene_seed), 0x5CE)), *(int(t) for t in tail)]


def pick_confuser(distractor_objects: Dict[str, List[int]], seed: int, exclude: Sequence[str] = (),
                  scene_seed: Optional[int] = None) -> Optional[str]:
    """The scene's confuser: one distractor object (name), drawn with ``seed`` and ``scene_seed``
    (``exclude``: objects that are not candidates, e.g. the target's twin, which has its own error model)."""
    names = sorted(n for n in distractor_objects if n not in set(exclude))
    if not names:
        return None
    return names[int(np.random.default_rng(_entropy(seed, scene_seed, 0xC0F)).integers(len(names)))]


def simulate(
    views: Sequence[ViewInfo],
    file_paths: Sequence[str],
    model: ErrorModel,
    seed: int,
    target_id: int,
    target_centroid: np.ndarray,  # [3]
    distractor_objects: Dict[str, List[int]],
    prompt: str,
    object_spots: Optional[Dict[str, np.ndarray]] = None,  # object name -> [3] its "same spot"
    twin: Optional[tuple[str, int]] = None,  # (twin object name, part id of its part matching the target)
    scene_seed: Optional[int] = None,
    confuser: Optional[str] = None,
) -> tuple[Dict[str, Any], List[str]]:
    """Points-file dict (``point2act.points`` format) for all views and each view's answer kind.

    View ``i`` draws from ``default_rng([seed, scene_seed, 0x5CE, i])`` and the confuser object from
    ``seed`` and ``scene_seed`` (the scene's layout seed), so that the pointers of two scenes are
    independent. With ``scene_seed=None`` view ``i`` draws from ``default_rng([seed, i])`` whatever the
    scene, the streams of the benchmark's first versions (the archived dev, val, val2, val3 and seeds
    4000+ results): there, view ``i`` of every scene was an outlier (or a twin) at the same pointer
    seed, so a level's 12 scenes x 3 seeds shared 3 draws of which views err.

    ``confuser``: the scene's named confuser object (the generators' two-pans scenes: the other pan, which
    is also the twin), used at every pointer seed instead of a drawn one.
    """
    if confuser is not None and confuser in distractor_objects:
        conf = confuser
    else:
        conf = pick_confuser(distractor_objects, seed, exclude=[twin[0]] if twin else (), scene_seed=scene_seed)
    # the confuser's visible pixels may span several part ids (mug body + handle): pick the largest
    conf_ids = distractor_objects.get(conf, []) if conf else []
    spot = (object_spots or {}).get(conf) if conf else None
    all_d = sorted({i for ids in distractor_objects.values() for i in ids})
    points: Dict[str, List[List[float]]] = {}
    kinds: List[str] = []
    for i, (v, fp) in enumerate(zip(views, file_paths)):
        rng = np.random.default_rng(_entropy(seed, scene_seed, i))
        cid = None
        if conf_ids:
            counts = [(int((v.mask == c).sum()), c) for c in conf_ids]
            cid = max(counts)[1]
        pts, kind = answer(v, model, rng, target_id, target_centroid, cid, all_d, confuser_spot=spot,
                           confuser_ids=conf_ids, twin_id=twin[1] if twin else None)
        points[fp] = pts
        kinds.append(kind)
    return {"prompt": prompt, "coordinates": "pixels", "points": points}, kinds
