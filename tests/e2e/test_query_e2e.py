"""Re-query end to end on the shared short synthetic training run (tests/conftest.py:
``ns-train point2act``, oracle points on the mug handle): a distractor query lands on the
distractor, leaves the checkpoint and the other channels alone, exports together with them, and the
fast refit agrees with the full training's relevancy."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import point2act_cli

pytestmark = pytest.mark.slow

DISTRACTOR = "ball"
# fast refit (16 steps, 1/2 resolution) vs the trained relevancy of the same points: action points
# within 1.5 cm. Measured 8.3 mm on this 200-iteration run, where a 200-step refit is 8.6 mm away:
# the difference is the short training's own unconverged relevancy (on the 1000-iteration run of
# benchmarks/bench_query_vs_train.py it is ~2 mm). The handle is ~3 x 3 x 7 cm.
AGREEMENT_M = 0.015


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _bbox(scene: Path, name: str, grow: float = 0.01):
    gt = json.loads((scene / "ground_truth.json").read_text())
    obj = next(o for o in gt["objects"] if o["name"] == name)
    return np.asarray(obj["bbox_min"]) - grow, np.asarray(obj["bbox_max"]) + grow


def _inside(p, box) -> bool:
    return bool(np.all(np.asarray(p) >= box[0]) and np.all(np.asarray(p) <= box[1]))


def _oracle_scene_aimed_at(scene: Path, part: str, out: Path) -> Path:
    """A view of the synthetic scene whose oracle targets ``part``: the same frames and part masks
    (symlinked), ground_truth.json with ``target_part_id`` set to that part."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("transforms.json", "masks"):
        (out / name).symlink_to(scene / name)
    gt = json.loads((scene / "ground_truth.json").read_text())
    pid = next(p["id"] for p in gt["parts"] if p["name"] == part)
    gt["target_part_id"] = pid
    gt["parts"] = [dict(p, role="target" if p["id"] == pid else ("context" if p["role"] == "target" else p["role"]))
                   for p in gt["parts"]]
    (out / "ground_truth.json").write_text(json.dumps(gt))
    return out


@pytest.fixture(scope="module")
def queried(trained_synth, tmp_path_factory):
    """Two queries on the trained run: 'handle' (the training's own points file) and 'ball' (the
    oracle pointer aimed at the ball), with hashes of the checkpoint and the handle channel taken
    before the ball query."""
    from point2act.method.run_layer import load_run, run_of
    from point2act.pointing.config import PointerConfig
    from point2act.channels import channels_dir
    from point2act.method.run_layer import latest_checkpoint
    from point2act.method.requery_run import AnswerSource, Requery, query_run

    root, scene, config, _ = trained_synth
    config_ns, pipeline = load_run(config)  # nerfstudio's pipeline, as the viewer holds it
    loaded = run_of(config_ns, pipeline)
    ckpt = latest_checkpoint(loaded)
    ckpt_sha = _sha(ckpt)
    handle = query_run(config, Requery("handle", AnswerSource(points_file=scene / "points" / "oracle.json")), loaded=loaded)
    handle_sha = _sha(channels_dir(config) / "handle.npz")
    tmp = tmp_path_factory.mktemp("query")
    pointer = PointerConfig(backend="oracle", scene_dir=str(_oracle_scene_aimed_at(scene, DISTRACTOR, tmp / "oracle")),
                            cache_dir=str(tmp / "pointer_cache"))
    ball = query_run(config, Requery(DISTRACTOR, AnswerSource(prompt="Point to the ball", pointer=pointer)), loaded=loaded)
    return {"root": root, "scene": scene, "config": config, "loaded": loaded, "pipeline": pipeline, "ckpt": ckpt,
            "ckpt_sha": ckpt_sha,
            "handle": handle, "handle_sha": handle_sha, "ball": ball}


def _keypoint(config, loaded, names):
    from point2act.export import Channels, ExportRequest
    from point2act.method.export_run import export_run

    _, d = export_run(config, ExportRequest(grasps=False, channels=Channels(tuple(names))), loaded=loaded)
    return d


def test_distractor_query_lands_on_the_distractor(queried):
    q = queried["ball"]
    assert q.role == "grasp" and q.prompt == "Point to the ball" and q.num_views >= 10
    d = _keypoint(queried["config"], queried["loaded"], [DISTRACTOR])
    ap = d["keypoints"][DISTRACTOR]["action_point"]
    assert _inside(ap, _bbox(queried["scene"], DISTRACTOR)), ap
    assert not _inside(ap, _bbox(queried["scene"], "mug_handle")), ap
    # the trained channel of the same export is still the handle's
    assert _inside(d["action_point"], _bbox(queried["scene"], "mug_handle")), d["action_point"]


def test_checkpoint_and_other_channels_unchanged(queried):
    from point2act.channels import channels_dir, list_channels, load_channel

    config = queried["config"]
    assert _sha(queried["ckpt"]) == queried["ckpt_sha"]  # the query never writes the checkpoint
    assert _sha(channels_dir(config) / "handle.npz") == queried["handle_sha"]
    assert {"handle", DISTRACTOR} <= set(list_channels(config))
    n = queried["loaded"].gaussians.num_points
    assert load_channel(config, "handle", n)["prompt"] == "Point to the handle of the mug"
    # a freshly loaded model still has the trained relevancy (the checkpoint's)
    import torch

    state = torch.load(queried["ckpt"], map_location="cpu", weights_only=False)["pipeline"]
    key = next(k for k in state if k.endswith("gauss_params.relevancy"))
    assert torch.equal(state[key].reshape(-1), queried["loaded"].gaussians.params["relevancy"].detach().reshape(-1))


def test_channels_export_together_with_the_cli(queried):
    out = queried["root"] / "grasps_channels.json"
    p = point2act_cli(["export", "--load-config", queried["config"], "--output", out,
                       "--channels", f"handle,{DISTRACTOR}", "--no-grasps"], cwd=queried["root"])
    data = json.loads(out.read_text())
    assert data["schema"] == "point2act.grasps/1", p.stdout
    kp = data["keypoints"]
    assert set(kp) == {"handle", DISTRACTOR}
    assert kp["handle"]["prompt"] == "Point to the handle of the mug" and kp[DISTRACTOR]["prompt"] == "Point to the ball"
    assert _inside(kp["handle"]["action_point"], _bbox(queried["scene"], "mug_handle"))
    assert _inside(kp[DISTRACTOR]["action_point"], _bbox(queried["scene"], DISTRACTOR))
    for k in kp.values():
        assert k["role"] == "grasp" and "region" in k


def test_fast_refit_agrees_with_the_trained_relevancy(queried):
    """The trained run's relevancy (ns-train, 200 iterations on the oracle's handle points) and the
    fast refit of the same points file: the fields' relevancy peaks (the cluster with the most relevancy
    mass, :func:`point2act.grasp.relevant_region` without the views) within AGREEMENT_M; and the answers to
    "where", the views' consensus over the same points, are the same place."""
    from point2act.grasp import GraspConfig, relevant_region
    from point2act.method.run_layer import gaussian_arrays, run_frame
    from point2act.channels import channel_relevancy

    config, loaded = queried["config"], queried["loaded"]
    arrays = gaussian_arrays(loaded.gaussians)
    means = run_frame(loaded).to_capture(arrays["means"])
    full = relevant_region(means, arrays["opacities"], arrays["relevancy"], GraspConfig()).action_point
    fast = relevant_region(means, arrays["opacities"], channel_relevancy(config, "handle", len(means)),
                           GraspConfig()).action_point
    dist = float(np.linalg.norm(full - fast))
    print(f"fast vs trained relevancy peak: {dist * 1000:.1f} mm")
    assert dist < AGREEMENT_M, (full, fast)
    box = _bbox(queried["scene"], "mug_handle")
    assert _inside(full, box) and _inside(fast, box)
    d = _keypoint(config, loaded, ["handle"])
    assert d["keypoints"]["handle"]["action_point"] == d["action_point"]


def test_query_exports_its_keypoint_at_its_action_point(queried, tmp_path):
    """`point2act query --name X`: grasps_X.json's keypoints[X] is its own action point and region (one answer
    to "where", the views' consensus over the points X was fitted to), on the handle, with grasps."""
    out = tmp_path / "grasps_again.json"
    point2act_cli(["query", "--load-config", queried["config"], "--points-file",
                   queried["scene"] / "points" / "oracle.json", "--name", "again", "--output", out], cwd=queried["root"])
    d = json.loads(out.read_text())
    assert d["keypoints"]["again"]["action_point"] == d["action_point"]
    assert d["keypoints"]["again"]["region"] == d["region"]
    assert d["confidence"] > 0.5 and d["candidates"] and d["grasps"], d.get("warning")
    assert _inside(d["action_point"], _bbox(queried["scene"], "mug_handle")), d["action_point"]


def test_click_on_the_handle_points_every_view_and_grasps_there(queried, tmp_path):
    """Click-to-point without any model: a ray through a handle pixel of one training view hits the
    handle, becomes a points file for every view ([] where hidden), and the refit channel's action
    point and grasps are on the handle."""
    from point2act.geometry import FrameTransform
    from point2act.io import write_json_atomic
    from point2act.method.click import click_points_for_run
    from point2act.export import Channels, ExportRequest
    from point2act.method.export_run import export_run
    from point2act.method.requery_run import AnswerSource, Requery, query_run
    from point2act.method.run_layer import run_frame
    from point2act.points import load_points_file

    config, loaded, scene = queried["config"], queried["loaded"], queried["scene"]
    pipeline = queried["pipeline"]
    oracle = json.loads((scene / "points" / "oracle.json").read_text())["points"]
    keys = pipeline.datamanager._image_keys(pipeline.datamanager.train_dataset)
    i = next(k for k, key in enumerate(keys) if oracle.get(key))
    x, y = oracle[keys[i]][0]
    cam = pipeline.datamanager.train_dataset.cameras[i]
    c2w = cam.camera_to_worlds.numpy().astype(np.float64)
    d_cam = np.array([(x - float(cam.cx)) / float(cam.fx), -(y - float(cam.cy)) / float(cam.fy), -1.0])  # OpenGL axes
    origin, direction = c2w[:3, 3], c2w[:3, :3] @ d_cam
    points, hit = click_points_for_run(pipeline, origin, direction)
    handle = _bbox(scene, "mug_handle")
    assert _inside(hit, handle), hit
    seen = [k for k, v in points["points"].items() if v]
    hidden = [k for k, v in points["points"].items() if not v]
    assert keys[i] in seen and len(seen) >= 5 and hidden  # the handle is hidden behind the mug in some views
    path = tmp_path / "click.json"
    write_json_atomic(path, points)
    assert load_points_file(path).coordinates == "normalized"
    res = query_run(config, Requery("click", AnswerSource(points_file=path)), loaded=loaded)
    assert res.num_views == len(keys)
    request = ExportRequest(channels=Channels(grasp="click"))
    _, d = export_run(config, request, tmp_path / "grasps_click.json", loaded=loaded)
    assert _inside(d["action_point"], handle), d["action_point"]
    assert d["grasps"], d.get("warning")
    assert isinstance(run_frame(loaded), FrameTransform)
