"""Named relevancy channels of a trained run: ``RUN/relevancy/NAME.npz`` and ``RUN/relevancy/index.json``.

A channel is one relevancy field (per-Gaussian logits aligned with the checkpoint's Gaussians) with its
prompt, points and role (``grasp``, ``place``, ``avoid``). ``point2act query`` writes them; ``point2act
export --channels`` and the viewer read them. A channel is an npz of two members: ``logits`` [N] float32 and
``record`` (the rest, JSON). Channels that runs hold as ``NAME.pt`` (a ``torch.save`` dict) are read too
(torch imported then). Plain numpy and files: the run layer (:mod:`point2act.method.run_layer`) passes the run's
``config.yml`` path.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

import numpy as np

from point2act.errors import Point2ActError
from point2act.io import atomic_write, write_json_atomic

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


@dataclass(frozen=True)
class ChannelInfo:
    """What a channel is, beside its logits: its name (its file), the prompt and the points its relevancy was
    fitted to and its role. They are written together into the channel's record and its index entry."""

    name: str
    """The channel's name (:func:`check_name`): ``RUN/relevancy/NAME.npz``."""
    prompt: str
    """The prompt the points answer."""
    role: str
    """One of :data:`ROLES`."""
    points: dict | None = None
    """The points file (dict) the channel was fitted to; None when it has none."""


def save_channel(config_path: Path, channel: ChannelInfo, logits, checkpoint: Dict[str, Any],
                 extra: Dict[str, Any] | None = None) -> Path:
    """Write ``RUN/relevancy/NAME.npz`` of ``channel`` (``logits`` [N]: an array or a tensor) and update the index
    (atomically); a ``NAME.pt`` of the same channel is removed."""
    name, prompt, role, points = channel.name, channel.prompt, channel.role, channel.points
    check_name(name)
    d = channels_dir(config_path)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.npz"
    arr = _as_array(logits)
    rec = {"name": name, "prompt": prompt, "role": role, "points": points, "num_gaussians": int(arr.size),
           "checkpoint": checkpoint, **(extra or {})}
    members = {"logits": arr, "record": np.frombuffer(json.dumps(rec).encode(), dtype=np.uint8)}
    atomic_write(path, lambda f: np.savez(f, **members), binary=True)
    (d / f"{name}.pt").unlink(missing_ok=True)
    index = list_channels(config_path)
    index[name] = {"prompt": prompt, "role": role, "file": path.name, "num_gaussians": int(arr.size),
                   "checkpoint": checkpoint, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                   **{k: v for k, v in (extra or {}).items() if isinstance(v, (int, float, str))}}
    write_json_atomic(d / INDEX_NAME, {"schema": "point2act.relevancy_channels/1", "channels": index})
    return path


def _as_array(logits) -> np.ndarray:  # [N] float32
    """Logits as a flat float32 array (a torch tensor's through ``detach().cpu().numpy()``)."""
    if hasattr(logits, "detach"):
        logits = logits.detach().float().cpu().numpy()
    return np.ascontiguousarray(np.asarray(logits, dtype=np.float32).reshape(-1))


def channel_relevancy_of(record: Dict[str, Any]) -> np.ndarray:  # [N]
    """The relevancy of a channel record (:func:`load_channel`): ``sigmoid(logits)`` in float64
    (:func:`point2act.requery.fit_numpy.sigmoid`, the one sigmoid of every path that reads a channel)."""
    from point2act.requery.fit_numpy import sigmoid

    return sigmoid(np.asarray(record["logits"], dtype=np.float64))


def channel_relevancy(config_path: Path, name: str, num_gaussians: int | None = None) -> np.ndarray:  # [N]
    """A saved channel's relevancy, ``sigmoid(logits)`` as float64 numpy (the ``relevancy`` of its Gaussians)."""
    return channel_relevancy_of(load_channel(config_path, name, num_gaussians))


def channel_path(config_path: Path, name: str) -> Path:
    """The file of channel ``name``: ``NAME.npz``, else a run's older ``NAME.pt`` when only that exists."""
    d = channels_dir(config_path)
    npz = d / f"{check_name(name)}.npz"
    pt = d / f"{name}.pt"
    return pt if not npz.is_file() and pt.is_file() else npz


def _read(path: Path) -> Dict[str, Any]:
    """A channel file's record, ``logits`` a float32 array."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            rec = json.loads(z["record"].tobytes().decode())
            if not isinstance(rec, dict):
                raise TypeError("the record is not an object")
            rec["logits"] = np.asarray(z["logits"], dtype=np.float32).reshape(-1)
        return rec
    import torch

    rec = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(rec, dict) or not isinstance(rec.get("logits"), torch.Tensor):
        raise TypeError("no 'logits' tensor")
    return {**rec, "logits": _as_array(rec["logits"])}


def load_channel(config_path: Path, name: str, num_gaussians: int | None = None) -> Dict[str, Any]:
    """A saved channel's record (``logits`` [N] float32 array, prompt, role, points, ...)."""
    path = channel_path(config_path, name)
    if not path.is_file():
        have = ", ".join(sorted(list_channels(config_path))) or "none"
        raise Point2ActError(f"{path}: no relevancy channel {name!r} in this run (have: {have})")
    try:
        rec = _read(path)
    except Exception as e:  # noqa: BLE001  (truncated or foreign file: never trusted)
        raise Point2ActError(
            f"{path}: corrupt relevancy channel {name!r} ({type(e).__name__}: {e}). "
            f"Run `point2act query ... --name {name}` again."
        ) from None
    if num_gaussians is not None and int(rec["logits"].size) != int(num_gaussians):
        raise Point2ActError(
            f"{path}: channel has {rec['logits'].size} Gaussians, the checkpoint {num_gaussians}; "
            "it was fitted on another checkpoint of this run: query again"
        )
    return rec
