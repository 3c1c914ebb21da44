"""Scene generators of the accuracy benchmark besides point2act.synth: each writes a scene folder in
the layout the protocol and the oracle pointer read (:mod:`.common`), from a seeded
:class:`~.common.GenConfig`.

- ``kitchen`` (:mod:`.kitchen`): triangle meshes ray cast with open3d, Blinn-Phong, two lights, per view
  exposure and white balance, wood/cloth/tile textures, a table edge with the room beyond, hand-held
  and few-view captures, pans, pots with lids, cans, the ACRONYM mug, a spatula;
- ``studio`` (:mod:`.studio`): analytic primitives ray cast in numpy, Oren-Nayar under a soft area light
  and a sky/ground ambient, filmic tone curve, vignetting and sensor noise, plaid/dot/stripe textures,
  a plain board or a small table, camera rings and few-view captures, pans, lids, cans, a screwdriver;
- ``objects`` (:mod:`.objects`): objects nobody here shaped, PyBullet's ``random_urdfs`` meshes, on the
  kitchen's table and renderer; the dev scenes draw the even ids, the held-out test scenes the odd ids.

``python -m benchmarks.generators GENERATOR KIND OUT [--seed N] [--path P] [--views N]`` writes one scene.
"""

from __future__ import annotations

from pathlib import Path

from .common import GenConfig, PROMPTS

GENERATORS = ("kitchen", "studio", "objects")


def generate(out, cfg: GenConfig) -> dict:
    """Write the scene of ``cfg`` into ``out``; returns its ground_truth.json dict."""
    if cfg.generator == "kitchen":
        from . import kitchen as mod
    elif cfg.generator == "studio":
        from . import studio as mod
    elif cfg.generator == "objects":
        from . import objects as mod
    else:
        raise ValueError(f"unknown generator {cfg.generator!r}; one of {GENERATORS}")
    return mod.generate(Path(out), cfg)


__all__ = ["GENERATORS", "GenConfig", "PROMPTS", "generate"]
