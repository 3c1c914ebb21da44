"""point2act's controls in nerfstudio's viser viewer.

:class:`Point2ActViewerPanel` is an ``nn.Module`` without parameters that the model holds as
``viewer_panel``; nerfstudio's viewer finds the ``Viewer*`` elements on it and calls the
:class:`~nerfstudio.viewer.viewer_elements.ViewerControl`'s ``_setup`` with the viewer, which gives the
panel the viser server for its 3D markers (:mod:`point2act.method.viewer.markers`). What it shows and
exports is the run layer's answer (:func:`point2act.method.export_run.export_doc`, which asks
:func:`point2act.method.export_run.where`), with the options ``point2act export`` and ``point2act query`` take by
default: its Export writes the bytes they write.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch
import yaml
from nerfstudio.viewer import viewer_elements as ve

from point2act.channels import list_channels, load_channel
from point2act.export import write_grasps
from point2act.grasp import GripperConfig
from point2act.io import write_json_atomic
from point2act.method.click import CLICK_PROMPT, click_points_for_run
from point2act.method.keys import COMPOSITE_KEY, RELEVANCY_KEY
from point2act.export import Channels, ExportOptions
from point2act.method.export_run import export_doc, request_for_run
from point2act.method.run_layer import frame_of_datamanager, run_of, run_prompt
from point2act.method.requery_run import AnswerSource, Requery, query_run
from point2act.method.answers import stored_prompt
from point2act.method.viewer.markers import (
    DEFAULT_THRESHOLD,
    SCENE_ROOT,
    capture_length_to_viser,
    capture_to_viser,
    gripper_boxes_viser,
    ns_to_viser,
    score_color,
    viser_scale_ratio,
)
from point2act.geometry import rotation_to_quaternion_wxyz


def _box(extents: np.ndarray):  # [3]
    """A box mesh centred at the origin (``trimesh.creation.box``; trimesh, viser's own dependency, is imported
    here, when the viewer draws, not by every process that builds the model)."""
    import trimesh.creation

    return trimesh.creation.box(extents)


TRAINED_CHANNEL = "(trained)"
"""The channel dropdown's entry for the relevancy the run was trained with (not a valid channel name)."""


FOLDER = "point2act"
"""Title of the viewer folder that holds the panel's controls (at the top of the side panel)."""


class PanelElements:
    """The panel's viewer elements, in display order. A plain object, so nerfstudio's ``parse_object``
    does not install them under "Custom Elements/model/viewer_panel": :meth:`install` puts them in
    their own folder, titled :data:`FOLDER`."""

    def elements(self) -> List[Any]:
        return list(vars(self).values())

    def install(self, viewer) -> None:
        """Install every element in a folder at the top of the viewer's panel; as nerfstudio does for
        its own custom elements, each callback runs under the training lock and then re-renders."""
        server = viewer.viser_server
        lock = getattr(viewer, "train_lock", None)

        def wrap(prev):
            def hook(element):
                with lock if lock is not None else contextlib.nullcontext():
                    prev(element)
                viewer._trigger_rerender()

            return hook

        with server.gui.add_folder(FOLDER, order=-1.0):
            for element in self.elements():
                element.install(server)
                element.cb_hook = wrap(element.cb_hook)


class Point2ActViewerPanel(torch.nn.Module):
    """point2act's controls in nerfstudio's viewer. Holds no parameters (adds nothing to checkpoints).

    Its controls live in :class:`PanelElements` (``panel.ui``), installed in the viewer's "point2act"
    folder when nerfstudio's viewer calls the panel's :class:`~nerfstudio.viewer.viewer_elements.ViewerControl`.
    """

    def __init__(self, model) -> None:
        super().__init__()
        object.__setattr__(self, "_model_ref", weakref.ref(model))
        ui = self.ui = PanelElements()
        ui.prompt = ve.ViewerText("Prompt", "", disabled=True, hint="The task this run's relevancy was trained for")
        ui.threshold = ve.ViewerSlider(
            "Relevancy threshold", DEFAULT_THRESHOLD, 0.0, 1.0, 0.01,
            hint=f"Output '{COMPOSITE_KEY}': pixels whose rendered relevancy is above this are tinted",
        )
        ui.show_action = ve.ViewerCheckbox(
            "Show action point", True, cb_hook=lambda e: self._set_visible("action", e.value),
            hint="The action point (sphere) and the relevant region's box",
        )
        ui.show_grasps = ve.ViewerCheckbox(
            "Show grasps", True, cb_hook=lambda e: self._set_visible("grasps", e.value),
            hint="Top-k grasps as gripper shapes (fingers and palm), red (low score) to green (high)",
        )
        ui.look = ve.ViewerButton("Look at action point", cb_hook=lambda _: self.look_at_action_point())
        ui.compute = ve.ViewerButton("Compute grasps", cb_hook=lambda _: self.compute(grasps=True))
        ui.export = ve.ViewerButton("Export", cb_hook=lambda _: self._export_safely())
        ui.status = ve.ViewerText("Status", "", disabled=True)
        ui.exported = ve.ViewerText("grasps.json", "", disabled=True, hint="Where Export wrote grasps.json")
        ui.new_prompt = ve.ViewerText(
            "New prompt", "", hint="Re-query: refit relevancy for this prompt with the run's pointer (point2act query)"
        )
        ui.requery = ve.ViewerButton("Re-query", cb_hook=lambda _: self.requery_async())
        # click-to-point: then click on the target in the 3D view; grasps are planned there (no MLLM)
        ui.point_here = ve.ViewerButton("Point here", cb_hook=lambda _: self._arm_safely())
        ui.channel = ve.ViewerDropdown(
            "Channel", TRAINED_CHANNEL, [TRAINED_CHANNEL], cb_hook=lambda e: self.select_channel_async(e.value),
            hint="Relevancy channel shown: the trained one or a named channel of RUN/relevancy/ (point2act query)",
        )
        self.control = _PanelControl(self)
        object.__setattr__(self, "_state", _PanelState())

    # -- values read by the model ----------------------------------------------------------
    @property
    def threshold(self) -> float:
        return float(self.ui.threshold.value)

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
        st.frame = frame_of_datamanager(dm)
        dpo = getattr(dm, "train_dataparser_outputs", None)
        st.camera_c2w_ns = (dpo.cameras.camera_to_worlds.detach().cpu().numpy().astype(np.float64)
                            if dpo is not None else None)
        st.camera_centers_ns = st.camera_c2w_ns[:, :3, 3] if st.camera_c2w_ns is not None else None
        st.cameras = getattr(getattr(dm, "train_dataparser_outputs", None), "cameras", None)
        # the task of the run's stored answers first (RUN/points.json: not a points file edited since)
        st.prompt = stored_prompt(st.base_dir) or run_prompt(dm, self._model())
        self._set_text(self.ui.prompt, st.prompt or "(no prompt)")
        st.trained_prompt = st.prompt
        model = self._model()
        if model is not None and RELEVANCY_KEY in getattr(model, "gauss_params", {}):
            st.trained_logits = model.gauss_params[RELEVANCY_KEY].detach().clone()
        self.refresh_channels()
        threading.Thread(target=self._composite_by_default, args=(viewer,), daemon=True).start()
        existing = st.base_dir / "grasps.json" if st.base_dir is not None else None
        if existing is not None and existing.is_file():
            try:
                data = json.loads(existing.read_text())
                self.draw(data)
                self._set_text(self.ui.exported, str(existing))
                self._status(f"showing {existing.name}: {len(data.get('grasps') or [])} grasps")
                return
            except Exception as e:  # a stale or foreign file: compute instead
                self._status(f"could not show {existing}: {e}")
        threading.Thread(target=self._initial_markers, daemon=True).start()

    @staticmethod
    def _composite_by_default(viewer, timeout_s: float = 120.0) -> None:
        """Show the relevancy composite when a run opens: nerfstudio lists the outputs after the first
        render, so wait for that, then pick the composite once (the user can change it after)."""
        dropdown = getattr(getattr(viewer, "control_panel", None), "_output_render", None)
        if dropdown is None:
            return
        t0 = time.time()
        while time.time() - t0 < timeout_s:
            options = getattr(getattr(dropdown, "gui_handle", None), "options", None) or getattr(dropdown, "options", [])
            if COMPOSITE_KEY in options:
                with contextlib.suppress(Exception):
                    dropdown.value = COMPOSITE_KEY
                    viewer._trigger_rerender()
                return
            time.sleep(0.2)

    def _initial_markers(self) -> None:
        try:
            self.compute(grasps=False)
        except Exception as e:  # noqa: BLE001  (an untrained field has no region yet)
            self._status(f"no action point yet ({e})")

    # -- actions -----------------------------------------------------------------------------
    def shown_channel(self) -> str | None:
        """The channel shown: None for the run's trained relevancy, else a ``point2act query`` channel's name."""
        ch = self._state.channel
        return None if ch == TRAINED_CHANNEL else ch

    def export_path(self) -> Path:
        """Where Export writes: ``RUN/grasps.json`` for the trained relevancy (as ``point2act export``),
        ``RUN/grasps_NAME.json`` for channel NAME (as ``point2act query --name NAME``)."""
        st: _PanelState = self._state
        if st.base_dir is None:
            raise RuntimeError("no run directory to export to")
        ch = self.shown_channel()
        return st.base_dir / ("grasps.json" if ch is None else f"grasps_{ch}.json")

    def compute(self, grasps: bool = True) -> Dict[str, Any]:
        """The grasps.json document of the shown channel (capture frame), drawn in the scene: the run layer's
        answer (:func:`point2act.method.export_run.export_doc`, the views' consensus over the answers the run or the
        channel keeps) with ``point2act export``'s default options; ``grasps`` False: the action point and region
        alone (``--no-grasps``). During training, of the current step's Gaussians."""
        st: _PanelState = self._state
        if st.frame is None:
            raise RuntimeError("the viewer panel is not attached to a viewer")
        with st.lock:
            self._status("computing grasps…" if grasps else "computing the action point…")
            t0 = time.time()
            channel = self.shown_channel()
            try:
                config_path, config = self._run_config()
                channels = Channels(keypoints=(channel,) if channel else (), grasp=channel)
                request = request_for_run(config_path, ExportOptions(grasps=grasps), channels)
                live = getattr(st.viewer, "trainer", None) is not None
                out = export_doc(config_path, request, run_of(config, st.viewer.pipeline), live=live)
            except Exception as e:
                self._status(f"failed: {e}")
                raise
            st.result, st.result_for = out, (channel, grasps)
            self.draw(out)
            dt = time.time() - t0
            if grasps:
                g = out.get("grasps") or []
                msg = f"{len(g)} grasps in {dt:.1f} s"
                if g:
                    msg += f", best score {g[0]['score']:.2f}"
            else:
                msg = f"action point {np.round(out['action_point'], 3).tolist()} (capture frame)"
            if "confidence" in out:
                msg += f", confidence {out['confidence']:.2f}"
            if out.get("warning"):
                msg += f" ({out['warning']})"
            self._status(msg)
            return out

    def export(self) -> Path:
        """Write the shown channel's grasps.json beside the run (:meth:`export_path`; computing grasps first
        unless they are computed for it): the same bytes as ``point2act export`` (the trained relevancy) or
        ``point2act query --name NAME`` (channel NAME) write on the run. Shows its path."""
        st: _PanelState = self._state
        path = self.export_path()
        out = st.result if st.result is not None and st.result_for == (self.shown_channel(), True) \
            else self.compute(grasps=True)
        path = write_grasps(path, out)
        self._set_text(self.ui.exported, str(path.resolve()))
        self._status(f"exported {len(out.get('grasps') or [])} grasps to {path.resolve()}")
        return path

    def _export_safely(self) -> None:
        try:
            self.export()
        except Exception as e:  # noqa: BLE001  (shown to the user, never kills the viewer)
            self._status(f"export failed: {e}")

    def requery_async(self) -> threading.Thread:
        """Run :meth:`requery` off the GUI thread (the views' compositing weights take a while to compute)."""
        t = threading.Thread(target=self._requery_safely, daemon=True)
        t.start()
        return t

    def _arm_safely(self) -> None:
        try:
            self.arm_click()
        except Exception as e:  # noqa: BLE001  (shown to the user, never kills the viewer)
            self._status(f"point here: {e}")

    def _requery_safely(self) -> None:
        try:
            self.requery()
        except Exception as e:  # noqa: BLE001  (shown to the user, never kills the viewer)
            self._status(f"re-query failed: {e}")

    def requery(self, prompt: str | None = None) -> Dict[str, Any]:
        """Refit the relevancy channel for a new prompt (``point2act query`` on the loaded run), show
        it, and move the action point. The channel is saved under RUN/relevancy/; the checkpoint is not
        written. Only on a finished run (ns-viewer): during training the Gaussians still change."""
        prompt = (prompt if prompt is not None else str(self.ui.new_prompt.value)).strip()
        if not prompt:
            raise ValueError("type a prompt in 'New prompt' first")
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", prompt).strip("_.-")[:48] or "query"
        self._status(f"re-querying {prompt!r}…")
        res = self._refit(name, prompt)
        out = self.compute(grasps=False)
        self._status(f"re-queried {res.prompt!r} in {res.timings_s.get('total', 0.0):.1f} s "
                     f"(channel {res.name}); " + self._state.status)
        return out

    def _finished_run(self):
        """(config path, TrainerConfig) of the finished run the viewer shows; an error during training."""
        st: _PanelState = self._state
        if getattr(st.viewer, "trainer", None) is not None:
            raise RuntimeError("this works on a finished run: open it with ns-viewer --load-config")
        return self._run_config()

    def _run_config(self):
        """(config path, TrainerConfig) of the run the viewer shows (its config.yml)."""
        st: _PanelState = self._state
        viewer = st.viewer
        if viewer is None or st.base_dir is None:
            raise RuntimeError("the viewer panel is not attached to a viewer")
        config_path = st.base_dir / "config.yml"
        config = yaml.load(config_path.read_text(), Loader=yaml.Loader)
        config.load_dir = config.get_checkpoint_dir()
        if not Path(config.load_dir).is_dir():  # a run opened from another working directory
            config.load_dir = st.base_dir / "nerfstudio_models"
        return config_path, config

    def _refit(self, name: str, prompt: str, points_file: Path | None = None):
        """``query_run`` on the loaded run; its logits go into the model and the channel is shown."""
        st: _PanelState = self._state
        config_path, config = self._finished_run()
        with st.lock:
            res = query_run(config_path, Requery(name, AnswerSource(prompt=prompt, points_file=points_file)),
                            loaded=run_of(config, st.viewer.pipeline))
            model = self._model()
            with torch.no_grad():
                logits = model.gauss_params[RELEVANCY_KEY]
                logits.data.copy_(res.logits.reshape(logits.shape).to(logits.device, logits.dtype))
            st.prompt = res.prompt
            st.result = st.result_for = None
            self._set_text(self.ui.prompt, res.prompt)
            st.channel = res.name
            self.refresh_channels()
            self._set_text(self.ui.channel, res.name)
        with contextlib.suppress(Exception):
            st.viewer._trigger_rerender()
        return res

    # -- click-to-point ----------------------------------------------------------------------
    def arm_click(self) -> None:
        """"Point here": the next click on the 3D view becomes the task's point (:meth:`click_at`)."""
        self._finished_run()  # fails early during training
        self.control.register_pointer_cb("click", self._on_click)
        self._status("click on the target in the 3D view…")

    def _on_click(self, click) -> None:
        with contextlib.suppress(Exception):
            self.control.unregister_pointer_cb()
        threading.Thread(target=self._click_safely, args=(click.origin, click.direction), daemon=True).start()

    def _click_safely(self, origin, direction) -> None:
        try:
            self.click_at(origin, direction)
        except Exception as e:  # noqa: BLE001  (shown to the user, never kills the viewer)
            self._status(f"point here failed: {e}")

    def click_at(self, origin_ns, direction_ns) -> Dict[str, Any]:
        """A click's ray (nerfstudio frame) -> its surface point -> a points file for every training view
        (``RUN/points/click.json``, ``[]`` where the point is hidden) -> the ``click`` channel (refit, as
        ``point2act query``) -> grasps there, drawn and ready to export. No pointing model involved."""
        st: _PanelState = self._state
        self._finished_run()
        self._status("pointing at the clicked surface…")
        points, point_capture = click_points_for_run(st.viewer.pipeline, origin_ns, direction_ns)
        path = st.base_dir / "points" / "click.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, points)
        n = sum(1 for v in points["points"].values() if v)
        self._refit("click", CLICK_PROMPT, points_file=path)
        out = self.compute(grasps=True)
        self._status(f"clicked {np.round(point_capture, 3).tolist()} (seen in {n} views, {path.name}); "
                     + self._state.status)
        return out

    # -- channels ----------------------------------------------------------------------------
    def _config_path(self) -> Path | None:
        st: _PanelState = self._state
        return st.base_dir / "config.yml" if st.base_dir is not None else None

    def refresh_channels(self) -> List[str]:
        """The dropdown's options: the trained relevancy, then the run's named channels (sorted)."""
        names: List[str] = []
        cfg = self._config_path()
        if cfg is not None:
            with contextlib.suppress(Exception):  # no or unreadable index: only the trained channel
                names = sorted(list_channels(cfg))
        options = [TRAINED_CHANNEL] + names
        self.ui.channel.set_options(options)
        return options

    def select_channel_async(self, name: str) -> threading.Thread | None:
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
        st: _PanelState = self._state
        model = self._model()
        logits = model.gauss_params[RELEVANCY_KEY]
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
                new, prompt = torch.from_numpy(rec["logits"]), str(rec.get("prompt") or name)
            with torch.no_grad():
                logits.data.copy_(new.reshape(logits.shape).to(logits.device, logits.dtype))
            st.channel = name
            st.prompt = prompt
            st.result = st.result_for = None
            self._set_text(self.ui.prompt, prompt or "(no prompt)")
            self._set_text(self.ui.channel, name)
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
        show_a, show_g = bool(self.ui.show_action.value), bool(self.ui.show_grasps.value)
        names = []
        radius = max(0.03 * float(np.max(extent)) * s, 0.01 * viser_scale_ratio() * 0.3, 1e-3)
        action = [
            scene.add_icosphere(f"{SCENE_ROOT}/action/point", radius=radius, color=(255, 0, 200),
                                position=capture_to_viser(frame, ap_c), visible=show_a),
        ]
        if "center" in region:
            mesh = _box(np.maximum(extent * s, 1e-4))
            R = frame.rotation_to_ns
            action.append(scene.add_mesh_simple(
                f"{SCENE_ROOT}/action/region", vertices=mesh.vertices, faces=mesh.faces, color=(255, 0, 200),
                wireframe=True, wxyz=rotation_to_quaternion_wxyz(R),
                position=capture_to_viser(frame, np.asarray(region["center"], dtype=np.float64)), visible=show_a,
            ))
        names += [f"{SCENE_ROOT}/action/point", f"{SCENE_ROOT}/action/region"]
        for k, cand in enumerate((data.get("candidates") or [])[1:], start=1):
            # the other places the views point at: a smaller orange marker each, labelled with its share
            node = f"{SCENE_ROOT}/action/candidate{k}"
            pos = capture_to_viser(frame, np.asarray(cand["action_point"], dtype=np.float64))
            action.append(scene.add_icosphere(node, radius=0.7 * radius, color=(255, 150, 0), position=pos, visible=show_a))
            action.append(scene.add_label(f"{node}_label", text=f"#{k}: {100 * float(cand.get('share', 0)):.0f} %",
                                          position=pos, visible=show_a))
            names.append(node)
        st.handles["action"] = action
        grasps = data.get("grasps") or []
        handles = []
        if grasps:
            gripper = GripperConfig.from_dict(data.get("gripper") or {}) if data.get("gripper") else GripperConfig()
            gripper.metres_per_unit = float(data.get("metres_per_unit", gripper.metres_per_unit))
            for k, g in enumerate(grasps):
                color = score_color(float(g.get("score", 0.0)))
                for name, b in gripper_boxes_viser(g, gripper, frame).items():
                    node = f"{SCENE_ROOT}/grasps/g{k:02d}/{name}"
                    box = _box(np.maximum(np.asarray(b["dimensions"], dtype=np.float64), 1e-5))
                    # thin wireframes: the object under the gripper stays visible
                    handles.append(scene.add_mesh_simple(node, vertices=box.vertices, faces=box.faces, color=color,
                                                         wireframe=True, wxyz=tuple(b["wxyz"]),
                                                         position=tuple(b["position"]), visible=show_g))
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
        self._set_text(self.ui.status, msg)

    @staticmethod
    def _set_text(element, text: str) -> None:
        with contextlib.suppress(Exception):
            element.value = text


class _PanelState:
    def __init__(self) -> None:
        self.viewer = None
        self.server = None
        self.base_dir: Path | None = None
        self.frame = None
        self.camera_centers_ns: np.ndarray | None = None
        self.camera_c2w_ns: np.ndarray | None = None
        self.cameras = None  # nerfstudio Cameras of the training views (depth fusion for grasps)
        self.prompt = ""
        self.result: Dict[str, Any] | None = None
        self.result_for: tuple | None = None  # (channel, grasps asked) of ``result``
        self.action_point_ns: np.ndarray | None = None
        self.handles: Dict[str, list] = {}
        self.names: List[str] = []
        self.status = ""
        self.channel = TRAINED_CHANNEL
        self.trained_logits: torch.Tensor | None = None
        self.trained_prompt = ""
        self.lock = threading.RLock()


class _PanelControl(ve.ViewerControl):  # type: ignore[misc]
    """nerfstudio calls ``_setup(viewer)`` on every ViewerControl it finds: hand the viewer to the panel."""

    def __init__(self, panel: Point2ActViewerPanel) -> None:
        self._panel_ref = weakref.ref(panel)

    def _setup(self, viewer) -> None:
        super()._setup(viewer)
        panel = self._panel_ref()
        if panel is not None:
            try:
                panel.ui.install(viewer)
                panel.attach(viewer)
            except Exception as e:  # noqa: BLE001  (never take the viewer down)
                panel._status(f"viewer setup failed: {e}")
