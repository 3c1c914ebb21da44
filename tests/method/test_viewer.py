"""point2act in nerfstudio's viewer, without a browser: composite output, frames and scale, gripper
boxes in viser's scene, and the render thread surviving interrupts on a CPU."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("nerfstudio")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_model import look_at, make_camera, make_model  # noqa: E402

from nerfstudio.cameras.cameras import CameraType  # noqa: E402
from nerfstudio.utils.colormaps import ColormapOptions, apply_float_colormap  # noqa: E402
from nerfstudio.viewer_legacy.server.viewer_utils import IOChangeException, SetTrace  # noqa: E402

from point2act.geometry import FrameTransform  # noqa: E402
from point2act.grasp import grasp_to_gripper_boxes  # noqa: E402
from point2act.grasp.config import GripperConfig  # noqa: E402
from point2act.geometry import viewmat_from_c2w as eager_get_viewmat  # noqa: E402
from point2act.method.keys import COMPOSITE_KEY  # noqa: E402
from point2act.method.viewer import surface_render_interrupts  # noqa: E402
from point2act.method.viewer.markers import (  # noqa: E402
    box_corners,
    capture_to_viser,
    composite_relevancy,
    gripper_boxes_viser,
    ns_to_viser,
    score_color,
    viser_scale_ratio,
    viser_to_ns,
)


# -- composite ---------------------------------------------------------------------------------
def test_composite_tints_only_above_threshold_closed_form():
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(7, 9, 3, generator=g)
    rel = torch.rand(7, 9, 1, generator=g)
    thr, tint = 0.6, 0.65
    out = composite_relevancy(rgb, rel, thr, tint=tint)
    above = (rel > thr).expand(-1, -1, 3)
    expected = (1 - tint) * rgb + tint * apply_float_colormap(rel, colormap="turbo")
    assert torch.equal(out[~above], rgb[~above])  # below the threshold: the RGB pixel, untouched
    assert torch.allclose(out[above], expected[above], atol=1e-6)
    assert above.any() and (~above).any()
    # the slider: threshold 1 tints nothing, threshold 0 tints every pixel with relevancy > 0
    assert torch.equal(composite_relevancy(rgb, rel, 1.0), rgb)
    assert not torch.isclose(composite_relevancy(rgb, rel, 0.0), rgb).all(-1).any()


def test_model_outputs_composite_in_eval_following_the_slider():
    model = make_model(n=300)
    with torch.no_grad():
        model.gauss_params["relevancy"][:150] = 6.0  # half the Gaussians relevant
    model.eval()
    cam = make_camera()
    with torch.no_grad():
        out = model.get_outputs_for_camera(cam)
        assert out[COMPOSITE_KEY].shape == out["rgb"].shape
        for thr in (0.0, 0.3, 0.9, 1.0):
            model.viewer_panel.ui.threshold.value = thr  # no GUI: sets the element's value
            out = model.get_outputs_for_camera(cam)
            assert torch.allclose(out[COMPOSITE_KEY], composite_relevancy(out["rgb"], out["relevancy"], thr))
        tinted = ~torch.isclose(out[COMPOSITE_KEY], out["rgb"]).all(-1)
        assert not tinted.any()  # threshold 1.0
    assert not any("viewer_panel" in k for k in model.state_dict())  # nothing added to checkpoints


# -- frames and scale --------------------------------------------------------------------------
def _frame(seed=1, scale=0.7):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    T = np.concatenate([q, rng.normal(size=(3, 1))], axis=1)
    return FrameTransform(T, scale)


def test_scale_between_nerfstudio_and_viser():
    from nerfstudio.viewer.viewer import VISER_NERFSTUDIO_SCALE_RATIO

    assert viser_scale_ratio() == VISER_NERFSTUDIO_SCALE_RATIO == 10.0
    p = np.array([[0.1, -0.2, 0.3]])
    assert np.allclose(ns_to_viser(p), 10.0 * p) and np.allclose(viser_to_ns(ns_to_viser(p)), p)
    frame = _frame()
    pc = np.array([[0.3, 0.1, -0.4], [1.0, 2.0, 3.0]])
    assert np.allclose(capture_to_viser(frame, pc), 10.0 * frame.to_nerfstudio(pc))
    # a capture length l is l * scale * 10 in viser (the transform's rotation keeps lengths)
    d = np.linalg.norm(capture_to_viser(frame, pc[0:1]) - capture_to_viser(frame, pc[1:2]))
    assert np.isclose(d, np.linalg.norm(pc[0] - pc[1]) * 0.7 * 10.0)


def test_gripper_boxes_in_viser_match_the_grasp_head_boxes():
    frame = _frame(seed=3, scale=1.3)
    gripper = GripperConfig()
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    R = q * np.sign(np.linalg.det(q))
    grasp = {"position": [0.1, 0.2, -0.05], "rotation": R.tolist(), "width": 0.03, "score": 0.8}
    cap = grasp_to_gripper_boxes(grasp, gripper)
    vis = gripper_boxes_viser(grasp, gripper, frame)
    assert set(vis) == set(cap) == {"finger_neg_x", "finger_pos_x", "palm"}
    for name, box in cap.items():
        expected = capture_to_viser(frame, box_corners(box.center, box.rotation, box.half_extents))
        b = vis[name]
        got = box_corners(b["position"], b["rotation"], b["dimensions"] / 2)
        assert np.allclose(got, expected, atol=1e-9), name
        # the quaternion handed to viser is the same rotation
        from point2act.grasp.geometry import rotation_to_quaternion_wxyz

        assert np.allclose(np.abs(b["wxyz"]), np.abs(rotation_to_quaternion_wxyz(b["rotation"])))
    # the fingers' inner faces are `width` apart (capture units -> viser)
    s = 1.3 * 10.0
    gap = np.linalg.norm(vis["finger_pos_x"]["position"] - vis["finger_neg_x"]["position"])
    gap -= vis["finger_pos_x"]["dimensions"][0]
    assert np.isclose(gap, gripper.units(0.03) * s)


def test_score_colours_run_red_to_green():
    r0, g0, _ = score_color(0.0)
    r1, g1, _ = score_color(1.0)
    assert r0 > 200 and g0 < 60 and g1 > 200 and r1 < 60
    greens = [score_color(s)[1] - score_color(s)[0] for s in np.linspace(0, 1, 11)]
    assert all(a <= b for a, b in zip(greens, greens[1:]))


def test_eager_viewmat_matches_splatfacto():
    from nerfstudio.models.splatfacto import get_viewmat

    c2w = look_at((0.3, -2.0, 1.0))[None]
    fn = getattr(get_viewmat, "_torchdynamo_orig_callable", None) or getattr(get_viewmat, "__wrapped__", None)
    assert fn is not None
    assert torch.allclose(eager_get_viewmat(c2w), fn(c2w))


# -- the render thread on a CPU ----------------------------------------------------------------
class _InterruptAt:
    """A trace function that raises the viewer's interrupt at the k-th line event, as
    nerfstudio's RenderStateMachine.check_interrupt does once its flag is set."""

    def __init__(self, k):
        self.k, self.n = k, 0

    def __call__(self, frame, event, arg):
        if event == "line":
            self.n += 1
            if self.n == self.k:
                raise IOChangeException
        return self


def test_interrupt_anywhere_in_a_cpu_render_is_an_interrupt_and_the_next_render_works():
    model = make_model(n=300)
    model.eval()
    cam = make_camera()
    with torch.no_grad():
        count = _InterruptAt(10**12)
        with SetTrace(count):
            model.get_outputs_for_camera(cam)
        total = count.n
        assert total > 100
        for k in sorted({1, 2, 5, *np.linspace(10, total, 25).astype(int).tolist()}):
            try:
                with SetTrace(_InterruptAt(k)):
                    model.get_outputs_for_camera(cam)
            except IOChangeException:
                pass  # what nerfstudio's render loop expects (anything else ends the render thread)
            out = model.get_outputs_for_camera(cam)
            assert torch.isfinite(out[COMPOSITE_KEY]).all()


def test_interrupt_wrapped_by_torch_compile_surfaces_as_an_interrupt():
    """The failure seen once: the interrupt raised while dynamo traces a compiled function comes
    out as InternalTorchDynamoError. surface_render_interrupts turns it back into an interrupt."""
    import torch._dynamo  # training does not import it (point2act.method.schedule.FusedAdam)

    torch._dynamo.reset()

    @torch.compile(backend="eager")
    def f(x):
        y = x * 2
        return y + 1

    x = torch.ones(3)
    raised = []
    for k in (3, 30, 300, 3000, 30000):
        try:
            with surface_render_interrupts(), SetTrace(_InterruptAt(k)):
                f(x)
        except IOChangeException as e:
            raised.append(type(e.__cause__).__name__ if e.__cause__ is not None else "direct")
        torch._dynamo.reset()
    assert raised  # at least one interrupt landed inside dynamo or the function
    with pytest.raises(ValueError):  # other errors pass through unchanged
        with surface_render_interrupts():
            raise ValueError("not an interrupt")


def _fake_viewer(model, sent):
    from nerfstudio.viewer.utils import CameraState

    c2w = look_at((0.0, -2.0, 1.0))
    viewer = SimpleNamespace(
        control_panel=SimpleNamespace(
            crop_viewport=False, background_color=(0, 0, 0), max_res=48, layer_depth=False,
            output_render=COMPOSITE_KEY, colormap_options=ColormapOptions(), split=False, time=0.0,
            update_output_options=lambda options: sent.append(("options", list(options))),
        ),
        render_tab_state=SimpleNamespace(preview_render=False),
        include_time=False, train_lock=None, step=0, ready=True,
        config=SimpleNamespace(jpeg_quality=75, image_format="jpeg"),
        stats_markdown=SimpleNamespace(content=""),
    )
    viewer.get_model = lambda: model
    viewer.get_camera_state = lambda client: CameraState(
        fov=1.0, aspect=4 / 3, c2w=c2w, camera_type=CameraType.PERSPECTIVE
    )
    viewer.update_colormap_options = lambda **kw: None
    viewer.make_stats_markdown = lambda step, res: res
    client = SimpleNamespace(
        camera=SimpleNamespace(aspect=4 / 3),
        scene=SimpleNamespace(set_background_image=lambda img, **kw: sent.append(img)),
    )
    return viewer, client


def test_render_thread_survives_interrupts_on_cpu():
    """nerfstudio's own RenderStateMachine thread, a CPU model, interrupts at many points of
    the render (including the first, where anything compiled would be compiling)."""
    from nerfstudio.viewer.render_state_machine import RenderAction, RenderStateMachine

    torch._dynamo.reset()
    model = make_model(n=300)
    sent: list = []
    viewer, client = _fake_viewer(model, sent)
    sm = RenderStateMachine(viewer, 10.0, client)
    plan = [1, 40, 30000, 400, 1200, 2000, 3, 800]  # 30000: inside dynamo, were get_viewmat compiled
    outcomes = []
    orig_render = sm._render_img
    orig_check = sm.check_interrupt

    def render(camera_state):
        k = plan.pop(0) if plan else None
        n = [0]

        def check(frame, event, arg):
            if event == "line":
                n[0] += 1
                if k is not None and n[0] == k:
                    sm.interrupt_render_flag = True  # what a camera move does mid-render
            return orig_check(frame, event, arg)

        sm.check_interrupt = check
        try:
            out = orig_render(camera_state)
            outcomes.append("done")
            return out
        except IOChangeException:
            outcomes.append("interrupted")
            raise
        finally:
            sm.check_interrupt = orig_check

    sm._render_img = render
    sm.start()
    try:
        deadline = time.time() + 60
        while time.time() < deadline and sm.is_alive() and (plan or outcomes.count("done") < 2):
            sm.action(RenderAction("move", viewer.get_camera_state(client)))
            time.sleep(0.05)
        assert sm.is_alive(), "the render thread died"
        assert not plan, outcomes
        assert outcomes.count("interrupted") >= 5, outcomes
        assert outcomes.count("done") >= 2 and sent, outcomes
        assert ("options", ["rgb", "depth", "accumulation", "background", "relevancy", COMPOSITE_KEY]) in sent
        assert sent[-1].ndim == 3 and sent[-1].shape[-1] == 3
    finally:
        sm.running = False
        sm.join(timeout=10)


def test_panel_controls_live_in_their_own_point2act_folder():
    """nerfstudio finds the panel's one ViewerControl (and, walking the model, no element of ours:
    no "Custom Elements/model/viewer_panel" folders); its _setup installs every control, in order, in a
    folder titled "point2act" at the top of the side panel, with nerfstudio's lock + re-render hooks."""
    from nerfstudio.viewer.utils import parse_object
    from nerfstudio.viewer.viewer_elements import ViewerControl, ViewerElement

    model = make_model(n=50)
    assert parse_object(model, ViewerElement, "Custom Elements") == []
    controls = parse_object(model, ViewerControl, "Custom Elements")
    assert len(controls) == 1

    folders, installed, rerenders = [], [], []

    class _Folder:
        def __init__(self, label, order):
            folders.append((label, order))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class _Handle:
        def __init__(self, label):
            self.label, self.value, self.clicks = label, None, []

        def on_click(self, fn):
            self.clicks.append(fn)

        def on_update(self, fn):
            self.clicks.append(fn)

    def _add(kind):
        def add(label=None, *a, **k):
            installed.append((folders[-1][0] if folders else None, label or k.get("label")))
            return _Handle(label)

        return add

    gui = SimpleNamespace(add_folder=lambda label, order=None, **k: _Folder(label, order),
                          **{f"add_{k}": _add(k) for k in ("button", "text", "slider", "checkbox", "dropdown")})
    viewer = SimpleNamespace(viser_server=SimpleNamespace(gui=gui), train_lock=None,
                             _trigger_rerender=lambda: rerenders.append(1))
    panel = model.viewer_panel
    panel.ui.install(viewer)
    assert folders == [("point2act", -1.0)]
    labels = [label for folder, label in installed]
    assert all(folder == "point2act" for folder, _ in installed)
    assert labels == ["Prompt", "Relevancy threshold", "Show action point", "Show grasps", "Look at action point",
                      "Compute grasps", "Export", "Status", "grasps.json", "New prompt", "Re-query", "Point here",
                      "Channel"]
    seen = []
    panel.ui.show_grasps.cb_hook = (lambda prev: lambda e: (seen.append(e.name), prev(e)))(panel.ui.show_grasps.cb_hook)
    panel.ui.show_grasps.cb_hook(panel.ui.show_grasps)
    assert seen == ["Show grasps"] and rerenders == [1]  # the wrapped hook re-renders after the callback


# -- channel dropdown --------------------------------------------------------------------------
class _FakeHandle:
    def __init__(self, kind, name, kw):
        self.kind, self.name, self.kw, self.removed = kind, name, kw, False
        self.visible = kw.get("visible", True)

    def remove(self):
        self.removed = True


class _FakeScene:
    def __init__(self):
        self.added = []

    def _add(self, kind, name, **kw):
        h = _FakeHandle(kind, name, kw)
        self.added.append(h)
        return h

    def add_icosphere(self, name, **kw):
        return self._add("icosphere", name, **kw)

    def add_mesh_simple(self, name, **kw):
        return self._add("mesh", name, **kw)

    def add_box(self, name, **kw):
        return self._add("box", name, **kw)


def _attached_panel(model, run_dir, pipeline=None):
    """The model's panel attached to a fake ns-viewer on ``run_dir`` (no datamanager: identity frame)."""
    server = SimpleNamespace(scene=_FakeScene(), get_clients=lambda: {})
    rerenders = []
    viewer = SimpleNamespace(viser_server=server, log_filename=run_dir / "viewer_log_filename.txt", pipeline=pipeline,
                             trainer=None, _trigger_rerender=lambda: rerenders.append(1))
    panel = model.viewer_panel
    panel._initial_markers = lambda: None  # the test computes markers itself
    panel.attach(viewer)
    return panel, server, rerenders


def _stub_run_layer(monkeypatch, run, calls):
    """The panel's run layer on a model without a run on disk: ``export_doc`` answers with
    :func:`point2act.export.answer_where` on the shown channel's relevancy (no answers kept: the relevancy peak)
    and records what the panel asked for; config.yml and the export options are stand-ins."""
    import yaml

    from point2act.channels import channel_relevancy_of, load_channel
    from point2act.export import ExportRequest, Field, FieldLabel, export, of_arrays
    from point2act.grasp import GraspConfig
    from point2act.method.run_layer import gaussian_arrays
    from point2act.method.run_data import LoadedRun, RunGaussians
    from point2act.method.viewer import panel as panel_mod

    def fake_run_of(config, pipeline):  # no config.yml, no datamanager: the model's Gaussians only
        return LoadedRun(RunGaussians.of_model(pipeline.model), None, run, run, None, "", "", None)

    def fake_export_doc(config_path, request, loaded=None, live=False, **kw):
        ch = request.channels
        calls.append({"channel": ch.grasp, "channels": list(ch.keypoints), "grasps": request.grasps, "live": live})
        arrays = gaussian_arrays(loaded.gaussians)
        if ch.grasp:
            arrays["relevancy"] = channel_relevancy_of(load_channel(config_path, ch.grasp, len(arrays["means"])))
        field = Field(arrays["relevancy"], None, "stub", label=FieldLabel(ch.grasp))
        return export(ExportRequest(request.grasp_config, False), of_arrays(arrays, None, field, prompt="p"))

    monkeypatch.setattr(panel_mod, "run_of", fake_run_of)
    monkeypatch.setattr(panel_mod, "export_doc", fake_export_doc)
    monkeypatch.setattr(panel_mod, "request_for_run", lambda config_path, options, channels: ExportRequest(
        GraspConfig(), options.grasps, channels=channels))
    monkeypatch.setattr(yaml, "load", lambda *a, **k: SimpleNamespace(get_checkpoint_dir=lambda: run))


def test_channel_dropdown_lists_selects_and_follows_requery(tmp_path, monkeypatch):
    """The dropdown lists the trained relevancy and the run's channels; choosing one puts its logits
    in the model and asks the run layer for that channel's answer (the views' consensus over the points the
    channel keeps, :func:`point2act.method.run_layer.where`), which moves the action point to its region; a re-query
    adds and selects its channel."""
    from point2act.method.viewer import panel as query_mod
    from point2act.channels import ChannelInfo, list_channels, save_channel
    from point2act.method.viewer import TRAINED_CHANNEL

    model = make_model(n=400)
    means = model.means.detach()
    left, right = means[:, 0] < -0.25, means[:, 0] > 0.25
    with torch.no_grad():
        model.gauss_params["relevancy"][:] = -6.0
        model.gauss_params["relevancy"][left] = 6.0  # the trained channel: the left part
        model.opacities[:] = 3.0
    trained = model.gauss_params["relevancy"].detach().clone()
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yml").write_text("a stand-in: the run layer is stubbed")
    cfg = run / "config.yml"
    ckpt = {"file": "step-000000001.ckpt"}
    save_channel(cfg, ChannelInfo("ball", "Point to the ball", "grasp"), torch.where(right, 6.0, -6.0), ckpt)
    calls = []
    _stub_run_layer(monkeypatch, run, calls)
    panel, server, rerenders = _attached_panel(model, run, pipeline=SimpleNamespace(model=model))
    assert panel.ui.channel.options == [TRAINED_CHANNEL, "ball"]
    assert panel.ui.channel.value == TRAINED_CHANNEL

    out = panel.select_channel("ball")
    assert calls[-1] == {"channel": "ball", "channels": ["ball"], "grasps": False, "live": False}
    ap = np.asarray(out["action_point"])
    assert ap[0] > 0.2, ap  # on the right part
    assert torch.equal(model.gauss_params["relevancy"].detach().reshape(-1), torch.where(right, 6.0, -6.0))
    assert panel.ui.prompt.value == "Point to the ball" and panel.ui.channel.value == "ball" and rerenders
    spheres = [h for h in server.scene.added if h.kind == "icosphere"]
    assert np.allclose(spheres[-1].kw["position"], ns_to_viser(ap))  # identity frame: capture == nerfstudio
    assert all(h.removed for h in spheres[:-1])  # the previous channel's marker is gone

    out = panel.select_channel(TRAINED_CHANNEL)
    assert calls[-1] == {"channel": None, "channels": [], "grasps": False, "live": False}
    assert np.asarray(out["action_point"])[0] < -0.2
    assert torch.equal(model.gauss_params["relevancy"].detach(), trained)
    assert panel.select_channel_async(TRAINED_CHANNEL) is None  # already shown: nothing to do

    # re-query (query_run stubbed: it writes a channel on the top part, as point2act query would)
    top = means[:, 2] > 0.25

    def fake_query_run(config_path, query, loaded=None, **kw):
        name, prompt = query.name, query.source.prompt
        logits = torch.where(top, 6.0, -6.0)
        path = save_channel(config_path, ChannelInfo(name, prompt, "grasp"), logits, ckpt)
        return SimpleNamespace(name=name, prompt=prompt, logits=logits, timings_s={"total": 0.1}, channel_path=path)

    monkeypatch.setattr(query_mod, "query_run", fake_query_run)
    out = panel.requery("the top")
    assert calls[-1]["channel"] == "the_top"
    assert set(list_channels(cfg)) == {"ball", "the_top"}
    assert panel.ui.channel.options == [TRAINED_CHANNEL, "ball", "the_top"]
    assert panel.ui.channel.value == "the_top" and panel.ui.prompt.value == "the top"
    assert np.asarray(out["action_point"])[2] > 0.2
    # and the trained relevancy is still one click away
    panel.select_channel(TRAINED_CHANNEL)
    assert torch.equal(model.gauss_params["relevancy"].detach(), trained)


def test_export_button_writes_the_shown_channels_file_with_the_run_layers_document(tmp_path, monkeypatch):
    """Export writes the run layer's document (:func:`point2act.method.run_layer.export_doc`, grasps asked) for the
    shown channel: RUN/grasps.json for the trained relevancy (as ``point2act export``), RUN/grasps_NAME.json for
    channel NAME (as ``point2act query --name NAME``); a document computed with grasps for that channel is
    written as it is, any other is computed first."""
    import json

    from point2act.channels import ChannelInfo, save_channel
    from point2act.method.viewer import TRAINED_CHANNEL

    model = make_model(n=400)
    means = model.means.detach()
    with torch.no_grad():
        model.gauss_params["relevancy"][:] = torch.where(means[:, 0] < -0.25, 6.0, -6.0).reshape(-1, 1)
        model.opacities[:] = 3.0
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yml").write_text("a stand-in: the run layer is stubbed")
    save_channel(run / "config.yml", ChannelInfo("ball", "Point to the ball", "grasp"),
                 torch.where(means[:, 0] > 0.25, 6.0, -6.0), {"file": "step-000000001.ckpt"})
    calls = []
    _stub_run_layer(monkeypatch, run, calls)
    panel, _server, _ = _attached_panel(model, run, pipeline=SimpleNamespace(model=model))

    panel.compute(grasps=False)
    path = panel.export()  # the markers' document has no grasps: the export computes them
    assert path == run / "grasps.json" and [c["grasps"] for c in calls] == [False, True]
    doc = json.loads(path.read_text())
    assert doc["action_point"][0] < -0.2 and panel.ui.exported.value == str(path.resolve())
    panel.export()  # computed with grasps for this channel: written as it is
    assert len(calls) == 2

    panel.select_channel("ball")
    path = panel.export()
    assert path == run / "grasps_ball.json" and calls[-1]["channel"] == "ball" and calls[-1]["grasps"]
    assert json.loads(path.read_text())["action_point"][0] > 0.2
    assert json.loads((run / "grasps.json").read_text()) == doc  # the trained relevancy's file is untouched
    panel.select_channel(TRAINED_CHANNEL)
