"""Point2ActModel: splatfacto plus one scalar per Gaussian, *relevancy*.

The model subclasses nerfstudio's ``SplatfactoModel`` and adds to it:

- a per-Gaussian parameter ``relevancy`` (a logit; ``sigmoid`` at render time) in
  ``gauss_params``, so gsplat's densification strategy splits, duplicates and prunes it with
  the other Gaussian parameters, and it is saved in checkpoints;
- an extra output ``relevancy`` ([H, W, 1]) rendered by a second, one-channel pass. By default
  that pass sees *detached* geometry, so the relevancy loss cannot move the Gaussians;
- a relevancy loss on the views whose batch carries a target heatmap.

It also makes splatfacto run on a CPU: splatfacto calls ``.cuda()`` and gsplat's CUDA
rasterizer; on a CPU device both are routed to point2act's own rasterizer. No LPIPS network
is built (torchmetrics would download AlexNet); LPIPS is left out of the eval metrics.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Dict, List, Literal, Type, Union

import torch
from torch.nn import Parameter

from nerfstudio.cameras.cameras import Cameras
from nerfstudio.models.splatfacto import SplatfactoModel, SplatfactoModelConfig, get_viewmat

from point2act.geometry import viewmat_from_c2w
from point2act.heatmap import resize_heatmap
from point2act.losses import relevancy_loss
from point2act.method.compat import cpu_compat, no_lpips_download
from point2act.method.keys import COMPOSITE_KEY, RELEVANCY_KEY, SUPERVISED_KEY, TARGET_KEY  # noqa: F401
from point2act.method.viewer import Point2ActViewerPanel, composite_relevancy, surface_render_interrupts
from point2act.render import rasterization as p2a_rasterization


@dataclass
class Point2ActModelConfig(SplatfactoModelConfig):
    """Splatfacto with a relevancy channel supervised by 2D point heatmaps."""

    _target: Type = field(default_factory=lambda: Point2ActModel)
    relevancy_init_logit: float = -4.0
    """Initial relevancy logit of every Gaussian (sigmoid(-4) = 0.018: nothing is relevant yet)."""
    relevancy_loss: Literal["bce", "mse", "l1"] = "bce"
    """Form of the relevancy loss between the rendered relevancy and the point heatmap."""
    relevancy_loss_weight: float = 0.5
    """Weight of the relevancy loss in the total loss."""
    relevancy_pos_weight: float = 4.0
    """Extra weight on target pixels (target * (pos_weight - 1) + 1): blobs are small, the rest is 0."""
    relevancy_shapes_geometry: bool = False
    """Let the relevancy loss move geometry (means, scales, rotations, opacities). Off by default:
    the relevancy pass renders detached geometry."""
    relevancy_start_step: int = 0
    """First step at which the relevancy loss is applied."""
    lpips_metric: bool = False
    """Build torchmetrics' LPIPS for eval metrics. Off by default because building it downloads
    AlexNet weights when they are not in the torch hub cache; off, LPIPS is left out of metrics."""


class Point2ActModel(SplatfactoModel):
    """Splatfacto with a per-Gaussian relevancy channel (see the module docstring)."""

    config: Point2ActModelConfig

    def populate_modules(self) -> None:
        no_lpips = contextlib.nullcontext() if self.config.lpips_metric else no_lpips_download()
        with cpu_compat("cpu" if not torch.cuda.is_available() else "cuda"), no_lpips:
            super().populate_modules()
        n = self.gauss_params["means"].shape[0]
        self.gauss_params[RELEVANCY_KEY] = Parameter(
            torch.full((n, 1), float(self.config.relevancy_init_logit), device=self.gauss_params["means"].device)
        )
        self.prompt: str = ""
        self.viewer_panel = Point2ActViewerPanel(self)  # nerfstudio viewer elements (point2act.method.viewer)

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

    def load_state_dict(self, dict, **kwargs):  # type: ignore[override]  # noqa: A002
        key = f"gauss_params.{RELEVANCY_KEY}"
        if key not in dict:
            raise KeyError(
                f"checkpoint has no '{key}': it was not written by point2act (a plain splatfacto run?)"
            )
        return super().load_state_dict(dict, **kwargs)

    # -- rendering ----------------------------------------------------------------------------
    def get_outputs(self, camera: Cameras) -> Dict[str, Union[torch.Tensor, List]]:
        if not self.training:  # viewer renders: an interrupt must stay an interrupt (point2act.method.viewer)
            with surface_render_interrupts():
                outputs = self._get_outputs(camera)
            if RELEVANCY_KEY in outputs and "rgb" in outputs:
                outputs[COMPOSITE_KEY] = composite_relevancy(
                    outputs["rgb"], outputs[RELEVANCY_KEY], self.viewer_panel.threshold
                )
            return outputs
        return self._get_outputs(camera)

    def _get_outputs(self, camera: Cameras) -> Dict[str, Union[torch.Tensor, List]]:
        with cpu_compat(self.device):
            outputs = super().get_outputs(camera)
        if not isinstance(camera, Cameras) or "rgb" not in outputs:
            return outputs
        supervised = True
        if self.training and camera.metadata is not None:
            supervised = bool(camera.metadata.get(SUPERVISED_KEY, True))
        if self.training and (not supervised or self.step < self.config.relevancy_start_step):
            return outputs
        outputs[RELEVANCY_KEY] = self.render_relevancy(camera)
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
        view_fn = viewmat_from_c2w if torch.device(self.device).type == "cpu" else get_viewmat  # no compile on CPU
        viewmat = view_fn(c2w.detach() if detach else c2w)
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

    # -- losses and metrics -------------------------------------------------------------------
    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> Dict[str, torch.Tensor]:
        loss_dict = super().get_loss_dict(outputs, batch, metrics_dict)
        if RELEVANCY_KEY in outputs and batch.get(TARGET_KEY) is not None:
            pred = outputs[RELEVANCY_KEY]
            target = resize_heatmap(batch[TARGET_KEY].float(), pred.shape[0], pred.shape[1]).to(pred.device)
            loss_dict["relevancy_loss"] = self.config.relevancy_loss_weight * relevancy_loss(
                pred, target, self.config.relevancy_loss, self.config.relevancy_pos_weight
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
