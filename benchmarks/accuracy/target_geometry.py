"""The reconstruction's geometry at the scene's target part, against the true geometry.

The grasp head plans on the surface fused from the training views' rendered *median* depth
(:mod:`point2act.fusion`): a part missing from that surface cannot be grasped, and a part rendered behind its
true surface puts the gripper's fingers in the wrong place. Three figures, each at the target part only:

* **completeness**: of the true target's surface samples (``ground_truth_points.npy``) that at least two
  TRAINING views see (in the image, in front of the camera, not occluded by the true depth), the share lying
  within 5 mm of the surface fused (:func:`point2act.fusion.tsdf_fuse`, 2 mm voxels, a cube around the target)
  from the training views' median depth. Samples fewer than two views see could not be reconstructed from
  these views whatever the method, so they are left out.
* **depth at the target** (``depth_mm_*``): the median |rendered median depth - true depth| in mm over the
  target's pixels (part mask == target, true depth > 0) where the field renders something, pooled over the
  views, separately for the training and the held-out (eval split) views.
* **painted behind** (``behind_*``): the share of the target's pixels rendered more than 1 cm behind the true
  surface; a pixel where nothing renders (median depth 0 / not finite: the opacity never reaches 0.5) counts
  as behind: the ray sees through the target.
* **the room beside the target** (``room_*``): a grasp also needs the space its fingers enter beside the part to
  be reconstructed as free. Over the pixels of every other surface (the support, the neighbours) whose true
  point lies within :data:`ROOM_M` of the target's true surface, ``room_depth_mm_*`` is the median |rendered
  median depth - true depth| and ``room_raised_*`` the share rendered more than 1 cm *in front of* the truth:
  matter in the air where a finger goes (a pixel where nothing renders is no obstacle, and not raised).

The numeric core (:func:`depth_at_target`, :func:`reduce_depth`, :func:`visible_counts`,
:func:`completeness`) is plain numpy / scipy; :func:`target_geometry` loads a run and a scene folder.
Cameras: ``viewmats`` world-to-camera with OpenCV axes, ``Ks`` pinhole with pixel (i, j)'s centre at
(j + 0.5, i + 0.5) (:func:`point2act.fusion.view_points`). Lengths in metres (the capture units of a
metric scene).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import numpy as np

from point2act.grasp.config import GripperConfig

BEHIND_M = 0.01
"""A pixel rendered more than this behind the true surface is painted behind (metres)."""
SURFACE_TOL_M = 0.005
"""A sample within this of the fused surface is covered; a true depth within this of a sample's sees it."""
ROOM_M = GripperConfig.finger_length
"""The room beside the target: the other surfaces within this of its true surface (metres), the default
gripper's finger length (4.62 cm), how far a finger reaches beside the part."""
MAX_SAMPLES = 4000
"""At most this many target samples (a fixed random subset) for completeness."""


def depth_at_target(rendered: np.ndarray, truth: np.ndarray, mask: np.ndarray,
                    behind_m: float = BEHIND_M) -> Tuple[np.ndarray, int, int]:
    """One view's target pixels: ``(errors, pixels, behind)``.

    ``rendered``, ``truth``: [H, W] z-depth (metres; truth 0 = no surface, rendered 0 / not finite = nothing
    rendered); ``mask``: [H, W] bool, the target part. The target pixels are ``mask & (truth > 0)``;
    ``errors`` [M] are rendered - true (signed, metres) at those that render something, ``pixels`` is how many
    target pixels there are, ``behind`` how many render more than ``behind_m`` behind the truth or nothing."""
    rendered, truth = np.asarray(rendered, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    sel = np.asarray(mask, dtype=bool) & (truth > 0)
    d, t = rendered[sel], truth[sel]  # [P]
    ok = np.isfinite(d) & (d > 0)
    err = d[ok] - t[ok]  # [M]
    return err, int(sel.sum()), int((~ok).sum() + (err > behind_m).sum())


def room_mask(truth: np.ndarray, mask: np.ndarray, K: np.ndarray, viewmat: np.ndarray, target_points: np.ndarray,
              room_m: float = ROOM_M) -> np.ndarray:
    """[H, W] bool: the pixels of one view outside the target ``mask`` [H, W] whose true surface point (``truth``
    [H, W] z-depth, metres, 0 = none; ``K`` [3, 3], ``viewmat`` [4, 4] world-to-camera, OpenCV axes) lies within
    ``room_m`` of a ``target_points`` [N, 3] sample."""
    from scipy.spatial import cKDTree

    from point2act.fusion import DepthViews, view_points

    other = np.where(np.asarray(mask, dtype=bool), 0.0, np.asarray(truth, dtype=np.float64))  # [H, W]
    sel = other > 0
    i, j = np.nonzero(sel)  # the order view_points gives their points in
    views = DepthViews(other[None], np.ones((1,) + other.shape), np.asarray(K)[None], np.asarray(viewmat)[None])
    X = view_points(views, stride=1, min_alpha=0.0)  # [P, 3] each pixel's true point, world frame
    d, _ = cKDTree(np.asarray(target_points, dtype=np.float64).reshape(-1, 3)).query(X, distance_upper_bound=room_m)
    out = np.zeros_like(sel)
    out[i, j] = np.isfinite(d)
    return out


def room_depth(rendered: np.ndarray, truth: np.ndarray, room: np.ndarray,
               raised_m: float = BEHIND_M) -> Tuple[np.ndarray, int, int]:
    """One view's room pixels (``room`` [H, W] bool, :func:`room_mask`): ``(errors, pixels, raised)`` as
    :func:`depth_at_target`, ``raised`` counting the pixels rendered more than ``raised_m`` in front of the truth
    (a pixel where nothing renders is no obstacle: not raised)."""
    err, pixels, _ = depth_at_target(rendered, truth, room)
    return err, pixels, int((err < -raised_m).sum())


def reduce_depth(per_view: Iterable[Tuple[np.ndarray, int, int]]) -> Dict[str, float]:
    """Pool :func:`depth_at_target` over views: ``depth_mm`` (median |error| in mm over the rendered target
    pixels; NaN if none), ``behind`` (share of target pixels painted behind; NaN if none) and ``pixels``."""
    per_view = list(per_view)
    err = np.concatenate([np.asarray(e, dtype=np.float64) for e, _, _ in per_view] or [np.zeros(0)])
    pixels = int(sum(p for _, p, _ in per_view))
    behind = int(sum(b for _, _, b in per_view))
    return {"depth_mm": float(np.median(np.abs(err)) * 1000.0) if len(err) else float("nan"),
            "behind": behind / pixels if pixels else float("nan"), "pixels": pixels}


def visible_counts(points: np.ndarray, depths_true, Ks: np.ndarray, viewmats: np.ndarray,
                   tol_m: float = SURFACE_TOL_M) -> np.ndarray:
    """How many views see each point: [N] int.

    ``points`` [N, 3] (world); ``depths_true`` C x [H, W] true z-depth (0: no surface; sizes may differ);
    ``Ks`` [C, 3, 3]; ``viewmats`` [C, 4, 4] world-to-camera, OpenCV axes. A view sees a point when it lies in
    front of the camera, projects inside the image, and the true depth at its nearest pixel (``floor`` of the
    projection: pixel j spans [j, j + 1) around its centre j + 0.5) lies within ``tol_m`` of its own z: else
    something nearer hides it (or the pixel is empty)."""
    X = np.asarray(points, dtype=np.float64).reshape(-1, 3)  # [N, 3]
    count = np.zeros(len(X), dtype=np.int64)
    for D, K, vm in zip(depths_true, Ks, viewmats):
        D, K, vm = (np.asarray(a, dtype=np.float64) for a in (D, K, vm))
        Xc = X @ vm[:3, :3].T + vm[:3, 3]  # [N, 3] camera frame
        z = Xc[:, 2]
        front = z > 1e-9
        zs = np.where(front, z, 1.0)
        u, v = K[0, 0] * Xc[:, 0] / zs + K[0, 2], K[1, 1] * Xc[:, 1] / zs + K[1, 2]
        ok = front & np.isfinite(u) & np.isfinite(v)
        ok &= (u >= 0) & (u < D.shape[1]) & (v >= 0) & (v < D.shape[0])
        i, j = np.floor(v[ok]).astype(np.int64), np.floor(u[ok]).astype(np.int64)
        t = D[i, j]
        ok[ok] = (t > 0) & (np.abs(t - z[ok]) <= tol_m)
        count += ok
    return count


def completeness(points: np.ndarray, seen: np.ndarray, surface_points: np.ndarray,
                 tol_m: float = SURFACE_TOL_M) -> float:
    """Share of the ``points`` [N, 3] with ``seen`` [N] >= 2 that have a ``surface_points`` [M, 3] point
    within ``tol_m``; NaN when no point is seen twice, 0 when the surface is empty."""
    from scipy.spatial import cKDTree

    P = np.asarray(points, dtype=np.float64).reshape(-1, 3)[np.asarray(seen) >= 2]
    if not len(P):
        return float("nan")
    S = np.asarray(surface_points, dtype=np.float64).reshape(-1, 3)
    if not len(S):
        return 0.0
    d, _ = cKDTree(S).query(P, k=1, distance_upper_bound=2 * tol_m)
    return float(np.mean(d <= tol_m))


def fused_surface_at(views, center: np.ndarray, side: float, voxel: float = 0.002) -> np.ndarray:
    """The surface fused from ``views`` (a :class:`point2act.fusion.DepthViews` in the capture frame: median
    depth, 0 = nothing rendered) in a cube of ``side`` around ``center`` [3]: points [M, 3]
    (:func:`point2act.fusion.tsdf_fuse`, ``voxel`` at most side / 512)."""
    from point2act.fusion import tsdf_fuse

    pts = tsdf_fuse(views, np.asarray(center, dtype=np.float64), float(side), float(voxel))
    return pts


def capture_cameras(transforms: dict) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """transforms.json's cameras in the capture frame: frame file name -> (K [3, 3], viewmat [4, 4] world-to-
    camera, OpenCV axes), from ``transform_matrix`` (camera-to-world, OpenGL axes) and the intrinsics (a
    frame's own, else the top level's)."""
    from point2act.geometry import viewmats_from_c2w

    out = {}
    for f in transforms["frames"]:
        k = {n: float(f.get(n, transforms.get(n))) for n in ("fl_x", "fl_y", "cx", "cy")}
        K = np.array([[k["fl_x"], 0.0, k["cx"]], [0.0, k["fl_y"], k["cy"]], [0.0, 0.0, 1.0]])
        out[Path(f["file_path"]).name] = (K, viewmats_from_c2w(np.asarray(f["transform_matrix"])[None])[0])
    return out


def _eval_outputs(pipe, train_names: set):
    """The eval split's dataparser outputs (nerfstudio 1.1.5's ``FullImageDatamanager.eval_dataset``), or
    None; views also in the training split are not held out (an ``eval_mode`` "all" capture)."""
    ds = getattr(pipe.datamanager, "eval_dataset", None)
    out = getattr(ds, "_dataparser_outputs", None)
    if out is None:
        return None, []
    keep = [i for i, fp in enumerate(out.image_filenames) if Path(fp).name not in train_names]
    return out, keep


def target_geometry(config_path: Path, scene_dir: Path, target_id: int) -> Dict[str, float]:
    """The figures of one run (``config.yml``) of the scene in ``scene_dir`` (transforms.json with
    ``true_depth_path`` / ``part_mask_path``, ``ground_truth_points.npy``) at part ``target_id``."""
    import torch
    from PIL import Image

    from point2act.fusion import DepthViews, render_median_depth, views_in_frame
    from point2act.render import Splats
    from point2act.splatting import Views
    from point2act.method.run_layer import camera_views, frame_of_run, gaussian_tensors, load_run, run_of

    config_path, scene_dir = Path(config_path), Path(scene_dir)
    config, pipe = load_run(config_path)
    g = gaussian_tensors(pipe.model)
    frame = frame_of_run(config_path, run_of(config, pipe))  # nerfstudio = scale * (T capture)
    transforms = json.loads((scene_dir / "transforms.json").read_text())
    frames = {Path(f["file_path"]).name: f for f in transforms["frames"]}
    cams = capture_cameras(transforms)

    def load(f, key, div):  # [H, W]
        return np.asarray(Image.open(scene_dir / f[key]), dtype=np.float64) / div

    # the true target's samples (capture frame)
    pts = np.load(scene_dir / "ground_truth_points.npy").astype(np.float64).reshape(-1, 3)  # [N, 3]
    if len(pts) > MAX_SAMPLES:
        pts = pts[np.sort(np.random.default_rng(0).choice(len(pts), MAX_SAMPLES, replace=False))]

    def render(out, idx) -> Tuple[List[tuple], List[tuple], DepthViews | None, List[str]]:
        """Each view's target pixels and room pixels, and its median depth as DepthViews (capture frame)."""
        vms, Ks, sizes = camera_views(out.cameras)
        per, room, D, names = [], [], [], []
        for i in idx:
            H, W = sizes[i]
            d, _ = render_median_depth(Splats(g["means"], g["quats"], g["scales"], g["opacities"]),
                                       Views.one_size(vms[i : i + 1], Ks[i : i + 1], W, H))
            name = Path(out.image_filenames[i]).name
            f = frames[name]
            truth, part = load(f, "true_depth_path", 1000.0), load(f, "part_mask_path", 1.0)
            if truth.shape != d.shape:
                raise ValueError(f"{name}: rendered {d.shape} vs true depth {truth.shape}: a downscaled run?")
            metres = np.asarray(d, dtype=np.float64) / frame.scale  # z-depth: the frame's rotation keeps it
            per.append(depth_at_target(metres, truth, part == target_id))
            room.append(room_depth(metres, truth, room_mask(truth, part == target_id, *cams[name], pts)))
            D.append(np.asarray(d, dtype=np.float32))
            names.append(name)
        if not D:
            return per, room, None, names
        D = np.stack(D)  # [C, H, W] nerfstudio units
        ns = DepthViews(D, (D > 0).astype(np.float32), Ks[list(idx)].double().numpy(),
                        vms[list(idx)].double().numpy())
        return per, room, views_in_frame(ns, frame.transform, frame.scale), names

    with torch.no_grad():
        train = pipe.datamanager.train_dataparser_outputs
        per_train, room_train, views, names = render(train, range(len(train.image_filenames)))
        ev, keep = _eval_outputs(pipe, set(names))
        per_eval, room_eval = render(ev, keep)[:2] if ev is not None and keep else ([], [])

    # how many training views see each target sample (true depth, capture-frame cameras)
    seen = visible_counts(pts, [load(frames[n], "true_depth_path", 1000.0) for n in names],
                          np.stack([cams[n][0] for n in names]), np.stack([cams[n][1] for n in names]))
    lo, hi = pts.min(0), pts.max(0)
    surface = fused_surface_at(views, (lo + hi) / 2, float(np.linalg.norm(hi - lo)) + 0.04)
    rt, re = reduce_depth(per_train), reduce_depth(per_eval)
    mt, me = reduce_depth(room_train), reduce_depth(room_eval)  # "behind" is the raised share here
    return {"completeness": completeness(pts, seen, surface), "seen_samples": int((seen >= 2).sum()),
            "depth_mm_train": rt["depth_mm"], "depth_mm_heldout": re["depth_mm"],
            "behind_train": rt["behind"], "behind_heldout": re["behind"],
            "pixels_train": rt["pixels"], "pixels_heldout": re["pixels"],
            "views_train": len(per_train), "views_heldout": len(per_eval),
            "room_depth_mm_train": mt["depth_mm"], "room_depth_mm_heldout": me["depth_mm"],
            "room_raised_train": mt["behind"], "room_raised_heldout": me["behind"], "room_pixels_train": mt["pixels"]}


def main(argv=None) -> None:
    """``python -m benchmarks.accuracy.target_geometry RUN/config.yml SCENE_DIR [...]``: each run's figures as a
    JSON line, the target part from the scene's ``ground_truth.json`` (``target_part_id``)."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pairs", nargs="+", type=Path, help="config.yml and scene folder, in pairs")
    a = ap.parse_args(argv)
    if len(a.pairs) % 2:
        ap.error("give each run's config.yml with its scene folder")
    for cfg, sd in zip(a.pairs[::2], a.pairs[1::2]):
        target = int(json.loads((sd / "ground_truth.json").read_text())["target_part_id"])
        print(json.dumps({"config": str(cfg), "scene": sd.name, **target_geometry(cfg, sd, target)}), flush=True)


if __name__ == "__main__":
    main()
