"""Point2ActModel: splatfacto plus one scalar per Gaussian, *relevancy*.

The model subclasses nerfstudio's ``SplatfactoModel`` and adds to it:

- a per-Gaussian parameter ``relevancy`` (a logit; ``sigmoid`` at render time) in
  ``gauss_params``, so gsplat's densification strategy splits, duplicates and prunes it with
  the other Gaussian parameters, and it is saved in checkpoints;
- an extra output ``relevancy`` ([H, W, 1]) rendered by a second, one-channel pass. By default
  that pass sees *detached* geometry, so the relevancy loss cannot move the Gaussians;
- a relevancy loss on the views whose batch carries a target heatmap.

Random starts (:class:`point2act.method.random_start.RandomStart`) lie inside the views' frustums, a share in
the ball the views' answers cover, and take the colour the photos show at them.

After every densification step it prunes the Gaussians fewer than two training views see
(:meth:`Point2ActModel.prune_unseen`).

It also makes splatfacto run on a CPU: splatfacto calls ``.cuda()`` and gsplat's CUDA
rasterizer; on a CPU device both are routed to point2act's own rasterizer. torchmetrics is not
imported (:func:`point2act.method.compat.light_metrics`: PSNR of our own, no LPIPS network, which
would download AlexNet); LPIPS is left out of the eval metrics.
"""

from __future__ import annotations

import contextlib
import weakref
from dataclasses import dataclass, field
from typing import Dict, List, Type

import numpy as np
import torch
import tyro
from torch.nn import Parameter

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.models.splatfacto import SplatfactoModel, SplatfactoModelConfig
from nerfstudio.pipelines.base_pipeline import VanillaPipeline, VanillaPipelineConfig

from point2act.geometry import viewmat_from_c2w
from point2act.heatmap import resize_heatmap
from point2act.losses import (
    RELEVANCY_INIT_LOGIT,
    RELEVANCY_LOSS_FORM,
    RELEVANCY_POS_WEIGHT,
    relative_depth_loss,
    relevancy_loss,
)
from point2act.method.compat import cpu_compat, extra_channel, light_metrics
from point2act.method.keys import (  # noqa: F401
    COMPOSITE_KEY,
    DEPTH_KEY,
    FULL_SIZE_KEY,
    RELEVANCY_KEY,
    SUPERVISED_KEY,
    TARGET_KEY,
)
from point2act.method.random_start import RANDOM_INIT_MIN_VIEWS, RandomStart
from point2act.method.viewer import Point2ActViewerPanel, composite_relevancy, surface_render_interrupts
from point2act.render import rasterization as p2a_rasterization
from point2act.render.composite import training_composite


@dataclass
class Point2ActModelConfig(SplatfactoModelConfig):
    """Splatfacto with a relevancy channel supervised by 2D point heatmaps.

    The ``point2act`` method (:mod:`point2act.method.config`) leaves splatfacto's schedule fields
    (:data:`point2act.method.schedule.AUTO_FIELDS`) at None ("auto"): the model derives them from the run's
    length when it is built (:func:`point2act.method.schedule.resolve_schedule`)."""

    _target: Type = field(default_factory=lambda: Point2ActModel)
    fine_stage: bool = True
    """From the step training reaches full resolution, three steps of every four train a full-resolution crop
    around the view's answers, or where it sees the place the views' answers meet, instead of the whole view
    (:mod:`point2act.method.fineviews`). False: every step trains a whole view."""
    relevancy_shapes_geometry: bool = False
    """Let the relevancy loss move geometry (means, scales, rotations, opacities). Off by default:
    the relevancy pass renders detached geometry."""
    relevancy_same_pass: bool = True
    """On a CPU, render relevancy in training as an extra channel of splatfacto's RGB pass (one projection,
    one tile list, one pass; the kernel keeps its gradient off the geometry). Off, on CUDA (gsplat), or with
    ``relevancy_shapes_geometry``: a second, one-channel pass."""
    max_num_iterations: tyro.conf.Suppress[int | None] = None
    """The run's length, which the trainer config copies in from its ``max_num_iterations``
    (:class:`point2act.method.schedule.Point2ActTrainerConfig`; not an option); the auto (None) schedule fields
    are derived from it (:func:`point2act.method.schedule.auto_schedule`)."""
    opacity_reg: float | None = None
    """Weight of a prior on the Gaussians' mean opacity, added to the loss: the opacity regulariser of
    3DGS-MCMC (Kheradmand et al. 2024; gsplat's ``simple_trainer.py mcmc`` preset, ``opacity_reg``). None
    (auto): :data:`RANDOM_START_OPACITY_REG` when the Gaussians start at random (no point cloud in the
    capture), else 0. Random starts fill the views' frustums; over a plain surface a Gaussian in the air has
    the colour of what lies behind it in every view, so the photometric loss neither needs nor removes it,
    and the rendered depth is a fog above the table (the studio pan: 1 % of the depth pixels near the grip
    on the board). Under the prior, what no view needs fades and what the photos need stays."""
    depth_loss_weight: float = 0.2
    """Weight of the depth loss on the views whose capture has depth (``depth_file_path`` in
    transforms.json, nerfstudio's convention: an RGB-D wrist camera): the mean relative error
    ``|rendered expected depth - measured| / measured`` over the pixels with a measurement (unit- and
    scale-free, so a sensor's error that grows with distance weighs alike near and far). 0: depth is not
    read."""
    visibility_prune: bool = True
    """At every densification step and once after the last, remove the Gaussians that fewer than
    :data:`VISIBILITY_PRUNE_MIN_VIEWS` training views see (total compositing weight above
    :data:`VISIBILITY_PRUNE_TAU`; :mod:`point2act.visibility`): those below the table or inside objects,
    which no render needs and whose relevancy nothing constrains."""
    visibility_prune_downscale: int = 4
    """Resolution of the visibility renders: 1/this of the training views' full resolution."""


RELEVANCY_LOSS_WEIGHT = 0.5
"""Weight of the relevancy loss in the total loss (the photometric loss weighs 1), the value every run, test and
benchmark trained with."""

VISIBILITY_PRUNE_MIN_VIEWS = 2
"""Training views that must see a Gaussian for the visibility prune to keep it (capped at the number of
views): one view alone cannot place it in depth."""

VISIBILITY_PRUNE_TAU = 0.1
"""Total compositing weight, in full-resolution pixels, above which a view sees a Gaussian: a tenth of a pixel,
so only what adds next to nothing to every render but one is pruned."""

RANDOM_START_OPACITY_REG = 0.01
"""The opacity prior's weight for runs that start from random points: 3DGS-MCMC's (and gsplat's
``simple_trainer.py mcmc`` preset's) ``opacity_reg``."""


class Point2ActModel(RandomStart, SplatfactoModel):
    """Splatfacto with a per-Gaussian relevancy channel (see the module docstring)."""

    config: Point2ActModelConfig

    fused_composite: bool = True
    """In CPU training with relevancy in the RGB pass, splatfacto's background compositing and clamp of the photo
    and the relevancy's clamp are one autograd node with a one-pass backward
    (:func:`point2act.render.composite.training_composite`; the same gradients as those torch ops). False: the
    torch ops' own nodes."""

    relevancy_reuses_rgb_pass: bool = True
    """On CUDA (gsplat), the training step's relevancy pass rasterizes the relevancy with the projection and the
    tile lists of splatfacto's RGB pass of the same camera (``self.info``, gsplat's ``meta``), detached, through
    ``gsplat.rasterize_to_pixels``: the same Gaussians, conics, opacities and depth order the second pass would
    compute again, so the render is the same; the step saves a projection and a sort. False: a second
    ``gsplat.rasterization`` of the detached geometry."""

    fused_photometric_loss: bool = True
    """Splatfacto's photometric loss of CPU images, ``(1 - ssim_lambda) * L1 + ssim_lambda * (1 - SSIM)``, is one
    fused op (:meth:`_fused_splatfacto_losses`; the same value and gradients as splatfacto's torch ops). False:
    splatfacto's ``get_loss_dict``."""

    metrics_due: bool = True
    """Whether this training step's metrics (splatfacto's PSNR against the photo) are written: the trainer
    logs them every ``logging.steps_per_log`` steps only, and sets this before each step
    (:meth:`point2act.method.trainer.Point2ActTrainer.mark_metrics_due`); other steps skip the PSNR."""

    def __init__(self, config: Point2ActModelConfig, *args, **kwargs):
        from point2act.method.schedule import resolve_schedule

        # the auto (None) schedule fields, filled for this run's length; config.yml keeps them auto
        super().__init__(resolve_schedule(config), *args, **kwargs)

    @property
    def random_init(self) -> bool:
        """Whether the Gaussians started at random (no point cloud in the capture, or ``random_init``), or with
        random points beside a triangulated cloud (:meth:`add_random_points`)."""
        return self.seed_points is None or bool(self.config.random_init) or self.random_points > 0

    @property
    def opacity_reg(self) -> float:
        """The opacity prior's weight for this run (:attr:`Point2ActModelConfig.opacity_reg`, auto resolved)."""
        w = self.config.opacity_reg
        return float(w) if w is not None else (RANDOM_START_OPACITY_REG if self.random_init else 0.0)

    @property
    def depth_supervised(self) -> bool:
        """Whether the training views have depth (the capture's depth images, or the stereo depth of a capture
        without a point cloud: :meth:`point2act.method.datamanager.Point2ActDataManager._supervise_stereo_depth`)
        and the depth loss is on."""
        meta = self.kwargs.get("metadata") or {}
        return self.config.depth_loss_weight > 0 and bool(meta.get("depth_filenames") or meta.get("stereo_depth"))

    def populate_modules(self) -> None:
        if self.depth_supervised:  # splatfacto renders expected depth in training only when asked
            self.config.output_depth_during_training = True
        with cpu_compat("cpu" if not torch.cuda.is_available() else "cuda"), light_metrics():
            super().populate_modules()
        # splatfacto makes features_dc and features_rest strided views of one [N, 1 + K, 3] tensor. torch's fused
        # Adam (the method's optimizer) needs each parameter dense: on the CPU it applies a strided parameter's
        # update to the wrong elements, on CUDA it refuses it. Each parameter gets its own dense memory.
        for key in [k for k, p in self.gauss_params.items() if not p.is_contiguous()]:
            self.gauss_params[key] = Parameter(self.gauss_params[key].detach().contiguous())
        from point2act.method.strategy import DensificationStrategy
        from point2act.ssim import SSIM

        # splatfacto's densification, its per-step statistics in fewer passes (the same bits)
        self.strategy = DensificationStrategy.of(self.strategy)

        # pytorch_msssim's SSIM, same value and gradient, in one fused kernel on CPU images (point2act.ssim)
        self.ssim = SSIM(data_range=1.0, size_average=True, channel=3)
        n = self.gauss_params["means"].shape[0]
        self.gauss_params[RELEVANCY_KEY] = Parameter(
            torch.full((n, 1), float(RELEVANCY_INIT_LOGIT), device=self.gauss_params["means"].device)
        )
        self.prompt: str = ""
        self.random_points = 0
        """Random Gaussians added beside a triangulated start cloud (:meth:`add_random_points`)."""
        self.viewer_panel = Point2ActViewerPanel(self)  # nerfstudio viewer elements (point2act.method.viewer)

    def k_nearest_sklearn(self, x: torch.Tensor, k: int):  # [N, 3] -> ([N, k], [N, k])
        """The ``k`` nearest other points of each point, as splatfacto's method of this name returns them (float32
        distances and indices, the point itself left out), from scipy's k-d tree: sklearn's ``NearestNeighbors``,
        which splatfacto uses for its first scales, costs 0.6 s of import on a 2-core CPU."""
        from point2act._scipy import cKDTree

        x_np = x.detach().cpu().numpy()
        distances, indices = cKDTree(x_np).query(x_np, k=k + 1)
        return distances[:, 1:].astype(np.float32), indices[:, 1:].astype(np.float32)

    # -- parameters ---------------------------------------------------------------------------
    @property
    def relevancy_logits(self) -> torch.Tensor:  # [N, 1]
        return self.gauss_params[RELEVANCY_KEY]

    @property
    def relevancy(self) -> torch.Tensor:  # [N] in [0, 1]
        return torch.sigmoid(self.gauss_params[RELEVANCY_KEY]).squeeze(-1)

    def get_gaussian_param_groups(self) -> Dict[str, List[Parameter]]:
        groups = super().get_gaussian_param_groups()
        groups[RELEVANCY_KEY] = [self.gauss_params[RELEVANCY_KEY]]
        return groups

    # -- visibility pruning ----------------------------------------------------------------------
    def set_visibility_cameras(self, cameras: Cameras | None) -> None:
        """The training cameras that :meth:`prune_unseen` renders (set by :class:`Point2ActPipeline`)."""
        self._visibility_cameras = cameras

    def visibility_prune_step(self, step: int) -> bool:
        """Whether ``step`` prunes: densification steps, and the first refine step after the last split."""
        c = self.config
        if not c.visibility_prune or getattr(self, "_visibility_cameras", None) is None:
            return False
        every = max(1, int(c.refine_every))
        return step > int(c.warmup_length) and step % every == 0 and step <= int(c.stop_split_at) + every

    @torch.no_grad()
    def view_weights(self, cameras: Cameras, downscale: int = 1) -> torch.Tensor:  # [C, N]
        """Every Gaussian's total compositing weight in each of ``cameras``, in full-resolution pixels
        (rendered at ``1/downscale``; :func:`point2act.visibility.view_weights`)."""
        from point2act.method.run_layer import camera_views
        from point2act.render.splats import Splats
        from point2act.splatting import Views
        from point2act.visibility import view_weights

        ds = max(1, int(downscale))
        vms, Ks, sizes = camera_views(cameras, ds, self)
        w = view_weights(Splats(self.means, self.quats, torch.exp(self.scales),
                                torch.sigmoid(self.opacities).squeeze(-1)), Views(vms, Ks, sizes),
                         self.config.rasterize_mode)
        return w * float(ds * ds)

    @torch.no_grad()
    def prune_unseen(self) -> int:
        """Remove the Gaussians that fewer than :data:`VISIBILITY_PRUNE_MIN_VIEWS` training views see, with
        their optimizer and densification state. Returns how many were removed."""
        from gsplat.strategy.ops import remove

        from point2act.visibility import unseen_mask

        cams = getattr(self, "_visibility_cameras", None)
        if cams is None or self.num_points == 0:
            return 0
        weights = self.view_weights(cams, self.config.visibility_prune_downscale)
        mask = unseen_mask(weights, VISIBILITY_PRUNE_TAU, VISIBILITY_PRUNE_MIN_VIEWS)
        mask = mask.to(self.means.device)
        k = int(mask.sum())
        if not 0 < k < self.num_points:  # nothing to remove, or everything: keep the field as it is
            return 0
        remove(self.gauss_params, self.optimizers, self.strategy_state, mask)
        return k

    def step_post_backward(self, step):
        super().step_post_backward(step)
        if self.visibility_prune_step(step):
            k = self.prune_unseen()
            if k:
                from nerfstudio.utils.rich_utils import CONSOLE

                CONSOLE.log(f"Step {step}: {k} Gaussians that < {VISIBILITY_PRUNE_MIN_VIEWS} views see "
                            f"pruned. Now having {self.num_points} GSs.")

    def load_state_dict(self, dict, **kwargs):  # type: ignore[override]  # noqa: A002
        key = f"gauss_params.{RELEVANCY_KEY}"
        if key not in dict:
            raise KeyError(
                f"checkpoint has no '{key}': it was not written by point2act (a plain splatfacto run?)"
            )
        # The SH degree is the checkpoint's: a resumed run (--load-dir with another --max-num-iterations)
        # derives another schedule, but the Gaussians it continues carry the degree they were trained with.
        rest = dict.get("gauss_params.features_rest")
        mine = self.gauss_params["features_rest"]
        if rest is not None and rest.shape[1:] != mine.shape[1:]:
            self.config.sh_degree = int(round((rest.shape[1] + 1) ** 0.5)) - 1
            self.gauss_params["features_rest"] = Parameter(mine.new_zeros((mine.shape[0],) + tuple(rest.shape[1:])))
        return super().load_state_dict(dict, **kwargs)

    # -- rendering ----------------------------------------------------------------------------
    def get_outputs(self, camera: Cameras) -> Dict[str, torch.Tensor | List]:
        if not self.training:  # viewer renders: an interrupt must stay an interrupt (point2act.method.viewer)
            if torch.device(self.device).type == "cpu":  # ns-viewer beside other programs: the free cores' threads
                from point2act.threads import follow_free_cores

                follow_free_cores().update()
            with surface_render_interrupts():
                outputs = self._get_outputs(camera)
            if RELEVANCY_KEY in outputs and "rgb" in outputs:
                outputs[COMPOSITE_KEY] = composite_relevancy(
                    outputs["rgb"], outputs[RELEVANCY_KEY], self.viewer_panel.threshold
                )
            return outputs
        return self._get_outputs(camera)

    def _get_outputs(self, camera: Cameras) -> Dict[str, torch.Tensor | List]:
        want = isinstance(camera, Cameras)
        if want and self.training and camera.metadata is not None:
            want = bool(camera.metadata.get(SUPERVISED_KEY, True))  # a view with relevancy supervision
        same_pass = (want and self.training and self.config.relevancy_same_pass
                     and not self.config.relevancy_shapes_geometry and torch.device(self.device).type == "cpu")
        composite = same_pass and self.fused_composite and not self.config.use_bilateral_grid
        with cpu_compat(self.device), (extra_channel(torch.sigmoid(self.relevancy_logits), composite=composite)
                                       if same_pass else contextlib.nullcontext()) as req:
            outputs = super().get_outputs(camera)
        rgb_pass = self.info if self.training and isinstance(getattr(self, "info", None), dict) else None
        full = camera.metadata.get(FULL_SIZE_KEY) if self.training and isinstance(camera, Cameras) \
            and camera.metadata is not None else None
        if full is not None and isinstance(getattr(self, "info", None), dict):
            # a crop (point2act.method.fineviews): its gradients normalised by the whole view's size
            rgb_pass = dict(self.info)  # the pass's own tile grid, for the relevancy below
            self.info["height"], self.info["width"] = int(full[0]), int(full[1])
        if not want or "rgb" not in outputs:
            return outputs
        if req is not None and req.get("render_all") is not None:  # splatfacto composited a render without grad
            outputs["rgb"], outputs[RELEVANCY_KEY] = training_composite(
                req["render_all"], req["alpha"], outputs["background"], outputs["rgb"])
            outputs["accumulation"] = req["alpha"].squeeze(0)
        elif req is not None and req["render"] is not None:
            outputs[RELEVANCY_KEY] = req["render"][0].clamp(0.0, 1.0)
        else:
            reused = self._relevancy_from_rgb_pass(rgb_pass, outputs["rgb"].shape[1], outputs["rgb"].shape[0])
            outputs[RELEVANCY_KEY] = reused if reused is not None else self.render_relevancy(camera)
        return outputs

    def render_relevancy(self, camera: Cameras) -> torch.Tensor:  # [H, W, 1]
        """Render the relevancy channel for one camera, at splatfacto's current resolution."""
        if self.training:
            c2w = self.camera_optimizer.apply_to_camera(camera)
        else:
            c2w = camera.camera_to_worlds
        sel = slice(None)
        if self.crop_box is not None and not self.training:
            sel = self.crop_box.within(self.means).squeeze()
        detach = not self.config.relevancy_shapes_geometry

        def geo(t: torch.Tensor) -> torch.Tensor:
            t = t[sel]
            return t.detach() if detach else t

        scale = self._get_downscale_factor()
        camera.rescale_output_resolution(1 / scale)
        K = camera.get_intrinsics_matrices().to(self.device)
        W, H = int(camera.width.item()), int(camera.height.item())
        camera.rescale_output_resolution(scale)
        viewmat = viewmat_from_c2w(c2w.detach() if detach else c2w)  # no torch.compile: see compat.cpu_compat
        render, _alpha, _info = p2a_rasterization(
            means=geo(self.means),
            quats=geo(self.quats),
            scales=torch.exp(geo(self.scales)),
            opacities=torch.sigmoid(geo(self.opacities)).squeeze(-1),
            colors=torch.sigmoid(self.relevancy_logits[sel]),
            viewmats=viewmat,
            Ks=K,
            width=W,
            height=H,
            packed=False,
            near_plane=0.01,
            far_plane=1e10,
            render_mode="RGB",
            sh_degree=None,
            rasterize_mode=self.config.rasterize_mode,
        )
        return render[0].clamp(0.0, 1.0)

    def _relevancy_from_rgb_pass(self, info: dict | None, width: int, height: int) -> torch.Tensor | None:
        """The relevancy [H, W, 1] rasterized with the projection and tile lists of splatfacto's RGB pass of this
        training step's camera (gsplat's ``meta``, ``info``; :attr:`relevancy_reuses_rgb_pass`); None off CUDA,
        when turned off, when relevancy shapes geometry, or when that pass was not an unpacked gsplat pass of
        every Gaussian at this size."""
        if (not self.relevancy_reuses_rgb_pass or self.config.relevancy_shapes_geometry or not isinstance(info, dict)
                or "isect_offsets" not in info or not self.means.is_cuda or info.get("camera_ids") is not None
                or (int(info["width"]), int(info["height"])) != (width, height)
                or info["means2d"].shape[-2] != self.means.shape[0]):
            return None
        from gsplat import rasterize_to_pixels

        colors = torch.sigmoid(self.relevancy_logits).reshape(1, -1, 1)
        render, _alpha = rasterize_to_pixels(
            info["means2d"].detach(), info["conics"].detach(), colors, info["opacities"].detach(), width, height,
            int(info["tile_size"]), info["isect_offsets"], info["flatten_ids"])
        return render[0].clamp(0.0, 1.0)

    # -- losses and metrics -------------------------------------------------------------------
    def get_gt_img(self, image: torch.Tensor) -> torch.Tensor:
        """splatfacto's ground truth (``image`` as float, downscaled to the step's resolution), each training
        image's downscaled one kept while the coarse steps last: splatfacto averages it down anew every step (a
        convolution over the whole photo: 1.2-1.5 ms at 640x360 on two threads, 2.1-2.5 ms on one, each of the
        500 coarse steps of a 2000-step run), for the same bits each time. Kept per image tensor (the
        datamanager's cache holds one per view) and its version; dropped once the steps render at full
        resolution."""
        cache = self.__dict__.setdefault("_gt_downscaled", {})
        d = self._get_downscale_factor()
        if d <= 1:
            cache.clear()
            return super().get_gt_img(image)
        key = id(image)
        hit = cache.get(key)
        if hit is not None and hit[0]() is image and hit[1] == (image._version, d):
            return hit[2]
        out = super().get_gt_img(image)
        # the entry goes when its image does (a datamanager that loads images anew per step)
        ref = weakref.ref(image, lambda _dead, key=key: cache.pop(key, None))
        cache[key] = (ref, (image._version, d), out)
        return out

    def get_metrics_dict(self, outputs, batch) -> Dict[str, torch.Tensor]:
        if self.training and not self.metrics_due:  # nothing reads a training step's metrics between logs
            metrics: Dict[str, torch.Tensor] = {"gaussian_count": self.num_points}
            self.camera_optimizer.get_metrics_dict(metrics)
            return metrics
        return super().get_metrics_dict(outputs, batch)

    def _fused_splatfacto_losses(self, outputs, batch) -> Dict[str, torch.Tensor] | None:
        """Splatfacto's loss dict (``main_loss``, ``scale_reg``, the camera optimizer's and the bilateral grid's
        terms, in its order) with its photometric loss ``(1 - ssim_lambda) * L1 + ssim_lambda * (1 - SSIM)`` as one
        fused op (:func:`point2act.ssim.fused_l1_ssim_loss`; the same value and gradients as splatfacto's torch ops
        and this model's SSIM module). None where the fused op does not apply: a mask in the batch, images the
        SSIM kernels do not take, an SSIM module other than :class:`point2act.ssim.SSIM`, or
        :attr:`fused_photometric_loss` off."""
        from point2act.ssim import SSIM, fused_l1_ssim_loss, fused_supported

        ssim = self.ssim
        if (not self.fused_photometric_loss or "mask" in batch or type(ssim) is not SSIM or ssim.spatial_dims != 2
                or ssim.nonnegative_ssim or ssim.win_size % 2 != 1):
            return None
        gt_img = self.composite_with_background(self.get_gt_img(batch["image"]), outputs["background"])
        pred_img = outputs["rgb"]
        if gt_img.dim() != 3 or not fused_supported(gt_img.permute(2, 0, 1)[None], pred_img.permute(2, 0, 1)[None],
                                                    ssim.win_size):
            return None
        c = self.config
        main_loss = fused_l1_ssim_loss(gt_img, pred_img, c.ssim_lambda, data_range=ssim.data_range, K=ssim.K,
                                       window=ssim.window)
        # the rest as splatfacto's get_loss_dict (nerfstudio 1.1.5) computes it
        if c.use_scale_regularization and self.step % 10 == 0:
            scale_exp = torch.exp(self.scales)
            scale_reg = torch.maximum(scale_exp.amax(dim=-1) / scale_exp.amin(dim=-1),
                                      torch.tensor(c.max_gauss_ratio)) - c.max_gauss_ratio
            scale_reg = 0.1 * scale_reg.mean()
        else:
            scale_reg = torch.tensor(0.0).to(self.device)
        loss_dict = {"main_loss": main_loss, "scale_reg": scale_reg}
        if self.training:
            self.camera_optimizer.get_loss_dict(loss_dict)
            if c.use_bilateral_grid:
                from nerfstudio.models.splatfacto import total_variation_loss

                loss_dict["tv_loss"] = 10 * total_variation_loss(self.bil_grids.grids)
        return loss_dict

    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> Dict[str, torch.Tensor]:
        loss_dict = self._fused_splatfacto_losses(outputs, batch)
        if loss_dict is None:
            loss_dict = super().get_loss_dict(outputs, batch, metrics_dict)
        if self.training and self.opacity_reg > 0:
            loss_dict["opacity_reg"] = self.opacity_reg * torch.sigmoid(self.opacities).mean()
        if self.training and self.depth_supervised and outputs.get("depth") is not None \
                and batch.get(DEPTH_KEY) is not None:
            loss_dict["depth_loss"] = self.config.depth_loss_weight * relative_depth_loss(outputs["depth"],
                                                                                          batch[DEPTH_KEY])
        if RELEVANCY_KEY in outputs and batch.get(TARGET_KEY) is not None:
            pred = outputs[RELEVANCY_KEY]
            target = resize_heatmap(batch[TARGET_KEY].float(), pred.shape[0], pred.shape[1]).to(pred.device)
            loss_dict["relevancy_loss"] = RELEVANCY_LOSS_WEIGHT * relevancy_loss(
                pred, target, RELEVANCY_LOSS_FORM, RELEVANCY_POS_WEIGHT
            )
        return loss_dict

    def get_image_metrics_and_images(self, outputs, batch):
        metrics, images = super().get_image_metrics_and_images(outputs, batch)
        for k in ("lpips", "cc_lpips"):
            if k in metrics and metrics[k] != metrics[k]:  # NaN: no LPIPS network
                del metrics[k]
        if RELEVANCY_KEY in outputs:
            images[RELEVANCY_KEY] = outputs[RELEVANCY_KEY].expand(-1, -1, 3)
        return metrics, images


@dataclass
class Point2ActPipelineConfig(VanillaPipelineConfig):
    """nerfstudio's vanilla pipeline; with random initial Gaussians (no point cloud in the capture) it
    re-places them inside the training views' frustums before training, a share of them in the ball the views'
    answers cover where they meet (:meth:`Point2ActModel.bound_random_init`); those and the random ones beside a
    triangulated cloud take the colour the photos show at them (:meth:`Point2ActModel.colour_from_photos`)."""

    _target: Type = field(default_factory=lambda: Point2ActPipeline)


class Point2ActPipeline(VanillaPipeline):
    """See :class:`Point2ActPipelineConfig`."""

    def _answer_heatmaps(self):
        """The training views' answers (the datamanager's heatmap store), None when the run has none."""
        dm = self.datamanager
        heat = dm.train_heatmaps if getattr(dm, "points", None) is not None else None
        return heat if heat is not None and len(heat) else None

    def _start_fine_stage(self) -> None:
        """Hand the datamanager its fine-stage views (:class:`point2act.method.fineviews.FineViews`) from the step
        the model reaches full resolution; nothing without answers."""
        from point2act.method.fineviews import FineViews, fine_cores, full_resolution_step

        dm, c = self.datamanager, self.model.config
        heat = self._answer_heatmaps()
        if heat is None:
            return
        cores = fine_cores(heat.points, dm.train_dataset.cameras, heat.sigma_frac)
        dm.fine_views = FineViews(full_resolution_step(c), cores)

    def __init__(self, config, device, test_mode="val", world_size=1, local_rank=0, grad_scaler=None):
        super().__init__(config, device, test_mode, world_size, local_rank, grad_scaler)
        model = self.model
        if test_mode != "inference" and getattr(model.config, "fine_stage", False):
            self._start_fine_stage()
        if test_mode != "inference" and hasattr(model, "set_visibility_cameras"):
            model.set_visibility_cameras(self.datamanager.train_dataset.cameras)
        if test_mode != "inference" and getattr(model, "random_init", False) and hasattr(model, "bound_random_init"):
            from nerfstudio.utils.rich_utils import CONSOLE

            dm = self.datamanager
            ball = None
            heat = self._answer_heatmaps()
            if heat is not None:
                from point2act.method.fineviews import answers_ball

                ball = answers_ball(heat.points, dm.train_dataset.cameras, heat.sigma_frac)
            n = model.bound_random_init(dm.train_dataset.cameras, ball=ball)
            model.colour_from_photos(*dm.training_views())
            if ball is not None:
                CONSOLE.log(f"\\[point2act] random start: a ball of radius {ball[1]:.4f} at the answers' place "
                            f"{ball[0].round(3).tolist()}")
            CONSOLE.log(f"\\[point2act] no point cloud: {n} random Gaussians inside the training views' frustums "
                        f"(each seen by >= {RANDOM_INIT_MIN_VIEWS} views)")
        elif test_mode != "inference" and getattr(self.datamanager, "triangulated_path", None) is not None \
                and hasattr(model, "add_random_points"):
            from nerfstudio.utils.rich_utils import CONSOLE

            # the photos' points first, random ones fill the start up to num_random Gaussians
            start = int(model.gauss_params["means"].shape[0])
            n = model.add_random_points(self.datamanager.train_dataset.cameras,
                                        max(0, int(model.config.num_random) - start))
            model.colour_from_photos(*self.datamanager.training_views(), first=start)
            CONSOLE.log(f"\\[point2act] the triangulated cloud ({start} points) and {n} random Gaussians inside the "
                        "training views' frustums (where the photos have no texture to match)")
