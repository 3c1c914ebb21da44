"""One answer to "where": every path asks the export's stage :func:`point2act.export.answer`, on the shared short
synthetic training run (tests/conftest.py ``trained_synth``: oracle points on the mug handle).

The run layer's :func:`point2act.method.export_run.where` calls it, and so does an export from the run's cache
(:mod:`point2act.export.cached_inputs`). ``point2act export``, ``point2act query`` (its export and keypoints),
``point2act grasp`` and the viewer's panel (its markers and its Export) each call it, for the channel they
answer, and give its answer: the action point, region, confidence and candidates of grasps.json are those of the
:class:`point2act.export.Answer` it returned."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from conftest import inside, target_box

pytestmark = pytest.mark.slow

PROMPT = "Point to the handle of the mug"


@pytest.fixture
def spy(monkeypatch):
    """Every call of the stage :func:`point2act.export.answer`, by the run layer or by an export from the run's
    cache: (channel, the Answer it returned)."""
    from point2act import export

    calls = []
    real = export.answer

    def answer(*a, **kw):
        ans = real(*a, **kw)
        calls.append((ans.channel, ans))
        return ans

    monkeypatch.setattr(export, "answer", answer)
    return calls


def _same(doc, ans):
    """grasps.json's answer fields are those of ``ans``."""
    assert doc["action_point"] == [float(v) for v in ans.action_point]
    assert doc["region"] == ans.region.to_dict()
    assert doc.get("confidence") == (round(ans.confidence, 4) if ans.confidence is not None else None)
    assert doc.get("candidates") == ans.candidates


def test_every_path_gives_the_answer_of_where(trained_synth, spy, tmp_path):
    from point2act.cli import Export, Query
    from point2act.method.export_run import where
    from point2act.method.pipelined import CHANNEL, capture_to_grasps
    from point2act.method.run_layer import load_run, open_run
    from point2act.method.viewer.panel import TRAINED_CHANNEL, Point2ActViewerPanel
    from point2act.pointing.config import PointerConfig

    root, scene, config, _ = trained_synth
    loaded = open_run(config)
    box = target_box(scene)

    # the one function, asked directly: the run's own answers (RUN/points.json), the views' consensus
    direct = where(config, loaded)
    assert direct.rule == "consensus" and direct.support is not None and not direct.note
    assert inside(direct.action_point, box), direct.action_point
    spy.clear()

    # point2act export
    Export(load_config=config, output=tmp_path / "export.json", grasps=False).main()
    assert [c for c, _ in spy] == [None]
    export = json.loads((tmp_path / "export.json").read_text())
    _same(export, spy[-1][1])
    assert export["action_point"] == [float(v) for v in direct.action_point]
    spy.clear()

    # point2act query --name x: the channel's answer, the document's action point and its keypoint alike
    Query(load_config=config, points_file=scene / "points" / "oracle.json", name="x", role="place",
          output=tmp_path / "query.json").main()
    assert [c for c, _ in spy] == ["x"]  # the keypoint of the grasp channel is the same answer, asked once
    query = json.loads((tmp_path / "query.json").read_text())
    _same(query, spy[-1][1])
    assert query["keypoints"]["x"]["action_point"] == query["action_point"]
    assert query["keypoints"]["x"]["region"] == query["region"]
    spy.clear()

    # the viewer's panel, on the run as ns-viewer loads it (nerfstudio's pipeline): its markers, trained and channel
    full = load_run(config)
    panel = Point2ActViewerPanel(full[1].model)
    panel._initial_markers = lambda: None
    panel.attach(SimpleNamespace(viser_server=None, log_filename=config.parent / "viewer_log_filename.txt",
                                 pipeline=full[1], trainer=None, _trigger_rerender=lambda: None))
    shown = panel.compute(grasps=False)
    assert [c for c, _ in spy] == [None]
    _same(shown, spy[-1][1])
    assert shown == export  # point2act export's options: the same document
    panel.select_channel("x")
    assert spy[-1][0] == "x"
    assert panel._state.result == query
    panel.select_channel(TRAINED_CHANNEL)
    spy.clear()

    # point2act demo's export: point2act export's document, grasps included, byte for byte
    from point2act.demo import export_demo

    Export(load_config=config, output=tmp_path / "export_grasps.json").main()
    export_demo(config, tmp_path / "demo.json", loaded)
    assert [c for c, _ in spy] == [None, None]
    assert (tmp_path / "demo.json").read_bytes() == (tmp_path / "export_grasps.json").read_bytes()
    spy.clear()

    # point2act grasp: the pointer (the oracle here) in the background, training (this run) in the foreground,
    # the refit of its channel, the export
    from point2act.method import run_layer as run_mod
    from point2act.method import train as train_mod

    cfg = yaml.load(config.read_text(), Loader=yaml.Loader)
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(train_mod, "train", lambda c: None)
        mp.setattr(run_mod, "trained_run", lambda c, t: loaded)
        r = capture_to_grasps(cfg, PointerConfig(backend="oracle", scene_dir=str(scene), cache_dir=str(tmp_path / "pc")),
                              PROMPT, tmp_path / "grasp.json", progress=False)
    finally:
        mp.undo()
    assert [c for c, _ in spy] == [CHANNEL]
    _same(r.grasps, spy[-1][1])
    assert inside(r.grasps["action_point"], box), r.grasps["action_point"]


def test_no_answers_is_the_relevancy_peak_and_says_so(trained_synth, tmp_path):
    """A channel that keeps no points has nothing for the views to agree on: the answer is the relevancy peak,
    with no confidence or candidates, and grasps.json's warning says why."""
    from point2act.channels import ChannelInfo, save_channel
    from point2act.export import Channels, ExportRequest
    from point2act.method.export_run import export_run, where
    from point2act.method.run_layer import open_run

    root, scene, config, _ = trained_synth
    loaded = open_run(config)
    rel = loaded.gaussians.params["relevancy"].detach().reshape(-1)
    save_channel(config, ChannelInfo("bare", "the trained relevancy, no points", "grasp"), rel, {"file": "x"})
    ans = where(config, loaded, ExportRequest(channels=Channels(grasp="bare")))
    assert ans.rule == "relevancy peak" and ans.support is None and ans.confidence is None
    assert ans.note == "channel 'bare' keeps no points"
    request = ExportRequest(grasps=False, channels=Channels(keypoints=("bare",), grasp="bare"))
    _, doc = export_run(config, request, tmp_path / "bare.json", loaded=loaded)
    assert "confidence" not in doc and "candidates" not in doc
    assert "no consensus of the views (channel 'bare' keeps no points)" in doc["warning"]
    assert doc["keypoints"]["bare"]["action_point"] == doc["action_point"]
    assert np.isfinite(doc["action_point"]).all()


def test_live_answer_is_computed_without_the_runs_cache(trained_synth):
    """The viewer during training asks with ``live``: the views' weights of the Gaussians as they are, neither
    read from nor written to the run's cache; on a finished run the answer is the cached one's."""
    from point2act import cache_file
    from point2act.method.export_run import where
    from point2act.method.run_layer import open_run

    root, scene, config, _ = trained_synth
    loaded = open_run(config)
    cached = where(config, loaded)
    cache = cache_file.cache_path(config)
    before = cache.stat().st_mtime_ns
    live = where(config, loaded, live=True)
    assert cache.stat().st_mtime_ns == before
    assert live.rule == "consensus"
    np.testing.assert_array_equal(live.action_point, cached.action_point)
    assert live.candidates == cached.candidates


def test_query_export_takes_the_refits_consensus_which_is_the_one_formed_again(trained_synth, monkeypatch):
    """``point2act query``'s refit forms the views' consensus on the channel's answers; its export takes it
    (:class:`point2act.method.supervision.ChannelSupport`) rather than forming it again, and it is the same answer: the
    same action point, region, confidence, candidates and support as :func:`where` forming it from the channel's
    points. Another channel, another resolution or a live run form their own."""
    from point2act.export import Channels, ExportRequest
    from point2act.grasp import GraspConfig
    from point2act.method import export_run as run_mod
    from point2act.method.export_run import where
    from point2act.method.requery_run import AnswerSource, Requery, query_run
    from point2act.method.run_layer import open_run

    root, scene, config, _ = trained_synth
    loaded = open_run(config)
    q = query_run(config, Requery("again", AnswerSource(points_file=scene / "points" / "oracle.json")), loaded=loaded)
    assert q.support is not None and q.support.name == "again"
    formed = []
    real = run_mod._channel_views
    monkeypatch.setattr(run_mod, "_channel_views", lambda *a, **k: formed.append(a) or real(*a, **k))
    taken = where(config, loaded, ExportRequest(channels=Channels(grasp="again")), known=q.support)
    assert formed == []
    again = where(config, loaded, ExportRequest(channels=Channels(grasp="again")))
    assert len(formed) == 1
    assert taken.rule == again.rule == "consensus"
    np.testing.assert_array_equal(taken.action_point, again.action_point)
    assert taken.region.to_dict() == again.region.to_dict()
    assert taken.confidence == again.confidence
    assert taken.candidates == again.candidates and taken.support_fields == again.support_fields
    for a, b in zip(taken.support.places, again.support.places, strict=True):
        np.testing.assert_array_equal(a.point, b.point)
        np.testing.assert_array_equal(a.footprint, b.footprint)
    # and the document, grasps included: the planning scene reads the same views' answers either way
    from point2act.export import Channels, ExportRequest
    from point2act.method.export_run import export_doc

    request = ExportRequest(channels=Channels(("again",), "again"))
    with_known = export_doc(config, request, loaded, known=q.support)
    formed_again = export_doc(config, request, loaded)
    for d in (with_known, formed_again):
        d.pop("timings_ms", None)
    assert with_known == formed_again
    other = GraspConfig()
    other.region.support_downscale = 1
    assert not q.support.fits("again", other.region, False)
    assert not q.support.fits("again", GraspConfig().region, True)
    assert not q.support.fits("other", GraspConfig().region, False)


def _project(transforms: dict, X: np.ndarray) -> dict:
    """Pixel (x, y) of the capture-frame point ``X`` in every frame of a nerfstudio transforms.json (OpenGL
    camera axes), or None where it falls outside the image or behind the camera."""
    out = {}
    for f in transforms["frames"]:
        c2w = np.asarray(f["transform_matrix"], dtype=np.float64)
        Xc = np.linalg.inv(c2w) @ np.r_[X, 1.0]
        x, y, z = Xc[0], -Xc[1], -Xc[2]  # OpenGL -> OpenCV
        fx, fy = f.get("fl_x", transforms.get("fl_x")), f.get("fl_y", transforms.get("fl_y"))
        cx, cy = f.get("cx", transforms.get("cx")), f.get("cy", transforms.get("cy"))
        w, h = f.get("w", transforms.get("w")), f.get("h", transforms.get("h"))
        u, v = fx * x / z + cx, fy * y / z + cy
        out[f["file_path"]] = [float(u), float(v)] if z > 0 and 0 <= u < w and 0 <= v < h else None
    return out


def test_the_field_is_fitted_to_the_answers_the_consensus_keeps(trained_synth, tmp_path):
    """A third of the answered views point at the ball instead of the handle (one wrong place, consistent across
    views). ``point2act query`` fits the channel to the answers the views' consensus keeps: the field's own most
    relevant region (no consensus asked) is on the handle, and the Gaussians at the ball carry less relevancy than
    a fit to every answer gives them."""
    from point2act.channels import load_channel
    from point2act.grasp import relevant_region
    from point2act.heatmap import resize_heatmap
    from point2act.losses import RELEVANCY_INIT_LOGIT, RELEVANCY_LOSS_FORM, RELEVANCY_POS_WEIGHT
    from point2act.method.requery_run import AnswerSource, Requery, query_run
    from point2act.method.run_layer import frame_of_run, gaussian_arrays, open_run
    from point2act.method.supervision import supervision_of, weights_cache_of
    from point2act.requery.weights_torch import subset
    from point2act.requery.fit_torch import FitSchedule, Objective, fit_relevancy

    root, scene, config, _ = trained_synth
    loaded = open_run(config)
    gt = json.loads((scene / "ground_truth.json").read_text())
    ball = next(o for o in gt["objects"] if o["name"] == "ball")
    ball_c = 0.5 * (np.asarray(ball["bbox_min"], float) + np.asarray(ball["bbox_max"], float))
    at_ball = _project(json.loads((scene / "transforms.json").read_text()), ball_c)
    pf = json.loads((scene / "points" / "oracle.json").read_text())
    answered = [k for k, v in pf["points"].items() if v and at_ball.get(k)]
    wrong = answered[::3]
    pf["points"].update({k: [at_ball[k]] for k in wrong})
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps(pf))
    q = query_run(config, Requery("mixed", AnswerSource(points_file=mixed)), loaded=loaded)
    rec = load_channel(config, "mixed", q.logits.numel())
    assert rec["fitted_to"]["rule"] == "consensus"
    assert rec["fitted_to"]["answers_kept"] <= rec["fitted_to"]["answers"] - len(wrong) + 1

    arrays = gaussian_arrays(loaded.gaussians)
    means = frame_of_run(config, loaded).to_capture(arrays["means"])
    rel_kept = 1.0 / (1.0 + np.exp(-q.logits.double().numpy()))
    region = relevant_region(means, arrays["opacities"], rel_kept)
    assert inside(region.action_point, target_box(scene))
    # the same fit to every answer, for comparison
    g, sup = loaded.gaussians, supervision_of(config, loaded, mixed)
    cache, _, _ = weights_cache_of(g, sup.cameras, 2, min_weight=1e-3)
    sub = subset(cache, sorted(sup.heatmaps))
    targets = [resize_heatmap(sup.heatmaps[int(v)].float(), h, w) for v, (h, w) in zip(sub.view_ids, sub.sizes)]
    every = fit_relevancy(sub, targets, Objective(RELEVANCY_LOSS_FORM, RELEVANCY_POS_WEIGHT, RELEVANCY_INIT_LOGIT),
                          FitSchedule(steps=16, lr=1.0, lr_final=0.1))
    rel_all = 1.0 / (1.0 + np.exp(-every.logits.double().numpy()))
    near_ball = (np.linalg.norm(means - ball_c, axis=1) < 0.03) & (arrays["opacities"] > 0.3)
    assert near_ball.sum() >= 5
    assert rel_kept[near_ball].max() < 0.5 * rel_all[near_ball].max()
