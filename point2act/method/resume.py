"""What a checkpoint holds beyond nerfstudio's, so that a resumed run trains the undisturbed run's bits.

nerfstudio 1.1.5 saves the model, the optimizers, the schedulers and the gradient scaler. A run resumed from that
alone draws other random numbers, visits the views in another order and densifies from empty gradient statistics,
so a run killed and resumed ends elsewhere than the run that was never killed. :func:`training_state` collects the
rest, :func:`restore_training_state` puts it back (:class:`point2act.method.trainer.Point2ActTrainer` calls both):

- the random generators: Python's, numpy's, torch's CPU generator and every CUDA device's;
- the datamanager's place in its view order: the views left in the current pass (and the eval views), the
  generator that shuffles the next pass, and fps sampling's pass counts;
- the densification statistics (splatfacto's ``strategy_state``: each Gaussian's accumulated screen-space
  gradient and its count);
- the convergence check's last probe depths (:class:`point2act.convergence.TargetConvergence`);
- whether the checkpoint is the end of a finished training (``finished``).

Everything is stored as tensors, numbers, strings and containers, which ``torch.load(weights_only=True)`` reads
(:func:`point2act.checkpoints.load_checkpoint`). Check: ``tests/method/test_resume.py`` resumes a run from an
intermediate checkpoint and compares its last checkpoint with the undisturbed run's, tensor for tensor.
"""

from __future__ import annotations

import random
from typing import Any, Dict

import numpy as np
import torch

KEY = "point2act"
"""The checkpoint's entry for this state."""


def _python_state(state: tuple) -> Dict[str, Any]:
    version, internal, gauss_next = state
    return {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64), "gauss_next": gauss_next}


def _python_tuple(d: Dict[str, Any]) -> tuple:
    return (int(d["version"]), tuple(int(x) for x in d["internal"].tolist()), d["gauss_next"])


def _numpy_state() -> Dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_state(d: Dict[str, Any]) -> None:
    np.random.set_state((d["name"], d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"],
                         d["cached_gaussian"]))


def _datamanager_state(dm) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name in ("train_unseen_cameras", "eval_unseen_cameras"):
        if hasattr(dm, name):
            out[name] = [int(i) for i in getattr(dm, name)]
    if hasattr(dm, "random_generator"):
        out["random_generator"] = _python_state(dm.random_generator.getstate())
    if hasattr(dm, "train_unsampled_epoch_count"):
        out["train_unsampled_epoch_count"] = torch.from_numpy(np.asarray(dm.train_unsampled_epoch_count).copy())
    return out


def _restore_datamanager(dm, d: Dict[str, Any]) -> None:
    for name in ("train_unseen_cameras", "eval_unseen_cameras"):
        if name in d:
            setattr(dm, name, list(d[name]))
    if "random_generator" in d:
        dm.random_generator = random.Random()
        dm.random_generator.setstate(_python_tuple(d["random_generator"]))
    if "train_unsampled_epoch_count" in d:
        dm.train_unsampled_epoch_count = d["train_unsampled_epoch_count"].numpy().copy()


def training_state(trainer, finished: bool) -> Dict[str, Any]:
    """The state a checkpoint adds for an exact resume (see the module's docstring), taken after the step it saves."""
    pipeline = trainer.pipeline.module if hasattr(trainer.pipeline, "module") else trainer.pipeline
    model = pipeline.model
    state: Dict[str, Any] = {
        "finished": bool(finished),
        "rng": {"python": _python_state(random.getstate()), "numpy": _numpy_state(), "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []},
        "datamanager": _datamanager_state(pipeline.datamanager),
        "strategy_state": getattr(model, "strategy_state", None),
    }
    conv = getattr(trainer, "_convergence", None)
    if conv is not None:
        state["convergence"] = {"previous": None if conv.previous is None else
                                [torch.from_numpy(np.asarray(d).copy()) for d in conv.previous],
                                "worst": conv.worst}
    return state


def restore_training_state(trainer, state: Dict[str, Any]) -> None:
    """Put :func:`training_state`'s ``state`` back into a trainer whose pipeline has loaded the same checkpoint."""
    pipeline = trainer.pipeline.module if hasattr(trainer.pipeline, "module") else trainer.pipeline
    model = pipeline.model
    rng = state["rng"]
    random.setstate(_python_tuple(rng["python"]))
    _set_numpy_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    _restore_datamanager(pipeline.datamanager, state["datamanager"])
    strategy = state.get("strategy_state")
    if strategy is not None and hasattr(model, "strategy_state"):
        device = model.means.device
        model.strategy_state = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in strategy.items()}
    conv, saved = getattr(trainer, "_convergence", None), state.get("convergence")
    if conv is not None and saved is not None:
        conv.previous = None if saved["previous"] is None else [d.numpy().copy() for d in saved["previous"]]
        conv.worst = saved["worst"]
