"""The ``point2act`` method as nerfstudio registers it, and ``ns-train`` in-process on a ready config."""

from __future__ import annotations

import copy


def registered_config(name: str = "point2act"):
    """A copy of the ``TrainerConfig`` nerfstudio registers for ``name``, as ``ns-train NAME`` starts from. The
    ``point2act`` methods come from :mod:`point2act.method.config` (what the plugin's entry point registers);
    other names from nerfstudio's registry, whose import loads every method's modules (two seconds)."""
    if name in ("point2act", "point2act-big"):
        from point2act.method.config import point2act_big_method, point2act_method

        spec = point2act_method if name == "point2act" else point2act_big_method
        return copy.deepcopy(spec.config)
    from point2act.method.hooks import light_external_methods

    light_external_methods()
    from nerfstudio.configs.method_configs import all_methods

    return copy.deepcopy(all_methods[name])


def train(config):
    """nerfstudio's ``ns-train`` main on ``config`` (same trainer, checkpoints, viewer, logging).

    Returns the trainer of a single-process run (its ``pipeline`` holds the trained model, so a caller
    can export without loading the run again), ``None`` for a distributed one. A single-process run takes
    ``ns-train``'s steps itself (:func:`_train_single`); others go through ``ns-train``'s ``main``."""
    machine = config.machine
    if machine.num_devices * machine.num_machines == 1 and not (config.data or config.prompt or config.load_config):
        return _train_single(config)
    from nerfstudio.scripts import train as ns_train

    kept = {}
    loop = ns_train.train_loop

    def train_loop(local_rank, world_size, config, global_rank=0):
        ns_train._set_random_seed(config.machine.seed + global_rank)
        trainer = config.setup(local_rank=local_rank, world_size=world_size)
        trainer.setup()
        trainer.train()
        kept["trainer"] = trainer

    ns_train.train_loop = train_loop  # ns-train's main looks its train_loop up when it launches
    try:
        ns_train.main(config)
    finally:
        ns_train.train_loop = loop
    return kept.get("trainer")


def _train_single(config):
    """``ns-train``'s ``main`` and ``train_loop`` for one process (nerfstudio 1.1.5's steps: timestamp, print and
    save the config, seed, set up, train, flush the profiler), without importing ``nerfstudio.scripts.train``,
    whose import loads nerfstudio's method registry. An interrupt ends training as ``ns-train``'s does: its
    traceback printed, no trainer returned."""
    import random
    import traceback

    import numpy as np
    import torch
    from nerfstudio.utils import profiler
    from nerfstudio.utils.rich_utils import CONSOLE

    config.set_timestamp()
    config.print_to_terminal()
    config.save_config()
    try:
        random.seed(config.machine.seed)
        np.random.seed(config.machine.seed)
        torch.manual_seed(config.machine.seed)
        trainer = config.setup(local_rank=0, world_size=1)
        trainer.setup()
        trainer.train()
        return trainer
    except KeyboardInterrupt:
        CONSOLE.print(traceback.format_exc())
        return None
    finally:
        profiler.flush_profiler(config.logging)
