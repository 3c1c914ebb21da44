"""point2act in nerfstudio's viser viewer: relevancy composite, action point, grasps, controls.

Everything lives in nerfstudio's own viewer (``ns-train … --vis viewer`` and ``ns-viewer
--load-config``), added through nerfstudio's viewer elements: :class:`Point2ActViewerPanel` is an
``nn.Module`` without parameters that the model holds as ``viewer_panel``; nerfstudio's viewer
finds the ``Viewer*`` elements on it (folder "Custom Elements / model / viewer_panel") and calls
the :class:`~nerfstudio.viewer.viewer_elements.ViewerControl`'s ``_setup`` with the viewer, which
gives the panel the viser server for its 3D markers.

Frames. The model lives in nerfstudio's frame (the data parser's normalisation of the capture);
grasps.json lives in the capture frame (:class:`point2act.export.FrameTransform`); the viewer
draws nerfstudio's scene scaled by ``VISER_NERFSTUDIO_SCALE_RATIO`` (10): a point ``p_ns`` is
drawn at ``10 * p_ns`` in viser (:func:`ns_to_viser`).

Render thread. nerfstudio interrupts a render by raising ``IOChangeException`` from a
``sys.settrace`` hook, i.e. at whatever Python line is running. Inside torch.compile (splatfacto's
``get_viewmat`` is compiled) dynamo wraps it as ``InternalTorchDynamoError``, which nerfstudio's
render loop does not catch: the render thread dies. point2act renders with an eager
:func:`eager_get_viewmat` on a CPU (see ``point2act.model.cpu_compat``) and, on any device,
:func:`surface_render_interrupts` turns an exception caused by the interrupt back into
``IOChangeException``.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

COMPOSITE_KEY = "relevancy_composite"
"""Name of the composite output: relevancy tinted over RGB above the threshold ([H, W, 3])."""
DEFAULT_THRESHOLD = 0.5
DEFAULT_TINT = 0.65
SCENE_ROOT = "/point2act"
TRAINED_CHANNEL = "(trained)"
"""The channel dropdown's entry for the relevancy the run was trained with (not a valid channel name)."""


def viser_scale_ratio() -> float:
    """nerfstudio's ``VISER_NERFSTUDIO_SCALE_RATIO``: viser units per nerfstudio unit."""
    try:
        from nerfstudio.viewer.viewer import VISER_NERFSTUDIO_SCALE_RATIO

        return float(VISER_NERFSTUDIO_SCALE_RATIO)
    except Exception:  # pragma: no cover  (nerfstudio 1.1.5 defines it as 10.0)
        return 10.0


def ns_to_viser(points: np.ndarray) -> np.ndarray:
    """Positions (or lengths) in nerfstudio's frame -> viser's scene."""
    return np.asarray(points, dtype=np.float64) * viser_scale_ratio()


def viser_to_ns(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) / viser_scale_ratio()


# ----------------------------------------------------------------------------------------------
# Rendering: eager view matrix, interrupts, composite
# ----------------------------------------------------------------------------------------------
def eager_get_viewmat(optimized_camera_to_world: torch.Tensor) -> torch.Tensor:
    """splatfacto's ``get_viewmat`` without torch.compile (same maths): c2w [B, 3, 4] -> w2c [B, 4, 4]."""
    R = optimized_camera_to_world[:, :3, :3]
    T = optimized_camera_to_world[:, :3, 3:4]
    R = R * torch.tensor([[[1, -1, -1]]], device=R.device, dtype=R.dtype)
    R_inv = R.transpose(1, 2)
    T_inv = -torch.bmm(R_inv, T)
    viewmat = torch.zeros(R.shape[0], 4, 4, device=R.device, dtype=R.dtype)
    viewmat[:, 3, 3] = 1.0
    viewmat[:, :3, :3] = R_inv
    viewmat[:, :3, 3:4] = T_inv
    return viewmat


def _io_change_exception():
    try:
        from nerfstudio.viewer_legacy.server.viewer_utils import IOChangeException

        return IOChangeException
    except Exception:  # pragma: no cover
        return None


def caused_by_interrupt(exc: BaseException) -> bool:
    """Is nerfstudio's render interrupt (``IOChangeException``) this exception or in its chain?"""
    io_exc = _io_change_exception()
    if io_exc is None:
        return False
    seen = set()
    e: Optional[BaseException] = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, io_exc):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return "IOChangeException" in f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def surface_render_interrupts():
    """Re-raise an exception caused by the viewer's interrupt as ``IOChangeException``.

    nerfstudio's render loop catches only ``IOChangeException``; anything else ends the render
    thread and the viewer goes blank. Other exceptions pass through unchanged.
    """
    io_exc = _io_change_exception()
    try:
        yield
    except Exception as e:
        if io_exc is None or isinstance(e, io_exc) or not caused_by_interrupt(e):
            raise
        raise io_exc() from e


def composite_relevancy(
    rgb: torch.Tensor,  # [H, W, 3] in [0, 1]
    relevancy: torch.Tensor,  # [H, W, 1] in [0, 1]
    threshold: float = DEFAULT_THRESHOLD,
    tint: float = DEFAULT_TINT,
    colormap: str = "turbo",
) -> torch.Tensor:  # [H, W, 3]
    """Relevancy over RGB: where ``relevancy > threshold`` the pixel is
    ``(1 - tint) * rgb + tint * colormap(relevancy)``; elsewhere it is ``rgb`` unchanged."""
    from nerfstudio.utils.colormaps import apply_float_colormap

    rel = relevancy.to(rgb.dtype).clamp(0.0, 1.0)
    colour = apply_float_colormap(rel, colormap=colormap).to(rgb.dtype)  # type: ignore[arg-type]
    tinted = (1.0 - tint) * rgb + tint * colour
    return torch.where(rel > float(threshold), tinted, rgb)


# ----------------------------------------------------------------------------------------------
# Geometry: capture frame (grasps.json) -> nerfstudio -> viser
# ----------------------------------------------------------------------------------------------
def _nearest_rotation(A: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(np.asarray(A, dtype=np.float64))
    R = U @ Vt
    if np.linalg.det(R) < 0:
        U[:, -1] *= -1
        R = U @ Vt
    return R


def rotation_to_wxyz(R: np.ndarray) -> np.ndarray:
    from point2act.grasp.geometry import rotation_to_quaternion_wxyz

    return np.asarray(rotation_to_quaternion_wxyz(np.asarray(R, dtype=np.float64)), dtype=np.float64)


def capture_to_viser(frame, points: np.ndarray) -> np.ndarray:
    """Capture-frame positions -> viser scene positions."""
    return ns_to_viser(frame.to_nerfstudio(np.asarray(points, dtype=np.float64)))


def capture_rotation_to_ns(frame) -> np.ndarray:
    """The rotation part of the capture -> nerfstudio map (nearest proper rotation)."""
    return _nearest_rotation(frame.transform[:3, :3])


def capture_length_to_viser(frame) -> float:
    """Viser units per capture unit."""
    return viser_scale_ratio() / frame.units_per_ns_unit


def score_color(score: float) -> Tuple[int, int, int]:
    """Red (0) -> yellow (0.5) -> green (1)."""
    s = float(np.clip(score if math.isfinite(score) else 0.0, 0.0, 1.0))
    if s < 0.5:
        r, g = 1.0, 2.0 * s
    else:
        r, g = 2.0 * (1.0 - s), 1.0
    return (int(round(230 * r + 25)), int(round(230 * g + 25)), 40)


def gripper_boxes_viser(grasp: Dict[str, Any], gripper, frame) -> Dict[str, Dict[str, np.ndarray]]:
    """The finger and palm boxes of one grasps.json grasp, in viser's scene.

    Returns ``name -> {"position": [3], "wxyz": [4], "dimensions": [3], "rotation": [3, 3]}``
    (full box sizes), from :func:`point2act.grasp.grasp_to_gripper_boxes` (capture frame).
    """
    from point2act.grasp import grasp_to_gripper_boxes

    R_ns = capture_rotation_to_ns(frame)
    s = capture_length_to_viser(frame)
    out = {}
    for name, box in grasp_to_gripper_boxes(grasp, gripper).items():
        R = R_ns @ np.asarray(box.rotation)
        out[name] = {
            "position": capture_to_viser(frame, box.center),
            "rotation": R,
            "wxyz": rotation_to_wxyz(R),
            "dimensions": 2.0 * np.asarray(box.half_extents, dtype=np.float64) * s,
        }
    return out


def box_corners(center: np.ndarray, rotation: np.ndarray, half_extents: np.ndarray) -> np.ndarray:  # [8, 3]
    signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=np.float64)
    return np.asarray(center) + (signs * np.asarray(half_extents)) @ np.asarray(rotation).T


# ----------------------------------------------------------------------------------------------
# The panel
# ----------------------------------------------------------------------------------------------
def _viewer_elements():
    from nerfstudio.viewer import viewer_elements as ve

    return ve


class Point2ActViewerPanel(torch.nn.Module):
    """point2act's controls in nerfstudio's viewer. Holds no parameters (adds nothing to checkpoints).

    Attribute names are sorted by nerfstudio (``dir()``), hence the letter prefixes.
    """

    def __init__(self, model) -> None:
        super().__init__()
        object.__setattr__(self, "_model_ref", weakref.ref(model))
        ve = _viewer_elements()
        self.a_prompt = ve.ViewerText("Prompt", "", disabled=True, hint="The task this run's relevancy was trained for")
        self.b_threshold = ve.ViewerSlider(
            "Relevancy threshold", DEFAULT_THRESHOLD, 0.0, 1.0, 0.01,
            hint=f"Output '{COMPOSITE_KEY}': pixels whose rendered relevancy is above this are tinted",
        )
        self.c_show_action = ve.ViewerCheckbox(
            "Show action point", True, cb_hook=lambda e: self._set_visible("action", e.value),
            hint="The action point (sphere) and the relevant region's box",
        )
        self.d_show_grasps = ve.ViewerCheckbox(
            "Show grasps", True, cb_hook=lambda e: self._set_visible("grasps", e.value),
            hint="Top-k grasps as gripper shapes (fingers and palm), red (low score) to green (high)",
        )
        self.e_look = ve.ViewerButton("Look at action point", cb_hook=lambda _: self.look_at_action_point())
        self.f_compute = ve.ViewerButton("Compute grasps", cb_hook=lambda _: self.compute(grasps=True))
        self.g_export = ve.ViewerButton("Export", cb_hook=lambda _: self.export())
        self.h_status = ve.ViewerText("Status", "", disabled=True)
        self.i_exported = ve.ViewerText("grasps.json", "", disabled=True, hint="Where Export wrote grasps.json")
        self.j_new_prompt = ve.ViewerText(
            "New prompt", "", hint="Re-query: refit relevancy for this prompt with the run's pointer (point2act query)"
        )
        self.k_requery = ve.ViewerButton("Re-query", cb_hook=lambda _: self.requery_async())
        self.l_channel = ve.ViewerDropdown(
            "Channel", TRAINED_CHANNEL, [TRAINED_CHANNEL], cb_hook=lambda e: self.select_channel_async(e.value),
            hint="Relevancy channel shown: the trained one or a named channel of RUN/relevancy/ (point2act query)",
        )
        self.z_control = _PanelControl(self)
        object.__setattr__(self, "_state", _PanelState())

    # -- values read by the model ----------------------------------------------------------
    @property
    def threshold(self) -> float:
        return float(self.b_threshold.value)

    # (no public attribute may lead back to the model: nerfstudio's parse_object walks attributes
    # that are nn.Modules and would recurse forever)
    def _model(self):
        return self._model_ref()

    # -- setup (called by nerfstudio's viewer) --------------------------------------------
    def attach(self, viewer) -> None:
        st: _PanelState = self._state
        st.viewer = viewer
        st.server = viewer.viser_server
        try:
            st.base_dir = Path(viewer.log_filename).parent
        except Exception:
            st.base_dir = None
        pipeline = getattr(viewer, "pipeline", None)
        dm = getattr(pipeline, "datamanager", None)
        st.frame, st.camera_c2w_ns = _frame_and_cameras(dm)
        st.camera_centers_ns = st.camera_c2w_ns[:, :3, 3] if st.camera_c2w_ns is not None else None
        st.cameras = getattr(getattr(dm, "train_dataparser_outputs", None), "cameras", None)
        st.prompt = _run_prompt(dm, self._model())
        self._set_text(self.a_prompt, st.prompt or "(no prompt)")
        st.trained_prompt = st.prompt
        model = self._model()
        if model is not None and "relevancy" in getattr(model, "gauss_params", {}):
            st.trained_logits = model.gauss_params["relevancy"].detach().clone()
        self.refresh_channels()
        existing = st.base_dir / "grasps.json" if st.base_dir is not None else None
        if existing is not None and existing.is_file():
            try:
                import json

                data = json.loads(existing.read_text())
                self.draw(data)
                self._set_text(self.i_exported, str(existing))
                self._status(f"showing {existing.name}: {len(data.get('grasps') or [])} grasps")
                return
            except Exception as e:  # a stale or foreign file: compute instead
                self._status(f"could not show {existing}: {e}")
        threading.Thread(target=self._initial_markers, daemon=True).start()

    def _initial_markers(self) -> None:
        try:
            self.compute(grasps=False)
        except Exception as e:  # noqa: BLE001  (an untrained field has no region yet)
            self._status(f"no action point yet ({e})")

    # -- actions -----------------------------------------------------------------------------
    def compute(self, grasps: bool = True) -> Dict[str, Any]:
        """Action point (and grasps) of the current field, in the capture frame; drawn in the scene."""
        from point2act.export import build_export, gaussian_arrays, render_depth_views
        from point2act.grasp import GraspConfig

        st: _PanelState = self._state
        if st.frame is None:
            raise RuntimeError("the viewer panel is not attached to a viewer")
        with st.lock:
            self._status("computing grasps…" if grasps else "computing the action point…")
            t0 = time.time()
            arrays = gaussian_arrays(self._model())
            centers = st.frame.to_capture(st.camera_centers_ns) if st.camera_centers_ns is not None else None
            try:
                cfg = GraspConfig()
                views = None
                if grasps and st.cameras is not None and cfg.surface.fuse_depth:
                    views = render_depth_views(self._model(), st.cameras, cfg.surface.fusion_max_views)
                out = build_export(arrays, st.frame, st.prompt, cfg, grasps, centers, depth_views=views)
            except Exception as e:
                self._status(f"failed: {e}")
                raise
            st.result = out
            self.draw(out)
            dt = time.time() - t0
            if grasps:
                g = out.get("grasps") or []
                msg = f"{len(g)} grasps in {dt:.1f} s"
                if g:
                    msg += f", best score {g[0]['score']:.2f}"
                if out.get("warning"):
                    msg += f" ({out['warning']})"
            else:
                msg = f"action point {np.round(out['action_point'], 3).tolist()} (capture frame)"
            self._status(msg)
            return out

    def export(self) -> Path:
        """Write grasps.json beside the run (computing grasps first if needed); shows its path."""
        from point2act.points import write_json_atomic

        st: _PanelState = self._state
        out = st.result if st.result is not None and "grasps" in st.result else self.compute(grasps=True)
        if st.base_dir is None:
            raise RuntimeError("no run directory to export to")
        out = dict(out)
        out["run"] = str((st.base_dir / "config.yml").resolve())
        path = st.base_dir / "grasps.json"
        write_json_atomic(path, out)
        self._set_text(self.i_exported, str(path.resolve()))
        self._status(f"exported {len(out.get('grasps') or [])} grasps to {path.resolve()}")
        return path

    def requery_async(self) -> threading.Thread:
        """Run :meth:`requery` off the GUI thread (the weights cache takes a while to build once)."""
        t = threading.Thread(target=self._requery_safely, daemon=True)
        t.start()
        return t

    def _requery_safely(self) -> None:
        try:
            self.requery()
        except Exception as e:  # noqa: BLE001  (shown to the user, never kills the viewer)
            self._status(f"re-query failed: {e}")

    def requery(self, prompt: Optional[str] = None) -> Dict[str, Any]:
        """Refit the relevancy channel for a new prompt (``point2act query`` on the loaded run), show
        it, and move the action point. The channel is saved under RUN/relevancy/; the checkpoint is not
        written. Only on a finished run (ns-viewer): during training the Gaussians still change."""
        import re

        import yaml

        from point2act.query import query_run

        st: _PanelState = self._state
        prompt = (prompt if prompt is not None else str(self.j_new_prompt.value)).strip()
        if not prompt:
            raise ValueError("type a prompt in 'New prompt' first")
        viewer = st.viewer
        if viewer is None or st.base_dir is None:
            raise RuntimeError("the viewer panel is not attached to a viewer")
        if getattr(viewer, "trainer", None) is not None:
            raise RuntimeError("re-query works on a finished run: open it with ns-viewer --load-config")
        config_path = st.base_dir / "config.yml"
        config = yaml.load(config_path.read_text(), Loader=yaml.Loader)
        config.load_dir = config.get_checkpoint_dir()
        if not Path(config.load_dir).is_dir():  # a run opened from another working directory
            config.load_dir = st.base_dir / "nerfstudio_models"
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", prompt).strip("_.-")[:48] or "query"
        self._status(f"re-querying {prompt!r}…")
        with st.lock:
            res = query_run(config_path, name, prompt=prompt, loaded=(config, viewer.pipeline))
            model = self._model()
            with torch.no_grad():
                logits = model.gauss_params["relevancy"]
                logits.data.copy_(res.logits.reshape(logits.shape).to(logits.device, logits.dtype))
            st.prompt = res.prompt
            st.result = None
            self._set_text(self.a_prompt, res.prompt)
            st.channel = res.name
            self.refresh_channels()
            self._set_text(self.l_channel, res.name)
        with contextlib.suppress(Exception):
            viewer._trigger_rerender()
        out = self.compute(grasps=False)
        self._status(f"re-queried {res.prompt!r} in {res.timings_s.get('total', 0.0):.1f} s "
                     f"(channel {res.name}); " + self._state.status)
        return out

    # -- channels ----------------------------------------------------------------------------
    def _config_path(self) -> Optional[Path]:
        st: _PanelState = self._state
        return st.base_dir / "config.yml" if st.base_dir is not None else None

    def refresh_channels(self) -> List[str]:
        """The dropdown's options: the trained relevancy, then the run's named channels (sorted)."""
        from point2act.query import list_channels

        names: List[str] = []
        cfg = self._config_path()
        if cfg is not None:
            with contextlib.suppress(Exception):  # no or unreadable index: only the trained channel
                names = sorted(list_channels(cfg))
        options = [TRAINED_CHANNEL] + names
        self.l_channel.set_options(options)
        return options

    def select_channel_async(self, name: str) -> Optional[threading.Thread]:
        """:meth:`select_channel` off the GUI thread (it recomputes the action point)."""
        if name == self._state.channel:
            return None
        t = threading.Thread(target=self._select_safely, args=(name,), daemon=True)
        t.start()
        return t

    def _select_safely(self, name: str) -> None:
        try:
            self.select_channel(name)
        except Exception as e:  # noqa: BLE001  (shown to the user, never kills the viewer)
            self._status(f"could not show channel {name!r}: {e}")

    def select_channel(self, name: str) -> Dict[str, Any]:
        """Show a relevancy channel: its logits go into the model (render, composite), its prompt into
        'Prompt', and the action point and region are recomputed for it. The checkpoint is not written."""
        from point2act.query import load_channel

        st: _PanelState = self._state
        model = self._model()
        logits = model.gauss_params["relevancy"]
        with st.lock:
            if name == TRAINED_CHANNEL:
                if st.trained_logits is None:
                    raise RuntimeError("the trained relevancy was not recorded (panel not attached)")
                new, prompt = st.trained_logits, st.trained_prompt
            else:
                cfg = self._config_path()
                if cfg is None:
                    raise RuntimeError("the viewer panel is not attached to a run")
                rec = load_channel(cfg, name, num_gaussians=int(logits.shape[0]))
                new, prompt = rec["logits"], str(rec.get("prompt") or name)
            with torch.no_grad():
                logits.data.copy_(new.reshape(logits.shape).to(logits.device, logits.dtype))
            st.channel = name
            st.prompt = prompt
            st.result = None
            self._set_text(self.a_prompt, prompt or "(no prompt)")
            self._set_text(self.l_channel, name)
        with contextlib.suppress(Exception):
            st.viewer._trigger_rerender()
        return self.compute(grasps=False)

    def look_at_action_point(self) -> None:
        """Point every client's camera at the action point, from the training camera that sees it best."""
        st: _PanelState = self._state
        if st.server is None or st.action_point_ns is None:
            self._status("no action point yet: press Compute grasps")
            return
        target = ns_to_viser(st.action_point_ns)
        eye = target + np.array([0.0, -3.0, 2.0])
        up = np.array([0.0, 0.0, 1.0])
        if st.camera_c2w_ns is not None and len(st.camera_c2w_ns):
            c2w = st.camera_c2w_ns
            d = st.action_point_ns[None] - c2w[:, :3, 3]
            d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
            i = int(np.argmax(np.einsum("ij,ij->i", -c2w[:, :3, 2], d)))
            # a little in front of that camera, so its own frustum is not in the way
            eye = target + 0.85 * (ns_to_viser(c2w[i, :3, 3]) - target)
            up = c2w[i, :3, 1]
        for client in st.server.get_clients().values():
            with client.atomic():  # viser keeps look_at - position when position is set: position first
                client.camera.up_direction = tuple(float(v) for v in up)
                client.camera.position = tuple(float(v) for v in eye)
                client.camera.look_at = tuple(float(v) for v in target)

    # -- drawing -----------------------------------------------------------------------------
    def draw(self, data: Dict[str, Any]) -> List[str]:
        """Draw a grasps.json dict (capture frame): action point, region box, top-k grippers."""
        from point2act.grasp.config import GripperConfig

        st: _PanelState = self._state
        frame = st.frame
        ap_c = np.asarray(data["action_point"], dtype=np.float64)
        st.action_point_ns = frame.to_nerfstudio(ap_c)
        if st.server is None:
            return []
        scene = st.server.scene
        for h in st.handles.pop("action", []) + st.handles.pop("grasps", []):
            with contextlib.suppress(Exception):
                h.remove()
        s = capture_length_to_viser(frame)
        region = data.get("region") or {}
        extent = np.asarray(region.get("extent", [0.02] * 3), dtype=np.float64)
        show_a, show_g = bool(self.c_show_action.value), bool(self.d_show_grasps.value)
        names = []
        radius = max(0.03 * float(np.max(extent)) * s, 0.01 * viser_scale_ratio() * 0.3, 1e-3)
        action = [
            scene.add_icosphere(f"{SCENE_ROOT}/action/point", radius=radius, color=(255, 0, 200),
                                position=capture_to_viser(frame, ap_c), visible=show_a),
        ]
        if "center" in region:
            import trimesh.creation

            mesh = trimesh.creation.box(np.maximum(extent * s, 1e-4))
            R = capture_rotation_to_ns(frame)
            action.append(scene.add_mesh_simple(
                f"{SCENE_ROOT}/action/region", vertices=mesh.vertices, faces=mesh.faces, color=(255, 0, 200),
                wireframe=True, wxyz=rotation_to_wxyz(R),
                position=capture_to_viser(frame, np.asarray(region["center"], dtype=np.float64)), visible=show_a,
            ))
        st.handles["action"] = action
        names += [f"{SCENE_ROOT}/action/point", f"{SCENE_ROOT}/action/region"]
        grasps = data.get("grasps") or []
        handles = []
        if grasps:
            gripper = GripperConfig.from_dict(data.get("gripper") or {}) if data.get("gripper") else GripperConfig()
            gripper.metres_per_unit = float(data.get("metres_per_unit", gripper.metres_per_unit))
            for k, g in enumerate(grasps):
                color = score_color(float(g.get("score", 0.0)))
                for name, b in gripper_boxes_viser(g, gripper, frame).items():
                    node = f"{SCENE_ROOT}/grasps/g{k:02d}/{name}"
                    handles.append(scene.add_box(node, color=color, dimensions=tuple(b["dimensions"]),
                                                 wxyz=tuple(b["wxyz"]), position=tuple(b["position"]),
                                                 visible=show_g))
                    names.append(node)
        st.handles["grasps"] = handles
        st.names = names
        return names

    def _set_visible(self, group: str, visible: bool) -> None:
        for h in self._state.handles.get(group, []):
            with contextlib.suppress(Exception):
                h.visible = bool(visible)

    def _status(self, msg: str) -> None:
        self._state.status = msg
        self._set_text(self.h_status, msg)

    @staticmethod
    def _set_text(element, text: str) -> None:
        with contextlib.suppress(Exception):
            element.value = text


class _PanelState:
    def __init__(self) -> None:
        self.viewer = None
        self.server = None
        self.base_dir: Optional[Path] = None
        self.frame = None
        self.camera_centers_ns: Optional[np.ndarray] = None
        self.camera_c2w_ns: Optional[np.ndarray] = None
        self.cameras = None  # nerfstudio Cameras of the training views (depth fusion for grasps)
        self.prompt = ""
        self.result: Optional[Dict[str, Any]] = None
        self.action_point_ns: Optional[np.ndarray] = None
        self.handles: Dict[str, list] = {}
        self.names: List[str] = []
        self.status = ""
        self.channel = TRAINED_CHANNEL
        self.trained_logits: Optional[torch.Tensor] = None
        self.trained_prompt = ""
        self.lock = threading.RLock()


def _frame_and_cameras(dm):
    from point2act.export import FrameTransform

    dpo = getattr(dm, "train_dataparser_outputs", None)
    if dpo is None:
        return FrameTransform(np.eye(4)[:3], 1.0), None
    frame = FrameTransform(
        np.asarray(dpo.dataparser_transform.detach().cpu().numpy(), dtype=np.float64).reshape(3, 4),
        float(dpo.dataparser_scale),
    )
    c2w = dpo.cameras.camera_to_worlds.detach().cpu().numpy().astype(np.float64)
    return frame, c2w


def _run_prompt(dm, model) -> str:
    prompt = getattr(getattr(dm, "config", None), "prompt", "") or ""
    if not prompt and getattr(dm, "points", None) is not None:
        prompt = getattr(dm.points, "prompt", "") or ""
    return prompt or getattr(model, "prompt", "") or ""


def _control_base():
    return _viewer_elements().ViewerControl


class _PanelControl(_control_base()):  # type: ignore[misc]
    """nerfstudio calls ``_setup(viewer)`` on every ViewerControl it finds: hand the viewer to the panel."""

    def __init__(self, panel: Point2ActViewerPanel) -> None:
        self._panel_ref = weakref.ref(panel)

    def _setup(self, viewer) -> None:
        super()._setup(viewer)
        panel = self._panel_ref()
        if panel is not None:
            try:
                panel.attach(viewer)
            except Exception as e:  # noqa: BLE001  (never take the viewer down)
                panel._status(f"viewer setup failed: {e}")
