"""Remaining-time estimates for work that runs in phases at different speeds.

:class:`Progress` and ``ShouldStop`` are the one definition of the callables that long work
takes. A job reports ``(step, total, phase)`` against one total known up front; its phases (say,
optical flow, training, prediction) take very different times per step, so an ETA from the task's
overall rate (elapsed / step) climbs as a slow phase follows a fast one. :class:`EtaEstimator`
instead keeps one smoothed rate per phase, measured between reports, and estimates

    ETA = (total − step) × (smoothed seconds per step of the current phase)

A later phase's own rate is unknown until it runs, so the current rate stands in for it; at
``step == total`` the ETA is 0. Pure Python with an injectable clock, so it is tested without
timing anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

Clock = Callable[[], float]


class Progress(Protocol):
    """How long work reports: ``progress(step, total)``, and from a trainer also the phase
    (flow, train, distill, predict) and the latest losses. Every progress callback in FaceProp
    has this one signature."""

    def __call__(self, step: int, total: int, phase: str | None = None,
                 losses: Mapping[str, float] | None = None) -> None: ...


#: How long work asks whether to stop: polled at clean points; True ends the work there.
ShouldStop = Callable[[], bool]

#: Weight of one newly measured step in a phase's moving average of seconds per step: a report
#: covering k steps weighs 1 − (1 − SMOOTHING)^k, however often the job reports.
SMOOTHING = 0.05
#: One report moves the average at most towards this many times (or this fraction of) the
#: current rate, so a single stall or burst does not swing the ETA.
MAX_JUMP = 3.0


@dataclass
class _Rate:
    """A phase's smoothed seconds per step. Its first measurement, which includes the switch
    from the previous phase (setup, loading, a first slow step), is provisional: the phase's
    next measurement replaces it."""

    per_step: float
    provisional: bool = True

    def add(self, per_step: float, steps: int, smoothing: float) -> None:
        if self.provisional or self.per_step <= 0.0:
            self.per_step, self.provisional = per_step, False
            return
        sample = min(max(per_step, self.per_step / MAX_JUMP), self.per_step * MAX_JUMP)
        weight = 1.0 - (1.0 - smoothing) ** steps
        self.per_step += weight * (sample - self.per_step)


class EtaEstimator:
    """Seconds left for one task, from the measured rate of its current phase.

    Each report that advances the step measures (seconds since the previous advance) / (steps
    advanced) and folds it into the reporting phase's rate (:class:`_Rate`); the first report
    of a phase is measured from the last report of the one before, so every phase has a rate
    from its first report on. A step that goes back (the task started over) restarts the
    measurement without a sample.
    """

    def __init__(self, clock: Clock = time.monotonic, smoothing: float = SMOOTHING) -> None:
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], not {smoothing}")
        self._clock, self._smoothing = clock, smoothing
        self._rates: dict[str | None, _Rate] = {}
        self._last_step, self._last_time = 0, clock()

    def seconds_per_step(self, phase: str | None = None) -> float | None:
        """The smoothed seconds per step of a phase; None before it has advanced."""
        rate = self._rates.get(phase)
        return None if rate is None else rate.per_step

    def update(self, step: int, total: int, phase: str | None = None) -> float | None:
        """Record a report and return the estimated seconds left (None when not yet known)."""
        now = self._clock()
        advanced = step - self._last_step
        if advanced > 0:
            per_step = max(now - self._last_time, 0.0) / advanced
            rate = self._rates.get(phase)
            if rate is None:
                self._rates[phase] = _Rate(per_step)
            else:
                rate.add(per_step, advanced, self._smoothing)
        if advanced != 0:  # a repeated step keeps measuring from the last advance
            self._last_step, self._last_time = step, now
        if total <= 0:
            return None
        if step >= total:
            return 0.0
        per_step = self.seconds_per_step(phase)
        return None if per_step is None else (total - step) * per_step
