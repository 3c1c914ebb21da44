"""Check a trained run (``--load-config RUN/config.yml``) before nerfstudio loads it.

nerfstudio's ``eval_setup`` builds the whole pipeline (data parser, model) before it reads the
checkpoint, and then fails with a traceback on a truncated checkpoint, and a run of another
method (a splatfacto ``config.yml``) only fails after all that. :func:`check_run_config` reads
the config and looks at the checkpoint it would load first, and raises a
:class:`~point2act.errors.Point2ActError` naming the file and the fix.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from point2act.errors import Point2ActError

__all__ = ["check_checkpoint", "check_run_config", "latest_checkpoint_path"]


def latest_checkpoint_path(checkpoint_dir: Path) -> Path | None:
    """The checkpoint nerfstudio's ``eval_load_checkpoint`` loads: the highest ``step-*.ckpt``."""
    best = None
    for p in Path(checkpoint_dir).glob("step-*.ckpt"):
        try:
            step = int(p.name[len("step-"):-len(".ckpt")])
        except ValueError:
            continue
        if best is None or step > best[0]:
            best = (step, p)
    return best[1] if best is not None else None


def check_run_config(config_path: os.PathLike | str, method: str = "point2act") -> Any:
    """Read ``config.yml``, check it is a ``method`` run whose latest checkpoint is readable.

    Returns the loaded :class:`~nerfstudio.engine.trainer.TrainerConfig`.

    Raises:
        FileNotFoundError: no such file.
        Point2ActError: not a run config, another method's run, or a truncated checkpoint.
    """
    import yaml

    path = Path(config_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such run config (pass the config.yml that ns-train wrote)")
    try:
        config = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.Loader)
    except UnicodeDecodeError:
        raise Point2ActError(f"{path}: not a text file; --load-config takes the config.yml that ns-train "
                             "wrote in the run folder.") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        raise Point2ActError(f"{path}: not a valid run config{at}: {getattr(e, 'problem', None) or e}. "
                             "Was it truncated? --load-config takes the config.yml that ns-train wrote.") from None
    except Exception as e:  # a class that no longer exists, ...
        raise Point2ActError(f"{path}: cannot be loaded as a nerfstudio run config ({type(e).__name__}: {e}).") from None
    name = getattr(config, "method_name", None)
    if name is None or not hasattr(config, "get_checkpoint_dir"):
        raise Point2ActError(f"{path}: not a nerfstudio run config (no method_name); --load-config takes the "
                             "config.yml that ns-train wrote in the run folder.")
    if name != method:
        raise Point2ActError(
            f"{path}: this run was trained with method '{name}', not {method}; it has no relevancy channel. "
            f"Train the capture with `ns-train {method} --data ...` and pass that run's config.yml."
        )
    check_checkpoint(path, Path(config.get_checkpoint_dir()))
    return config


def check_checkpoint(path: Path, ckpt_dir: Path) -> Path:
    """The latest checkpoint of a run (config ``path``, checkpoint folder ``ckpt_dir``), checked to be a
    readable torch zip; else a :class:`~point2act.errors.Point2ActError` naming the file and the fix."""
    ckpt = latest_checkpoint_path(ckpt_dir) if ckpt_dir.is_dir() else None
    if ckpt is None:
        raise Point2ActError(f"{path}: the run has no checkpoint (no step-*.ckpt in {ckpt_dir}). Let training "
                             "reach --steps-per-save, or run it from the folder it was trained in "
                             "(output_dir in config.yml is relative to it).")
    try:
        with zipfile.ZipFile(ckpt) as zf:
            if not any(n.endswith("data.pkl") for n in zf.namelist()):
                raise zipfile.BadZipFile("no data.pkl: not a torch checkpoint")
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise Point2ActError(
            f"{ckpt}: not a readable checkpoint ({e}); it is truncated or corrupt (was training killed while "
            "saving?). Delete it to use the run's previous step-*.ckpt, or retrain."
        ) from None
    return ckpt
