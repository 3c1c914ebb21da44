"""Run ``ns-train`` in-process on a ready ``TrainerConfig`` (what ``point2act demo`` does)."""

from __future__ import annotations


def train(config) -> None:
    """nerfstudio's ``ns-train`` main on ``config`` (same trainer, checkpoints, viewer, logging)."""
    from nerfstudio.scripts.train import main as ns_train_main

    ns_train_main(config)
