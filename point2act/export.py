"""Export where to act, as ``grasps.json`` (schema ``point2act.grasps/1``), in the capture frame.

The capture frame is the world frame of the input ``transforms.json`` (or COLMAP model), i.e.
nerfstudio's data-parser normalisation (``dataparser_transforms.json``: an orientation/centring
transform and a scale) undone.

The plain functions here take numpy arrays; :func:`export_run` is the nerfstudio glue that loads
a trained run (``--load-config``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np

from point2act.errors import Point2ActError
from point2act.grasp.result import SCHEMA
from point2act.points import write_json_atomic


@dataclass
class FrameTransform:
    """nerfstudio's data-parser normalisation: ``p_ns = scale * (T[:3, :3] @ p_capture + T[:3, 3])``."""

    transform: np.ndarray  # [3, 4]
    scale: float

    @classmethod
    def from_json(cls, path: Path) -> "FrameTransform":
        data = json.loads(Path(path).read_text())
        return cls(np.asarray(data["transform"], dtype=np.float64).reshape(3, 4), float(data["scale"]))

    def to_capture(self, points: np.ndarray) -> np.ndarray:  # [..., 3] nerfstudio -> capture
        T = np.eye(4)
        T[:3, :4] = self.transform
        p = np.asarray(points, dtype=np.float64) / self.scale
        ph = np.concatenate([p, np.ones(p.shape[:-1] + (1,))], axis=-1)
        return (ph @ np.linalg.inv(T).T)[..., :3]

    def to_nerfstudio(self, points: np.ndarray) -> np.ndarray:  # [..., 3] capture -> nerfstudio
        p = np.asarray(points, dtype=np.float64)
        return self.scale * (p @ self.transform[:3, :3].T + self.transform[:3, 3])

    def rotation_to_capture(self, R: np.ndarray) -> np.ndarray:  # [..., 3, 3]
        """Rotate orientations (columns = axes) from the nerfstudio frame to the capture frame."""
        A = np.linalg.inv(self.transform[:3, :3])
        U, _, Vt = np.linalg.svd(A)  # the nearest rotation (the parser's transform is a rotation)
        return (U @ Vt) @ R

    @property
    def units_per_ns_unit(self) -> float:
        """Capture-frame length of one nerfstudio unit."""
        return float(np.cbrt(abs(np.linalg.det(np.linalg.inv(self.transform[:3, :3]))))) / self.scale


def gaussian_arrays(model) -> Dict[str, np.ndarray]:
    """Per-Gaussian arrays of a Point2ActModel (nerfstudio frame): means, opacities, scales, relevancy."""
    import torch

    with torch.no_grad():
        return {
            "means": model.means.detach().cpu().numpy().astype(np.float64),
            "opacities": torch.sigmoid(model.opacities).squeeze(-1).cpu().numpy().astype(np.float64),
            "scales": torch.exp(model.scales).cpu().numpy().astype(np.float64),
            "relevancy": model.relevancy.detach().cpu().numpy().astype(np.float64),
        }


def build_export(
    arrays: Dict[str, np.ndarray],
    frame: FrameTransform,
    prompt: str,
    grasp_config: Any = None,
    grasps: bool = True,
    camera_centers: Optional[np.ndarray] = None,
) -> Dict[str, Any]:
    """The ``point2act.grasps/1`` dict for one relevancy field, in the capture frame.

    Args:
        arrays: per-Gaussian ``means`` [N, 3], ``opacities`` [N], ``scales`` [N, 3], ``relevancy`` [N]
            in the nerfstudio frame (see :func:`gaussian_arrays`).
        frame: nerfstudio's normalisation of the capture.
        grasp_config: a :class:`point2act.grasp.GraspConfig` (gripper, region, top-k, ...).
        grasps: plan grasps (else only the action point and region).
        camera_centers: [C, 3] camera centres in the capture frame (orients surface normals).
    """
    from point2act.grasp import GraspConfig, plan_grasps, relevant_region

    cfg = grasp_config if grasp_config is not None else GraspConfig()
    means_c = frame.to_capture(arrays["means"])
    scales_c = arrays["scales"] * frame.units_per_ns_unit
    try:
        if grasps:
            result = plan_grasps(
                means_c, arrays["opacities"], arrays["relevancy"], cfg, camera_centers=camera_centers, scales=scales_c
            )
            return result.to_dict(prompt)
        region = relevant_region(means_c, arrays["opacities"], arrays["relevancy"], cfg)
    except ValueError as e:
        raise Point2ActError(f"no relevant region in this field: {e}") from None
    return {
        "schema": SCHEMA,
        "prompt": prompt,
        "frame": "capture",
        "metres_per_unit": float(cfg.gripper.metres_per_unit),
        "action_point": [float(v) for v in region.action_point],
        "region": region.to_dict(),
    }


def load_run(config_path: Path) -> Tuple[Any, Any]:
    """Load a trained point2act run (config.yml) for inference: (TrainerConfig, Pipeline)."""
    from nerfstudio.utils.eval_utils import eval_setup

    import point2act.checkpoints  # noqa: F401  (torch.load safe globals)

    config_path = Path(config_path)
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: no such run config (pass the config.yml that ns-train wrote)")
    config, pipeline, _ckpt, _step = eval_setup(config_path, test_mode="inference")
    from point2act.model import Point2ActModel

    if not isinstance(pipeline.model, Point2ActModel):
        raise Point2ActError(
            f"{config_path}: this run was trained with method '{config.method_name}', not point2act; "
            "it has no relevancy channel to export."
        )
    return config, pipeline


def export_run(
    config_path: Path, output: Optional[Path] = None, grasp_config: Any = None, grasps: bool = True
) -> Tuple[Path, Dict]:
    """Load a run, compute its action point (and grasps) and write ``grasps.json`` atomically."""
    config, pipeline = load_run(config_path)
    frame = FrameTransform.from_json(Path(config.get_base_dir()) / "dataparser_transforms.json")
    dm_cfg = config.pipeline.datamanager
    prompt = getattr(dm_cfg, "prompt", "") or ""
    if not prompt and getattr(pipeline.datamanager, "points", None) is not None:
        prompt = pipeline.datamanager.points.prompt
    cams = pipeline.datamanager.train_dataparser_outputs.cameras
    centers = frame.to_capture(cams.camera_to_worlds[:, :3, 3].cpu().numpy())
    out = build_export(gaussian_arrays(pipeline.model), frame, prompt, grasp_config, grasps, centers)
    out["run"] = str(Path(config_path).resolve())
    if output is None:
        output = Path(config.get_base_dir()) / "grasps.json"
    write_json_atomic(output, out)
    return Path(output), out
