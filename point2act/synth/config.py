"""Configuration and result types of the synthetic tabletop scene generator.

Kept free of heavy imports (no open3d, torch or nerfstudio) so that the CLI can build a
:class:`SynthConfig` without paying for them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Part ids written into ``masks/*.png`` (uint8). Distractors get 4, 5, ... in order.
PART_BACKGROUND: int = 0
PART_TABLE: int = 1
PART_MUG_BODY: int = 2
PART_MUG_HANDLE: int = 3
PART_FIRST_DISTRACTOR: int = 4

TARGET_NAME: str = "mug_handle"
DEFAULT_PROMPT: str = "Point to the handle of the mug"
TARGETS: tuple[str, ...] = ("mug_handle", "mug_rim", "tool_handle", "tool_head")
"""Target parts :attr:`SynthConfig.target` can name."""


@dataclass
class SynthConfig:
    """Everything that defines one synthetic scene. Same config -> byte-identical files."""

    seed: int = 0
    """Seed of the layout (object placement, colours, mug yaw) and of the camera jitter."""
    num_views: int = 24
    """Number of rendered views (cameras on a hemisphere around the mug)."""
    width: int = 256
    """Image width in pixels."""
    height: int = 192
    """Image height in pixels."""
    fov_x_deg: float = 58.0
    """Horizontal field of view of the pinhole cameras, degrees (square pixels, fl_x == fl_y)."""
    radius_min: float = 0.45
    """Smallest camera distance from the look-at point, metres."""
    radius_max: float = 0.60
    """Largest camera distance from the look-at point, metres."""
    elevation_min_deg: float = 25.0
    """Lowest camera elevation above the table plane, degrees."""
    elevation_max_deg: float = 65.0
    """Highest camera elevation above the table plane, degrees."""
    azimuth_jitter_deg: float = 5.0
    """Uniform jitter (+-) added to the evenly spread camera azimuths, degrees."""
    look_at_jitter: float = 0.01
    """Uniform jitter (+-, per axis) of each camera's look-at point around the mug centre, metres."""
    distractors: tuple[str, ...] = ("box", "ball", "can")
    """Distractor objects to place, in order (part ids 4, 5, ...); each of "box", "ball", "can"."""
    num_seed_points: int = 8000
    """Size of the seed point cloud ``sparse_pc.ply`` sampled from the rendered visible surfaces."""
    num_gt_points: int = 2000
    """Number of ground-truth points sampled on the handle surface (``ground_truth_points.npy``)."""
    prompt: str = DEFAULT_PROMPT
    """The pointing prompt stored in transforms.json and in the points file."""
    noise_px: float = 0.0
    """Oracle: standard deviation of the Gaussian pixel noise added to each point (per axis)."""
    outlier_rate: float = 0.0
    """Oracle: probability that a point is placed on a visible distractor pixel instead."""
    min_visible_px: int = 12
    """Oracle: fewer visible handle pixels than this -> the view gets no point (``[]``)."""
    oracle_pick: str = "nearest_centroid"
    """Oracle: "nearest_centroid" (visible handle pixel nearest the visible-pixel centroid) or "random"."""
    oracle_seed: int | None = None
    """Oracle: seed of the noise/outlier draws; None uses ``seed``."""
    ambient: float = 0.35
    """Ambient light fraction of the Lambertian shading (the rest is the directional light)."""
    light_dir: tuple[float, float, float] = (0.45, -0.35, 0.82)
    """Direction towards the directional light, world frame (normalised internally)."""
    shadows: bool = True
    """Cast shadows from the directional light (one shadow ray per pixel)."""
    target: str = "mug_handle"
    """The target part (ground truth, oracle): "mug_handle", "mug_rim" (the top 8 mm band of the
    mug's walls and the rim annulus), "tool_handle" or "tool_head" (a hammer-like tool lying on the
    table, which the cameras then aim at; the mug stays as a distractor object)."""
    mug_mesh: str = ""
    """Path of a mug mesh (OBJ/PLY, z up, body axis through the mesh's x-y origin, e.g. the ACRONYM
    mug) used instead of the procedural mug; its handle is the triangles outside the body's radius.
    "" = the procedural mug. Read at build time, never copied into the scene folder."""
    mug_mesh_scale: float = 1.0
    """Metres per unit of ``mug_mesh`` (the ACRONYM mug: 0.0002682457830986903)."""
    occluder: bool = False
    """Place a tall box (16 cm) right beside the target part, so that it is hidden from some views."""
    marker_size: float = 0.0
    """Side of an ArUco marker (its black square, metres) printed flat on the table, on a white
    sheet one marker cell wider on every side; 0 = no marker (the default scene). Used to test
    ``point2act calibrate`` (metric scale and robot frame); its true pose goes into
    ground_truth.json ("marker"). Distractors are placed off the sheet (the tool is not)."""
    marker_id: int = 0
    """Id of the marker in ``marker_dictionary``."""
    marker_dictionary: str = "DICT_4X4_50"
    """OpenCV ArUco dictionary of the marker (a ``cv2.aruco.DICT_*`` name)."""
    marker_x: float = 0.0
    """x of the marker's centre on the table (world frame, metres)."""
    marker_y: float = -0.2
    """y of the marker's centre on the table (world frame, metres)."""
    marker_yaw_deg: float = 30.0
    """Rotation of the marker about the table normal (+z), degrees: the marker's x axis (its first
    edge, top-left to top-right corner) points along (cos, sin, 0)."""
    capture_units_per_metre: float = 1.0
    """Capture units per metre of everything written in the capture frame (camera positions, the
    seed point cloud, ground-truth positions and lengths, depth PNGs in 1/1000 capture units): 1.0
    writes a metric capture; e.g. 4.0 writes one like an unscaled reconstruction whose unit is 25
    cm. The images are the same whatever the value."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of all fields; the options added after the first release
        (``target``, ``mug_mesh``, ``mug_mesh_scale``, ``occluder``, the ``marker_*`` options,
        ``capture_units_per_metre``) only when not at their defaults, so the default scene's files stay byte-identical."""
        d = asdict(self)
        d["distractors"] = list(self.distractors)
        d["light_dir"] = list(self.light_dir)
        for k, v in _LATER_DEFAULTS.items():
            if d[k] == v:
                del d[k]
        return d


_LATER_DEFAULTS: dict[str, Any] = {"target": "mug_handle", "mug_mesh": "", "mug_mesh_scale": 1.0, "occluder": False,
                                   "marker_size": 0.0, "marker_id": 0, "marker_dictionary": "DICT_4X4_50",
                                   "marker_x": 0.0, "marker_y": -0.2, "marker_yaw_deg": 30.0,
                                   "capture_units_per_metre": 1.0}


@dataclass
class SceneSummary:
    """What :func:`point2act.synth.generate_scene` wrote, plus the target's ground truth."""

    out_dir: Path
    """The scene directory."""
    transforms: Path
    """``transforms.json`` (nerfstudio-data format)."""
    ground_truth: Path
    """``ground_truth.json``."""
    ground_truth_points: Path
    """``ground_truth_points.npy``: (N, 3) float32 points on the handle surface, capture frame."""
    points: Path
    """``points/oracle.json``: the oracle pointer's points file."""
    ply: Path
    """``sparse_pc.ply``: the seed point cloud."""
    num_views: int
    """Number of frames."""
    target: str
    """Name of the target part ("mug_handle")."""
    target_centroid: tuple[float, float, float]
    """Mean of the ground-truth handle points, metres, capture frame."""
    target_bbox_min: tuple[float, float, float]
    """Axis-aligned bbox min of the ground-truth handle points."""
    target_bbox_max: tuple[float, float, float]
    """Axis-aligned bbox max of the ground-truth handle points."""
    empty_views: list[str] = field(default_factory=list)
    """file_paths of frames whose oracle answer is ``[]`` (handle hidden / out of view)."""
    seconds: float = 0.0
    """Wall time of the generation (not written to any file)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (paths as strings)."""
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, Path):
                d[k] = str(v)
        return d
