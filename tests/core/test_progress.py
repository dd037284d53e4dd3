"""The phase-aware ETA (core/progress.py), driven by a fake clock: nothing here is timed."""

from __future__ import annotations

from itertools import pairwise

import pytest

from core.progress import EtaEstimator


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_steady_phase_counts_down_to_zero() -> None:
    clock = FakeClock()
    eta = EtaEstimator(clock)
    estimates = []
    for step in range(5, 101, 5):
        clock.now += 5 * 0.2  # 0.2 s a step
        estimates.append(eta.update(step, 100, "train"))
    assert estimates[0] == pytest.approx(95 * 0.2)
    assert all(b < a for a, b in pairwise(estimates))
    assert estimates[-1] == 0.0


def test_a_slow_phase_after_a_fast_one_jumps_once_then_does_not_climb() -> None:
    """The issue's run: fast flow, then slow training; the old elapsed/step rule climbed for
    the whole training phase."""
    clock = FakeClock()
    eta = EtaEstimator(clock)
    total = 100 + 300 + 10
    for step in range(10, 101, 10):  # flow: 100 frames, 1 ms each
        clock.now += 10 * 0.001
        eta.update(step, total, "flow")
    training = []
    for step in range(105, 401, 5):  # train: 300 steps, 0.5 s each
        clock.now += 5 * 0.5
        training.append(eta.update(step, total, "train"))
    assert training[0] == pytest.approx((total - 105) * 0.5)
    assert all(b <= a for a, b in pairwise(training))
    assert eta.seconds_per_step("flow") == pytest.approx(0.001)
    assert eta.seconds_per_step("train") == pytest.approx(0.5)
    clock.now += 0.05
    assert eta.update(total, total, "predict") == 0.0


def test_a_phase_s_first_measurement_with_its_setup_is_replaced_by_the_next() -> None:
    clock = FakeClock()
    eta = EtaEstimator(clock)
    clock.now += 30.0  # building the networks, then the first 5 steps at 1 s each
    assert eta.update(5, 100, "train") == pytest.approx(95 * 6.0)
    clock.now += 5.0
    assert eta.update(10, 100, "train") == pytest.approx(90 * 1.0)


def test_the_rate_is_smoothed_a_stall_is_damped_and_a_real_change_is_followed() -> None:
    clock = FakeClock()
    eta = EtaEstimator(clock, smoothing=0.05)
    for step in (1, 2):
        clock.now += 1.0
        eta.update(step, 1000, "train")
    assert eta.seconds_per_step("train") == pytest.approx(1.0)
    clock.now += 3.0  # one slow step
    eta.update(3, 1000, "train")
    assert eta.seconds_per_step("train") == pytest.approx(1.0 + 0.05 * 2.0)
    before = eta.update(3, 1000, "train")
    clock.now += 60.0  # a one-step stall: 60 s
    after = eta.update(4, 1000, "train")
    assert after < 1.25 * before  # counted as at most 3x the rate
    for step in range(5, 300):  # the machine really got slower: 2 s a step
        clock.now += 2.0
        eta.update(step, 1000, "train")
    assert eta.seconds_per_step("train") == pytest.approx(2.0, rel=1e-3)


def test_smoothing_does_not_depend_on_how_often_the_job_reports() -> None:
    every_step, every_fifth = FakeClock(), FakeClock()
    fine, coarse = EtaEstimator(every_step), EtaEstimator(every_fifth)
    for step in range(1, 51):
        every_step.now += 1.0 if step <= 10 else 2.0
        fine.update(step, 100, "train")
        if step % 5 == 0:
            every_fifth.now = every_step.now
            coarse.update(step, 100, "train")
    assert coarse.seconds_per_step("train") == pytest.approx(fine.seconds_per_step("train"),
                                                             rel=0.05)


def test_reports_that_do_not_advance_keep_measuring_from_the_last_advance() -> None:
    clock = FakeClock()
    eta = EtaEstimator(clock)
    clock.now += 1.0
    eta.update(2, 10, "train")  # 0.5 s a step
    clock.now += 1.0
    assert eta.update(2, 10, "train") == pytest.approx(8 * 0.5)  # same step, losses only
    clock.now += 1.0
    eta.update(4, 10, "train")  # 2 s for 2 steps since the last advance
    assert eta.seconds_per_step("train") == pytest.approx(1.0)


def test_unknown_before_any_step_and_zero_at_the_end() -> None:
    clock = FakeClock()
    eta = EtaEstimator(clock)
    assert eta.update(0, 10, "flow") is None
    assert eta.update(0, 0) is None
    clock.now += 2.0
    assert eta.update(10, 10, "flow") == 0.0
    assert eta.update(10, 10, "flow") == 0.0  # repeated final reports stay at 0


def test_a_task_that_starts_over_measures_afresh() -> None:
    clock = FakeClock()
    eta = EtaEstimator(clock)
    clock.now += 1.0
    eta.update(10, 10, "bench")  # 0.1 s a step
    clock.now += 50.0  # a long pause, then the steps start again from 0
    eta.update(0, 10, "bench")
    clock.now += 0.1
    assert eta.update(1, 10, "bench") == pytest.approx(9 * 0.1)


def test_smoothing_must_be_a_weight() -> None:
    with pytest.raises(ValueError, match="smoothing"):
        EtaEstimator(smoothing=0.0)
