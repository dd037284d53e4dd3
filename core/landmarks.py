"""The iBUG-68 facial landmark scheme: names, groups, drawing edges, mirror pairs and a mean shape.

This module is the single source of truth for the 68-point layout, used by the GUI (drawing and
hover names), the trainer (flip augmentation, normalisation), the metrics and the file formats.
Coordinates everywhere are float32 ``(68, 2)`` arrays of 0-based full-frame pixels, x = column.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from core.geometry import apply_affine, similarity_matrix

N_POINTS = 68

# Index ranges of the fine groups, in iBUG order. "right"/"left" are the subject's own sides, so
# the subject's right eye (36-41) appears on the left of the image.
GROUP_RANGES: dict[str, range] = {
    "jaw": range(0, 17),
    "right_brow": range(17, 22),
    "left_brow": range(22, 27),
    "nose_bridge": range(27, 31),
    "nostrils": range(31, 36),
    "right_eye": range(36, 42),
    "left_eye": range(42, 48),
    "outer_lips": range(48, 60),
    "inner_lips": range(60, 68),
}

# The five coarse regions the issue tracker and the GUI legend talk about.
REGIONS: dict[str, tuple[str, ...]] = {
    "jaw": ("jaw",),
    "brows": ("right_brow", "left_brow"),
    "nose": ("nose_bridge", "nostrils"),
    "eyes": ("right_eye", "left_eye"),
    "mouth": ("outer_lips", "inner_lips"),
}

_CLOSED_GROUPS = frozenset({"right_eye", "left_eye", "outer_lips", "inner_lips"})

# Outer eye corners: the inter-ocular normalisation distance of 300-W / 300VW.
RIGHT_EYE_OUTER = 36
LEFT_EYE_OUTER = 45

# Subset used by the "49-point" protocol: everything but the jaw and the inner-lip corners.
POINTS_49 = np.array([i for i in range(17, 68) if i not in (60, 64)], dtype=np.int64)


def _mirror_pairs() -> list[tuple[int, int]]:
    pairs = [(i, 16 - i) for i in range(8)]
    pairs += [(17 + i, 26 - i) for i in range(5)]
    pairs += [(31, 35), (32, 34)]
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]
    pairs += [(60, 64), (61, 63), (65, 67)]
    return pairs


MIRROR_PAIRS: tuple[tuple[int, int], ...] = tuple(_mirror_pairs())


def _flip_permutation() -> np.ndarray:
    perm = np.arange(N_POINTS)
    for a, b in MIRROR_PAIRS:
        perm[a], perm[b] = b, a
    return perm


#: ``points[FLIP_PERMUTATION]`` relabels a horizontally mirrored shape back into iBUG order.
FLIP_PERMUTATION: np.ndarray = _flip_permutation()


def _point_names() -> tuple[str, ...]:
    names: list[str] = []
    names += [f"jaw {i + 1}" for i in range(17)]
    names[0], names[8], names[16] = "jaw 1 (right ear)", "chin", "jaw 17 (left ear)"
    for side in ("right", "left"):
        names += [f"{side} brow {i + 1}" for i in range(5)]
    names += ["nose bridge top", "nose bridge 2", "nose bridge 3", "nose tip"]
    names += ["right nostril", "right nostril inner", "nose base", "left nostril inner",
              "left nostril"]
    names += ["right eye outer corner", "right eye upper outer", "right eye upper inner",
              "right eye inner corner", "right eye lower inner", "right eye lower outer"]
    names += ["left eye inner corner", "left eye upper inner", "left eye upper outer",
              "left eye outer corner", "left eye lower outer", "left eye lower inner"]
    names += ["mouth right corner", "upper lip 2", "upper lip 3", "upper lip centre",
              "upper lip 5", "upper lip 6", "mouth left corner", "lower lip 6", "lower lip 5",
              "lower lip centre", "lower lip 3", "lower lip 2"]
    names += ["inner mouth right corner", "inner upper lip 2", "inner upper lip centre",
              "inner upper lip 4", "inner mouth left corner", "inner lower lip 4",
              "inner lower lip centre", "inner lower lip 2"]
    assert len(names) == N_POINTS
    return tuple(names)


POINT_NAMES: tuple[str, ...] = _point_names()


def group_of(index: int) -> str:
    """The fine group ("left_eye", "jaw", ...) that a point index belongs to."""
    for name, indices in GROUP_RANGES.items():
        if index in indices:
            return name
    raise IndexError(f"landmark index {index} is outside 0..{N_POINTS - 1}")


def region_of(index: int) -> str:
    """The coarse region ("eyes", "mouth", ...) that a point index belongs to."""
    group = group_of(index)
    return next(region for region, groups in REGIONS.items() if group in groups)


def _edges() -> tuple[tuple[int, int], ...]:
    edges: list[tuple[int, int]] = []
    for name, indices in GROUP_RANGES.items():
        idx = list(indices)
        edges += list(itertools.pairwise(idx))
        if name in _CLOSED_GROUPS:
            edges.append((idx[-1], idx[0]))
    edges.append((30, 33))  # nose tip to nose base joins bridge and nostrils
    return tuple(edges)


#: Line segments (i, j) for drawing the face as polylines.
EDGES: tuple[tuple[int, int], ...] = _edges()


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: top-left corner and size."""

    x: float
    y: float
    width: float
    height: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2


def _superellipse_jaw(n: int = 17) -> np.ndarray:
    # From the right ear (image left) under the chin to the left ear; a squarish arc.
    angles = np.linspace(np.pi, 0.0, n)
    c, s = np.cos(angles), np.sin(angles)
    exponent = 2.0 / 2.8
    x = 0.90 * np.sign(c) * np.abs(c) ** exponent
    y = 0.0 + 1.22 * np.abs(s) ** exponent
    return np.stack([x, y], axis=1)


def _build_mean_shape() -> np.ndarray:
    """A frontal mean face in inter-ocular units, outer eye corners at (±0.5, 0)."""
    pts = np.zeros((N_POINTS, 2), dtype=np.float64)
    pts[0:17] = _superellipse_jaw()
    brow_x = np.linspace(-0.62, -0.12, 5)
    brow_y = np.array([-0.15, -0.23, -0.25, -0.23, -0.17])
    pts[17:22] = np.stack([brow_x, brow_y], axis=1)
    pts[22:27] = np.stack([-brow_x[::-1], brow_y[::-1]], axis=1)
    pts[27:31] = [[0.0, -0.02], [0.0, 0.13], [0.0, 0.27], [0.0, 0.41]]
    pts[31:36] = [[-0.18, 0.48], [-0.09, 0.51], [0.0, 0.53], [0.09, 0.51], [0.18, 0.48]]
    outer, inner, lid_up, lid_down = -0.5, -0.19, -0.06, 0.05
    third = (inner - outer) / 3
    right_eye = [[outer, 0.0], [outer + third, lid_up], [outer + 2 * third, lid_up],
                 [inner, 0.01], [outer + 2 * third, lid_down], [outer + third, lid_down]]
    pts[36:42] = right_eye
    # The left eye is the mirror of the right one, re-ordered from its inner corner.
    mirrored = [[-x, y] for x, y in right_eye]
    pts[42:48] = [mirrored[3], mirrored[2], mirrored[1], mirrored[0], mirrored[5], mirrored[4]]
    pts[48:60] = [[-0.28, 0.75], [-0.18, 0.69], [-0.07, 0.66], [0.0, 0.67], [0.07, 0.66],
                  [0.18, 0.69], [0.28, 0.75], [0.18, 0.83], [0.08, 0.86], [0.0, 0.87],
                  [-0.08, 0.86], [-0.18, 0.83]]
    pts[60:68] = [[-0.23, 0.75], [-0.08, 0.73], [0.0, 0.735], [0.08, 0.73], [0.23, 0.75],
                  [0.08, 0.77], [0.0, 0.775], [-0.08, 0.77]]
    return pts.astype(np.float32)


_MEAN_SHAPE = _build_mean_shape()
_MEAN_SHAPE.setflags(write=False)


def mean_shape() -> np.ndarray:
    """A writable copy of the frontal mean shape, in inter-ocular units centred on the eyes."""
    return _MEAN_SHAPE.copy()


def bounding_box(points: np.ndarray, visible: np.ndarray | None = None) -> Box:
    """The tight box around the (visible) points."""
    pts = np.asarray(points, dtype=np.float64)
    if visible is not None and np.any(visible):
        pts = pts[np.asarray(visible, dtype=bool)]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return Box(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))


def fit_mean_shape_to_box(box: Box) -> np.ndarray:
    """The mean shape scaled and translated so that its tight box fills ``box``."""
    shape = mean_shape().astype(np.float64)
    lo, hi = shape.min(axis=0), shape.max(axis=0)
    scale = np.array([box.width, box.height]) / (hi - lo)
    fitted = (shape - lo) * scale + np.array([box.x, box.y])
    return fitted.astype(np.float32)


def inter_ocular_distance(points: np.ndarray) -> float | np.ndarray:
    """Outer-eye-corner distance (36-45) of ``(68, 2)`` or batched ``(..., 68, 2)`` arrays."""
    pts = np.asarray(points, dtype=np.float64)
    d = np.linalg.norm(pts[..., RIGHT_EYE_OUTER, :] - pts[..., LEFT_EYE_OUTER, :], axis=-1)
    return float(d) if np.ndim(d) == 0 else d


def flip_horizontally(points: np.ndarray, width: float) -> np.ndarray:
    """Mirror a shape in an image of ``width`` pixels and restore iBUG order (0-based pixels)."""
    pts = np.asarray(points, dtype=np.float32).copy()
    pts[..., 0] = (width - 1) - pts[..., 0]
    return pts[..., FLIP_PERMUTATION, :]


def similarity_align(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``source`` mapped onto ``target`` by the least-squares similarity transform (Umeyama)."""
    matrix = similarity_matrix(source, target)
    return apply_affine(matrix, source).astype(np.float32)
