"""The confidence-weighted temporal smoother."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ValidationError
from core.smoothing import smooth_track


def _track(n: int = 60) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)[:, None, None]
    base = np.stack(np.meshgrid(np.arange(4.0), np.arange(2.0)), -1).reshape(8, 2) * 10
    return base[None] + t * np.array([1.5, -0.5]) + 100.0  # constant velocity


def test_a_constant_velocity_track_is_left_unchanged() -> None:
    track = _track()
    out = smooth_track(track, np.ones(track.shape[:2]), 50.0, accel=0.001)
    np.testing.assert_allclose(out, track, atol=1e-6)


def test_noise_is_reduced_and_pinned_frames_stay_exact() -> None:
    rng = np.random.default_rng(0)
    truth = _track()
    noisy = truth + rng.normal(0, 2.0, truth.shape)
    pins = [0, 20, 40, 59]
    noisy[pins] = truth[pins]
    out = smooth_track(noisy, np.full(truth.shape[:2], 2.0), 50.0, pinned=pins, accel=0.002)
    np.testing.assert_array_equal(out[pins], truth[pins])
    assert np.abs(out - truth).mean() < 0.4 * np.abs(noisy - truth).mean()


def test_a_doubtful_outlier_is_bridged_by_the_motion_model() -> None:
    truth = _track()
    measured = truth.copy()
    measured[30] += 25.0  # a tracker failure on one frame
    sigma = np.ones(truth.shape[:2])
    sigma[30] = 20.0  # ...that its confidence flagged
    out = smooth_track(measured, sigma, 50.0, pinned=[0, 59], accel=0.004)
    assert np.abs(out[30] - truth[30]).max() < 2.0


def test_confident_measurements_are_followed_closely() -> None:
    truth = _track()
    # a real, fast movement: 10 % of the face size and back within a third of a second
    truth[25:35, :, 1] += np.hanning(10)[:, None] * 5.0
    out = smooth_track(truth, np.full(truth.shape[:2], 0.05), 50.0, accel=0.002)
    assert np.abs(out - truth).max() < 0.5  # 1 % of the face size


def test_bad_input_is_refused() -> None:
    track = _track(10)
    with pytest.raises(ValidationError, match="shape"):
        smooth_track(track[..., 0], np.ones((10, 8)), 50.0)
    with pytest.raises(ValidationError, match="sigma positive"):
        smooth_track(track, np.zeros((10, 8)), 50.0)
    with pytest.raises(ValidationError, match="accel"):
        smooth_track(track, np.ones((10, 8)), 50.0, accel=0.0)


def test_a_shot_change_is_never_smoothed_across() -> None:
    rng = np.random.default_rng(1)
    truth = _track()
    truth[30:] += 80.0  # another shot: the face is elsewhere from frame 30
    noisy = truth + rng.normal(0, 1.0, truth.shape)
    pins = [0, 20, 40, 59]
    noisy[pins] = truth[pins]
    sigma = np.full(truth.shape[:2], 1.0)
    out = smooth_track(noisy, sigma, 50.0, pinned=pins, accel=0.002, breaks=[30])
    np.testing.assert_array_equal(out[pins], truth[pins])
    assert np.abs(out - truth).max() < 4.0  # each side follows its own shot
    across = smooth_track(noisy, sigma, 50.0, pinned=pins, accel=0.002)
    assert np.abs(across[25:35] - truth[25:35]).max() > 20.0  # the jump smeared over frames
    for lo, hi in ((0, 30), (30, 60)):  # the same as smoothing each side alone
        alone = smooth_track(noisy[lo:hi], sigma[lo:hi], 50.0, accel=0.002,
                             pinned=[p - lo for p in pins if lo <= p < hi])
        np.testing.assert_allclose(out[lo:hi], alone)
