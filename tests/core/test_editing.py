"""The editing rules without a window: the source an edit gives a frame, and the point transforms
behind drag, rotate, scale and visibility."""

from __future__ import annotations

import numpy as np
import pytest

from core.editing import (
    KEYFRAME_SOURCES,
    combine_amounts,
    edited_source,
    is_reviewed,
    move_points,
    toggle_visibility,
    transform_points,
)
from core.landmarks import mean_shape
from core.store.records import ANNOTATION_SOURCES


def shape() -> np.ndarray:
    return (mean_shape() * 50 + 80).astype(np.float32)


@pytest.mark.parametrize(("previous", "expected"), [
    ("manual", "manual"), ("imported", "corrected"), ("detector", "corrected"),
    ("accepted", "corrected"), ("corrected", "corrected"), (None, "corrected")])
def test_edited_source_keeps_manual_and_marks_machine_labels_corrected(previous, expected):
    assert edited_source(previous) == expected


def test_sources_are_ones_the_store_accepts_and_reviewed_means_corrected_or_accepted():
    assert set(KEYFRAME_SOURCES.values()) <= set(ANNOTATION_SOURCES)
    assert [s for s in ANNOTATION_SOURCES if is_reviewed(s)] == ["corrected", "accepted"]
    assert is_reviewed(KEYFRAME_SOURCES["accept"]) and not is_reviewed(KEYFRAME_SOURCES["copy"])


def test_move_points_moves_only_the_given_indices():
    before = shape()
    moved = move_points(before, [3, 8], np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert moved.dtype == np.float32 and moved is not before
    assert np.array_equal(moved[[3, 8]], [[1, 2], [3, 4]])
    others = np.setdiff1d(np.arange(68), [3, 8])
    assert np.array_equal(moved[others], before[others])


def test_rotate_is_clockwise_on_screen_about_the_centroid():
    points = np.zeros((68, 2), dtype=np.float32)
    points[0], points[1] = (-1, 0), (1, 0)  # centroid at the origin
    rotated = transform_points(points, [0, 1], "rotate", 90.0)
    # y points down on screen: +90° takes (1, 0) (right) to (0, 1) (below)
    assert np.allclose(rotated[1], (0, 1), atol=1e-6) and np.allclose(rotated[0], (0, -1),
                                                                     atol=1e-6)
    assert np.array_equal(rotated[2:], points[2:])


def test_scale_keeps_the_centroid_and_scales_distances():
    before = shape()
    idx = list(range(36, 48))
    scaled = transform_points(before, idx, "scale", 1.5)
    centre = before[idx].mean(axis=0)
    assert np.allclose(scaled[idx].mean(axis=0), centre, atol=1e-4)
    assert np.allclose(np.linalg.norm(scaled[idx] - centre, axis=1),
                       1.5 * np.linalg.norm(before[idx] - centre, axis=1), atol=1e-4)


@pytest.mark.parametrize(("kind", "first", "second"), [("rotate", 4.0, -10.0),
                                                       ("scale", 1.02, 1 / 1.02 ** 3)])
def test_combined_amounts_equal_the_two_transforms_in_turn(kind, first, second):
    before, idx = shape(), list(range(17, 27))
    in_turn = transform_points(transform_points(before, idx, kind, first), idx, kind, second)
    at_once = transform_points(before, idx, kind, combine_amounts(kind, first, second))
    assert np.allclose(in_turn, at_once, atol=1e-3)


def test_unknown_transform_is_refused():
    with pytest.raises(ValueError, match="unknown transform"):
        transform_points(shape(), [0, 1], "shear", 1.0)
    with pytest.raises(ValueError, match="unknown transform"):
        combine_amounts("shear", 1.0, 2.0)


def test_toggle_visibility_flips_only_the_given_points():
    visible = np.ones(68, dtype=bool)
    visible[5] = False
    flipped = toggle_visibility(visible, [5, 6])
    assert flipped[5] and not flipped[6] and flipped.sum() == 67
    assert not visible[5]  # a copy
