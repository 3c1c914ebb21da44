"""Point2ActDataManager: full images plus a relevancy target heatmap per supervised view.

It extends nerfstudio's ``FullImageDatamanager`` (what splatfacto uses). Points come from a
points file (``--pipeline.datamanager.points-file``) or, when a prompt and a pointer are given,
from a pointer run before training (its answers are cached as a points file beside the data).
Points are mapped from the stored image to the image nerfstudio trains on (downscaled and
undistorted) and turned into heatmaps (see :mod:`point2act.heatmap`).

Captures as users have them: images are loaded by :class:`Point2ActDataset`, which fixes on load
(with one warning per kind of fix) what nerfstudio 1.1.5 would crash on or silently misread --
a downscaled copy 1 pixel off nerfstudio's rounded-down camera size (``images_4/`` made by
rounding), grayscale / palette / 16-bit / CMYK / grayscale+alpha images, an EXIF-rotated image
whose rotated size is the camera's, masks with several channels or 1 pixel off -- and raises a
:class:`~point2act.checks.capture.CaptureError` naming the file and both sizes for any other mismatch.
A missing ``images_N/`` folder (nerfstudio-data: fails on the first image; colmap: asks on the
terminal, then exits) is replaced by downscaling the stored images on load.
"""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Dict, List, Literal, Tuple, Type

import numpy as np
import torch

from nerfstudio.data.datamanagers.full_images_datamanager import FullImageDatamanager, FullImageDatamanagerConfig
from nerfstudio.data.datasets.base_dataset import InputDataset
from nerfstudio.utils.rich_utils import CONSOLE

from point2act.heatmap import HEATMAP_SIGMA_FRAC
from point2act.method.keys import DEPTH_KEY, SUPERVISED_KEY, TARGET_KEY
from point2act._open3d import ply_reader
from point2act.checks.capture import load_warnings_quiet
from point2act.method.answers import HeatmapStore, match_points_to_views, points_in_training_images
from point2act.pointing.config import PointerConfig
from point2act.points import PointsFile, load_points_file


@dataclass
class Point2ActDataManagerConfig(FullImageDatamanagerConfig):
    """Full-image datamanager that also serves relevancy heatmaps from 2D points."""

    _target: Type = field(default_factory=lambda: Point2ActDataManager)
    points_file: Path | None = None
    """JSON points file: {"prompt", "coordinates": "pixels"|"normalized", "points": {image path: [[x, y], ...]}}.
    Keys are image paths as written in transforms.json; [] means "not in this view"; views left
    out get no relevancy supervision."""
    prompt: str = ""
    """Task for the pointer (used when no points file is given, and recorded with the run)."""
    pointer: PointerConfig = field(default_factory=PointerConfig)
    """MLLM that points on every training and eval view before training when a prompt is given
    without a points file: --pipeline.datamanager.pointer.backend molmo|molmo2|qwen-vl|openai|oracle,
    --pipeline.datamanager.pointer.model ..., etc. (the same options as `point2act point`). Answers
    are cached, so a second run on the same capture does not query again."""
    pointer_output: Path | None = None
    """Where to write the points file made before training; default: in the answer cache folder
    (<cache dir>/files/<capture>-<prompt>-<hash>.json). Its path is printed."""
    triangulate: bool = True
    """When the capture has no point cloud, triangulate one from the training images with their known
    poses (:mod:`point2act.startcloud.triangulate`) and start the Gaussians from it; cached under
    ``~/.cache/point2act/clouds`` and copied into the run as ``triangulated.ply``. False: start from
    random points."""
    plane_depth: bool = True
    """When the capture has neither a point cloud nor depth images, find the table by a plane sweep of the
    training photos (:mod:`point2act.startcloud.plane_sweep`) and supervise the depth of the pixels that show it, where
    stereo gave none; cached beside the triangulated clouds. False: no plane."""


def _strip_downscale_dir(rel: Path, factor: int) -> Path:
    """``images_4/0001.jpg`` -> ``images/0001.jpg`` (nerfstudio's downscaled-folder naming)."""
    if factor <= 1 or len(rel.parts) < 2:
        return rel
    m = re.fullmatch(rf"(.*)_{factor}", rel.parts[0])
    if m is None:
        return rel
    return Path(m.group(1), *rel.parts[1:])


class _WarnOnce:
    """Prints each kind of on-load fix once per run (images load on 2 threads)."""

    def __init__(self) -> None:
        self.seen: set = set()
        self.lock = threading.Lock()

    def __call__(self, kind: str, line: str) -> None:
        if load_warnings_quiet():
            return
        with self.lock:
            if kind in self.seen:
                return
            self.seen.add(kind)
        CONSOLE.print(f"point2act: warning: {line}", soft_wrap=True, markup=False, highlight=False, style="yellow")


class Point2ActDataset(InputDataset):
    """nerfstudio's ``InputDataset`` that loads each image (and mask) at its camera's size, through
    :func:`point2act.checks.capture.load_image_for_camera` (see the module docstring)."""

    def __init__(self, dataparser_outputs, scale_factor: float = 1.0):
        super().__init__(dataparser_outputs, scale_factor)
        cams = dataparser_outputs.cameras
        self._expect = [(int(w), int(h)) for w, h in zip(cams.width.reshape(-1), cams.height.reshape(-1))]
        """Each camera's size at the parser's downscale factor (what the file should be)."""
        self._target = [(int(w), int(h)) for w, h in zip(self.cameras.width.reshape(-1), self.cameras.height.reshape(-1))]
        """Each camera's size after camera_res_scale_factor (what nerfstudio asserts), fixed before undistortion."""
        self.factor: float = 1.0
        """The parser's downscale factor (set by the datamanager)."""
        self.full_sizes: List[Tuple[int, int] | None] | None = None
        """Stored (full-resolution) size of each image when known (nerfstudio-data: transforms.json)."""
        self.warn = _WarnOnce()

    def _load(self, idx: int, path: Path, target: Tuple[int, int], mask: bool):
        from point2act.checks.capture import load_image_for_camera
        from point2act.checks.capture_images import CameraSizes

        full = self.full_sizes[idx] if self.full_sizes is not None else None
        camera = CameraSizes(self._expect[idx], target, self.factor, self.scale_factor, full)
        arr, notes = load_image_for_camera(Path(path), camera, mask=mask)
        for kind, line in notes:
            self.warn(("mask-" if mask else "") + kind, line)
        return arr

    def get_numpy_image(self, image_idx: int) -> np.ndarray:  # (H, W, 3 or 4) uint8
        return self._load(image_idx, self._dataparser_outputs.image_filenames[image_idx], self._target[image_idx],
                          mask=False)

    def _depth(self, idx: int, height: int, width: int) -> torch.Tensor | None:
        """The view's measured depth [H, W, 1] in scene units (nerfstudio's ``depth_file_path``: 16-bit PNG
        in ``depth_unit_scale_factor`` metres, or ``.npy``), resized to the image (nearest); None without
        one. A view whose camera has lens distortion gets none (nerfstudio undistorts the image only)."""
        meta = self._dataparser_outputs.metadata
        files = meta.get("depth_filenames")
        if not files:
            return None
        dist = self.cameras.distortion_params
        if dist is not None and bool((dist[idx] != 0).any()):
            self.warn("depth-distortion", "depth images of cameras with lens distortion are not used "
                      "(the image is undistorted on load, the depth would not line up)")
            return None
        from nerfstudio.data.utils.data_utils import get_depth_image_from_path

        path = Path(files[idx])
        if not path.is_file():
            from point2act.checks.capture import CaptureError

            raise CaptureError(f"{path}: depth image not found (frame {idx}'s depth_file_path in transforms.json)")
        scale = float(meta.get("depth_unit_scale_factor", 1e-3)) * float(self._dataparser_outputs.dataparser_scale)
        return get_depth_image_from_path(path, height, width, scale)

    def get_data(self, image_idx: int, image_type: Literal["uint8", "float32"] = "float32") -> Dict:
        """``InputDataset.get_data`` with masks loaded by :meth:`_load` (nerfstudio 1.1.5 refuses
        multi-channel masks and asserts their size)."""
        if image_type == "float32":
            image = self.get_image_float32(image_idx)
        elif image_type == "uint8":
            image = self.get_image_uint8(image_idx)
        else:
            raise NotImplementedError(f"image_type (={image_type}) getter was not implemented, use uint8 or float32")
        data = {"image_idx": image_idx, "image": image}
        depth = self._depth(image_idx, image.shape[0], image.shape[1])
        if depth is not None:
            data[DEPTH_KEY] = depth
        if self._dataparser_outputs.mask_filenames is not None:
            path = self._dataparser_outputs.mask_filenames[image_idx]
            h, w = image.shape[:2]
            data["mask"] = torch.from_numpy(self._load(image_idx, path, (w, h), mask=True)).unsqueeze(-1)
        if self.mask_color:
            data["image"] = torch.where(
                data["mask"] == 1.0, data["image"], torch.ones_like(data["image"]) * torch.tensor(self.mask_color)
            )
        data.update(self.get_metadata(data))
        return data


_MAX_AUTO_RESOLUTION = 1600  # nerfstudio's MAX_AUTO_RESOLUTION (colmap parser's automatic downscale factor)


def _colmap_factor(config, data: Path) -> Tuple[int, Path]:
    """The downscale factor nerfstudio's colmap parser will use, and its images folder; checks the model."""
    from PIL import Image

    from point2act.checks.capture import CaptureError

    dp = config.dataparser
    colmap = data / dp.colmap_path
    if not data.is_dir():
        raise CaptureError(f"{data}: capture folder not found. Pass --data the folder holding {dp.colmap_path}/ "
                           f"and {dp.images_path}/.")
    if not any((colmap / f"cameras.{ext}").is_file() and (colmap / f"images.{ext}").is_file() for ext in ("bin", "txt")):
        hint = (" It has a transforms.json: drop 'colmap' from the command (nerfstudio-data is the default parser)."
                if (data / "transforms.json").is_file() else
                " Point --colmap-path (after 'colmap') at the folder holding cameras.bin and images.bin, "
                "e.g. sparse/0.")
        raise CaptureError(f"{colmap}: no COLMAP model (cameras.bin + images.bin, or .txt) there.{hint}")
    images = data / dp.images_path
    files = sorted(p for p in images.iterdir() if p.is_file()) if images.is_dir() else []
    if not files:
        raise CaptureError(f"{images}: no images folder for the COLMAP model. Put the images COLMAP ran on "
                           "there, or pass --images-path (after 'colmap').")
    if dp.downscale_factor is not None:
        return int(dp.downscale_factor), images
    with Image.open(files[0]) as im:
        max_res = max(im.size)
    df = 0
    while max_res / 2**df > _MAX_AUTO_RESOLUTION:
        df += 1
    return 2**df, images


def _check_capture(config: Point2ActDataManagerConfig, test_mode: str) -> Tuple[object | None, Dict[str, str]]:
    """Validate the capture before nerfstudio's parser reads it (:mod:`point2act.checks.capture`) and make a
    missing ``images_N/`` folder a downscale on load. Returns (the capture summary or None, notes)."""
    from nerfstudio.data.dataparsers.colmap_dataparser import ColmapDataParserConfig
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from point2act.checks.capture import validate_capture

    data = Path(config.data if config.data is not None else config.dataparser.data)
    notes: Dict[str, str] = {}
    if isinstance(config.dataparser, ColmapDataParserConfig):
        # nerfstudio asks on the terminal whether to write images_N/ (EOFError without one, exit 1 on "no",
        # a PermissionError in a read-only capture); downscale on load instead
        factor, images = _colmap_factor(config, data)
        folder = images.parent / f"{images.name}_{factor}"
        if factor > 1 and not folder.is_dir():
            if test_mode != "inference":  # export / viewer load no images: only avoid the prompt
                notes["downscale"] = (f"{folder}/ not found: the images are downscaled by {factor} on load instead "
                                      f"(nerfstudio would ask to write {folder.name}/ into the capture)")
            config.dataparser.downscale_factor = 1
            config.camera_res_scale_factor = config.camera_res_scale_factor / factor
        return None, notes
    if test_mode == "inference" or not isinstance(config.dataparser, NerfstudioDataParserConfig):
        return None, notes  # export / viewer read no images; other parsers have their own checks
    factor = config.dataparser.downscale_factor
    summary = validate_capture(data, downscale_factor=factor, notes=[])
    notes.update(summary.note_kinds)
    if summary.downscale_on_load:
        config.dataparser.downscale_factor = 1
        config.camera_res_scale_factor = config.camera_res_scale_factor / int(factor)
    return summary, notes


def _attach_depth(dm: "Point2ActDataManager", depths: List[np.ndarray], source: str, nothing: str) -> None:
    """The depth maps ``depths`` (C x [H, W], 0 = no measurement) as ``dm``'s training views' depth where a view
    has none yet, and the model's depth loss on (``metadata["stereo_depth"]``: depth from the photos, supervised
    as a sensor's). Maps that do not fit the views change nothing; maps without a pixel log ``nothing`` (why
    ``source`` gave none)."""
    if len(depths) != len(dm.cached_train) or any(
            tuple(d.shape) != tuple(data["image"].shape[:2]) for data, d in zip(dm.cached_train, depths)):
        return
    n = sum(int((d > 0).sum()) for d in depths)
    if n == 0:
        CONSOLE.log(f"\\[point2act] no depth supervision from {source}: {nothing}")
        return
    for data, depth in zip(dm.cached_train, depths):
        had = data.get(DEPTH_KEY)
        new = torch.from_numpy(np.asarray(depth, dtype=np.float32))[..., None]
        data[DEPTH_KEY] = new if had is None else torch.where(had > 0, had, new)
    dm.train_dataparser_outputs.metadata["stereo_depth"] = True
    dm.train_dataset.metadata["stereo_depth"] = True  # what the pipeline gives the model
    CONSOLE.log(f"\\[point2act] depth supervision from {source}: {n} pixels in {len(depths)} training views")


class Point2ActDataManager(FullImageDatamanager[Point2ActDataset]):
    """See :class:`Point2ActDataManagerConfig`."""

    config: Point2ActDataManagerConfig

    def __init__(self, config: Point2ActDataManagerConfig, *args, **kwargs):
        self._capture, notes = _check_capture(config, kwargs.get("test_mode", args[1] if len(args) > 1 else "val"))
        self._warn = _WarnOnce()
        for kind, line in notes.items():
            self._warn(kind, line)
        # nerfstudio's parser reads a capture's PLY cloud with open3d (0.6 s to import): plyfile reads it instead,
        # the same values (point2act._open3d.ply_reader)
        with ply_reader():
            super().__init__(config, *args, **kwargs)
        self.points: PointsFile | None = None
        self._train_points: Dict[int, np.ndarray] = {}
        if self.test_mode == "inference":
            # export / viewer: no images are loaded, no supervision is needed
            if config.points_file is not None and Path(config.points_file).is_file():
                self.points = load_points_file(config.points_file)
            return
        self.triangulated_path: Path | None = None
        """The triangulated start cloud (:meth:`_triangulate_if_no_cloud`), None when not made."""
        no_cloud = self.train_dataparser_outputs.metadata.get("points3D_xyz") is None
        if (config.triangulate or config.plane_depth) and no_cloud:
            self._start_from_photos(config.triangulate, config.plane_depth)
        self.points = self._resolve_points()
        if self.points is not None:
            self._train_points = self._match_points(self.points)
            n_pos = sum(1 for p in self._train_points.values() if len(p))
            CONSOLE.log(
                f"[point2act] relevancy supervision on {len(self._train_points)} of {len(self.train_dataset)} "
                f"training views ({n_pos} with points, {len(self._train_points) - n_pos} 'not in view')"
            )

    # -- a start cloud for captures without one ---------------------------------------------------
    def training_views(self) -> Tuple[List[np.ndarray], np.ndarray, np.ndarray]:
        """The training images as trained on (uint8 [H, W, 3], undistorted), their intrinsics [C, 3, 3] and
        world-to-camera matrices [C, 4, 4] (OpenCV axes), in nerfstudio's frame."""
        cams = self.train_dataset.cameras
        images = [d["image"] for d in self.cached_train]  # undistorted: cams' intrinsics are the final ones
        from point2act.geometry import viewmat_from_c2w

        Ks = cams.get_intrinsics_matrices().detach().double().cpu().numpy()
        viewmats = viewmat_from_c2w(cams.camera_to_worlds.detach().double().cpu()).numpy()
        arrays = [(img.detach().float().cpu().numpy() * (255.0 if img.dtype.is_floating_point else 1.0))
                  .clip(0, 255).round().astype(np.uint8)[..., :3] for img in images]
        return arrays, Ks, viewmats

    def _start_from_photos(self, triangulate: bool, plane_depth: bool) -> None:
        """What a capture without a point cloud starts from, from its photos: the triangulated start cloud with its
        stereo depth (:meth:`_triangulate_if_no_cloud`) and the support plane's depth (:meth:`_plane_depths`).
        The two are independent: the plane sweep runs in a thread while the cloud is triangulated (its numpy and
        OpenCV work overlaps the SIFT, stereo and triangulation kernels on another core), and its depth is attached
        after the stereo depth, as when they ran one after the other (the same bytes)."""
        from concurrent.futures import ThreadPoolExecutor

        views = self.training_views()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="point2act-plane") as pool:
            plane = pool.submit(self._plane_depths, views) if plane_depth else None
            if triangulate:
                self._triangulate_if_no_cloud(views)
            if plane is not None:
                self._supervise_plane_depth(plane.result())

    def _triangulate_if_no_cloud(self, views=None) -> None:
        """Put a triangulated cloud in the parser's metadata (``points3D_xyz`` / ``points3D_rgb``, what
        nerfstudio's pipeline seeds splatfacto from) when the capture has none. Fewer than
        :data:`point2act.startcloud.triangulate.MIN_START_POINTS` points (a textureless capture): a warning, and the
        Gaussians start at random. ``views``: :meth:`training_views`, where the caller has them."""
        meta = self.train_dataparser_outputs.metadata
        if meta.get("points3D_xyz") is not None:
            return
        from point2act.startcloud.triangulate import (MIN_START_POINTS, cloud_cache_path, depth_maps_path, read_depth_maps,
                                           read_ply, start_cloud, write_depth_maps, write_ply)

        arrays, Ks, viewmats = views if views is not None else self.training_views()
        path = cloud_cache_path(arrays, Ks, viewmats)
        if path.is_file() and depth_maps_path(path).is_file():
            pts, rgb = read_ply(path)
            depths = read_depth_maps(depth_maps_path(path))
            CONSOLE.log(f"\\[point2act] no point cloud in the capture: {len(pts)} triangulated points from the cache {path}")
        else:
            CONSOLE.log(f"\\[point2act] no point cloud in the capture: triangulating one from {len(arrays)} training "
                        "views with their poses (pycolmap SIFT and dense stereo; --pipeline.datamanager.triangulate "
                        "False skips it)")
            cloud = start_cloud(arrays, Ks, viewmats, progress=lambda line: CONSOLE.log(f"\\[point2act]   {line}"))
            pts, rgb, depths = cloud.points, cloud.colors, list(cloud.dense.depths)
            CONSOLE.log(f"\\[point2act] triangulated {cloud.summary()}")
            path.parent.mkdir(parents=True, exist_ok=True)
            write_ply(path, pts, rgb)
            write_depth_maps(depth_maps_path(path), depths)
        self._supervise_stereo_depth(depths)
        if len(pts) < MIN_START_POINTS:
            self._warn("triangulate", f"only {len(pts)} points could be triangulated from the training views "
                       f"(fewer than {MIN_START_POINTS}: a capture with little texture); the Gaussians start "
                       "from random points")
            return
        meta["points3D_xyz"] = torch.from_numpy(np.asarray(pts, dtype=np.float32))
        meta["points3D_rgb"] = torch.from_numpy(np.asarray(rgb, dtype=np.uint8))
        self.triangulated_path = path

    def _supervise_stereo_depth(self, depths: List[np.ndarray]) -> None:
        """The stereo depth maps (:attr:`point2act.startcloud.stereo.StereoCloud.depths`: each view's consistency-checked
        stereo points at their pixels) as the training views' depth, supervised by the model's depth loss as a
        sensor's would be (``metadata["stereo_depth"]``): the rendered depth is held where two view pairs agree
        on a surface, a thin part's included, instead of only starting Gaussians there. Not where the capture has
        sensor depth. Pixels without a stereo point carry 0 (no measurement)."""
        if self.train_dataparser_outputs.metadata.get("depth_filenames"):
            return
        # no view pair (views too far apart) or no texture: nothing to supervise, no depth render
        _attach_depth(self, depths, "stereo", "no view pair gave a confirmed point")

    def _plane_depths(self, views) -> List[np.ndarray] | None:
        """The support plane's depth in each training view (:func:`point2act.startcloud.plane_sweep.plane_depths`; ``views``:
        :meth:`training_views`), from the cache beside the start cloud's or by a plane sweep; [] where no plane
        explains the photos; None where the capture has sensor depth."""
        if self.train_dataparser_outputs.metadata.get("depth_filenames"):
            return None
        from point2act.startcloud.plane_sweep import cache_tag, plane_depths, support_plane
        from point2act.startcloud.triangulate import cloud_cache_path, read_depth_maps, write_depth_maps

        arrays, Ks, viewmats = views
        cloud = cloud_cache_path(arrays, Ks, viewmats)
        path = cloud.with_name(f"{cloud.stem}-plane-{cache_tag()}.npz")
        if path.is_file():
            CONSOLE.log(f"\\[point2act] support plane from the cache {path}")
            return read_depth_maps(path)
        CONSOLE.log(f"\\[point2act] finding the support plane by a plane sweep of {len(arrays)} training views "
                    "(--pipeline.datamanager.plane-depth False skips it)")
        found = support_plane(arrays, Ks, viewmats, progress=lambda line: CONSOLE.log(f"\\[point2act]   {line}"))
        depths = [] if found is None else plane_depths(arrays, Ks, viewmats, found.plane)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_depth_maps(path, depths)
        return depths

    def _supervise_plane_depth(self, depths: List[np.ndarray] | None) -> None:
        """The support plane's depth (:meth:`_plane_depths`) as the training views' depth where they have none from
        stereo, supervised as :meth:`_supervise_stereo_depth`'s is: a faintly textured table is held where its
        photos place it, not in the layer of Gaussians above it that explains them as well. Not where the capture
        has sensor depth (None)."""
        if depths is None:
            return
        if not depths:  # no plane found
            depths = [np.zeros(d["image"].shape[:2], np.float32) for d in self.cached_train]
        _attach_depth(self, depths, "the support plane", "no plane explains the photos")

    @property
    def prompt(self) -> str:
        if self.config.prompt:
            return self.config.prompt
        return self.points.prompt if self.points is not None else ""

    # -- points ---------------------------------------------------------------------------------
    def _resolve_points(self) -> PointsFile | None:
        if self.config.points_file is not None:
            return load_points_file(self.config.points_file)
        if self.config.prompt:
            from point2act.pointing.run import point_capture_to_file

            data_dir = Path(self.config.dataparser.data)
            if data_dir.suffix == ".json":
                data_dir = data_dir.parent
            # every view of the capture (train + eval), pointed on the stored full-resolution images
            keys = self._image_keys(self.train_dataset) + self._image_keys(self.eval_dataset)
            CONSOLE.log(
                f"\\[point2act] no points file: pointing on {len(set(keys))} views with the "
                f"{self.config.pointer.backend} pointer, prompt {self.config.prompt!r}"
            )
            path = point_capture_to_file(
                self.config.pointer, data_dir, keys, self.config.prompt, output=self.config.pointer_output
            )
            CONSOLE.log(f"\\[point2act] wrote points file {path}")
            return load_points_file(path)
        CONSOLE.log("[yellow][point2act] no points file: training RGB only, relevancy stays unsupervised")
        return None

    @cached_property
    def _downscale_factor(self) -> int:
        # nerfstudio-data keeps it in .downscale_factor, colmap in ._downscale_factor
        f = getattr(self.dataparser, "downscale_factor", None) or getattr(self.dataparser, "_downscale_factor", None)
        return int(f) if f else 1

    @cached_property
    def parser_cameras(self):
        """The training split's cameras as the dataparser gives them at the stored images' resolution, before
        undistortion: what nerfstudio's inference load of the run holds (``eval_setup``: its datamanager sets the
        parser's ``downscale_factor`` to 1, so as to open no image), and so what the run layer reads whichever way
        the run is loaded (:meth:`~point2act.method.run_data.LoadedRun.of_pipeline`, the run's info). A training
        datamanager's own parser cameras are at the parser's downscale factor where the capture has an
        ``images_N/`` folder (nerfstudio-data's ``--downscale-factor N``, or its automatic one): parsed again here
        at factor 1, as the inference load parses them."""
        cams = self.train_dataparser_outputs.cameras
        factor = getattr(self.dataparser, "downscale_factor", None)
        if self.test_mode == "inference" or factor is None or int(factor) == 1:
            return cams
        parser = self.dataparser_config.setup()
        parser.downscale_factor = 1  # nerfstudio's FullImageDatamanager in test_mode "inference"
        return parser.get_dataparser_outputs(split="train").cameras

    def _setup_dataset(self, dataset: Point2ActDataset) -> Point2ActDataset:
        dataset.factor = float(self._downscale_factor)
        dataset.warn = self._warn
        if self._capture is not None:
            sizes = self._capture.sizes
            dataset.full_sizes = [sizes.get(k) for k in self._image_keys(dataset)]
        return dataset

    def create_train_dataset(self) -> Point2ActDataset:
        return self._setup_dataset(super().create_train_dataset())

    def create_eval_dataset(self) -> Point2ActDataset:
        return self._setup_dataset(super().create_eval_dataset())

    def _image_keys(self, dataset) -> List[str]:
        """The key of each image of a dataset: its path as written in the capture's transforms.json."""
        data_dir = Path(self.config.dataparser.data)
        if data_dir.suffix == ".json":
            data_dir = data_dir.parent
        keys = []
        for fname in dataset._dataparser_outputs.image_filenames:
            fname = Path(fname)
            try:
                rel = fname.relative_to(data_dir)
            except ValueError:
                rel = Path(fname.name)
            keys.append(_strip_downscale_dir(rel, self._downscale_factor).as_posix())
        return keys

    def _stored_sizes(self, dataset) -> List[Tuple[int, int]]:
        """Size (w, h) of each stored (full-resolution) image: transforms.json's when the capture was
        checked, else the parser's cameras times the downscale factor (which rounded down)."""
        cams = dataset._dataparser_outputs.cameras
        f = self._downscale_factor
        approx = [(int(round(float(w) * f)), int(round(float(h) * f))) for w, h in zip(cams.width[:, 0], cams.height[:, 0])]
        if self._capture is None:
            return approx
        known = [self._capture.sizes.get(k) for k in self._image_keys(dataset)]
        return [k if k is not None else a for k, a in zip(known, approx)]

    def _match_points(self, pf: PointsFile) -> Dict[int, np.ndarray]:
        """Validate the points against the capture and map them into each training image."""
        return match_points_to_views(pf, self._image_keys(self.train_dataset), self._stored_sizes(self.train_dataset),
                                     self._image_keys(self.eval_dataset), self._stored_sizes(self.eval_dataset),
                                     self._downscale_factor)

    # -- heatmaps -------------------------------------------------------------------------------
    @cached_property
    def train_points_final(self) -> Dict[int, np.ndarray]:
        """Points in pixels of each training image as cached (after downscale + undistortion)."""
        _ = self.cached_train  # undistortion updates final intrinsics
        return points_in_training_images(self._train_points, self.train_dataparser_outputs.cameras,
                                         self.train_dataset.cameras, self._downscale_factor)

    @cached_property
    def train_heatmaps(self) -> "HeatmapStore":
        """Target heatmap [H, W, 1] of each supervised training view, made from its points on access."""
        cams = self.train_dataset.cameras
        sizes = {idx: (int(cams.height[idx]), int(cams.width[idx])) for idx in self.train_points_final}
        return HeatmapStore(self.train_points_final, sizes, HEATMAP_SIGMA_FRAC)

    def next_train(self, step: int):
        """nerfstudio's ``FullImageDatamanager.next_train`` (the same views in the same order, the same batch and
        camera) plus the view's target heatmap, with each view's per-step work done once
        (:class:`TrainViewCache`): nerfstudio slices the view's camera out of the training cameras at every step
        (two ``Cameras`` built, 0.2-0.4 ms), splatfacto converts the uint8 photo to float32 at every step, and the
        heatmap store renders the heatmap from its points at every step (0.1 ms at 256x192)."""
        image_idx = self.train_unseen_cameras.pop(0)
        if len(self.train_unseen_cameras) == 0:
            self.train_unseen_cameras = self.sample_train_cameras()
        data = self.cached_train[image_idx].copy()  # a new dict: the cached one is not mutated
        views = self.train_view_cache
        data["image"] = views.image(image_idx, data["image"])
        camera = views.camera(image_idx)
        camera.metadata["cam_idx"] = image_idx
        heat = views.heatmap(image_idx)
        camera.metadata[SUPERVISED_KEY] = heat is not None
        if heat is not None:
            data[TARGET_KEY] = heat
        fine = getattr(self, "fine_views", None)
        if fine is not None and fine.crop_due(step, image_idx):  # the fine stage (point2act.method.fineviews)
            camera, data = fine.crop(image_idx, camera, data)
        return camera, data

    @cached_property
    def train_view_cache(self) -> "TrainViewCache":
        """Each training view's camera, float32 photo and target heatmap, made on first use (see
        :class:`TrainViewCache`)."""
        return TrainViewCache(self)


TRAIN_VIEW_CACHE_BYTES = 256 * 2**20
"""Bytes of float32 photos and heatmaps :class:`TrainViewCache` keeps (the demo's 22 views at 256x192: 16.5 MiB at most);
views beyond it are converted and rendered at every step, as nerfstudio and the heatmap store do."""


class TrainViewCache:
    """What :meth:`Point2ActDataManager.next_train` hands out per training view, made on the view's first step.

    - the camera: nerfstudio's ``train_cameras[i : i + 1].to(device)``, kept; each step gets a shallow copy with
      its own metadata dict (``Cameras.rescale_output_resolution``, which splatfacto calls twice a step, assigns
      new tensors to the copy's fields and leaves the kept camera as it is);
    - the photo as splatfacto's ``get_gt_img`` computes it, ``image.float() / 255.0``, for a uint8 cache
      (``cache_images_type="uint8"``): ``get_gt_img`` leaves a float32 image as it is, so the loss sees the same
      values without the conversion at every step;
    - the target heatmap the heatmap store renders (None: the view has no relevancy supervision).

    Photos and heatmaps are kept while they fit in :data:`TRAIN_VIEW_CACHE_BYTES`; the tensors handed out are
    the kept ones, which nothing downstream writes to (the losses read them)."""

    _MISSING = object()

    def __init__(self, datamanager: "Point2ActDataManager", max_bytes: int | None = None):
        self.dm = datamanager
        self.max_bytes = TRAIN_VIEW_CACHE_BYTES if max_bytes is None else int(max_bytes)
        self.nbytes = 0
        self._cameras: Dict[int, object] = {}
        self._images: Dict[int, torch.Tensor] = {}
        self._heatmaps: Dict[int, torch.Tensor | None] = {}

    def _keep(self, t: torch.Tensor) -> bool:
        n = t.numel() * t.element_size()
        if self.nbytes + n > self.max_bytes:
            return False
        self.nbytes += n
        return True

    def camera(self, idx: int):
        cam = self._cameras.get(idx)
        if cam is None:
            cam = self._cameras[idx] = self.dm.train_cameras[idx: idx + 1].to(self.dm.device)
        out = copy.copy(cam)
        out.metadata = dict(cam.metadata) if cam.metadata is not None else {}
        return out

    def image(self, idx: int, image: torch.Tensor) -> torch.Tensor:
        kept = self._images.get(idx)
        if kept is not None:
            return kept
        image = image.to(self.dm.device)
        if image.dtype != torch.uint8:
            return image
        as_float = image.float() / 255.0  # splatfacto's get_gt_img
        if not self._keep(as_float):
            return image
        self._images[idx] = as_float
        return as_float

    def heatmap(self, idx: int) -> torch.Tensor | None:
        kept = self._heatmaps.get(idx, self._MISSING)
        if kept is not self._MISSING:
            return kept
        heat = self.dm.train_heatmaps.get(idx)
        if heat is not None:  # on the training device, like the photo: no copy (and on CUDA no stall) per step
            heat = heat.to(self.dm.device)
        if heat is None or self._keep(heat):
            self._heatmaps[idx] = heat
        return heat
