"""What an export is asked for: :class:`ExportOptions` as a user sets them, resolved once into an
:class:`ExportRequest` (:func:`resolve`): the gripper with the capture's scale, the frame file, the channels.

Bad input is a :class:`~point2act.errors.Point2ActError` naming the file or the option, raised here, before any
work. Plain Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

from point2act.errors import Point2ActError
from point2act.grasp import GraspConfig, GripperConfig


@dataclass(frozen=True)
class ExportOptions:
    """The options of an export as ``point2act export`` takes them (its fields share these docstrings)."""

    num_grasps: int = 10
    """How many ranked grasps to keep (top-k after non-maximum suppression)."""
    gripper: Path | None = None
    """Gripper description (JSON, see configs/franka_panda.json); default: a Franka Panda hand."""
    metres_per_unit: float | None = None
    """Metres per capture unit (e.g. 0.12 for a COLMAP phone scan); overrides the frame file's and the gripper
    file's value."""
    pregrasp_distance: float | None = None
    """Back-off of the pre-grasp pose along the approach axis, metres (default: the gripper file's, 0.10)."""
    base_from_capture: Path | None = None
    """Frame file (default: CAPTURE/point2act_frame.json): its scale, and base-frame poses."""
    grasps: bool = True
    """Plan grasps (else only the action point and region)."""
    fuse_depth: bool = True
    """Grasp on the TSDF-fused depth renders around the action point (else on the Gaussian centres alone)."""
    candidate: int = 0
    """Plan on the views' ``candidate``-th place (0: their first choice)."""


@dataclass(frozen=True)
class Channels:
    """Which of a run's ``point2act query`` channels an export reads."""

    keypoints: Tuple[str, ...] = ()
    """Channels exported as grasps.json's ``keypoints``, in order (a channel named avoid also penalises grasps)."""
    grasp: str | None = None
    """The channel that drives the action point and the grasps (None: the run's trained relevancy)."""
    avoid: str | None = None
    """The channel whose region grasps avoid (None: the one named "avoid" among ``keypoints``, if any)."""
    handover_direction: Tuple[float, float, float] | None = None
    """Towards a handover recipient (capture frame): each grasp gets the rotation that turns the avoid region away."""

    @property
    def own_field_only(self) -> bool:
        """Whether the export reads the run's own field alone (what the run's cache holds)."""
        return not self.keypoints and self.grasp is None and self.avoid_channel is None and \
            self.handover_direction is None

    @property
    def avoid_channel(self) -> str | None:
        return self.avoid if self.avoid is not None else ("avoid" if "avoid" in self.keypoints else None)


@dataclass(frozen=True)
class ExportRequest:
    """An export's options, resolved (:func:`resolve`)."""

    grasp_config: GraspConfig = field(default_factory=GraspConfig)
    """The gripper (at the capture's scale), the region and the planner's settings."""
    grasps: bool = True
    """Plan grasps (else only the action point and region)."""
    candidate: int = 0
    """Plan on the views' ``candidate``-th place (0: their first choice)."""
    channels: Channels = Channels()
    """The channels read besides the run's own field."""
    frame: Dict[str, Any] | None = None
    """The frame file (:func:`point2act.robot.calibrate.load_frame_file`): base-frame poses when it has
    ``base_from_capture``; None without one."""


def gripper_from_options(path: Path | None, metres_per_unit: float | None,
                         pregrasp_distance: float | None = None) -> GripperConfig:
    """The gripper of ``--gripper`` (default: a Franka Panda hand) with ``--metres-per-unit`` and
    ``--pregrasp-distance`` applied; bad input is a :class:`Point2ActError` naming the file or the option."""
    try:
        gripper = GripperConfig.from_json(path) if path is not None else GripperConfig()
    except ValueError as e:
        raise Point2ActError(str(e)) from None
    if metres_per_unit is not None:
        if not metres_per_unit > 0:
            raise Point2ActError(f"--metres-per-unit must be > 0, got {metres_per_unit}")
        gripper.metres_per_unit = metres_per_unit
    if pregrasp_distance is not None:
        if not pregrasp_distance >= 0:
            raise Point2ActError(f"--pregrasp-distance must be >= 0 metres, got {pregrasp_distance}")
        gripper.pregrasp_distance = float(pregrasp_distance)
    return gripper


def apply_frame(gripper: GripperConfig, frame: Dict[str, Any] | None, metres_per_unit: float | None) -> None:
    """The frame file's scale on the gripper, unless ``--metres-per-unit`` was given (then they must agree)."""
    if frame is None:
        return
    if metres_per_unit is None:
        gripper.metres_per_unit = float(frame["metres_per_unit"])
    elif abs(metres_per_unit / frame["metres_per_unit"] - 1.0) > 0.02:
        raise Point2ActError(
            f"--metres-per-unit {metres_per_unit:g} disagrees with {frame['path']} ({frame['metres_per_unit']:.6g} "
            "from the marker): drop the option, or pass --base-from-capture with another frame file")


def frame_file_of(data: str | Path | None, override: Path | None) -> Dict[str, Any] | None:
    """The frame file an export uses: ``override``, else ``CAPTURE/point2act_frame.json`` of the run's capture
    folder ``data`` (None: the run has moved away from its capture, or there is none)."""
    from point2act.robot.calibrate import resolve_frame_file

    if override is None and data is not None and not Path(data).exists():
        data = None
    return resolve_frame_file(data, override)


def resolve(options: ExportOptions, capture_dir: Callable[[], str | Path | None],
            channels: Channels = Channels()) -> ExportRequest:
    """``options`` resolved for a run: the gripper (:func:`gripper_from_options`, its errors first), the frame file
    once (``options.base_from_capture``, else ``CAPTURE/point2act_frame.json`` of the capture folder that
    ``capture_dir()`` gives, asked only then), and the gripper at the frame file's scale unless
    ``metres_per_unit`` is given (:func:`apply_frame`)."""
    gripper = gripper_from_options(options.gripper, options.metres_per_unit, options.pregrasp_distance)
    data = capture_dir() if options.base_from_capture is None else None
    frame = frame_file_of(data, options.base_from_capture)
    apply_frame(gripper, frame, options.metres_per_unit)
    cfg = GraspConfig(gripper=gripper, top_k=options.num_grasps)
    cfg.surface.fuse_depth = options.fuse_depth
    return ExportRequest(cfg, options.grasps, options.candidate, channels, frame)
