"""The ``point2act`` method, registered under nerfstudio's ``nerfstudio.method_configs`` entry point.

``ns-train point2act --data CAPTURE --pipeline.datamanager.points-file POINTS.json`` trains
splatfacto's Gaussians plus a relevancy channel. It runs on the GPU when one is present (gsplat)
and on the CPU otherwise (point2act's own rasterizer), without ``--machine.device-type``.
"""

from __future__ import annotations

import copy

import torch

from nerfstudio.configs.base_config import MachineConfig, ViewerConfig
from nerfstudio.configs.method_configs import method_configs
from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
from nerfstudio.engine.optimizers import AdamOptimizerConfig
from nerfstudio.engine.trainer import TrainerConfig
from nerfstudio.pipelines.base_pipeline import VanillaPipelineConfig
from nerfstudio.plugins.types import MethodSpecification

from point2act.method.datamanager import Point2ActDataManagerConfig
from point2act.method.keys import RELEVANCY_KEY
from point2act.method.model import Point2ActModelConfig
from point2act.method.trainer import Point2ActTrainer


def default_device_type() -> str:
    """``cuda`` when a CUDA GPU is present, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _point2act_trainer_config() -> TrainerConfig:
    base: TrainerConfig = method_configs["splatfacto"]
    optimizers = copy.deepcopy(base.optimizers)
    optimizers[RELEVANCY_KEY] = {
        "optimizer": AdamOptimizerConfig(lr=0.05, eps=1e-15),
        "scheduler": None,
    }
    return TrainerConfig(
        _target=Point2ActTrainer,  # atomic checkpoint writes; --load-dir skips a truncated checkpoint
        method_name="point2act",
        steps_per_eval_image=100,
        steps_per_eval_batch=0,
        steps_per_save=2000,
        steps_per_eval_all_images=1000,
        max_num_iterations=30000,
        mixed_precision=False,
        machine=MachineConfig(device_type=default_device_type()),
        pipeline=VanillaPipelineConfig(
            datamanager=Point2ActDataManagerConfig(
                dataparser=NerfstudioDataParserConfig(load_3D_points=True),
                # 1920x1080 captures of 200 views fit a 24 GiB CPU machine (benchmarks/bench_memory.py):
                # images cached as uint8 (6 MiB per 1080p view, a quarter of float32), on the training
                # device ("gpu" is nerfstudio's name for it: CPU memory on a CPU; its "cpu" pins memory,
                # which needs CUDA); heatmaps are kept as points (Point2ActDataManager.train_heatmaps).
                cache_images="gpu",
                cache_images_type="uint8",
            ),
            model=Point2ActModelConfig(),
        ),
        optimizers=optimizers,
        # localhost only: nerfstudio binds its viewer to 0.0.0.0 (every interface) by default;
        # --viewer.websocket-host 0.0.0.0 opens it up again (docs/errors-and-safety.md)
        viewer=ViewerConfig(num_rays_per_chunk=1 << 15, websocket_host="127.0.0.1"),
        vis="viewer",
    )


point2act_method = MethodSpecification(
    config=_point2act_trainer_config(),
    description="Gaussian splatting with a relevancy channel lifted from MLLM points (Point2Act).",
)
