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
from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig
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


def default_device_type() -> str:
    """``cuda`` when a CUDA GPU is present, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def point2act_optimizers(follow_run_length: bool) -> dict:
    """The method's optimizers: splatfacto's (nerfstudio 1.1.5's registered ``splatfacto``, written out so that
    loading the method does not import nerfstudio's registry), each Adam as torch's fused Adam
    (``tests/method/test_optimizer_config.py`` checks they are splatfacto's otherwise), the means' decay as a
    :class:`RunLengthDecaySchedulerConfig` that follows the run's length when ``follow_run_length``, and the
    relevancy channel's Adam."""
    def adam(lr: float) -> FusedAdamOptimizerConfig:
        return FusedAdamOptimizerConfig(lr=lr, eps=1e-15)

    def warm(lr_final: float) -> ExponentialDecaySchedulerConfig:
        return ExponentialDecaySchedulerConfig(lr_final=lr_final, max_steps=30000, warmup_steps=1000, lr_pre_warmup=0)

    return {
        "means": {"optimizer": adam(1.6e-4), "scheduler": RunLengthDecaySchedulerConfig(
            lr_final=1.6e-6, max_steps=30000, follow_run_length=follow_run_length)},
        "features_dc": {"optimizer": adam(0.0025), "scheduler": None},
        "features_rest": {"optimizer": adam(0.0025 / 20), "scheduler": None},
        "opacities": {"optimizer": adam(0.05), "scheduler": None},
        "scales": {"optimizer": adam(0.005), "scheduler": None},
        "quats": {"optimizer": adam(0.001), "scheduler": None},
        "camera_opt": {"optimizer": adam(1e-4), "scheduler": warm(5e-7)},
        "bilateral_grid": {"optimizer": adam(2e-3), "scheduler": warm(1e-4)},
        RELEVANCY_KEY: {"optimizer": adam(0.05), "scheduler": None},
    }


def point2act_datamanager() -> Point2ActDataManagerConfig:
    """The method's datamanager: the capture's point cloud loaded, images cached as uint8 on the training
    device."""
    return Point2ActDataManagerConfig(
        dataparser=NerfstudioDataParserConfig(load_3D_points=True),
        # 1920x1080 captures of 200 views fit a 24 GiB CPU machine (benchmarks/bench_memory.py):
        # images cached as uint8 (6 MiB per 1080p view, a quarter of float32), on the training
        # device ("gpu" is nerfstudio's name for it: CPU memory on a CPU; its "cpu" pins memory,
        # which needs CUDA); heatmaps are kept as points (Point2ActDataManager.train_heatmaps).
        cache_images="gpu",
        cache_images_type="uint8",
    )


def point2act_viewer() -> ViewerConfig:
    """The method's viewer, on localhost only: nerfstudio binds its viewer to 0.0.0.0 (every interface) by
    default; ``--viewer.websocket-host 0.0.0.0`` opens it up again (docs/errors-and-safety.md)."""
    return ViewerConfig(num_rays_per_chunk=1 << 15, websocket_host="127.0.0.1")


point2act_method = MethodSpecification(
    config=Point2ActTrainerConfig(
        method_name="point2act",
        # an eval image (a render and, with --vis tensorboard, two PNG encodes: 0.2 s at 640x360 on 2 cores) at
        # most four times in the default run; splatfacto's 100 steps would make it nine times in a run that
        # converges at step 902. The eval images draw on their own random numbers: training is the same bits.
        steps_per_eval_image=500,
        steps_per_eval_batch=0,
        steps_per_save=2000,
        steps_per_eval_all_images=10**9,
        max_num_iterations=DEFAULT_ITERATIONS,
        mixed_precision=False,
        machine=MachineConfig(device_type=default_device_type()),
        pipeline=Point2ActPipelineConfig(
            datamanager=point2act_datamanager(),
            # splatfacto's schedule fields (AUTO_FIELDS) auto (None): derived from the run's length
            model=Point2ActModelConfig(
                warmup_length=None,
                refine_every=None,
                stop_split_at=None,
                stop_screen_size_at=None,
                reset_alpha_every=None,
                densify_grad_thresh=None,
                num_downscales=None,
                resolution_schedule=None,
                sh_degree=None,
                sh_degree_interval=None,
                num_random=NUM_RANDOM,
            ),
        ),
        optimizers=point2act_optimizers(follow_run_length=True),
        viewer=point2act_viewer(),
        vis="viewer",
    ),
    description="Gaussian splatting with a relevancy channel lifted from MLLM points (Point2Act); "
    f"{DEFAULT_ITERATIONS} steps by default; splatfacto's schedule fields left None (auto) are derived from "
    "--max-num-iterations.",
)

point2act_big_method = MethodSpecification(
    config=Point2ActTrainerConfig(
        method_name="point2act-big",
        steps_per_eval_image=100,
        steps_per_eval_batch=0,
        steps_per_save=2000,
        steps_per_eval_all_images=1000,
        max_num_iterations=30000,
        mixed_precision=False,
        machine=MachineConfig(device_type=default_device_type()),
        pipeline=Point2ActPipelineConfig(
            datamanager=point2act_datamanager(),
            model=Point2ActModelConfig(),  # splatfacto's schedule and its 50,000 random Gaussians
        ),
        optimizers=point2act_optimizers(follow_run_length=False),
        viewer=point2act_viewer(),
        vis="viewer",
    ),
    description="point2act with splatfacto's full 30,000-step schedule (GPU-sized).",
)
