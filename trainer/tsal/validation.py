"""The held-out keyframe check: how long the network trains and how much the fusion trusts it.

A few interior keyframes (:func:`pick`, spread over the video) are kept out of the network's
training, and out of its pseudo-labels: between their neighbouring keyframes the clips follow
the held-out flow track, tracked without them (:func:`training_prior`). Each is a frame the
product must label without knowing its label, so it measures what the user gets there:

- the flow point and its error estimate come from its held-out track
  (:mod:`core.propagation.holdout`);
- the networks predict it on a crop aligned by that track, not by the label;
- their points are fused with the flow point as the final output fuses them
  (:func:`trainer.tsal.fusion.combine`), the network's error estimate scaled by each value of
  :data:`TRUST_GRID`; the check's score is the held-out NME of the best of these.
- the trust the run then uses is that best one only where the validation keyframes agree: its
  mean gain over the network's own estimate (trust 1) per keyframe must reach
  :data:`TRUST_EVIDENCE` standard errors (a median over 3-6 keyframes alone picked a trust that
  cost up to 11 % NME on the bench clips, docs/MEASUREMENTS.md issue 13 §1); trust 1 otherwise.

Every :data:`CHECK_EVERY` steps the check runs (a forward pass over a few dozen crops);
:class:`EarlyStop` ends training when the score has not improved by :data:`IMPROVEMENT` for
:data:`PATIENCE` checks in a row, never before the run's minimum. The trust of the last check
scales the network's error in the final fusion, so a network is weighed by what it showed on
frames it never saw (a network no better than tracking there is all but ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from core.geometry import apply_affine, invert_affine
from core.landmarks import inter_ocular_distance
from core.propagation import Propagation
from core.propagation.holdout import HeldOutTrack
from core.shape_model import ShapeModel, complete_track
from trainer.tsal import data, fusion
from trainer.tsal.config import TSALConfig
from trainer.tsal.models import LandmarkNet, infer

#: Keyframes kept out of training at most, and at least (fewer candidates: no check).
MAX_VALIDATION = 6
MIN_VALIDATION = 3
#: One held-out candidate in this many becomes a validation keyframe.
VALIDATION_EVERY = 3
#: Keyframes the network must still train on.
MIN_TRAINING_KEYS = 4
#: Steps between checks; checks without an improvement of this fraction before stopping.
CHECK_EVERY = 10
PATIENCE = 3
IMPROVEMENT = 0.02
#: Scales of the network's error estimate tried in the held-out fusion (1 = as estimated).
TRUST_GRID = (0.5, 1.0, 2.0, 4.0, 8.0, 1e3)
#: The trust kept without evidence, and the evidence another needs (standard errors of the
#: per-keyframe gains over it).
DEFAULT_TRUST = 1.0
TRUST_EVIDENCE = 1.0
#: Frames sampled to measure the network's typical error (as the final fusion does).
SAMPLE_FRAMES = 48


#: A held-out track, or anything listed in the same order (the (a, k, b) triples).
T = TypeVar("T")


def pick(tracks: Sequence[T], n_keyframes: int) -> list[T]:
    """The held-out tracks whose keyframes become validation keyframes: one candidate in
    :data:`VALIDATION_EVERY`, spread evenly, between :data:`MIN_VALIDATION` and
    :data:`MAX_VALIDATION`; none when that would leave fewer than :data:`MIN_TRAINING_KEYS`."""
    count = min(MAX_VALIDATION, len(tracks) // VALIDATION_EVERY)
    if count < MIN_VALIDATION or n_keyframes - count < MIN_TRAINING_KEYS:
        return []
    # offset by half a step so that neighbouring validation keyframes never share a gap
    picks = np.linspace(0, len(tracks) - 1, 2 * count + 1)[1::2].round().astype(int)
    return [tracks[i] for i in picks]


def validation_set(tracks: Sequence[T], n_keyframes: int, cfg: TSALConfig) -> list[T]:
    """What a job holds out for its check (:func:`pick`), or nothing without ``stop_early``:
    the learned motion field (``trainer.tsal.phi``) keeps the same keyframes out of its
    deviation term, so the two must agree."""
    return pick(tracks, n_keyframes) if cfg.stop_early else []


def training_prior(prior: np.ndarray, tracks: Sequence[HeldOutTrack]) -> np.ndarray:
    """The flow prior the networks train on: between each validation keyframe's neighbours
    the held-out track, so no pseudo-label carries a validation label."""
    out = np.array(prior, dtype=np.float64, copy=True)
    for t in tracks:
        out[t.first + 1:t.last] = t.points[1:-1]
    return out


@dataclass(frozen=True)
class CheckResult:
    """One check: the step, the best network's held-out NME alone, the fused NME with the
    best trust (the check's score), the trust the run uses (:func:`supported_trust`) and the
    fused NME with it (fractions of the inter-ocular distance)."""

    step: int
    network_nme: float
    fused_nme: float
    trust: float
    trusted_nme: float | None = None  # None: as fused_nme
    #: with the trust used, the fused points made consistent with the training keyframes'
    #: shape model as the final output is (``cfg.shape_complete``)
    completed_nme: float | None = None


def _per_frame(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    iod = np.maximum(inter_ocular_distance(truth), 1e-6)
    return np.linalg.norm(points - truth, axis=-1).mean(axis=-1) / iod


def _nme(points: np.ndarray, truth: np.ndarray) -> float:
    """The median over the validation keyframes of their NME: one keyframe whose held-out
    track lost the face (its crop then shows no face either) must not decide for the rest."""
    return float(np.median(_per_frame(points, truth)))


def supported_trust(errors: Mapping[float, np.ndarray], best: float) -> float:
    """``best`` if its per-keyframe errors beat :data:`DEFAULT_TRUST`'s by a mean gain of
    :data:`TRUST_EVIDENCE` standard errors or more, else the default (and with one keyframe)."""
    if best == DEFAULT_TRUST or len(errors[best]) < 2:
        return DEFAULT_TRUST
    gain = np.asarray(errors[DEFAULT_TRUST]) - np.asarray(errors[best])
    spread = float(gain.std(ddof=1)) / np.sqrt(len(gain))
    return best if gain.mean() >= TRUST_EVIDENCE * spread else DEFAULT_TRUST


class Check:
    """The held-out check of one training (see the module docstring)."""

    def __init__(self, tracks: Sequence[HeldOutTrack], frames: data.FrameReader,
                 crops: data.CropStore, prior: Propagation, affines: np.ndarray,
                 keyframes: Mapping[int, np.ndarray], cfg: TSALConfig, device: torch.device):
        self.cfg, self.device = cfg, device
        self.truth = np.stack([t.truth for t in tracks])
        self.flow = np.stack([t.points[t.keyframe - t.first] for t in tracks])
        self.flow_err = np.stack([t.sigma[t.keyframe - t.first] for t in tracks])
        self.iod = np.maximum(np.asarray(inter_ocular_distance(self.flow), np.float64), 4.0)
        #: the held-out tracks' own score, the fusion's reference (see :meth:`gain`)
        self.flow_nme = _nme(self.flow, self.truth)
        held_affines = data.align_affines(self.flow, cfg.crop, cfg.margin)
        self.crops = np.stack([data.warp(frames.gray(t.keyframe), a, cfg.crop)[None]
                               for t, a in zip(tracks, held_affines)])
        self.back = invert_affine(held_affines)
        candidates = np.setdiff1d(np.arange(crops.n), list(keyframes))
        take = np.unique(np.linspace(0, len(candidates) - 1,
                                     min(SAMPLE_FRAMES, len(candidates))).round().astype(int))
        self.sample = candidates[take] if len(candidates) else candidates
        self.sample_crops = crops.crops(self.sample.tolist())
        self.sample_back = invert_affine(affines[self.sample])
        self.sample_flow = prior.points[self.sample].astype(np.float64)
        self.sample_trusted = prior.confidence[self.sample] > fusion.FLOW_TRUSTED
        self.sample_iod = np.maximum(
            np.asarray(inter_ocular_distance(self.sample_flow), np.float64), 4.0)
        # the shape model of the keyframes the networks train on; the training serves runs
        # with and without the completion (a cached training), so both are measured
        held_frames = {t.keyframe for t in tracks}
        self.shape = ShapeModel.fit(np.stack([np.asarray(v, np.float64) for k, v in
                                              sorted(keyframes.items()) if k not in held_frames]))
        self.flow_completed_nme = _nme(self._completed(self.flow, self.flow_err), self.truth)
        self.results: list[CheckResult] = []

    def _completed(self, points: np.ndarray, error: np.ndarray) -> np.ndarray:
        return complete_track(self.shape, points, error, floor=fusion.FUSION_FLOOR)[0]

    def _predict(self, model: LandmarkNet, crops: np.ndarray, back: np.ndarray
                 ) -> dict[str, np.ndarray]:
        pm, pc, _ = infer(model, crops, self.cfg.crop, self.device, self.cfg.bf16)
        return {"pm": apply_affine(back, pm), "pc": apply_affine(back, pc)}

    def __call__(self, networks: Mapping[str, LandmarkNet], step: int) -> CheckResult:
        """Score ``networks`` ("student", and "teacher" when trained) at this ``step``."""
        held = {name: self._predict(m, self.crops, self.back) for name, m in networks.items()}
        seen = {name: self._predict(m, self.sample_crops, self.sample_back)
                for name, m in networks.items()}
        points, errors, best = fusion.network_estimates(held, self.cfg.gamma)
        sample_points, _, _ = fusion.network_estimates(seen, self.cfg.gamma)
        typical = fusion.typical_error(sample_points[best], self.sample_flow,
                                       self.sample_trusted, self.sample_iod)
        combined = {trust: fusion.combine(
            points[best], fusion.model_error(errors[best], typical, self.iod, trust),
            self.flow, self.flow_err, self.iod) for trust in TRUST_GRID}
        per_frame = {trust: _per_frame(c[0], self.truth) for trust, c in combined.items()}
        fused = {trust: float(np.median(e)) for trust, e in per_frame.items()}
        top = min(fused, key=fused.__getitem__)
        trust = supported_trust(per_frame, top)
        result = CheckResult(step, _nme(points[best], self.truth), fused[top], trust,
                             fused[trust], _nme(self._completed(*combined[trust]), self.truth))
        self.results.append(result)
        return result

    def gain(self, result: CheckResult | None, completed: bool = False) -> float:
        """What the fusion with the networks of ``result`` did to the held-out tracks' error
        on the validation keyframes: fused with the trust the run uses (``trusted_nme``, see
        :func:`supported_trust`) ÷ tracked, at most 1 (the fusion is never credited with
        making tracking worse). The run's held-out estimate, which describes tracking, is
        scaled by it (issue 12 §3: the estimate read 1.2-1.6 × the true NME of TSAL runs).
        With ``completed`` (a run that completes its fused points with the shape model) both
        sides are completed so, as the estimate's tracks are: what the completion mends is
        not credited twice, to it and to the networks."""
        if result is None or self.flow_nme <= 0:
            return 1.0
        if completed and result.completed_nme is not None:
            used, tracked = result.completed_nme, self.flow_completed_nme
        else:
            used = result.fused_nme if result.trusted_nme is None else result.trusted_nme
            tracked = self.flow_nme
        return 1.0 if tracked <= 0 else float(min(1.0, used / tracked))


class EarlyStop:
    """Runs ``check`` every :data:`CHECK_EVERY` steps and at the last one, and stops training
    after :data:`PATIENCE` checks without an improvement of :data:`IMPROVEMENT` over the best
    score, never before ``min_steps``. The networks are kept as they are then (not put back to
    the best check's weights: a warm start later continues from them, and the trust is the one
    measured on them, ``last``)."""

    def __init__(self, check: Callable[[Mapping[str, LandmarkNet], int], CheckResult],
                 min_steps: int, patience: int = PATIENCE,
                 improvement: float = IMPROVEMENT) -> None:
        self.check = check
        self.min_steps, self.patience, self.improvement = min_steps, patience, improvement
        self.best: CheckResult | None = None
        self.last: CheckResult | None = None
        self.since_best = 0

    def after_step(self, step: int, last_step: int, networks: Mapping[str, LandmarkNet]
                   ) -> bool:
        """Check ``networks`` when a check is due after ``step``; True when training should
        stop."""
        if step % CHECK_EVERY and step != last_step:
            return False
        return self.update(self.check(networks, step))

    def update(self, result: CheckResult) -> bool:
        """Record a check; True when training should stop."""
        self.last = result
        if self.best is None or result.fused_nme < self.best.fused_nme * (1 - self.improvement):
            self.best, self.since_best = result, 0
        else:
            self.since_best += 1
        return result.step >= self.min_steps and self.since_best >= self.patience
