"""Per-point review states: who vouches for each point of a labelled frame.

- ``placed``: a person put or moved the point;
- ``accepted``: a person confirmed a predicted point without moving it;
- ``predicted``: a run (or a detector) put it there and nobody has reviewed it yet.

Placed and accepted points are *pinned*: propagation, training and the smoother treat them as
ground truth. Predicted points of a partly reviewed frame are measurements, weighted by their
confidence like any pseudo-label. A frame is a keyframe for training only when all its points
are pinned. States are stored as one uint8 per point (``STATE_DTYPE``).

Projects from before per-point states (schema 2) get states from their frame's source: manual
and imported labels were placed by a person (placed); corrected and accepted frames were
reviewed as a whole, but which points were moved is not known (accepted); detector labels were
placed by a machine (predicted).
"""

from __future__ import annotations

import numpy as np

from core.errors import ValidationError
from core.landmarks import N_POINTS

PREDICTED, ACCEPTED, PLACED = 0, 1, 2
STATE_NAMES = ("predicted", "accepted", "placed")
STATE_DTYPE = "u1"
#: The state every point of a frame gets from the frame's source when no states are given.
SOURCE_STATES = {"manual": PLACED, "imported": PLACED, "corrected": ACCEPTED,
                 "accepted": ACCEPTED, "detector": PREDICTED}


def default_states(source: str) -> np.ndarray:
    """All 68 points in the state their frame's ``source`` implies."""
    return np.full(N_POINTS, SOURCE_STATES.get(source, PLACED), dtype=np.uint8)


def check_states(states: np.ndarray, where: str) -> np.ndarray:
    """uint8 ``(68,)`` states, or ValidationError naming ``where``."""
    arr = np.asarray(states)
    if arr.shape != (N_POINTS,):
        raise ValidationError(f"{where}: point states must have shape ({N_POINTS},), got "
                              f"{arr.shape}")
    if not np.isin(arr, (PREDICTED, ACCEPTED, PLACED)).all():
        bad = arr[~np.isin(arr, (PREDICTED, ACCEPTED, PLACED))][0]
        raise ValidationError(f"{where}: {bad.item()!r} is not a point state (0 predicted, "
                              "1 accepted, 2 placed)")
    return arr.astype(np.uint8)


def pinned(states: np.ndarray) -> np.ndarray:
    """Which points a person vouches for (placed or accepted)."""
    return np.asarray(states) != PREDICTED


def state_counts(states: np.ndarray) -> dict[str, int]:
    """``{"placed": …, "accepted": …, "predicted": …}`` for one frame."""
    arr = np.asarray(states)
    return {"placed": int((arr == PLACED).sum()), "accepted": int((arr == ACCEPTED).sum()),
            "predicted": int((arr == PREDICTED).sum())}


def after_move(states: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """States after a person moved the points in ``moved`` (indices or a bool mask): those are
    placed, the others keep their state."""
    out = np.array(states, dtype=np.uint8, copy=True)
    out[moved] = PLACED
    return out


def after_accept(states: np.ndarray, which: np.ndarray | None = None) -> np.ndarray:
    """States after a person accepted ``which`` points (default: every point): predicted ones
    become accepted; placed points stay placed."""
    out = np.array(states, dtype=np.uint8, copy=True)
    mask = np.ones(len(out), dtype=bool) if which is None else np.zeros(len(out), dtype=bool)
    if which is not None:
        mask[which] = True
    out[mask & (out == PREDICTED)] = ACCEPTED
    return out
