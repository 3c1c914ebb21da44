"""Named relevancy channels of a trained run: ``RUN/relevancy/NAME.pt`` and ``RUN/relevancy/index.json``.

A channel is one relevancy field (per-Gaussian logits aligned with the checkpoint's Gaussians) with its
prompt, points and role (``grasp``, ``place``, ``avoid``). ``point2act query`` writes them; ``point2act
export --channels`` and the viewer read them. Plain torch and files: the run layer
(:mod:`point2act.method.run`) passes the run's ``config.yml`` path.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Dict

import numpy as np
import torch

from point2act.errors import Point2ActError
from point2act.io import save_torch_atomic, write_json_atomic

CHANNELS_DIR = "relevancy"
INDEX_NAME = "index.json"
ROLES = ("grasp", "place", "avoid")


def run_dir(config_path: Path) -> Path:
    """The run's folder (the one holding config.yml)."""
    return Path(config_path).resolve().parent


def channel_role(name: str, role: str | None = None) -> str:
    """``role`` if given, else the name when it is a role ("grasp", "place", "avoid"), else "grasp"."""
    r = role or (name if name in ROLES else "grasp")
    if r not in ROLES:
        raise Point2ActError(f"unknown channel role {r!r}; use one of {', '.join(ROLES)}")
    return r


def check_name(name: str) -> str:
    """``name`` if it is a valid channel name (it becomes a file name), else a Point2ActError."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name or ""):
        raise Point2ActError(f"channel name {name!r}: use letters, digits, '_', '-', '.' (1-64 characters)")
    return name


# ----------------------------------------------------------------------------------------------
def channels_dir(config_path: Path) -> Path:
    return run_dir(config_path) / CHANNELS_DIR


def list_channels(config_path: Path) -> Dict[str, Dict[str, Any]]:
    """``RUN/relevancy/index.json``: name -> {prompt, role, file, num_gaussians, checkpoint, ...}."""
    p = channels_dir(config_path) / INDEX_NAME
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        channels = data["channels"]
        if not isinstance(channels, dict):
            raise TypeError("'channels' is not an object")
    except (ValueError, KeyError, TypeError) as e:  # truncated or hand-edited: never trusted
        raise Point2ActError(
            f"{p}: corrupt relevancy channel index ({type(e).__name__}: {e}). Delete it and run "
            "`point2act query` again for the channels you need."
        ) from None
    return channels


def save_channel(config_path: Path, name: str, logits: torch.Tensor, prompt: str, points: dict | None,
                 role: str, checkpoint: Dict[str, Any], extra: Dict[str, Any] | None = None) -> Path:
    """Write ``RUN/relevancy/NAME.pt`` and update the index (atomically)."""
    check_name(name)
    d = channels_dir(config_path)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.pt"
    rec = {"name": name, "prompt": prompt, "role": role, "logits": logits.detach().float().cpu().reshape(-1),
           "points": points, "num_gaussians": int(logits.numel()), "checkpoint": checkpoint, **(extra or {})}
    save_torch_atomic(rec, path)
    index = list_channels(config_path)
    index[name] = {"prompt": prompt, "role": role, "file": path.name, "num_gaussians": int(logits.numel()),
                   "checkpoint": checkpoint, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                   **{k: v for k, v in (extra or {}).items() if isinstance(v, (int, float, str))}}
    write_json_atomic(d / INDEX_NAME, {"schema": "point2act.relevancy_channels/1", "channels": index})
    return path


def channel_relevancy_of(record: Dict[str, Any]) -> np.ndarray:  # [N]
    """The relevancy of a channel record (:func:`load_channel`): ``sigmoid(logits)`` as float64 numpy."""
    return torch.sigmoid(record["logits"].double()).numpy()


def channel_relevancy(config_path: Path, name: str, num_gaussians: int | None = None) -> np.ndarray:  # [N]
    """A saved channel's relevancy, ``sigmoid(logits)`` as float64 numpy (the ``relevancy`` of its Gaussians)."""
    return channel_relevancy_of(load_channel(config_path, name, num_gaussians))


def load_channel(config_path: Path, name: str, num_gaussians: int | None = None) -> Dict[str, Any]:
    """A saved channel's record (``logits`` [N] tensor, prompt, role, points, ...)."""
    path = channels_dir(config_path) / f"{check_name(name)}.pt"
    if not path.is_file():
        have = ", ".join(sorted(list_channels(config_path))) or "none"
        raise Point2ActError(f"{path}: no relevancy channel {name!r} in this run (have: {have})")
    try:
        rec = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(rec, dict) or not isinstance(rec.get("logits"), torch.Tensor):
            raise TypeError("no 'logits' tensor")
    except Exception as e:  # noqa: BLE001  (truncated or foreign file: never trusted)
        raise Point2ActError(
            f"{path}: corrupt relevancy channel {name!r} ({type(e).__name__}: {e}). "
            f"Run `point2act query ... --name {name}` again."
        ) from None
    if num_gaussians is not None and int(rec["logits"].numel()) != int(num_gaussians):
        raise Point2ActError(
            f"{path}: channel has {rec['logits'].numel()} Gaussians, the checkpoint {num_gaussians}; "
            "it was fitted on another checkpoint of this run: query again"
        )
    return rec
