"""The ``point2act`` method, registered under nerfstudio's ``nerfstudio.method_configs`` entry point.

``ns-train point2act --data CAPTURE --pipeline.datamanager.points-file POINTS.json`` trains
splatfacto's Gaussians plus a relevancy channel. It runs on the GPU when one is present (gsplat)
and on the CPU otherwise (point2act's own rasterizer), without ``--machine.device-type``.
"""

from __future__ import annotations

import warnings

import torch

from nerfstudio.configs.base_config import MachineConfig, ViewerConfig
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.models.splatfacto import SplatfactoModelConfig
from nerfstudio.plugins.types import MethodSpecification

from point2act.method.datamanager import Point2ActDataManagerConfig
from point2act.method.keys import RELEVANCY_KEY
from point2act.method.model import Point2ActModelConfig, Point2ActPipelineConfig
from point2act.method.schedule import (  # noqa: F401  (FusedAdamOptimizerConfig: where older config.yml look)
    AUTO_FIELDS,
    DEFAULT_ITERATIONS,
    FusedAdamOptimizerConfig,
    Point2ActTrainerConfig,
    RunLengthDecaySchedulerConfig,
)


# The auto schedule fields are splatfacto's (annotated int or float) with a None default here; tyro parses
# them as "None or a number" and would say so at every ns-train.
warnings.filterwarnings(
    "ignore", category=UserWarning,
    message=r"The field `(?:[\w.-]*\.)?pipeline\.model\.(?:%s)` is annotated with type .*but the default value `None`"
    % "|".join(f.replace("_", "-") for f in AUTO_FIELDS))

NUM_RANDOM = 20000
"""Random Gaussians of the ``point2act`` method when the capture has no point cloud (splatfacto: 50000): fewer,
as each is placed where at least three training views see it (:meth:`Point2ActModel.bound_random_init`). Beside a
start cloud triangulated from the photos, random Gaussians fill the start up to this many: points the photos place
take the place of random ones."""


def splatfacto_optimizers() -> dict:
    """splatfacto's optimizers and schedulers, as nerfstudio 1.1.5 registers ``splatfacto`` (its
    ``method_configs``; ``tests/method/test_optimizer_config.py`` checks they are equal). Written out here so
    that loading the method does not import nerfstudio's registry, which imports every method's modules."""
    def adam(lr: float) -> AdamOptimizerConfig:
        return AdamOptimizerConfig(lr=lr, eps=1e-15)

    def warm(lr_final: float) -> ExponentialDecaySchedulerConfig:
        return ExponentialDecaySchedulerConfig(lr_final=lr_final, max_steps=30000, warmup_steps=1000, lr_pre_warmup=0)

    return {
        "means": {"optimizer": adam(1.6e-4), "scheduler": ExponentialDecaySchedulerConfig(lr_final=1.6e-6,
                                                                                          max_steps=30000)},
        "features_dc": {"optimizer": adam(0.0025), "scheduler": None},
        "features_rest": {"optimizer": adam(0.0025 / 20), "scheduler": None},
        "opacities": {"optimizer": adam(0.05), "scheduler": None},
        "scales": {"optimizer": adam(0.005), "scheduler": None},
        "quats": {"optimizer": adam(0.001), "scheduler": None},
        "camera_opt": {"optimizer": adam(1e-4), "scheduler": warm(5e-7)},
        "bilateral_grid": {"optimizer": adam(2e-3), "scheduler": warm(1e-4)},
    }


def _fused(cfg: AdamOptimizerConfig) -> FusedAdamOptimizerConfig:
    return FusedAdamOptimizerConfig(lr=cfg.lr, eps=cfg.eps, max_norm=cfg.max_norm, weight_decay=cfg.weight_decay)


def default_device_type() -> str:
    """``cuda`` when a CUDA GPU is present, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _point2act_trainer_config(big: bool = False) -> TrainerConfig:
    """The ``point2act`` method; ``big``: splatfacto's 30,000-step schedule (``point2act-big``)."""
    optimizers = splatfacto_optimizers()
    for group in optimizers.values():  # splatfacto's Adams, fused
        if type(group["optimizer"]) is AdamOptimizerConfig:
            group["optimizer"] = _fused(group["optimizer"])
    optimizers[RELEVANCY_KEY] = {
        "optimizer": FusedAdamOptimizerConfig(lr=0.05, eps=1e-15),
        "scheduler": None,
    }
    means_sched = optimizers["means"]["scheduler"]
    optimizers["means"]["scheduler"] = RunLengthDecaySchedulerConfig(
        lr_final=means_sched.lr_final, max_steps=means_sched.max_steps, follow_run_length=not big)
    model = Point2ActModelConfig()
    splat = SplatfactoModelConfig()
    for f in AUTO_FIELDS:  # auto (None): derived from the run's length; big: splatfacto's own values
        setattr(model, f, getattr(splat, f) if big else None)
    model.num_random = splat.num_random if big else NUM_RANDOM
    iterations = 30000 if big else DEFAULT_ITERATIONS
    return Point2ActTrainerConfig(
        method_name="point2act-big" if big else "point2act",
        # an eval image (a render and, with --vis tensorboard, two PNG encodes: 0.2 s at 640x360 on 2 cores) at
        # most four times in the default run; splatfacto's 100 steps would make it nine times in a run that
        # converges at step 902. The eval images draw on their own random numbers: training is the same bits.
        steps_per_eval_image=100 if big else 500,
        steps_per_eval_batch=0,
        steps_per_save=2000,
        steps_per_eval_all_images=1000 if big else 10**9,
        max_num_iterations=iterations,
        mixed_precision=False,
        machine=MachineConfig(device_type=default_device_type()),
        pipeline=Point2ActPipelineConfig(
            datamanager=Point2ActDataManagerConfig(
                dataparser=NerfstudioDataParserConfig(load_3D_points=True),
                # 1920x1080 captures of 200 views fit a 24 GiB CPU machine (benchmarks/bench_memory.py):
                # images cached as uint8 (6 MiB per 1080p view, a quarter of float32), on the training
                # device ("gpu" is nerfstudio's name for it: CPU memory on a CPU; its "cpu" pins memory,
                # which needs CUDA); heatmaps are kept as points (Point2ActDataManager.train_heatmaps).
                cache_images="gpu",
                cache_images_type="uint8",
            ),
            model=model,
        ),
        optimizers=optimizers,
        # localhost only: nerfstudio binds its viewer to 0.0.0.0 (every interface) by default;
        # --viewer.websocket-host 0.0.0.0 opens it up again (docs/errors-and-safety.md)
        viewer=ViewerConfig(num_rays_per_chunk=1 << 15, websocket_host="127.0.0.1"),
        vis="viewer",
    )


point2act_method = MethodSpecification(
    config=_point2act_trainer_config(),
    description="Gaussian splatting with a relevancy channel lifted from MLLM points (Point2Act); "
    f"{DEFAULT_ITERATIONS} steps by default; splatfacto's schedule fields left None (auto) are derived from "
    "--max-num-iterations.",
)

point2act_big_method = MethodSpecification(
    config=_point2act_trainer_config(big=True),
    description="point2act with splatfacto's full 30,000-step schedule (GPU-sized).",
)
