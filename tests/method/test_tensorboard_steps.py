"""Tensorboard scalars at the logging steps only (point2act.method.trainer.LoggedStepsTensorboard): nerfstudio
puts its timing scalars into the event storage at every step, and each costs 0.25 ms of pure-Python protobuf."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorboard")


def _scalars(log_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_scalars_only_every_logging_step(tmp_path):
    from point2act.method.trainer import LoggedStepsTensorboard  # first: nerfstudio's writer imports its configs
    from nerfstudio.utils.writer import TensorboardWriter

    inner = TensorboardWriter(log_dir=tmp_path)
    w = LoggedStepsTensorboard(inner, every=10)
    for step in range(26):
        w.write_scalar("Train Iter (time)", 0.01 * step, step)
    inner.tb_writer.close()
    assert _scalars(tmp_path) == {"Train Iter (time)": [0, 10, 20]}


def test_the_trainer_writes_tensorboard_scalars_at_its_logging_steps(trained_synth):
    """The shared run (``--vis tensorboard``, trained in this process) has its timing curves and its losses, every
    one only at multiples of its ``logging.steps_per_log``."""
    import yaml

    from point2act.method.trainer import LoggedStepsTensorboard
    from nerfstudio.utils import writer as ns_writer

    _root, _scene, config, _p = trained_synth
    assert not any(type(w) is ns_writer.TensorboardWriter for w in ns_writer.EVENT_WRITERS)
    for w in ns_writer.EVENT_WRITERS:
        if isinstance(w, LoggedStepsTensorboard):
            w.tb_writer.flush()
    every = yaml.load(config.read_text(), Loader=yaml.Loader).logging.steps_per_log
    scalars = _scalars(config.parent)
    assert {"Train Iter (time)", "Train Loss"} <= set(scalars), sorted(scalars)
    assert len(scalars["Train Iter (time)"]) >= 2
    assert all(s % every == 0 for steps in scalars.values() for s in steps), scalars
