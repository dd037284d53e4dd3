"""The simulated person of issue 11 §5: exact drag counts and seconds on constructed frames."""

from __future__ import annotations

import numpy as np
import pytest

from core.landmarks import N_POINTS, bounding_box, mean_shape
from core.shape_model import TEMPLATE_UNCERTAINTY, ShapeModel
from core.shape_prior import FACE_PARTS
from evaluation.person import (
    FrameCorrection,
    PersonParams,
    correct_frame,
    correct_frames,
    point_errors,
    summarise,
    template_for,
)

IOD = 100.0


def _truth() -> np.ndarray:
    """The mean shape at an inter-ocular distance of 100 px."""
    return (mean_shape().astype(np.float64) * IOD + [320.0, 200.0]).astype(np.float32)


def _off(truth: np.ndarray, offsets: dict[int, float], everyone: float = 0.01) -> np.ndarray:
    """``truth`` with every point ``everyone`` x IOD off along x, ``offsets`` x IOD for some."""
    start = truth.astype(np.float64).copy()
    start[:, 0] += everyone * IOD
    for i, amount in offsets.items():
        start[i, 0] = truth[i, 0] + amount * IOD
    return start.astype(np.float32)


def test_two_points_off_by_more_than_tau_take_exactly_two_single_point_drags() -> None:
    truth = _truth()
    start = _off(truth, {10: 0.10, 50: 0.05})
    params = PersonParams(drag_noise=0.0)
    result = correct_frame(start, truth, np.random.default_rng(0), params=params)
    assert result.drags == 2
    assert result.seconds == pytest.approx(2.0 + 2 * 1.5 + 0.5)
    # the 66 untouched points stay 1 % off, the two dragged ones land exactly
    assert result.error == pytest.approx(0.01 * 66 / 68, rel=1e-4)
    assert result.worst == pytest.approx(0.01, rel=1e-4)


def test_a_frame_with_nothing_visible_to_fix_is_reviewed_and_accepted() -> None:
    truth = _truth()
    result = correct_frame(_off(truth, {}, everyone=0.019), truth, np.random.default_rng(0))
    assert result == FrameCorrection(0, 2.5, pytest.approx(0.019, rel=1e-3),
                                     pytest.approx(0.019, rel=1e-3))


def test_a_dragged_point_is_done_even_where_it_lands_off() -> None:
    truth = _truth()
    start = _off(truth, {3: 0.03, 40: 0.08, 60: 0.05})
    # noise of 5 % IOD: landings are often off by more than tau, yet never dragged again
    params = PersonParams(drag_noise=0.05, review_s=1.0, drag_s=2.0, accept_s=0.0)
    result = correct_frame(start, truth, np.random.default_rng(4), params=params)
    assert result.drags == 3 and result.seconds == pytest.approx(1.0 + 3 * 2.0)


def test_drags_are_capped() -> None:
    truth = _truth()
    start = _off(truth, {}, everyone=0.1)
    result = correct_frame(start, truth, np.random.default_rng(0),
                           params=PersonParams(max_drags=5))
    assert result.drags == 5


def test_shape_aware_drags_fix_a_shifted_part_in_fewer_drags() -> None:
    truth = _truth()
    mouth = FACE_PARTS["mouth"]
    start = truth.copy()
    start[list(mouth)] += [0.0, 0.08 * IOD]          # the whole mouth 8 % too low
    rng_seed = 7
    single = correct_frame(start, truth, np.random.default_rng(rng_seed))
    aware = correct_frame(start, truth, np.random.default_rng(rng_seed), model=ShapeModel.fit())
    assert single.drags == len(mouth)
    assert aware.drags <= len(mouth) // 3
    assert aware.worst < 0.03


def test_placed_points_never_move_by_the_model() -> None:
    truth = _truth()
    start = _off(truth, {57: 0.1, 8: 0.06})
    fixed = np.zeros(N_POINTS, dtype=bool)
    fixed[[30, 36, 45]] = True
    result = correct_frame(start, truth, np.random.default_rng(1), model=ShapeModel.fit(),
                           fixed=fixed, params=PersonParams(max_drags=1))
    assert result.drags == 1
    assert result.points is not None
    np.testing.assert_array_equal(result.points[fixed], start[fixed])
    assert point_errors(result.points, truth)[57] < 0.05     # the worst point, dragged


def test_the_template_fills_the_truths_face_box() -> None:
    truth = _truth()
    truth[:, 1] *= 1.1
    box, fitted = bounding_box(truth), bounding_box(template_for(truth))
    assert fitted.x == pytest.approx(box.x, abs=1e-3)
    assert fitted.width == pytest.approx(box.width, abs=1e-3)
    assert fitted.height == pytest.approx(box.height, abs=1e-3)


def test_frames_are_deterministic_given_a_seed_and_summarised() -> None:
    rng = np.random.default_rng(0)
    truths = np.stack([_truth() + rng.normal(0, 3, (N_POINTS, 2)) for _ in range(4)])
    starts = np.stack([template_for(t) for t in truths])
    model = ShapeModel.fit(truths[:2])
    runs = [correct_frames(starts, truths, seed=5, model=model,
                           uncertainty=TEMPLATE_UNCERTAINTY) for _ in range(2)]
    assert runs[0] == runs[1]
    single = correct_frames(starts, truths, seed=5)
    summary = summarise(single)
    assert summary["frames"] == 4 and summary["corrected"] == 4
    assert summary["drags_per_corrected"] == pytest.approx(np.mean([r.drags for r in single]))
    assert summary["seconds_per_frame"] == pytest.approx(
        2.5 + 1.5 * summary["drags_per_corrected"])
    assert np.mean([r.drags for r in runs[0]]) < summary["drags_per_corrected"]
