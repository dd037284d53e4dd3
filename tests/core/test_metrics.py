"""Tests of core.metrics against values worked out by hand on small, realistic tracks."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from core import metrics
from core.errors import ValidationError
from core.landmarks import POINTS_49, mean_shape

IOD = 100.0  # the mean shape's outer eye corners are 1 unit apart: scaled by 100 px
# Tight box of the mean shape: x in [-0.9, 0.9] (jaw ends), y in [-0.25 (brow), 1.22 (chin)].
BOX_W, BOX_H = 180.0, 147.0
FACE = max(BOX_W, BOX_H)  # σ1's face size, px


def face() -> np.ndarray:
    """A frontal face with a 100 px inter-ocular distance, well inside a 640x480 frame."""
    return mean_shape().astype(np.float64) * IOD + np.array([320.0, 200.0])


def static_track(n: int) -> np.ndarray:
    return np.repeat(face()[None], n, axis=0)


# ----------------------------------------------------------------------------- NME


def test_face_geometry_matches_hand_values() -> None:
    g = face()
    assert metrics.normalisation_distance(g)[0] == pytest.approx(IOD, rel=1e-6)
    assert metrics.face_size(g)[0] == pytest.approx(FACE, rel=1e-6)


def test_nme_of_a_translated_shape_is_offset_over_iod() -> None:
    g = face()
    p = g + np.array([3.0, 4.0])  # every point 5 px off
    assert metrics.nme(p, g) == pytest.approx(5.0 / IOD, rel=1e-6)
    assert isinstance(metrics.nme(p, g), float)


def test_nme_other_normalisations() -> None:
    g = face()
    p = g + np.array([3.0, 4.0])
    # Right-eye centroid x = -(0.5 + 0.19 + 2(0.5 - t) + 2(0.5 - 2t)) / 6 with t = 0.31/3
    # = -(2.69 - 0.62) / 6 = -0.345; the left eye mirrors it at the same y: 0.69 IOD apart.
    assert metrics.nme(p, g, normalisation="inter-pupil") == pytest.approx(
        5.0 / (IOD * 0.69), rel=1e-5)
    assert metrics.nme(p, g, normalisation="box") == pytest.approx(
        5.0 / math.sqrt(BOX_W * BOX_H), rel=1e-5)
    assert metrics.nme(p, g, normalisation="diagonal") == pytest.approx(
        5.0 / math.hypot(BOX_W, BOX_H), rel=1e-5)


def test_nme_per_frame_track() -> None:
    g = static_track(4)
    offsets = np.array([0.0, 1.0, 2.0, 8.0])
    p = g + offsets[:, None, None] * np.array([1.0, 0.0])
    out = metrics.nme(p, g)
    assert out.shape == (4,)
    np.testing.assert_allclose(out, offsets / IOD, rtol=1e-6)


def test_nme_49_subset_excludes_jaw_and_inner_mouth_corners() -> None:
    g = face()
    p = g.copy()
    p[0:17] += np.array([0.0, 20.0])  # jaw 20 px off
    p[[60, 64]] += np.array([10.0, 0.0])  # inner mouth corners 10 px off
    assert metrics.nme(p, g, subset="49") == pytest.approx(0.0, abs=1e-12)
    assert metrics.nme(p, g, subset=POINTS_49) == pytest.approx(0.0, abs=1e-12)
    assert metrics.nme(p, g) == pytest.approx((17 * 20 + 2 * 10) / 68 / IOD, rel=1e-6)
    assert metrics.nme(p, g, subset=[0, 1]) == pytest.approx(20.0 / IOD, rel=1e-6)


def test_nme_visibility_mask_leaves_points_out() -> None:
    g = face()
    p = g.copy()
    p[0:10] += np.array([10.0, 0.0])
    visible = np.ones(68, dtype=bool)
    assert metrics.nme(p, g, visible=visible) == pytest.approx(10 * 10 / 68 / IOD, rel=1e-6)
    visible[0:10] = False
    assert metrics.nme(p, g, visible=visible) == pytest.approx(0.0, abs=1e-12)
    # Per frame: frame 1 sees only the perturbed points; frame 2 sees nothing -> NaN.
    track_p, track_g = np.stack([p, p, p]), np.stack([g, g, g])
    vis = np.ones((3, 68), dtype=bool)
    vis[1, 10:] = False
    vis[2] = False
    out = metrics.nme(track_p, track_g, visible=vis)
    np.testing.assert_allclose(out[:2], [10 * 10 / 68 / IOD, 10.0 / IOD], rtol=1e-6)
    assert np.isnan(out[2])


def test_nme_bad_input_names_argument_and_frame() -> None:
    g = static_track(3)
    with pytest.raises(ValidationError, match="pred"):
        metrics.nme(np.zeros((3, 67, 2)), g)
    with pytest.raises(ValidationError, match="differ in shape"):
        metrics.nme(g[:2], g)
    bad = g.copy()
    bad[2, 5, 0] = np.nan
    with pytest.raises(ValidationError, match=r"gt: .*frame 2"):
        metrics.nme(g, bad)
    collapsed = g.copy()
    collapsed[1, 45] = collapsed[1, 36]
    with pytest.raises(ValidationError, match=r"inter-ocular distance is zero in frame 1"):
        metrics.nme(g, collapsed)
    with pytest.raises(ValidationError, match="normalisation"):
        metrics.nme(g, g, normalisation="ears")
    with pytest.raises(ValidationError, match="subset"):
        metrics.nme(g, g, subset="50")
    with pytest.raises(ValidationError, match="visible"):
        metrics.nme(g, g, visible=np.ones((2, 68), dtype=bool))


# ----------------------------------------------------------------------------- CED / AUC / FR


def test_auc_by_hand() -> None:
    # CED of [0, 0.04]: 0.5 on [0, 0.04), 1 on [0.04, 0.08]: area 0.02 + 0.04 = 0.06 -> 0.75.
    assert metrics.auc([0.0, 0.04], 0.08) == pytest.approx(0.75)
    # [0.02, 0.1]: 0 on [0, 0.02), 0.5 on [0.02, 0.08]: area 0.03 -> 0.375.
    assert metrics.auc([0.02, 0.1]) == pytest.approx(0.375)
    assert metrics.auc([0.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert metrics.auc([0.08, 0.5]) == pytest.approx(0.0)


def test_auc_matches_a_fine_integral_of_the_ced() -> None:
    rng = np.random.default_rng(3)
    errors = rng.gamma(2.0, 0.02, size=200)
    grid = np.linspace(0.0, 0.08, 200_001)
    _, fractions = metrics.cumulative_error_distribution(errors, grid)
    trapezoid = float(((fractions[1:] + fractions[:-1]) / 2 * np.diff(grid)).sum() / 0.08)
    assert metrics.auc(errors) == pytest.approx(trapezoid, abs=1e-4)


def test_ced_breakpoints_and_failure_rate() -> None:
    errors = [0.05, 0.01, 0.05, 0.2]
    xs, fractions = metrics.cumulative_error_distribution(errors)
    np.testing.assert_allclose(xs, [0.01, 0.05, 0.2])
    np.testing.assert_allclose(fractions, [0.25, 0.75, 1.0])
    _, at = metrics.cumulative_error_distribution(errors, [0.0, 0.05, 0.1])
    np.testing.assert_allclose(at, [0.0, 0.75, 0.75])
    assert metrics.failure_rate(errors) == pytest.approx(0.25)
    assert metrics.failure_rate(errors, 0.05) == pytest.approx(0.25)  # 0.05 is not > 0.05
    assert metrics.failure_rate(errors, 0.04) == pytest.approx(0.75)


def test_ced_rejects_bad_errors() -> None:
    with pytest.raises(ValidationError, match="frame 1"):
        metrics.auc([0.01, float("nan")])
    with pytest.raises(ValidationError, match="frame 0"):
        metrics.failure_rate([-0.1])
    with pytest.raises(ValidationError, match="threshold"):
        metrics.auc([0.01], 0.0)


# ----------------------------------------------------------------------------- stability


def test_sigma1_of_alternating_jitter() -> None:
    g = static_track(10)
    a = 0.9
    signs = (-1.0) ** np.arange(10)
    p = g + a * signs[:, None, None] * np.array([1.0, 0.0])
    # r_t = a(-1)^t - (a(-1)^(t-1) + a(-1)^(t+1)) / 2 = 2a(-1)^t -> |r| = 1.8 px = FACE / 100.
    assert metrics.stability_sigma1(p, g) == pytest.approx(2 * a / (FACE / 100), rel=1e-6)
    assert metrics.stability_sigma1(g) == pytest.approx(0.0, abs=1e-12)


def test_sigma1_of_a_sinusoid() -> None:
    amplitude, n = 1.5, 10  # centres t = 1..8: two full periods of sin(pi t / 2)
    t = np.arange(n)
    g = static_track(n)
    p = g + (amplitude * np.sin(np.pi * t / 2))[:, None, None] * np.array([0.0, 1.0])
    # r_t = A sin(wt)(1 - cos w) = A sin(pi t/2); mean of sin² over whole periods is 1/2.
    expected = amplitude / math.sqrt(2) / (FACE / 100)
    assert metrics.stability_sigma1(p, g) == pytest.approx(expected, rel=1e-6)


def test_constant_velocity_is_stable_and_jitter_is_not() -> None:
    n = 12
    t = np.arange(n)[:, None, None]
    g = static_track(n) + t * np.array([2.0, -1.0])  # GT moves at constant velocity
    lagging = g - 3 * np.array([2.0, -1.0])  # three frames behind: large NME, no jitter
    assert metrics.stability_sigma1(lagging, g) == pytest.approx(0.0, abs=1e-9)
    assert metrics.stability_sigma2(lagging, g) == pytest.approx(0.0, abs=1e-9)
    assert metrics.error_jitter(lagging, g) == pytest.approx(0.0, abs=1e-9)
    assert metrics.nme(lagging, g).min() == pytest.approx(math.hypot(6, 3) / IOD, rel=1e-6)

    jitter = lagging + 0.5 * ((-1.0) ** t) * np.array([1.0, 0.0])
    s1 = metrics.stability_sigma1(jitter, g)
    s2 = metrics.stability_sigma2(jitter, g)
    assert s1 == pytest.approx(1.0 / (FACE / 100), rel=1e-6)  # |r| = 2 * 0.5 px
    assert s2 == pytest.approx(2 * s1, rel=1e-6)  # q_t = -2 r_(t-1) with a constant face size


def test_sigma2_ignores_constant_velocity_but_sees_a_step() -> None:
    g = static_track(6)
    p = g.copy()
    p[3:] += np.array([4.0, 0.0])  # a jump of 4 px between frames 2 and 3
    # q_t for t = 2..5: 0, 4, -4, 0 px -> mean square 8 over 4 frames.
    assert metrics.stability_sigma2(p, g) == pytest.approx(
        math.sqrt(8.0) / (FACE / 100), rel=1e-6)


def test_sigma1_is_scale_invariant_and_uses_per_frame_face_size() -> None:
    rng = np.random.default_rng(0)
    g = static_track(8)
    p = g + rng.normal(0.0, 0.7, size=g.shape)
    s = metrics.stability_sigma1(p, g)
    centre = g.mean(axis=(0, 1))
    assert metrics.stability_sigma1((p - centre) * 3, (g - centre) * 3) == pytest.approx(s)
    # Doubling the GT face in one centre frame halves that frame's residual contribution.
    big = g.copy()
    big[4] = (g[4] - centre) * 2 + centre
    r = p[1:-1] - (p[:-2] + p[2:]) / 2
    per_frame = (r ** 2).sum(axis=-1).mean(axis=1) / (FACE / 100) ** 2
    per_frame[3] /= 4  # frame 4 is centre index 3
    assert metrics.stability_sigma1(p, big) == pytest.approx(math.sqrt(per_frame.mean()))


def test_error_jitter_ignores_gt_motion_and_offsets() -> None:
    n = 9
    t = np.arange(n)[:, None, None]
    g = static_track(n) + 0.6 * ((-1.0) ** t) * np.array([1.0, 0.0])  # noisy annotation
    offset = g + np.array([5.0, 5.0])
    assert metrics.stability_sigma1(offset, g) == pytest.approx(1.2 / (FACE / 100), rel=1e-6)
    assert metrics.error_jitter(offset, g) == pytest.approx(0.0, abs=1e-9)
    smooth = static_track(n)
    assert metrics.error_jitter(smooth, g) == pytest.approx(
        metrics.stability_sigma1(g), rel=1e-6)


def test_stability_centres_mask_and_bad_input() -> None:
    g = static_track(5)
    p = g.copy()
    p[2] += np.array([2.0, 0.0])  # residuals at t = 1, 2, 3: -1, 2, -1 px
    only_2 = np.array([False, False, True, False, False])
    assert metrics.stability_sigma1(p, g, centres=only_2) == pytest.approx(2.0 / (FACE / 100))
    assert metrics.stability_sigma1(p, g) == pytest.approx(math.sqrt(2.0) / (FACE / 100))
    with pytest.raises(ValidationError, match="at least 3 frames"):
        metrics.stability_sigma1(g[:2])
    with pytest.raises(ValidationError, match="centres"):
        metrics.stability_sigma1(p, g, centres=np.array([True, False, False, False, True]))
    bad = g.copy()
    bad[3] = bad[3, 0]  # every point on one pixel
    with pytest.raises(ValidationError, match="face size is zero in frame 3"):
        metrics.stability_sigma1(p, bad)


# ----------------------------------------------------------------------------- bias / std


def test_bias_std_nrmse_by_hand() -> None:
    g = static_track(4)
    p = g.copy()
    p[:, 0, 0] += [1.0, 3.0, 1.0, 3.0]  # landmark 0: d = 0.01, 0.03 -> mean 0.02, var 1e-4
    stats = metrics.bias_std_nrmse(p, g)
    assert stats.n_included == 4 * 68 and stats.n_excluded == 0
    assert stats.bias == pytest.approx(math.sqrt(4e-4 / 68), rel=1e-6)
    assert stats.std == pytest.approx(math.sqrt(1e-4 / 68), rel=1e-6)
    assert stats.nrmse == pytest.approx(math.sqrt(5e-4 / 68), rel=1e-6)

    p[2, 1] += np.array([10.0, 0.0])  # d = 0.1 > 0.05: excluded
    stats = metrics.bias_std_nrmse(p, g)
    assert (stats.n_included, stats.n_excluded) == (4 * 68 - 1, 1)
    assert stats.bias == pytest.approx(math.sqrt(4 * 4e-4 / 271), rel=1e-6)
    assert stats.std == pytest.approx(math.sqrt(4 * 1e-4 / 271), rel=1e-6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.bias = 0.0  # type: ignore[misc]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bias_std_identity_holds_exactly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = static_track(30) + rng.normal(0, 2.0, size=(30, 1, 2))
    bias_px = rng.normal(0, 1.5, size=(68, 2))
    p = g + bias_px + rng.normal(0, 1.5, size=g.shape)
    visible = rng.random((30, 68)) > 0.1
    stats = metrics.bias_std_nrmse(p, g, visible=visible)
    assert stats.n_excluded > 0  # some displacements exceed 5 px
    assert stats.bias > 0 and stats.std > 0
    assert stats.bias ** 2 + stats.std ** 2 == pytest.approx(stats.nrmse ** 2, rel=1e-12)


def test_bias_std_nan_when_everything_is_excluded() -> None:
    g = face()
    stats = metrics.bias_std_nrmse(g + 50.0, g)
    assert stats.n_included == 0 and math.isnan(stats.nrmse)


# ----------------------------------------------------------------------------- summary


def test_summarise_over_non_keyframes() -> None:
    g = static_track(9)
    keyframes = np.zeros(9, dtype=bool)
    keyframes[[0, 4, 8]] = True
    c = np.where(keyframes, 0.0, 2.0)  # 2 px off on every non-keyframe, exact on keyframes
    p = g + c[:, None, None] * np.array([1.0, 0.0])
    out = metrics.summarise(p, g, keyframe_mask=keyframes)
    assert out["nme_percent"] == pytest.approx(2.0, rel=1e-6)
    assert out["auc"] == pytest.approx(0.75, rel=1e-6)
    assert out["failure_rate"] == 0.0
    assert out["n_frames"] == 6
    # Residuals at t = 1..7: 1, 0, 1, -2, 1, 0, 1 px; keyframe centre t = 4 is left out.
    assert out["sigma1_pred"] == pytest.approx(math.sqrt(4 / 6) / (FACE / 100), rel=1e-6)
    assert out["error_jitter"] == pytest.approx(out["sigma1_pred"], rel=1e-6)
    assert out["sigma1_gt"] == pytest.approx(0.0, abs=1e-12)

    everything = metrics.summarise(p, g, threshold=0.01)
    assert everything["nme_percent"] == pytest.approx(6 * 2.0 / 9, rel=1e-6)
    assert everything["failure_rate"] == pytest.approx(6 / 9)
    assert everything["sigma1_pred"] == pytest.approx(math.sqrt(8 / 7) / (FACE / 100))
    with pytest.raises(ValidationError, match="keyframe_mask"):
        metrics.summarise(p, g, keyframe_mask=np.ones(9, dtype=bool))


def test_summarise_short_track_has_nan_stability() -> None:
    g = static_track(2)
    out = metrics.summarise(g + 1.0, g)
    assert out["nme_percent"] == pytest.approx(math.sqrt(2) / IOD * 100, rel=1e-6)
    assert math.isnan(out["sigma1_pred"]) and math.isnan(out["error_jitter"])
