"""The iBUG-68 scheme: consistent groups, mirror pairs, edges and a plausible mean shape."""

from __future__ import annotations

import numpy as np

from core import landmarks as L
from core.formats.pts import read_pts
from tests.conftest import shared_data_or_skip


def test_groups_cover_every_point_once_and_names_are_unique():
    covered = sorted(i for r in L.GROUP_RANGES.values() for i in r)
    assert covered == list(range(68))
    assert len(set(L.POINT_NAMES)) == 68
    assert L.group_of(36) == "right_eye" and L.region_of(50) == "mouth"
    assert len(L.POINTS_49) == 49 and 0 not in L.POINTS_49


def test_flip_permutation_is_an_involution_that_maps_mirror_pairs():
    perm = L.FLIP_PERMUTATION
    np.testing.assert_array_equal(perm[perm], np.arange(68))
    assert perm[36] == 45 and perm[48] == 54 and perm[8] == 8 and perm[30] == 30


def test_flipping_the_mean_shape_gives_the_mean_shape_back():
    shape = L.mean_shape() * 100 + 200
    flipped = L.flip_horizontally(shape, width=400 + 1)
    # The mean shape is symmetric about x = 200, which the flip maps to 400 - 200 = 200.
    np.testing.assert_allclose(flipped, shape, atol=1e-4)


def test_mean_shape_has_unit_inter_ocular_distance_and_sane_layout():
    shape = L.mean_shape()
    assert abs(L.inter_ocular_distance(shape) - 1.0) < 1e-6
    assert shape[8, 1] > shape[57, 1] > shape[33, 1] > shape[30, 1] > shape[27, 1]
    assert shape[19, 1] < shape[37, 1]  # brows above eyes (y grows downwards)
    assert shape[36, 0] < shape[39, 0] < shape[42, 0] < shape[45, 0]


def test_edges_join_points_of_the_same_group_except_the_nose_link():
    for a, b in L.EDGES:
        assert L.group_of(a) == L.group_of(b) or (a, b) == (30, 33)
    assert (41, 36) in L.EDGES and (16, 17) not in L.EDGES


def test_fit_to_box_fills_the_box():
    fitted = L.fit_mean_shape_to_box(L.Box(10, 20, 100, 120))
    box = L.bounding_box(fitted)
    np.testing.assert_allclose([box.x, box.y, box.width, box.height], [10, 20, 100, 120],
                               atol=1e-3)


def test_similarity_align_recovers_a_similarity_exactly():
    shape = L.mean_shape().astype(np.float64)
    angle = 0.3
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = 70 * shape @ rot.T + [120, 90]
    np.testing.assert_allclose(L.similarity_align(shape, target), target, atol=1e-3)


def test_mean_shape_fits_a_real_frontal_face():
    labelled = read_pts(shared_data_or_skip("faces", "takeo.pts"))
    aligned = L.similarity_align(L.mean_shape(), labelled)
    nme = np.linalg.norm(aligned - labelled, axis=1).mean() / L.inter_ocular_distance(labelled)
    assert nme < 0.08
