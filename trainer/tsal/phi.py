"""The tracker φ of a TSAL job: the flow prior every frame starts from and the held-out
keyframes' tracks (``TSALConfig.flow``).

"lk" and "dis" are core's classical trackers. "mfe" trains the learned motion field
(:mod:`trainer.tsal.mfe`) on a first Lucas-Kanade track, then asks the held-out check's
validation keyframes — which the field's deviation term never saw — whether it tracks them
better than Lucas-Kanade did: each is tracked from its two neighbours with both, and the field
is kept only if its mean error is lower. Otherwise the job goes on with the Lucas-Kanade prior
it already has ("mfe" asks for the field where it helps, not everywhere: on the two clips of
seven where full-resolution Lucas-Kanade is most precise, the 64-px field was worse;
docs/MEASUREMENTS.md). Without validation keyframes (too few keyframes, or no early stop) the
field is kept untested.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import torch

from core.errors import ValidationError
from core.progress import ShouldStop
from core.propagation import Propagation, flow_track, holdout
from core.propagation.flow import FlowMethod
from trainer.tsal import data, mfe, validation
from trainer.tsal.config import TSALConfig, mfe_budget
from trainer.tsal.progress import JobProgress

logger = logging.getLogger(__name__)

#: The trackers a TSAL job may use as φ (``TSALConfig.flow``).
FLOWS = ("lk", "dis", "mfe")


def check_flow(flow: str) -> None:
    """ValidationError unless ``flow`` is a tracker a TSAL job knows."""
    if flow not in FLOWS:
        raise ValidationError(f"unknown flow {flow!r}: use one of {', '.join(FLOWS)}")


def phase(cfg: TSALConfig, n_frames: int, triples: Sequence[tuple[int, int, int]] = (),
          n_keys: int = 0) -> dict[str, int]:
    """The job's "mfe" phase: the field's training steps, both trackers over the validation
    keyframes, then one per frame of the prior's tracking."""
    if cfg.flow != "mfe":
        return {}
    checked = 2 * holdout.tracked_frames(validation.validation_set(triples, n_keys, cfg))
    return {"mfe": mfe_budget(cfg, n_frames) + checked + int(n_frames)}


@contextmanager
def one_thread(cfg: TSALConfig) -> Iterator[None]:
    """With ``flow="mfe"``, torch on one thread inside (restored after): the network is so small
    that a second thread gains nothing, and on busy cores its spin-waits cost several times the
    work (tests/trainer/test_mfe.py ran 50x slower on two threads beside another job)."""
    before = torch.get_num_threads()
    if cfg.flow == "mfe":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _mean_error(tracks: Sequence[holdout.HeldOutTrack]) -> float:
    return float(np.mean([t.error(None) for t in tracks]))


def prior(frames: data.FrameReader, keys: dict[int, np.ndarray], cfg: TSALConfig,
          triples: Sequence[tuple[int, int, int]], bar: JobProgress,
          should_stop: ShouldStop | None) -> tuple[Propagation, str | FlowMethod, str]:
    """The job's flow prior, its φ for the held-out tracks, and which tracker that is ("lk",
    "dis" or "mfe"; see the module docstring)."""
    n = frames.n
    cfg = replace(cfg, mfe_steps=mfe_budget(cfg, n))
    prior_lk = flow_track(frames.gray, n, keys, method="lk" if cfg.flow == "mfe" else cfg.flow,
                          progress=lambda s, t: bar("flow", n * s // max(t, 1)),
                          should_stop=should_stop)
    if cfg.flow != "mfe":
        return prior_lk, cfg.flow, cfg.flow
    started = time.perf_counter()
    checked = validation.validation_set(triples, len(keys), cfg)
    field = mfe.train(frames.gray, n, keys, prior_lk.points, cfg, {k for _, k, _ in checked},
                      tick=lambda i, losses: bar("mfe", i, losses if i == cfg.mfe_steps else None),
                      should_stop=should_stop)
    method = field.method()
    done = cfg.mfe_steps
    if checked:
        span = holdout.tracked_frames(checked)
        errors = {}
        for name, flow in (("lk", "lk"), ("mfe", method)):
            errors[name] = _mean_error(holdout.track_held_out(
                frames.gray, keys, checked, flow=flow, should_stop=should_stop,
                progress=lambda s, t, d=done: bar("mfe", d + s)))
            done += span
        logger.info("φ on %d validation keyframes: LK %.4f, MFE %.4f (inter-ocular)",
                    len(checked), errors["lk"], errors["mfe"])
        if errors["mfe"] >= errors["lk"]:
            bar("mfe", done + n)
            return prior_lk, "lk", "lk"
    tracked = flow_track(frames.gray, n, keys, method=method, should_stop=should_stop,
                         progress=lambda s, t: bar("mfe", done + n * s // max(t, 1)))
    logger.info("MFE: %d steps and the prior in %.1f s", cfg.mfe_steps,
                time.perf_counter() - started)
    return tracked, method, "mfe"
