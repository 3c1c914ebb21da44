"""Embedded synthetic scene generator: a seeded, deterministic tabletop with a mug.

The product's offline demo and the project's test fixture: a textured table, a mug whose
handle is the pointing target, and distractor objects, rendered by ray casting (open3d) from
``num_views`` cameras into a nerfstudio-data folder with depth, part masks, a seed point
cloud, the handle's 3D ground truth and an oracle pointer's answers.

    from point2act.synth import SynthConfig, generate_scene
    summary = generate_scene(Path("data/synth"), SynthConfig(seed=0))

Importing this package is light (numpy + PIL); open3d is imported when a scene is built.
"""

from point2act.synth.config import SceneSummary, SynthConfig
from point2act.synth.generate import generate_scene, main
from point2act.synth.oracle import OracleSettings, oracle_points, write_points_file

__all__ = [
    "OracleSettings",
    "SceneSummary",
    "SynthConfig",
    "generate_scene",
    "main",
    "oracle_points",
    "write_points_file",
]
