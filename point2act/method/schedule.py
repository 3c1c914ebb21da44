"""Training schedules of the ``point2act`` method (nerfstudio ``TrainerConfig`` edits)."""

from __future__ import annotations

import copy
from pathlib import Path

from nerfstudio.engine.schedulers import ExponentialDecaySchedulerConfig


def short_schedule(config, data: Path, points_file: Path, out: Path, iterations: int, viewer: bool = False):
    """A ``point2act`` TrainerConfig trimmed for a few minutes on a CPU (same model, fewer steps)."""
    config = copy.deepcopy(config)
    config.experiment_name = "demo"
    config.timestamp = "run"
    config.output_dir = out
    config.vis = "viewer" if viewer else "tensorboard"
    config.viewer.quit_on_train_completion = not viewer
    config.max_num_iterations = iterations
    config.steps_per_save = iterations
    config.save_only_latest_checkpoint = True
    config.steps_per_eval_image = 10**9
    config.steps_per_eval_batch = 10**9
    config.steps_per_eval_all_images = 10**9
    config.logging.steps_per_log = 100  # nerfstudio's progress table (step, ETA) every 100 steps
    dm = config.pipeline.datamanager
    dm.data = data
    dm.dataparser.data = data
    dm.points_file = points_file
    model = config.pipeline.model
    model.num_downscales = 1
    model.resolution_schedule = max(iterations // 4, 1)
    model.warmup_length = min(200, iterations // 5)
    model.refine_every = 100
    model.stop_split_at = int(iterations * 0.5)
    model.densify_grad_thresh = 0.002  # grow less than splatfacto's 30k-step default: CPU budget
    model.sh_degree = 1
    model.sh_degree_interval = max(iterations // 3, 1)
    model.reset_alpha_every = 10**6
    config.optimizers["means"]["scheduler"] = ExponentialDecaySchedulerConfig(lr_final=1.6e-6, max_steps=iterations)
    return config
