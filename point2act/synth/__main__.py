"""``python -m point2act.synth --out DIR [--seed N] ...``: generate a synthetic scene."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from point2act.synth.config import SynthConfig
from point2act.synth.generate import main as _main


def cli(argv: list[str] | None = None) -> None:
    """Parse arguments (every scalar SynthConfig field is an option) and generate."""
    ap = argparse.ArgumentParser(prog="python -m point2act.synth", description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("data/synth"), help="output directory")
    defaults = SynthConfig()
    for f in fields(SynthConfig):
        val = getattr(defaults, f.name)
        if isinstance(val, bool):
            ap.add_argument(f"--{f.name.replace('_', '-')}", type=lambda s: s.lower() in ("1", "true", "yes"), default=val)
        elif isinstance(val, (int, float, str)):
            ap.add_argument(f"--{f.name.replace('_', '-')}", type=type(val), default=val)
        elif f.name == "oracle_seed":
            ap.add_argument("--oracle-seed", type=int, default=None)
    args = ap.parse_args(argv)
    kw = {f.name: getattr(args, f.name) for f in fields(SynthConfig) if hasattr(args, f.name)}
    _main(SynthConfig(**kw), args.out)


if __name__ == "__main__":
    cli()
