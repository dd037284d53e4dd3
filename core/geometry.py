"""2-D affine helpers shared by the synthetic clips, the landmark scheme and the trainer's crops.

Affines are 2x3 matrices ``[A | t]`` mapping a point ``p`` to ``A·p + t``; every function also
takes stacks (..., 2, 3) of them, so a whole video's crop transforms go through one call.
"""

from __future__ import annotations

import numpy as np


def similarity_matrix(source: np.ndarray, target: np.ndarray,
                      weights: np.ndarray | None = None) -> np.ndarray:
    """The 2x3 least-squares similarity (Umeyama; never a reflection) taking ``source`` points
    (N, 2) onto ``target`` (N, 2), each point weighted by ``weights`` (N,) if given."""
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    s0, d0 = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd((d0 * w[:, None]).T @ s0)
    fix = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ fix @ vt
    scale = np.trace(np.diag(sig) @ fix) / float(w @ (s0 ** 2).sum(axis=1))
    lin = scale * rot
    return np.hstack([lin, (mu_d - lin @ mu_s)[:, None]])


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of one (2, 3) affine or of a stack (..., 2, 3)."""
    m = np.asarray(matrix, np.float64)
    lin = np.linalg.inv(m[..., :2])
    return np.concatenate([lin, -(lin @ m[..., 2:])], axis=-1)


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer ∘ inner`` (apply ``inner`` first) for (2, 3) affines; stacks broadcast."""
    o, i = np.asarray(outer, np.float64), np.asarray(inner, np.float64)
    return np.concatenate([o[..., :2] @ i[..., :2], o[..., :2] @ i[..., 2:] + o[..., 2:]],
                          axis=-1)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., N, 2) through affines (..., 2, 3)."""
    m, p = np.asarray(matrix, np.float64), np.asarray(points, np.float64)
    return p @ np.swapaxes(m[..., :2], -1, -2) + m[..., None, :, 2]
