"""A sparse point cloud from posed images: SIFT features, matching of the view pairs that share scene, each
pair's matches kept by the epipolar geometry of the known poses, triangulation with the known cameras (pycolmap:
COLMAP's own feature extractor, matcher and point triangulator). The same cloud for any thread count.

A capture with camera poses but no point cloud (a robot arm's own poses, a ``transforms.json`` without
``ply_file_path``, a COLMAP model loaded without its points) otherwise starts splatfacto from random
points. A short reconstruction from random points leaves thin parts thin and fuzzy and floaters in the
air; the grasp head then measures parts and labels them on that geometry. Points triangulated from
the images themselves, with the poses held fixed, put the first Gaussians on the surfaces the views
see. Nothing is estimated but the 3D points: poses and intrinsics are the capture's.

Plain numpy + pycolmap; nothing here imports nerfstudio. Cameras follow gsplat: ``viewmats`` are
world-to-camera with OpenCV axes (x right, y down, z forward), ``Ks`` pinhole intrinsics of the images
as given.

Which pairs are matched (:func:`view_pairs`): each view with its :data:`MATCH_NEIGHBOURS` nearest views by
camera centre, as COLMAP's spatial matcher pairs views with known positions. Matching is the start cloud's
one cost that grows faster than the views: every pair costs about the same (10 ms at 256x192 here), and all
pairs of 160 views are 12720 of them. A capture of up to ``MATCH_NEIGHBOURS + 1`` views is matched exhaustively
(every pair is then a neighbour pair); beyond, the pairs grow linearly, at most ``MATCH_NEIGHBOURS`` per view.
The far pairs left out are the ones that share the least scene, which SIFT matches worst anyway.

Check: ``tests/startcloud/test_triangulate.py`` triangulates a textured synthetic scene whose surfaces are known
and bounds the points' distance to them.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from point2act._open3d import load as load_open3d
from point2act.startcloud.stereo import image_uint8

__all__ = ["MATCH_NEIGHBOURS", "MIN_START_POINTS", "StartCloud", "TriangulatedCloud", "cloud_cache_path", "start_cloud",
           "triangulate_posed_images", "view_pairs", "write_ply", "read_ply"]

MAX_REPROJ_ERROR_PX = 2.0
"""Largest mean reprojection error (pixels) of a kept point: SIFT locates features to about a pixel."""
MIN_TRACK_LENGTH = 3
"""Fewest views a kept point is seen in: a two-view point has no check of its depth but the pair's own."""
MIN_ANGLE_DEG = 2.0
"""Smallest triangulation angle (COLMAP's ``min_angle`` is 1.5): below it a point's depth is poorly fixed."""
MAX_IMAGE_SIZE = 640
"""Longest image side the features are extracted at (pixels; COLMAP downscales larger images): a 4:3 view is
read at most at 640x480 pixels, the stereo's budget (:data:`point2act.startcloud.stereo.MAX_PIXELS`). SIFT's cost
follows the pixels; on generated 20-view 1280x960 captures (seeds 0-2, ``python -m benchmarks.start_cloud_budget``)
the triangulation took 7.7-9.1 s against 15.9-17.7 s at 1024, with 7-9 % fewer points, as near their true surfaces
(median depth error 0.35-0.39 mm either way)."""
MIN_START_POINTS = 100
"""Fewest triangulated points training starts from; with fewer (a textureless capture), the Gaussians
start at random: a hundred points cover a few features, not the scene's surfaces."""
STEREO_POINTS = 10000
"""At most this many dense stereo points join the start cloud (:func:`start_cloud`)."""
MIN_DEPTH_POINTS = 20
"""Fewest SIFT points a view must see for their median depth to be its scene depth (the stereo pairs' scale)."""
MATCH_NEIGHBOURS = 50
"""Views each view is matched with: its nearest by camera centre (:func:`view_pairs`; COLMAP's spatial matcher's
default, ``pycolmap.SpatialPairingOptions().max_num_neighbors``)."""
EPIPOLAR_MAX_ERROR_PX = 4.0
"""Largest distance (pixels) of a matched feature from the epipolar line of its match that the poses give
(COLMAP's own verification threshold, ``pycolmap.TwoViewGeometryOptions().ransac.max_error``)."""
MIN_PAIR_INLIERS = 15
"""Fewest such matches a view pair needs to count (COLMAP's ``TwoViewGeometryOptions().min_num_inliers``)."""
CACHE_VERSION = 6
"""Part of the cache key: raised whenever the start cloud or its depth maps change (their settings here or in
:mod:`point2act.startcloud.stereo`)."""


def cloud_cache_path(
    images: Sequence[np.ndarray],  # C x [H, W, 3] uint8
    Ks: np.ndarray,  # [C, 3, 3]
    viewmats: np.ndarray,  # [C, 4, 4]
) -> Path:
    """Where the cloud of these exact images and cameras is cached: ``$POINT2ACT_CACHE/../clouds`` or
    ``~/.cache/point2act/clouds``, named by the sha256 of pixels, intrinsics, poses and settings."""
    import hashlib
    import os

    from point2act.startcloud.stereo import MAX_PIXELS as STEREO_MAX_PIXELS

    h = hashlib.sha256(f"v{CACHE_VERSION}-{MAX_REPROJ_ERROR_PX}-{MIN_TRACK_LENGTH}-{MIN_ANGLE_DEG}-{MAX_IMAGE_SIZE}"
                       f"-{STEREO_POINTS}-{MIN_DEPTH_POINTS}-{MATCH_NEIGHBOURS}-{STEREO_MAX_PIXELS}".encode())
    for im in images:
        a = np.ascontiguousarray(im)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update(np.ascontiguousarray(np.asarray(Ks, dtype=np.float64)).tobytes())
    h.update(np.ascontiguousarray(np.asarray(viewmats, dtype=np.float64)).round(9).tobytes())
    env = os.environ.get("POINT2ACT_CACHE", "")
    root = Path(env).expanduser().parent if env else Path.home() / ".cache" / "point2act"
    return root / "clouds" / f"{h.hexdigest()[:24]}.ply"


@dataclass
class TriangulatedCloud:
    """Points triangulated from posed images."""

    points: np.ndarray  # [M, 3] float64
    """Positions, in the frame of the given cameras."""
    colors: np.ndarray  # [M, 3] uint8
    """RGB of each point (COLMAP's mean over its observations)."""
    errors: np.ndarray  # [M] float64
    """Mean reprojection error of each point, pixels."""
    track_lengths: np.ndarray  # [M] int64
    """Number of views each point is seen in."""
    num_views: int
    """Views given."""
    seconds: float
    """Wall time of extraction, matching and triangulation."""

    def __len__(self) -> int:
        return int(len(self.points))

    def summary(self) -> str:
        if len(self) == 0:
            return f"0 points from {self.num_views} views ({self.seconds:.1f} s)"
        return (f"{len(self)} points from {self.num_views} views, median reprojection error "
                f"{np.median(self.errors):.2f} px, median track {int(np.median(self.track_lengths))} views "
                f"({self.seconds:.1f} s)")


def view_pairs(viewmats: np.ndarray, neighbours: int = MATCH_NEIGHBOURS) -> np.ndarray:  # [C, 4, 4] -> [P, 2]
    """The view pairs to match ``(i, j)``, ``i < j``, sorted: each view with its ``neighbours`` nearest views by
    camera centre (ties: the lower index), in either direction. Every pair where there are at most
    ``neighbours + 1`` views."""
    vm = np.asarray(viewmats, dtype=np.float64).reshape(-1, 4, 4)
    n = len(vm)
    if n < 2:
        return np.zeros((0, 2), np.int64)
    if n <= neighbours + 1:
        return np.stack(np.triu_indices(n, 1), 1).astype(np.int64)
    centres = -np.einsum("cji,cj->ci", vm[:, :3, :3], vm[:, :3, 3])  # -R^T t
    dist = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    np.fill_diagonal(dist, np.inf)
    near = np.argsort(dist, axis=1, kind="stable")[:, :neighbours]  # [C, k]
    i = np.repeat(np.arange(n), neighbours)
    j = near.reshape(-1)
    pairs = np.unique(np.stack([np.minimum(i, j), np.maximum(i, j)], 1), axis=0)
    return pairs.astype(np.int64)


def _write_images(images: Sequence[np.ndarray], folder: Path) -> list[str]:
    """The images as COLMAP's feature extractor reads them: uncompressed BMP files (the same pixels as a PNG,
    without its compression, which took 3.3 s of the 20 views of `real/tools` at 640x360), named by index."""
    from PIL import Image

    names = []
    for i, im in enumerate(images):
        arr = image_uint8(im)
        if arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[..., :3]
        name = f"{i:05d}.bmp"
        Image.fromarray(arr).save(folder / name)
        names.append(name)
    return names


def triangulate_posed_images(
    images: Sequence[np.ndarray],  # C x [H, W, 3] uint8 (or float in [0, 1])
    Ks: np.ndarray,  # [C, 3, 3]
    viewmats: np.ndarray,  # [C, 4, 4] world-to-camera, OpenCV axes
    num_threads: int | None = None,
    progress: Callable[[str], None] | None = None,
    neighbours: int = MATCH_NEIGHBOURS,
) -> TriangulatedCloud:
    """Triangulate a sparse cloud from ``images`` with their known intrinsics ``Ks`` and poses
    ``viewmats``: COLMAP's SIFT extraction (:func:`_extract_features`), matching of the view pairs of
    :func:`view_pairs` (each view with its ``neighbours`` nearest, all pairs of a smaller capture), each pair's
    matches kept by the poses' epipolar geometry (:func:`_verify_by_poses`), and COLMAP's point triangulator with the
    poses fixed. Points seen in fewer than :data:`MIN_TRACK_LENGTH` views, or reprojecting worse than
    :data:`MAX_REPROJ_ERROR_PX` on average, are dropped. ``progress``: called with a line per stage. Returns an
    empty cloud when nothing can be matched (a textureless scene).

    ``num_threads``: COLMAP's threads (default: :func:`point2act.threads.process_threads`, the cores other programs
    leave free where the process follows them). The cloud is the same bits for any count
    (``tests/startcloud/test_triangulate.py``): the images are numbered in their order, and no step draws random
    samples."""
    import pycolmap

    level = pycolmap.logging.minloglevel
    pycolmap.logging.minloglevel = 2  # COLMAP's per-image INFO lines: the stages are reported by ``progress``
    if num_threads is None:
        from point2act.threads import process_threads

        num_threads = process_threads()
    try:
        return _triangulate(images, Ks, viewmats, max(1, int(num_threads)), neighbours, progress)
    finally:
        pycolmap.logging.minloglevel = level


def _extract_features(db_path: Path, image_dir: Path, names: Sequence[str], num_threads: int) -> None:
    """COLMAP's SIFT features of the images ``names`` (in ``image_dir``) into the database ``db_path``, its image
    ids in the order of ``names`` for any thread count: ``num_threads`` extractions of one thread each, on
    consecutive runs of the names, each into its own database, merged in order (``pycolmap.Database.merge``
    numbers the second's images after the first's). One extraction with several threads numbers the images in
    the order its threads finish them, and the matching and the triangulation follow those numbers (two runs of
    `real/tools` gave clouds of other bits). An image's features do not depend on the others'."""
    import pycolmap

    extraction = pycolmap.FeatureExtractionOptions()
    extraction.max_image_size = MAX_IMAGE_SIZE
    extraction.num_threads = 1
    extraction.use_gpu = False
    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = "PINHOLE"
    runs = [list(r) for r in np.array_split(np.asarray(names), max(1, min(int(num_threads), len(names)))) if len(r)]
    parts = [db_path.with_name(f"features{i}.db") for i in range(len(runs))]

    def extract(i: int) -> None:  # COLMAP releases the GIL: the runs extract side by side
        pycolmap.extract_features(parts[i], image_dir, image_names=runs[i], camera_mode=pycolmap.CameraMode.PER_IMAGE,
                                  reader_options=reader, extraction_options=extraction, device=pycolmap.Device.cpu)

    if len(runs) == 1:
        extract(0)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(runs), thread_name_prefix="point2act-sift") as pool:
            list(pool.map(extract, range(len(runs))))
    merged = parts[0]
    for i in range(1, len(runs)):
        into = db_path if i == len(runs) - 1 else db_path.with_name(f"merged{i}.db")
        a, b, m = (pycolmap.Database.open(x) for x in (merged, parts[i], into))
        try:
            pycolmap.Database.merge(a, b, m)
        finally:
            for x in (a, b, m):
                x.close()
        merged = into
    if merged != db_path:
        merged.rename(db_path)


def _verify_by_poses(db_path: Path, image_ids: Sequence[int], Ks: np.ndarray, viewmats: np.ndarray) -> int:
    """Each matched pair's inliers by the poses' epipolar geometry, written as its two-view geometry (what COLMAP's
    triangulator reads): a match is kept where each feature lies within :data:`EPIPOLAR_MAX_ERROR_PX` of the
    epipolar line of the other, ``F = K_b^-T [t]x R K_a^-1`` from the known poses; a pair with fewer than
    :data:`MIN_PAIR_INLIERS` inliers is left unverified. COLMAP's own verification estimates that geometry with
    RANSAC, which the poses make unnecessary and whose random samples, drawn per thread, gave other clouds with
    two threads (`real/tools`: 888 and 887 points in two runs). ``image_ids[i]``: the database id of view ``i``.
    Returns the pairs verified."""
    import pycolmap

    view = {int(iid): i for i, iid in enumerate(image_ids)}
    Kinv = np.linalg.inv(np.asarray(Ks, dtype=np.float64))
    db = pycolmap.Database.open(db_path)
    try:
        keypoints = {iid: np.asarray(db.read_keypoints(iid), dtype=np.float64)[:, :2] for iid in view}
        pair_ids, pair_matches = db.read_all_matches()
        verified = 0
        for pid, m in zip(pair_ids, pair_matches):
            id1, id2 = (int(x) for x in pycolmap.pair_id_to_image_pair(pid))
            m = np.asarray(m, dtype=np.int64).reshape(-1, 2)
            a, b = view[id1], view[id2]
            R = viewmats[b][:3, :3] @ viewmats[a][:3, :3].T  # camera a -> camera b
            t = viewmats[b][:3, 3] - R @ viewmats[a][:3, 3]
            E = np.array([[0.0, -t[2], t[1]], [t[2], 0.0, -t[0]], [-t[1], t[0], 0.0]]) @ R
            F = Kinv[b].T @ E @ Kinv[a]
            x1 = np.c_[keypoints[id1][m[:, 0]], np.ones(len(m))]
            x2 = np.c_[keypoints[id2][m[:, 1]], np.ones(len(m))]
            line2, line1 = x1 @ F.T, x2 @ F  # epipolar lines in b and in a
            e = np.abs(np.sum(x2 * line2, 1))
            with np.errstate(divide="ignore", invalid="ignore"):
                inlier = (e <= EPIPOLAR_MAX_ERROR_PX * np.hypot(line2[:, 0], line2[:, 1])) \
                    & (e <= EPIPOLAR_MAX_ERROR_PX * np.hypot(line1[:, 0], line1[:, 1]))
            if int(inlier.sum()) < MIN_PAIR_INLIERS:
                continue
            geometry = pycolmap.TwoViewGeometry()
            geometry.config = pycolmap.TwoViewGeometryConfiguration.CALIBRATED
            geometry.E, geometry.F = E, F
            geometry.inlier_matches = m[inlier].astype(np.uint32)
            db.write_two_view_geometry(id1, id2, geometry)
            verified += 1
    finally:
        db.close()
    return verified


def _triangulate(images, Ks, viewmats, num_threads, neighbours, progress) -> TriangulatedCloud:
    import pycolmap

    t0 = time.perf_counter()
    Ks = np.asarray(Ks, dtype=np.float64).reshape(-1, 3, 3)
    viewmats = np.asarray(viewmats, dtype=np.float64).reshape(-1, 4, 4)
    n = len(images)
    if not (len(Ks) == len(viewmats) == n):
        raise ValueError(f"{n} images, {len(Ks)} intrinsics and {len(viewmats)} poses differ in number")
    say = progress or (lambda line: None)
    empty = TriangulatedCloud(np.zeros((0, 3)), np.zeros((0, 3), np.uint8), np.zeros(0), np.zeros(0, np.int64), n, 0.0)
    if n < 2:
        empty.seconds = time.perf_counter() - t0
        return empty
    with tempfile.TemporaryDirectory(prefix="point2act-triangulate-") as tmp:
        tmp = Path(tmp)
        image_dir, out_dir, db_path = tmp / "images", tmp / "model", tmp / "database.db"
        image_dir.mkdir()
        out_dir.mkdir()
        names = _write_images(images, image_dir)
        say(f"SIFT features on {n} views")
        _extract_features(db_path, image_dir, names, num_threads)
        # the known intrinsics replace what the reader guessed from the image size
        db = pycolmap.Database.open(db_path)
        try:
            db_images = {im.name: im for im in db.read_all_images()}
            for name, K in zip(names, Ks):
                cam = db.read_camera(db_images[name].camera_id)
                cam.params = np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2]])
                cam.has_prior_focal_length = True
                db.update_camera(cam)
            cams = {im.camera_id: db.read_camera(im.camera_id) for im in db_images.values()}
        finally:
            db.close()
        pairs = view_pairs(viewmats, neighbours)
        every_pair = len(pairs) == n * (n - 1) // 2
        say(f"matching {len(pairs)} view pairs" + ("" if every_pair else f" (each view with its {neighbours} nearest)"))
        matching = pycolmap.FeatureMatchingOptions()
        matching.num_threads = num_threads
        matching.use_gpu = False
        matching.skip_geometric_verification = True  # the poses give each pair's geometry: _verify_by_poses
        if every_pair:
            pycolmap.match_exhaustive(db_path, matching_options=matching, device=pycolmap.Device.cpu)
        else:
            pairing = pycolmap.ImportedPairingOptions()
            pairing.match_list_path = str(tmp / "pairs.txt")
            (tmp / "pairs.txt").write_text("".join(f"{names[a]} {names[b]}\n" for a, b in pairs))
            pycolmap.match_image_pairs(db_path, matching_options=matching, pairing_options=pairing,
                                       device=pycolmap.Device.cpu)
        _verify_by_poses(db_path, [db_images[name].image_id for name in names], Ks, viewmats)
        rec = pycolmap.Reconstruction()
        for cam in cams.values():
            rec.add_camera_with_trivial_rig(cam)
        for name, vm in zip(names, viewmats):
            dbi = db_images[name]
            image = pycolmap.Image(name=name, camera_id=dbi.camera_id, image_id=dbi.image_id)
            pose = pycolmap.Rigid3d(pycolmap.Rotation3d(vm[:3, :3]), vm[:3, 3])
            rec.add_image_with_trivial_frame(image, pose)
        say("triangulating with the known poses")
        opts = pycolmap.IncrementalPipelineOptions()
        opts.triangulation.min_angle = MIN_ANGLE_DEG
        opts.num_threads = num_threads
        try:
            rec = pycolmap.triangulate_points(rec, db_path, image_dir, out_dir, options=opts)
        except Exception as exc:  # COLMAP raises on a database without a single verified pair
            say(f"triangulation failed: {exc}")
            empty.seconds = time.perf_counter() - t0
            return empty
    pts = list(rec.points3D.values())
    if not pts:
        empty.seconds = time.perf_counter() - t0
        return empty
    xyz = np.array([p.xyz for p in pts], dtype=np.float64).reshape(-1, 3)
    rgb = np.array([p.color for p in pts], dtype=np.uint8).reshape(-1, 3)
    err = np.array([p.error for p in pts], dtype=np.float64)
    track = np.array([p.track.length() for p in pts], dtype=np.int64)
    say(f"{len(xyz)} points triangulated, {int((track >= MIN_TRACK_LENGTH).sum())} in >= {MIN_TRACK_LENGTH} views, {int((err <= MAX_REPROJ_ERROR_PX).sum())} within {MAX_REPROJ_ERROR_PX} px")
    keep = (track >= MIN_TRACK_LENGTH) & (err <= MAX_REPROJ_ERROR_PX) & np.isfinite(xyz).all(1)
    # a fixed order (COLMAP's point ids follow its threads' scheduling): the cloud seeds the Gaussians
    order = np.lexsort(xyz[keep].T[::-1])
    return TriangulatedCloud(xyz[keep][order], rgb[keep][order], err[keep][order], track[keep][order], n,
                             time.perf_counter() - t0)


@dataclass
class StartCloud:
    """The start cloud of a capture without one: SIFT points and dense stereo points."""

    points: np.ndarray  # [M, 3] float64
    """Positions, in the frame of the given cameras: the SIFT points first, then the stereo points."""
    colors: np.ndarray  # [M, 3] uint8
    """RGB of each point."""
    sparse: TriangulatedCloud
    """The SIFT cloud (:func:`triangulate_posed_images`)."""
    dense: "object"
    """The stereo cloud (:class:`point2act.startcloud.stereo.StereoCloud`)."""

    def __len__(self) -> int:
        return int(len(self.points))

    def summary(self) -> str:
        return f"{self.sparse.summary()}; {self.dense.summary()}"


def view_depths(points: np.ndarray, Ks: np.ndarray, viewmats: np.ndarray, sizes, min_points: int) -> np.ndarray:  # [C]
    """The median z-depth of the ``points`` [M, 3] each view sees (in front, inside its ``sizes`` C x (H, W));
    NaN where fewer than ``min_points`` are seen."""
    out = np.full(len(viewmats), np.nan)
    for c, (K, vm, (h, w)) in enumerate(zip(Ks, viewmats, sizes)):
        cam = points @ np.asarray(vm[:3, :3], dtype=np.float64).T + np.asarray(vm[:3, 3], dtype=np.float64)
        z = cam[:, 2]
        front = z > 1e-9
        u = K[0, 0] * cam[front, 0] / z[front] + K[0, 2]
        v = K[1, 1] * cam[front, 1] / z[front] + K[1, 2]
        seen = z[front][(u >= 0) & (u < w) & (v >= 0) & (v < h)]
        if len(seen) >= min_points:
            out[c] = float(np.median(seen))
    return out


def start_cloud(
    images: Sequence[np.ndarray],  # C x [H, W, 3] uint8
    Ks: np.ndarray,  # [C, 3, 3]
    viewmats: np.ndarray,  # [C, 4, 4] world-to-camera, OpenCV axes
    progress: Callable[[str], None] | None = None,
) -> StartCloud:
    """The start cloud of a capture without a point cloud: the SIFT points (:func:`triangulate_posed_images`) and
    at most :data:`STEREO_POINTS` dense stereo points (:func:`point2act.startcloud.stereo.stereo_points`, every textured
    surface and silhouette the view pairs see, each point confirmed by a second pair). SIFT places the features;
    stereo covers the thin parts they miss (a handle, a pan's grip), which would otherwise start from random
    Gaussians. The stereo pairs' scale is each view's median SIFT depth, or where a view sees too few SIFT points,
    the distance to the point its optical axis passes nearest to the others' (:func:`point2act.startcloud.stereo.scene_depths`)."""
    from point2act.startcloud.stereo import scene_depths, stereo_points

    Ks = np.asarray(Ks, dtype=np.float64).reshape(-1, 3, 3)
    viewmats = np.asarray(viewmats, dtype=np.float64).reshape(-1, 4, 4)
    sparse = triangulate_posed_images(images, Ks, viewmats, progress=progress)
    depth = view_depths(sparse.points, Ks, viewmats, [np.asarray(im).shape[:2] for im in images], MIN_DEPTH_POINTS)
    depth = np.where(np.isfinite(depth), depth, scene_depths(viewmats))
    if progress is not None:
        progress(f"dense stereo on view pairs (at most {STEREO_POINTS} points)")
    dense = stereo_points(images, Ks, viewmats, depth, max_points=STEREO_POINTS)
    return StartCloud(np.concatenate([sparse.points, dense.points], 0),
                      np.concatenate([sparse.colors, dense.colors], 0).astype(np.uint8), sparse, dense)


def depth_maps_path(cloud_path: Path) -> Path:
    """Where the stereo depth maps of a cached start cloud are kept: beside it, ``<hash>.depths.npz``."""
    return Path(cloud_path).with_suffix(".depths.npz")


def write_depth_maps(path: Path, maps: Sequence[np.ndarray]) -> None:
    """The views' depth maps (C x [H, W] float32, 0 where none) as a compressed npz of each view's shape, the flat
    indices of its pixels with a depth and their depths; written atomically."""
    from point2act.io import atomic_write

    arrays = {}
    for i, m in enumerate(maps):
        flat = np.asarray(m, dtype=np.float32).reshape(-1)
        idx = np.flatnonzero(flat > 0)
        arrays[f"shape{i}"] = np.asarray(np.shape(m), dtype=np.int64)
        arrays[f"index{i}"] = idx.astype(np.int64)
        arrays[f"depth{i}"] = flat[idx]
    atomic_write(path, lambda f: np.savez_compressed(f, count=np.int64(len(maps)), **arrays), binary=True)


def read_depth_maps(path: Path) -> list:
    """The depth maps :func:`write_depth_maps` wrote: C x [H, W] float32."""
    with np.load(path) as z:
        out = []
        for i in range(int(z["count"])):
            m = np.zeros(int(np.prod(z[f"shape{i}"])), np.float32)
            m[z[f"index{i}"]] = z[f"depth{i}"]
            out.append(m.reshape(tuple(int(v) for v in z[f"shape{i}"])))
        return out


def write_ply(path: Path, points: np.ndarray, colors: np.ndarray) -> None:
    """Binary little-endian PLY of ``points`` [M, 3] (float32 x, y, z) and ``colors`` [M, 3] (uint8
    red, green, blue): what nerfstudio's ``ply_file_path`` reads. Written atomically (:mod:`point2act.io`): the
    start-cloud cache is shared by every process on the machine, and a second training on the same capture reads
    it while the first may be writing it."""
    from point2act.io import atomic_write

    pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    rgb = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
    head = ("ply\nformat binary_little_endian 1.0\n"
            f"element vertex {len(pts)}\n"
            "property float x\nproperty float y\nproperty float z\n"
            "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n").encode()
    rec = np.empty(len(pts), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")])
    rec["x"], rec["y"], rec["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    rec["r"], rec["g"], rec["b"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    atomic_write(path, lambda f: f.write(head + rec.tobytes()), binary=True)


def read_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Points [M, 3] float64 and colours [M, 3] uint8 of a PLY (open3d's values; plyfile reads what
    :func:`point2act._open3d.read_ply_cloud` reads, open3d the rest)."""
    from point2act._open3d import read_ply_cloud

    pc = read_ply_cloud(path)
    if pc is None:
        pc = load_open3d().io.read_point_cloud(str(path))
    pts = np.asarray(pc.points, dtype=np.float64)
    rgb = (np.clip(np.round(np.asarray(pc.colors) * 255.0), 0, 255).astype(np.uint8) if pc.has_colors()
           else np.full((len(pts), 3), 128, np.uint8))
    return pts, rgb
