"""The ``point2act`` method as nerfstudio registers it, and ``ns-train`` in-process on a ready config."""

from __future__ import annotations

import copy


def registered_config(name: str = "point2act"):
    """A copy of the ``TrainerConfig`` nerfstudio registered for ``name`` (plugins included), as
    ``ns-train NAME`` starts from. Going through nerfstudio's registry (not importing
    :mod:`point2act.method.config` first) keeps the plugin discovery free of import cycles."""
    from nerfstudio.configs.method_configs import all_methods

    return copy.deepcopy(all_methods[name])


def train(config) -> None:
    """nerfstudio's ``ns-train`` main on ``config`` (same trainer, checkpoints, viewer, logging)."""
    from nerfstudio.scripts.train import main as ns_train_main

    ns_train_main(config)
