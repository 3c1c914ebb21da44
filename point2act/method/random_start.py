"""The random start of a capture without a start cloud, and the random Gaussians beside a triangulated one:
where they go (inside the training views' frustums, a share in the ball the views' answers cover) and the colour
they start with (the one the photos show at them). A mixin of :class:`point2act.method.model.Point2ActModel`,
whose ``gauss_params``, ``config`` and ``k_nearest_sklearn`` it uses."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np
import torch
from torch.nn import Parameter

from nerfstudio.cameras.cameras import Cameras

from point2act.method.keys import RELEVANCY_KEY

RANDOM_INIT_MIN_VIEWS = 3
"""Training views whose frustum a random initial Gaussian must lie in (fewer views: all): seen from several
sides, its depth is constrained."""


class RandomStart:
    """The model's random start (see the module docstring)."""

    def _frustum_points(self, cameras: Cameras, n: int, seed: int,
                        around: torch.Tensor | None = None) -> torch.Tensor:  # [n, 3]
        """``n`` random points that at least :data:`RANDOM_INIT_MIN_VIEWS` of ``cameras`` see
        (:func:`~point2act.visibility.frustum_bounded_points`, within ``around``'s box when given)."""
        from point2act.visibility import FrustumCameras, frustum_bounded_points

        c2w = cameras.camera_to_worlds.detach().float().cpu()
        K = cameras.get_intrinsics_matrices().detach().float().cpu()
        wh = torch.stack([cameras.width[:, 0], cameras.height[:, 0]], -1).float().cpu()
        return frustum_bounded_points(FrustumCameras(c2w, K, wh), int(n), float(self.config.random_scale),
                                      RANDOM_INIT_MIN_VIEWS, seed, around=around)

    @torch.no_grad()
    def add_random_points(self, cameras: Cameras, n: int, seed: int = 0) -> int:
        """Add ``n`` random Gaussians inside the training views' frustums and the space the start cloud's
        points take (:func:`~point2act.visibility.frustum_bounded_points` with ``around``) to the Gaussians that
        cloud gave, with random colours (:meth:`colour_from_photos` replaces them) and splatfacto's initial
        opacity 0.1. A
        cloud triangulated from the photos has points only where the images have texture (SIFT); a plain
        mug's wall or handle gets none, and densification, which splits Gaussians that exist, does not reach
        an empty place within a short run. The random ones give the photometric loss something everywhere
        the views see; the opacity prior (:attr:`opacity_reg`) fades the ones no view needs. Call before the
        optimizers are built. Returns ``n``."""
        if n <= 0:
            return 0
        gp = self.gauss_params
        new = self._frustum_points(cameras, int(n), seed, around=gp["means"].detach().cpu())
        dev = gp["means"].device
        means = torch.cat([gp["means"].detach().cpu(), new], 0)
        distances, _ = self.k_nearest_sklearn(means, 3)
        avg = torch.from_numpy(distances[-len(new):]).float().mean(-1, keepdim=True)
        gen = torch.Generator().manual_seed(int(seed))
        rows = {
            "means": new,
            "scales": torch.log(avg.clamp_min(1e-8)).repeat(1, 3),
            "quats": torch.nn.functional.normalize(torch.randn((len(new), 4), generator=gen), dim=-1),
            "features_dc": torch.rand((len(new), gp["features_dc"].shape[1]), generator=gen),
            "opacities": torch.logit(torch.full((len(new), 1), 0.1)),
        }
        rows["features_dc"] = self._colour_dc(rows["features_dc"])
        for k, p in list(gp.items()):
            add = rows.get(k)
            if add is None:  # features_rest, relevancy: as the existing rows start
                add = p.detach()[:1].cpu().expand(len(new), *p.shape[1:]).clone() if k == RELEVANCY_KEY else \
                    torch.zeros((len(new), *p.shape[1:]), dtype=p.dtype)
            gp[k] = Parameter(torch.cat([p.detach(), add.to(device=dev, dtype=p.dtype)], 0))
        self.random_points = int(len(new))
        return self.random_points

    def _colour_dc(self, rgb: torch.Tensor) -> torch.Tensor:  # [M, 3] in [0, 1] -> [M, 3]
        """Colours as ``features_dc`` holds them: SH coefficients, or splatfacto's logit at ``sh_degree`` 0."""
        if self.config.sh_degree > 0:
            from nerfstudio.models.splatfacto import RGB2SH

            return RGB2SH(rgb)
        return torch.logit(rgb, eps=1e-10)

    @torch.no_grad()
    def colour_from_photos(self, images, Ks, viewmats, first: int = 0) -> int:
        """Give the Gaussians from row ``first`` on the colour the training photos show at them
        (:func:`point2act.visibility.photo_colours`, the median over the views that see each) instead of a random
        one; ``features_rest`` stays. ``images``, ``Ks``, ``viewmats``: the datamanager's ``training_views()``.
        Call before the optimizers are built. Returns how many got a colour (fewer than two views: unchanged)."""
        from point2act.visibility import photo_colours

        dc = self.gauss_params["features_dc"]
        rgb, seen = photo_colours(self.gauss_params["means"][first:], images, torch.as_tensor(Ks),
                                  torch.as_tensor(viewmats))
        rows = (torch.nonzero(seen).squeeze(-1) + int(first)).to(dc.device)
        dc.data[rows] = self._colour_dc(rgb[seen]).to(dc)
        return int(seen.sum())

    @torch.no_grad()
    def bound_random_init(self, cameras: Cameras, seed: int = 0,
                          ball: Tuple[np.ndarray, float, float] | None = None) -> int:
        """Re-place the random initial Gaussians inside the training views' frustums.

        Splatfacto draws them in a cube of side ``random_scale`` (10) around the origin, most of it far
        outside what any camera sees; there they grow into many Gaussians that no view constrains (and,
        unseen, can carry any relevancy). Here candidates are drawn in the box of the camera centres
        grown by half its size (clipped to that cube) and kept when at least :data:`RANDOM_INIT_MIN_VIEWS`
        views see them in front of the camera. Call before the optimizers are built. Returns the count.

        ``ball``: ``(centre [3], radius, radius in pixels)``, the ball the views' answers' heatmap cores cover at the
        place they meet (:func:`point2act.method.fineviews.answers_ball`). A random start spreads its Gaussians over
        the whole space the views see, so a thin target gets almost none and training paints it onto what lies
        behind; the answers say where the target's matter is. One Gaussian per cube one pixel footprint wide,
        (4/3) pi r_px^3 of them (at most half), is drawn uniformly inside the ball instead.
        """
        n = int(self.gauss_params["means"].shape[0])
        pts = self._frustum_points(cameras, n, seed)
        if ball is not None:
            center, r_world, r_px = ball
            m = min(n // 2, int(round(4.0 / 3.0 * math.pi * r_px ** 3)))
            gen = torch.Generator().manual_seed(int(seed) + 1)
            d = torch.nn.functional.normalize(torch.randn((m, 3), generator=gen), dim=-1)
            rad = float(r_world) * torch.rand((m, 1), generator=gen) ** (1.0 / 3.0)
            pts = torch.cat([pts[: n - m], torch.as_tensor(center, dtype=torch.float32)[None] + d * rad], 0)
        dev = self.gauss_params["means"].device
        distances, _ = self.k_nearest_sklearn(pts, 3)
        avg = torch.from_numpy(distances).float().mean(-1, keepdim=True)
        self.gauss_params["means"] = Parameter(pts.to(dev))
        self.gauss_params["scales"] = Parameter(torch.log(avg.repeat(1, 3)).to(dev))
        return int(pts.shape[0])
