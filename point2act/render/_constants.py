"""Compositing constants of the CPU rasterizer, read from their one definition in ``csrc/common.h``.

``ALPHA_MAX`` (alpha clamp), ``ALPHA_MIN`` (a Gaussian is skipped below it), ``TRANSMITTANCE_MIN``
(a pixel stops before its transmittance falls to it) and ``PIXEL_CENTER`` (pixel centres at
``index + PIXEL_CENTER``), as gsplat 1.4.0 uses them. Parsed from the header's
``constexpr double NAME = value;`` block at import (no build needed); the compiled extension exports
the same values (``constants()``), which the tests compare.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict

HEADER = Path(__file__).resolve().parent / "csrc" / "common.h"
_LINE = re.compile(r"^constexpr double (\w+) = ([0-9.eE+-]+)(?: / ([0-9.eE+-]+))?;", re.M)


def read_constants(text: str) -> Dict[str, float]:
    """``{NAME: value}`` of the ``constexpr double NAME = a;`` / ``= a / b;`` lines of a header."""
    out = {}
    for name, num, den in _LINE.findall(text):
        out[name] = float(num) / float(den) if den else float(num)
    return out


CONSTANTS = read_constants(HEADER.read_text())
ALPHA_MAX: float = CONSTANTS["ALPHA_MAX"]
ALPHA_MIN: float = CONSTANTS["ALPHA_MIN"]
TRANSMITTANCE_MIN: float = CONSTANTS["TRANSMITTANCE_MIN"]
PIXEL_CENTER: float = CONSTANTS["PIXEL_CENTER"]
