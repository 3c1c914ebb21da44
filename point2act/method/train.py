"""The ``point2act`` method as nerfstudio registers it, and ``ns-train`` in-process on a ready config."""

from __future__ import annotations

import copy


def registered_config(name: str = "point2act"):
    """A copy of the ``TrainerConfig`` nerfstudio registered for ``name`` (plugins included), as
    ``ns-train NAME`` starts from. Going through nerfstudio's registry (not importing
    :mod:`point2act.method.config` first) keeps the plugin discovery free of import cycles."""
    from nerfstudio.configs.method_configs import all_methods

    return copy.deepcopy(all_methods[name])


def train(config):
    """nerfstudio's ``ns-train`` main on ``config`` (same trainer, checkpoints, viewer, logging).

    Returns the trainer of a single-process run (its ``pipeline`` holds the trained model, so a caller
    can export without loading the run again), ``None`` for a distributed one."""
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
