"""Output safety of the grasp head, property-based (hypothesis): whatever the field -- random clouds,
degenerate ones (empty, all-zero relevancy, collinear, coplanar, duplicated points, NaN entries),
tiny or huge ``metres_per_unit`` -- ``plan_grasps`` either raises the documented ``ValueError``
(no relevant region) or returns grasps that are finite, properly rotated (det +1, RᵀR = I),
whose quaternion is the rotation (checked with the textbook closed form), whose opening is within
the gripper's, and whose document is valid ``point2act.grasps/1`` JSON (an empty one with a warning).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("open3d")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from point2act.grasp import GraspConfig, GripperConfig, PlanningScene, plan_grasps, validate_grasps_dict  # noqa: E402
from point2act.grasp.config import MIN_WIDTH  # noqa: E402
from point2act.grasp.geometry import orthonormal_basis, rotation_to_quaternion_wxyz  # noqa: E402
from point2act.grasp.candidates import sample_contact_pairs  # noqa: E402
from point2act.grasp.synthetic import TabletopSampling, tabletop_scene  # noqa: E402
from point2act.io import write_json_atomic  # noqa: E402
from closed_forms import quat_to_matrix_closed_form  # noqa: E402  (tests/closed_forms.py)

SPARSE = TabletopSampling(object_density=40_000.0, table_density=20_000.0, num_floaters=30)
"""The mug scene sampled sparsely (fast; the scale properties do not need density)."""
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])




def check_result(result, cfg: GraspConfig, tmp_path):
    """The invariants every plan_grasps output must satisfy, on the objects and on the JSON."""
    g = cfg.gripper
    mpu = g.metres_per_unit
    max_open_units = g.max_opening / mpu
    assert np.isfinite(result.region.action_point).all()
    for gr in result.grasps:
        R = np.asarray(gr.rotation, dtype=np.float64)
        assert np.isfinite(gr.position).all() and np.isfinite(R).all()
        assert abs(np.linalg.det(R) - 1.0) < 1e-5
        assert np.allclose(R.T @ R, np.eye(3), atol=1e-5)
        q = gr.quaternion_wxyz
        assert np.isfinite(q).all() and abs(np.linalg.norm(q) - 1) < 1e-6 and q[0] >= 0
        assert np.allclose(quat_to_matrix_closed_form(q), R, atol=1e-5)
        assert 0 <= gr.opening <= max_open_units * (1 + 1e-9)
        for s in (gr.score, gr.semantic_score, gr.geometric_score):
            assert math.isfinite(s) and -1e-9 <= s <= 1 + 1e-9
    d = result.to_dict("p")
    path = write_json_atomic(tmp_path / "grasps.json", d)  # allow_nan=False: a NaN anywhere would raise
    d = json.loads(path.read_text())
    validate_grasps_dict(d)
    assert d["metres_per_unit"] == mpu
    for gj in d["grasps"]:
        assert gj["width"] <= g.max_opening * (1 + 1e-9)
        assert gj["width_capture_units"] <= max_open_units * (1 + 1e-9)
        assert math.isclose(gj["width"], gj["width_capture_units"] * mpu, rel_tol=1e-9)
    if not d["grasps"]:
        assert isinstance(d.get("warning"), str) and d["warning"]


def plan_or_no_region(means, opac, rel, cfg, **kw):
    """plan_grasps, or None when it raises its documented ValueError (no relevant region)."""
    try:
        return plan_grasps(PlanningScene(means, opac, rel, **kw), cfg)
    except ValueError as e:
        msg = str(e)
        assert "region" in msg or "relevan" in msg or "opacity" in msg, msg
        event("no relevant region (ValueError)")
        return None


# ----------------------------------------------------------------------------------------------
# strategies
# ----------------------------------------------------------------------------------------------
SHAPES = ("random", "sphere", "sphere", "collinear", "coplanar", "duplicates", "single_point", "empty")


@st.composite
def fields(draw):
    """A random (often degenerate) Gaussian field and a gripper scale."""
    shape = draw(st.sampled_from(SHAPES))
    n = 0 if shape == "empty" else draw(st.integers(1, 600 if shape == "sphere" else 250))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    log_mpu = draw(st.floats(-4.0, 3.0))  # 1e-4 .. 1e3 metres per capture unit
    mpu = float(10.0**log_mpu)
    # the scene's extent in metres (around a gripper's size or far from it), then in capture units
    extent_m = float(10.0 ** draw(st.floats(-3.0, 1.0)))
    ext = extent_m / mpu
    if shape == "random":
        means = rng.uniform(-ext, ext, (n, 3))
    elif shape == "sphere":  # a graspable object (1-5 cm radius), sampled on its surface
        d = rng.normal(size=(n, 3))
        means = d / np.linalg.norm(d, axis=1, keepdims=True) * draw(st.floats(0.01, 0.05)) / mpu
    elif shape == "collinear":
        d = rng.normal(size=3)
        means = rng.uniform(-ext, ext, (n, 1)) * d / np.linalg.norm(d) + rng.normal(size=3) * ext
    elif shape == "coplanar":
        u, v = orthonormal_basis(rng.normal(size=(1, 3)) / 1.0)
        means = rng.uniform(-ext, ext, (n, 1)) * u + rng.uniform(-ext, ext, (n, 1)) * v
    elif shape == "duplicates":
        base = rng.uniform(-ext, ext, (max(1, n // 10), 3))
        means = base[rng.integers(0, len(base), n)]
    elif shape == "single_point":
        means = np.repeat(rng.uniform(-ext, ext, (1, 3)), n, 0)
    else:
        means = np.zeros((0, 3))
    opac = rng.uniform(0, 1, n)
    rel_kind = draw(st.sampled_from(("uniform", "zero", "one", "sparse", "blob")))
    if rel_kind == "uniform":
        rel = rng.uniform(0, 1, n)
    elif rel_kind == "zero":
        rel = np.zeros(n)
    elif rel_kind == "one":
        rel = np.ones(n)
    elif rel_kind == "sparse":
        rel = (rng.uniform(0, 1, n) < 0.1).astype(float)
    else:
        c = means[rng.integers(0, n)] if n else np.zeros(3)
        rel = np.exp(-np.sum((means - c) ** 2, 1) / (2 * (0.2 * ext) ** 2))
    if n and draw(st.booleans()):  # NaN / inf entries
        k = draw(st.integers(1, max(1, n // 5)))
        for arr in (means, opac, rel):
            idx = rng.integers(0, n, k)
            if arr.ndim == 2:
                arr[idx, rng.integers(0, 3, k)] = np.nan
            else:
                arr[idx] = draw(st.sampled_from((np.nan, np.inf, -np.inf)))
    scales = np.abs(rng.normal(size=(n, 3))) * 0.01 * ext if draw(st.booleans()) else None
    return means, opac, rel, scales, mpu


# ----------------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------------
@settings(max_examples=50, **SETTINGS)
@given(fields())
def test_random_and_degenerate_fields_never_give_an_unsafe_grasp(tmp_path_factory, field_):
    means, opac, rel, scales, mpu = field_
    cfg = GraspConfig(gripper=GripperConfig(metres_per_unit=mpu), num_candidates=64)
    result = plan_or_no_region(means, opac, rel, cfg, scales=scales)
    if result is not None:
        event("grasps" if result.grasps else "empty result")
        check_result(result, cfg, tmp_path_factory.mktemp("g"))


@st.composite
def scaled_tabletops(draw):
    """The synthetic mug scene at a random scale (capture units = metres / mpu), perturbed."""
    seed = draw(st.integers(0, 3))
    mpu = float(10.0 ** draw(st.floats(-3.0, 3.0)))
    s = tabletop_scene(seed=seed, sampling=SPARSE, scale=1.0 / mpu)
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    rel = np.clip(s["relevancy"] + rng.normal(0, draw(st.floats(0.0, 0.3)), len(s["relevancy"])), 0, 1)
    means = s["means"].copy()
    if draw(st.booleans()):
        idx = rng.integers(0, len(means), 20)
        means[idx, 0] = np.nan
        rel[rng.integers(0, len(rel), 20)] = np.nan
    return means, s["opacities"], rel, s["scales"], s["camera_centers"], mpu


@settings(max_examples=20, **SETTINGS)
@given(scaled_tabletops())
def test_tabletop_at_any_scale_gives_safe_grasps(tmp_path_factory, scene):
    means, opac, rel, scales, cams, mpu = scene
    cfg = GraspConfig(gripper=GripperConfig(metres_per_unit=mpu))
    result = plan_or_no_region(means, opac, rel, cfg, scales=scales, camera_centers=cams)
    assert result is not None  # the handle is clearly relevant at every scale
    event("grasps" if result.grasps else "empty result")
    check_result(result, cfg, tmp_path_factory.mktemp("g"))


def test_tabletop_gives_grasps_at_tiny_and_huge_scales(tmp_path):
    """Not vacuous: the scaled scene does produce grasps, the same ones up to the scale."""
    widths = {}
    for mpu in (1e-3, 1.0, 1e3):
        s = tabletop_scene(seed=0, sampling=SPARSE, scale=1.0 / mpu)
        cfg = GraspConfig(gripper=GripperConfig(metres_per_unit=mpu))
        r = plan_grasps(PlanningScene(s["means"], s["opacities"], s["relevancy"], scales=s["scales"],
                                      camera_centers=s["camera_centers"]), cfg)
        assert r.grasps, (mpu, r.warning)
        check_result(r, cfg, tmp_path)
        widths[mpu] = sorted(round(g.opening * mpu, 6) for g in r.grasps)
    assert widths[1e-3] == widths[1.0] == widths[1e3]


@settings(max_examples=50, **SETTINGS)
@given(st.integers(2, 200), st.integers(0, 2**31 - 1), st.floats(-3.0, 3.0), st.booleans())
def test_contact_pairs_with_random_normals_stay_within_the_opening(n, seed, log_mpu, duplicate):
    rng = np.random.default_rng(seed)
    mpu = 10.0**log_mpu
    cfg = GraspConfig(gripper=GripperConfig(metres_per_unit=mpu))
    pts = rng.uniform(-0.1, 0.1, (n, 3)) / mpu
    if duplicate:
        pts[n // 2 :] = pts[: n - n // 2]
    nrm = rng.normal(size=(n, 3))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    seeds = np.arange(n)
    a, b, q = sample_contact_pairs(pts, nrm, seeds, cfg)
    assert len(a) == len(b) == len(q)
    if len(a):
        assert np.all(a < b)
        w = np.linalg.norm(pts[b] - pts[a], axis=1) * mpu
        assert np.all(w <= cfg.gripper.max_opening * (1 + 1e-9)) and np.all(w >= MIN_WIDTH * (1 - 1e-9))
        assert np.all(np.isfinite(q)) and np.all((q >= 0) & (q <= 1 + 1e-12))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contact_pairs_do_not_depend_on_the_arrays_alignment(seed):
    """The same points and normals at another address (BLAS picks other kernels for unaligned data): the
    same pairs, to the bit. The dense products are only a loose prefilter; exact tests decide."""
    rng = np.random.default_rng(seed)
    n = 3000
    pts = rng.uniform(-0.06, 0.06, (n, 3))
    nrm = rng.normal(size=(n, 3))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    seeds = np.sort(rng.choice(n, 400, replace=False))
    cfg = GraspConfig()
    ref = sample_contact_pairs(pts, nrm, seeds, cfg)
    assert len(ref[0]) > 100
    for shift in (1, 3):
        buf = np.empty(n * 6 + shift)
        p2 = buf[shift : shift + 3 * n].reshape(n, 3)
        n2 = buf[shift + 3 * n : shift + 6 * n].reshape(n, 3)
        p2[:], n2[:] = pts, nrm
        out = sample_contact_pairs(p2, n2, seeds, cfg)
        for a, b in zip(ref, out):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("log_mpu", [-3.0, 0.0, 2.0])
def test_contact_pairs_kernel_gives_the_dense_reference_pairs(seed, log_mpu, monkeypatch):
    """The C++ prefilter (csrc/contact_pairs.cpp) and the dense numpy one: the same pairs, to the bit, on a
    box's faces with noisy normals, at several scales (the prefilter's slack is relative)."""
    from point2act.grasp import candidates
    from point2act.grasp._kernel import load_extension

    try:
        assert hasattr(load_extension(), "contact_candidates")
    except RuntimeError as e:  # pragma: no cover - no compiler here
        pytest.skip(f"no CPU extension: {e}")
    rng = np.random.default_rng(seed)
    mpu = 10.0**log_mpu
    n = 4000
    pts = rng.uniform(-0.03, 0.03, (n, 3))
    face = rng.integers(0, 3, n)
    side = np.where(rng.random(n) < 0.5, -0.03, 0.03)
    pts[np.arange(n), face] = side  # on the faces of a 6 cm cube
    nrm = np.zeros((n, 3))
    nrm[np.arange(n), face] = np.sign(side)
    nrm += rng.normal(0, 0.1, (n, 3))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    pts /= mpu
    seeds = np.sort(rng.choice(n, 500, replace=False))
    cfg = GraspConfig(gripper=GripperConfig(metres_per_unit=mpu))
    out = sample_contact_pairs(pts, nrm, seeds, cfg)
    monkeypatch.setattr(candidates, "contact_candidates", candidates.contact_candidates_reference)
    ref = sample_contact_pairs(pts, nrm, seeds, cfg)
    assert len(ref[0]) > 300
    for a, b in zip(ref, out):
        assert np.array_equal(a, b)


def test_empty_result_is_a_valid_schema_file_with_a_warning(tmp_path):
    """A relevant region on a flat, thin patch: nothing to close on. `grasps: []` with a warning."""
    rng = np.random.default_rng(0)
    means = np.c_[rng.uniform(-0.02, 0.02, (400, 2)), np.zeros(400)]  # a sheet: no antipodal pairs
    rel = np.ones(400)
    r = plan_grasps(PlanningScene(means, np.ones(400), rel), GraspConfig())
    assert r.grasps == [] and r.warning
    check_result(r, GraspConfig(), tmp_path)
    d = json.loads((tmp_path / "grasps.json").read_text())
    assert d["grasps"] == [] and d["warning"] == r.warning and d["schema"] == "point2act.grasps/1"


@pytest.mark.parametrize("case", ["empty", "all_zero", "all_nan"])
def test_no_relevant_region_is_the_documented_value_error(case):
    n = 0 if case == "empty" else 50
    means = np.random.default_rng(0).uniform(-0.05, 0.05, (n, 3))
    rel = np.zeros(n) if case != "all_nan" else np.full(n, np.nan)
    with pytest.raises(ValueError):
        plan_grasps(PlanningScene(means, np.ones(n), rel), GraspConfig())


def test_quaternion_closed_form_reference_agrees_with_product_on_random_rotations():
    """The reference used above is itself right: random rotations round-trip through both."""
    rng = np.random.default_rng(1)
    q = rng.normal(size=(200, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    for qi in q:
        R = quat_to_matrix_closed_form(qi)
        q2 = rotation_to_quaternion_wxyz(R)
        assert np.allclose(quat_to_matrix_closed_form(q2), R, atol=1e-12)
        assert min(np.abs(q2 - qi).max(), np.abs(q2 + qi).max()) < 1e-9
