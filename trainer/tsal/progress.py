"""The TSAL job's progress: one monotone ``(step, total)`` stream over phases planned up front.

The job knows before it trains how many steps each phase takes (flow: one per frame; mfe, with
the learned motion field: its training steps, then one per frame it tracks; held-out:
one per frame the held-out tracking visits; crops: one per frame; pretext: the shuffle
pretext warm-up's steps, when a cold start has one; train: the gradient steps
still to do after a warm start or resume; distill: its gradient steps and target
batches; predict: one per batch of frames per network), so it reports against that total from
the first event and ends at ``total/total``. A stop request shrinks the plan to what the job then
does (the steps trained so far, no distillation, prediction with the networks it has), so a
stopped job ends at the new ``total/total`` too; steps never go back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from core.progress import Progress, ShouldStop

logger = logging.getLogger(__name__)


#: The job's phases, in the order they run.
PHASES = ("flow", "mfe", "held-out", "crops", "pretext", "train", "distill", "predict")


class JobProgress:
    """Reports each phase's steps at its offset in the plan, with the phase name and losses."""

    def __init__(self, plan: Mapping[str, int], progress: Progress | None,
                 should_stop: ShouldStop | None = None):
        self._plan = {phase: max(int(steps), 0) for phase, steps in plan.items()}
        self._progress, self._stop = progress, should_stop
        self._last: tuple[int, str] | None = None

    @property
    def total(self) -> int:
        return max(sum(self._plan.values()), 1)

    @property
    def plan(self) -> dict[str, int]:
        return dict(self._plan)

    def stop_requested(self) -> bool:
        return self._stop is not None and bool(self._stop())

    def replan(self, **steps: int) -> None:
        """Change the step counts of phases that have not finished (after a stop)."""
        for phase, count in steps.items():
            if phase not in self._plan:
                raise KeyError(f"no phase {phase!r} in the plan {list(self._plan)}")
            self._plan[phase] = max(int(count), 0)

    def offset(self, phase: str) -> int:
        """Steps of the phases before ``phase``."""
        names = list(self._plan)
        return sum(self._plan[name] for name in names[:names.index(phase)])

    def __call__(self, phase: str, done: int, losses: Mapping[str, float] | None = None) -> None:
        """Report ``done`` steps of ``phase`` (clamped to the phase's planned steps)."""
        step = self.offset(phase) + min(max(int(done), 0), self._plan[phase])
        self._emit(step, phase, losses)

    def finish(self) -> None:
        """Report ``total/total`` unless the last report already did."""
        if self._last is not None and self._last[0] >= self.total:
            return
        if self._last is not None:
            logger.debug("progress ended at %d of %d; finishing", self._last[0], self.total)
        phase = self._last[1] if self._last is not None else next(reversed(self._plan))
        self._emit(self.total, phase, None)

    def _emit(self, step: int, phase: str, losses: Mapping[str, float] | None) -> None:
        if self._progress is None or (self._last == (step, phase) and not losses):
            return
        self._last = (step, phase)
        rounded = {k: round(float(v), 4) for k, v in losses.items()} if losses else None
        self._progress(step, self.total, phase=phase, losses=rounded)
