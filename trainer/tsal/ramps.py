"""ω(t): the unsupervised-loss weight — an exponential ramp-up, a hold, then a decay."""

from __future__ import annotations

import math


def omega(step: int, total: int, *, peak: float = 1.0, up: float = 0.3, down: float = 0.15,
          end: float = 0.5) -> float:
    """Weight at ``step`` of ``total``: ``peak·exp(−5(1−s)²)`` while climbing (s the fraction of
    the ramp done, the usual mean-teacher curve), ``peak`` on the plateau, then a cosine decay to
    ``end·peak`` over the last ``down`` fraction of the run."""
    if total <= 0:
        return peak
    t = min(max(step / total, 0.0), 1.0)
    if up > 0 and t < up:
        s = t / up
        return peak * math.exp(-5.0 * (1.0 - s) ** 2)
    if down > 0 and t > 1.0 - down:
        s = (t - (1.0 - down)) / down
        return peak * (end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * s)))
    return peak
