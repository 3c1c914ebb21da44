"""Training cameras as plain tensors: nerfstudio's ``Cameras`` arithmetic without importing nerfstudio.

the run's cached info stores the cameras of a run's datamanagers as their tensors (:func:`camera_fields`);
:class:`ViewCameras` reads them back (:func:`cameras_from_fields`) and does what the run layer and the mapping of
points into training images ask of nerfstudio's ``Cameras`` (whose import costs a second).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Tuple

import torch

_CAMERA_FIELDS = ("camera_to_worlds", "fx", "fy", "cx", "cy", "width", "height", "distortion_params", "camera_type",
                  "times")

_FISHEYE = 2
"""``nerfstudio.cameras.cameras.CameraType.FISHEYE.value`` (tests/method/test_datamanager_info.py checks it)."""


def camera_fields(cams) -> Dict[str, Any]:
    """The tensors of a nerfstudio ``Cameras`` (CPU copies, contiguous: nerfstudio broadcasts its fields)."""
    out: Dict[str, Any] = {}
    for f in _CAMERA_FIELDS:
        v = getattr(cams, f, None)
        out[f] = v.detach().cpu().contiguous().clone() if isinstance(v, torch.Tensor) else None
    return out


def cameras_from_fields(d: Dict[str, Any]) -> "ViewCameras":
    """:class:`ViewCameras` from :func:`camera_fields`."""
    return ViewCameras(**{f: d.get(f) for f in _CAMERA_FIELDS})


@dataclass(eq=False)
class ViewCameras:
    """What :func:`point2act.method.run_layer.camera_views` and the points mapping use of nerfstudio's
    ``Cameras`` (a batch of cameras: indexing, ``deepcopy``, ``to``, ``rescale_output_resolution``,
    ``get_intrinsics_matrices``), with nerfstudio's arithmetic, without importing nerfstudio (whose
    ``Cameras`` costs a second of imports). Fields as nerfstudio keeps them."""

    camera_to_worlds: torch.Tensor  # [*B, 3, 4]
    """Camera-to-world poses (nerfstudio's OpenGL axes)."""
    fx: torch.Tensor  # [*B, 1]
    """Focal length along x, pixels."""
    fy: torch.Tensor  # [*B, 1]
    """Focal length along y, pixels."""
    cx: torch.Tensor  # [*B, 1]
    """Principal point x, pixels."""
    cy: torch.Tensor  # [*B, 1]
    """Principal point y, pixels."""
    width: torch.Tensor  # [*B, 1]
    """Image width, pixels."""
    height: torch.Tensor  # [*B, 1]
    """Image height, pixels."""
    distortion_params: torch.Tensor | None = None  # [*B, 6]
    """Distortion coefficients (nerfstudio's order), or None."""
    camera_type: torch.Tensor | None = None  # [*B, 1]
    """nerfstudio's ``CameraType`` values (2: fisheye), or None."""
    times: torch.Tensor | None = None  # [*B, 1]
    """Capture times, or None."""
    metadata: Dict[str, Any] | None = None
    """nerfstudio's free-form metadata (``cam_idx``: the training view), shared by the batch."""

    def _fields(self) -> Dict[str, Any]:
        return {f: getattr(self, f) for f in _CAMERA_FIELDS}

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self.camera_to_worlds.shape[:-2])

    @property
    def device(self) -> torch.device:
        return self.camera_to_worlds.device

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __getitem__(self, indices) -> "ViewCameras":
        if not isinstance(indices, tuple):
            indices = (indices,)
        out = {}
        for f, v in self._fields().items():
            if v is None:
                out[f] = None
            else:
                out[f] = v[indices + (slice(None),) * (2 if f == "camera_to_worlds" else 1)]
        return ViewCameras(**out, metadata=self.metadata)

    def to(self, device) -> "ViewCameras":
        return ViewCameras(**{f: (v.to(device) if v is not None else None) for f, v in self._fields().items()},
                           metadata=self.metadata)

    def get_intrinsics_matrices(self) -> torch.Tensor:  # [*B, 3, 3], as nerfstudio's
        K = torch.zeros((*self.shape, 3, 3), dtype=torch.float32)
        K[..., 0, 0] = self.fx.squeeze(-1)
        K[..., 1, 1] = self.fy.squeeze(-1)
        K[..., 0, 2] = self.cx.squeeze(-1)
        K[..., 1, 2] = self.cy.squeeze(-1)
        K[..., 2, 2] = 1.0
        return K

    def rescale_output_resolution(self, scaling_factor: float | int, scale_rounding_mode: str = "floor") -> None:
        """nerfstudio's ``Cameras.rescale_output_resolution`` for a scalar factor."""
        if not isinstance(scaling_factor, (float, int)):
            raise ValueError("ViewCameras rescale by a float or an int")
        scaling_factor = torch.tensor([scaling_factor]).to(self.device).broadcast_to((self.cx.shape))
        self.fx = self.fx * scaling_factor
        self.fy = self.fy * scaling_factor
        self.cx = self.cx * scaling_factor
        self.cy = self.cy * scaling_factor
        if scale_rounding_mode == "floor":
            self.height = (self.height * scaling_factor).to(torch.int64)
            self.width = (self.width * scaling_factor).to(torch.int64)
        elif scale_rounding_mode == "round":
            self.height = torch.floor(0.5 + (self.height * scaling_factor)).to(torch.int64)
            self.width = torch.floor(0.5 + (self.width * scaling_factor)).to(torch.int64)
        elif scale_rounding_mode == "ceil":
            self.height = torch.ceil(self.height * scaling_factor).to(torch.int64)
            self.width = torch.ceil(self.width * scaling_factor).to(torch.int64)
        else:
            raise ValueError("Scale rounding mode must be 'floor', 'round' or 'ceil'.")
