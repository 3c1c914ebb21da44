"""What the gate runs: a fixed, stratified subset of the generators' scenes and two real targets.

Four scenes of each of the three generators' test splits, chosen to cover the hard cases the full protocol found
(docs/accuracy.md): a thin grip (the pans), a rim, tool handles, twin pans, the ACRONYM handle (in the synth table
and in the kitchen's few views), a can tab (beyond the hand: the right answer is a warning), few-view captures (the kitchen ACRONYM mug, the
studio lid knob); and two scenes of objects nobody here shaped (:mod:`benchmarks.generators.objects`), from
their development half, since the gate's table shows every scene and the held-out half is never looked at one by
one. Every scene runs through the default path without a point cloud (``--cloud triangulated``:
training triangulates one, or starts at random where fewer than 100 points triangulate), at both pointer levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

GATE_SCENES: Tuple[str, ...] = (
    # synth (test split)
    "test5_handle_s5000",        # mug handle, 3 distractors
    "test5_tool_handle_s5001",   # hammer handle against its head
    "test5_rim_s5002",           # mug rim, a region target
    "test5_acronym_s5005",       # the ACRONYM mug's handle
    # kitchen (kitchen_test)
    "kt_pan_s7100",              # frying pan grip, hand-held arc
    "kt_two_pans_s7101",         # one of two identical pans
    "kt_can_tab_s7103",          # can pull tab: beyond the hand
    "kt_acronym_s7104",          # ACRONYM mug handle, 11 training views
    # studio (studio_test)
    "st_pan_s8100",              # elliptic pan grip, plain board
    "st_two_pans_s8101",         # twin pans, two rings, table edge
    "st_lid_knob_s8102",         # pot lid knob, few views
    "st_tool_s8104",             # screwdriver handle beside a wrench
    # objects (objects_dev: random_urdfs' even ids; the odd ids are held out and never shown one by one)
    "od_obj_s9000",              # an external object, 3 others, ring
    "od_obj_s9002",              # an external object, 3 others, few views
)
"""Scene names of :func:`benchmarks.accuracy.suite.all_specs`."""

LEVELS: Tuple[str, ...] = ("clean", "out40")
"""Pointer levels run on every scene (pointer seed 0): the oracle's answers, and 40 % of the views on a wrong
object. Each costs a relevancy refit and an export on the cached run, seconds against a training's minute."""

REAL_TARGETS: Tuple[str, ...] = ("tools-mug_handle", "tools-screwdriver_handle")
"""``benchmarks/real/targets`` names, trained on ``real/tools`` without its point cloud."""


@dataclass(frozen=True)
class Job:
    """One training of the gate: a generated scene or a real target, at one training seed."""

    kind: str
    """``scene`` or ``real``."""
    name: str
    """The scene's or the real target's name."""
    seed: int
    """``ns-train --machine.seed``."""

    @property
    def label(self) -> str:
        return f"{self.name} seed {self.seed}"


def jobs(seed: int) -> Tuple[Job, ...]:
    """The gate's trainings at training seed ``seed``, the real targets first (the longest)."""
    return tuple([Job("real", n, seed) for n in REAL_TARGETS] + [Job("scene", n, seed) for n in GATE_SCENES])
