"""The per-video shape model and the solve behind a shape-aware drag (issue 11 §2)."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ValidationError
from core.geometry import apply_affine
from core.landmarks import GROUP_RANGES, N_POINTS, Box, fit_mean_shape_to_box, mean_shape
from core.shape_model import (
    CONTOURS,
    TEMPLATE_UNCERTAINTY,
    ShapeModel,
    follow_weights,
    part_of,
)
from core.shape_prior import FACE_PARTS, generic_prior, prior_basis


def _pose(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]])


def _face(rng: np.random.Generator, amount: float = 0.03) -> np.ndarray:
    """A pixel shape: the mean shape with some deformation, at a random similarity pose."""
    m = mean_shape().astype(np.float64)
    smooth = rng.normal(0, amount, (N_POINTS, 2))
    shape = m + smooth
    return apply_affine(_pose(rng.uniform(80, 120), rng.uniform(-0.3, 0.3),
                              rng.uniform(200, 400), rng.uniform(150, 300)), shape)


def test_no_data_gives_the_scheme_mean_shape() -> None:
    for model in (ShapeModel.fit(), ShapeModel.fit(np.zeros((0, N_POINTS, 2)))):
        np.testing.assert_allclose(model.mean, mean_shape(), atol=1e-6)
        assert model.n_shapes == 0 and model.prior_weight == 1.0
        assert model.modes.shape == (0, N_POINTS, 2) and model.variances.shape == (0,)
        assert model.covariance.shape == (2 * N_POINTS, 2 * N_POINTS)
        assert np.linalg.eigvalsh(model.covariance).min() > 0


def test_the_generic_prior_is_a_valid_covariance_with_named_components() -> None:
    prior = generic_prior()
    np.testing.assert_allclose(prior.covariance, prior.covariance.T)
    names, fields, sd = prior_basis()
    assert len(names) == len(fields) == len(sd) and len(set(names)) == len(names)
    assert fields.shape[1:] == (N_POINTS, 2) and np.all(sd > 0)
    assert "mandible" in names and "yaw" in names


def test_fit_aligns_the_pose_away() -> None:
    rng = np.random.default_rng(0)
    base = _face(rng)
    posed = np.stack([apply_affine(_pose(rng.uniform(0.5, 2), rng.uniform(-1, 1),
                                         *rng.uniform(-50, 50, 2)), base) for _ in range(12)])
    model = ShapeModel.fit(posed)
    assert model.n_shapes == 12 and model.prior_weight < 0.5
    assert model.variances.sum() < 1e-12       # one shape in twelve poses: nothing varies
    iod = np.linalg.norm(model.mean[36] - model.mean[45])
    assert iod == pytest.approx(1.0, abs=0.05)


def test_one_shape_gives_its_own_mean_and_the_prior_around_it() -> None:
    rng = np.random.default_rng(5)
    shape = _face(rng, amount=0.05)
    model = ShapeModel.fit(shape[None])
    assert model.n_shapes == 1 and len(model.modes) == 0
    assert model.prior_weight == pytest.approx(5 / 6)
    aligned = apply_affine(np.linalg.lstsq(np.c_[shape, np.ones(N_POINTS)], model.mean,
                                           rcond=None)[0].T, shape)
    np.testing.assert_allclose(aligned, model.mean, atol=1e-6)   # the same face, normalised
    out = model.solve(shape, {8: shape[8] + [0.0, 5.0]})
    assert np.isfinite(out).all()


def test_modes_are_orthonormal_at_most_ten_and_ordered() -> None:
    rng = np.random.default_rng(1)
    model = ShapeModel.fit(np.stack([_face(rng) for _ in range(40)]))
    k = len(model.modes)
    assert 1 <= k <= 10
    flat = model.modes.reshape(k, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(k), atol=1e-9)
    assert np.all(np.diff(model.variances) <= 0)


def test_dragged_points_land_exactly_and_placed_points_never_move() -> None:
    rng = np.random.default_rng(2)
    model = ShapeModel.fit(np.stack([_face(rng) for _ in range(8)]))
    current = _face(rng).astype(np.float32)
    fixed = np.zeros(N_POINTS, dtype=bool)
    fixed[[0, 9, 30, 36, 45, 48, 60]] = True
    dragged = {8: current[8] + [4.0, 9.0], 57: current[57] + [-3.0, 6.0]}
    out = model.solve(current, dragged, fixed=fixed, uncertainty=TEMPLATE_UNCERTAINTY)
    assert out.shape == (N_POINTS, 2) and out.dtype == np.float32
    for i, p in dragged.items():
        np.testing.assert_allclose(out[i], p, atol=1e-4)
    np.testing.assert_array_equal(out[fixed], current[fixed])
    free = ~fixed
    free[list(dragged)] = False
    assert np.linalg.norm(out[free] - current[free], axis=1).max() > 1.0


def test_a_dragged_placed_point_moves() -> None:
    current = fit_mean_shape_to_box(Box(100, 100, 200, 240))
    fixed = np.ones(N_POINTS, dtype=bool)
    out = ShapeModel.fit().solve(current, {33: (200.0, 230.0)}, fixed=fixed)
    np.testing.assert_allclose(out[33], (200.0, 230.0))
    np.testing.assert_array_equal(np.delete(out, 33, 0), np.delete(current, 33, 0))


def test_single_point_mode_moves_only_the_dragged_point() -> None:
    current = fit_mean_shape_to_box(Box(100, 100, 200, 240))
    out = ShapeModel.fit().solve(current, {48: current[48] + [5, 5]}, single_point=True)
    moved = np.flatnonzero(np.any(out != current, axis=1))
    assert moved.tolist() == [48]
    np.testing.assert_allclose(out[48], current[48] + [5, 5])


def test_the_dragged_part_follows_strongly_the_rest_weakly() -> None:
    current = fit_mean_shape_to_box(Box(100, 100, 200, 240))
    out = ShapeModel.fit().solve(current, {57: current[57] + [0.0, 12.0]})
    moved = np.linalg.norm(out - current, axis=1)
    mouth = [i for i in FACE_PARTS["mouth"] if i != 57]
    rest = [i for i in range(N_POINTS) if i not in FACE_PARTS["mouth"]]
    assert moved[mouth].mean() > 3 * moved[rest].mean()
    assert moved[[56, 58]].min() > 3.0             # the lower lip comes along


def test_follow_weights_are_strong_in_the_dragged_part() -> None:
    w = follow_weights([37], strong=1.0, weak=0.25)
    assert set(np.flatnonzero(w == 1.0)) == set(GROUP_RANGES["right_eye"])
    assert np.all(w[list(GROUP_RANGES["left_eye"])] == 0.25)
    assert part_of(62) == "mouth" and part_of(30) == "nose" and part_of(16) == "jaw"
    with pytest.raises(ValidationError):
        part_of(68)


def test_zero_follow_elsewhere_keeps_other_parts_still() -> None:
    current = fit_mean_shape_to_box(Box(100, 100, 200, 240))
    out = ShapeModel.fit().solve(current, {20: current[20] + [2.0, -8.0]},
                                 follow=follow_weights([20], weak=0.0))
    others = [i for i in range(N_POINTS) if i not in FACE_PARTS["right_brow"]]
    np.testing.assert_array_equal(out[others], current[others])


@pytest.mark.parametrize("index", [8, 3, 19, 51])
def test_a_contour_point_dragged_along_its_curve_slides_its_neighbours_along_it(index: int
                                                                                ) -> None:
    # a shape the model agrees with (a posed mean shape), so the drag is all that moves points
    model = ShapeModel.fit()
    current = apply_affine(_pose(100.0, 0.2, 300.0, 200.0), model.mean).astype(np.float32)
    curve, closed = next(c for c in CONTOURS.values() if index in c[0])
    idx = list(curve)
    pts = current[idx].astype(np.float64)
    tangents = (np.roll(pts, -1, 0) - np.roll(pts, 1, 0)) if closed else np.gradient(pts, axis=0)
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    t = tangents[idx.index(index)]
    out = model.solve(current, {index: current[index] + 6.0 * t}, slide=True)
    move = (out[idx] - current[idx]).astype(np.float64)
    normal = np.abs(move[:, 0] * tangents[:, 1] - move[:, 1] * tangents[:, 0])
    assert normal.max() < 1e-3                      # nobody on the curve leaves it
    neighbours = [j for j in (idx.index(index) - 1, idx.index(index) + 1) if 0 <= j < len(idx)]
    assert np.linalg.norm(move[neighbours], axis=1).min() > 0.5
    # without sliding, the same drag pulls some of them off the curve
    off = model.solve(current, {index: current[index] + 6.0 * t}, slide=False)
    move_off = (off[idx] - current[idx]).astype(np.float64)
    normal_off = np.abs(move_off[:, 0] * tangents[:, 1] - move_off[:, 1] * tangents[:, 0])
    assert normal_off.max() > 10 * max(normal.max(), 1e-4)


def _video(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` posed shapes of one face under three expression fields; (shapes, fields, base)."""
    base = mean_shape().astype(np.float64)
    names, fields, _ = prior_basis()
    chosen = fields[[names.index("mandible"), names.index("mouth curl"),
                     names.index("brows raise")]]
    coefs = rng.normal(0, [0.1, 0.05, 0.05], (n, 3))
    shapes = base + np.einsum("nk,kpd->npd", coefs, chosen)
    posed = np.stack([apply_affine(_pose(rng.uniform(90, 110), rng.uniform(-0.2, 0.2),
                                         *rng.uniform(150, 350, 2)), s) for s in shapes])
    return posed, chosen, base


def test_solving_with_the_truths_own_deformation_recovers_it() -> None:
    rng = np.random.default_rng(3)
    shapes, fields, base = _video(rng, 30)
    model = ShapeModel.fit(shapes)
    assert 1 <= len(model.modes) <= 10
    pose = _pose(100.0, 0.1, 250.0, 220.0)
    truth = apply_affine(pose, base + np.einsum("k,kpd->pd", [0.25, 0.1, -0.1], fields))
    current = apply_affine(pose, base).astype(np.float32)   # the right pose, neutral face
    before = np.linalg.norm(current - truth, axis=1).mean()
    done = np.zeros(N_POINTS, dtype=bool)
    shape = current
    for _ in range(5):                  # drag the worst point to the truth, five times
        worst = int(np.argmax(np.where(done, -1, np.linalg.norm(shape - truth, axis=1))))
        shape = model.solve(shape, {worst: truth[worst]}, fixed=done,
                            follow=np.ones(N_POINTS), uncertainty=TEMPLATE_UNCERTAINTY)
        done[worst] = True
    after = np.linalg.norm(shape - truth, axis=1).mean()
    assert after < 0.15 * before        # five single-point drags would leave ~0.9 of it


def test_bad_input_is_refused() -> None:
    model = ShapeModel.fit()
    with pytest.raises(ValidationError):
        ShapeModel.fit(np.zeros((3, 67, 2)))
    with pytest.raises(ValidationError):
        model.solve(np.zeros((5, 2)), {0: (1.0, 1.0)})
    with pytest.raises(ValidationError):
        model.solve(mean_shape(), {70: (1.0, 1.0)})
    with pytest.raises(ValidationError):
        model.solve(mean_shape(), {1: (1.0, 1.0)}, follow=np.ones(3))


def test_completion_keeps_well_measured_points_and_mends_a_badly_measured_one() -> None:
    from core.shape_model import complete_track

    rng = np.random.default_rng(5)
    keyframes = np.stack([_face(rng, 0.01) for _ in range(12)])
    model = ShapeModel.fit(keyframes)
    truth = _face(rng, 0.01)
    measured = truth.copy()
    measured[57] += (0.0, 25.0)  # the chin-side mouth point lost under an occluder ...
    sigma = np.full(N_POINTS, 0.3)
    sigma[57] = 40.0  # ... and the tracker knows it
    completed, posterior = model.complete(measured, sigma)
    assert np.linalg.norm(completed[57] - truth[57]) < 5.0  # where the other points put it
    assert np.abs(completed[np.arange(N_POINTS) != 57]
                  - truth[np.arange(N_POINTS) != 57]).max() < 0.6  # the rest stay
    assert posterior[57] < 40.0 and posterior[57] > posterior[0]
    # a track: its keyframes (here frame 0) are kept as they are
    track, errors = complete_track(model, np.stack([measured, measured]),
                                   np.stack([sigma, sigma]), skip=[0])
    np.testing.assert_array_equal(track[0], measured)
    np.testing.assert_allclose(track[1], completed)
    assert errors[1, 57] < 40.0 and errors[0, 57] == 40.0


def test_a_weighted_similarity_ignores_what_weighs_nothing() -> None:
    from core.geometry import similarity_matrix

    rng = np.random.default_rng(6)
    source = rng.normal(0, 10, (20, 2))
    target = apply_affine(_pose(1.5, 0.2, 30, -10), source)
    target[0] += 500.0  # one wild point
    weights = np.ones(20)
    weights[0] = 0.0
    np.testing.assert_allclose(similarity_matrix(source, target, weights),
                               _pose(1.5, 0.2, 30, -10), atol=1e-9)
    assert not np.allclose(similarity_matrix(source, target), _pose(1.5, 0.2, 30, -10))


def test_completion_errors_are_distances_in_and_out() -> None:
    """Under a shape prior that knows nothing (a huge covariance) every point keeps its place,
    and its error is its own counted SHARED_ERROR_FACTOR times: σ × √factor, a distance (σ²/2
    of variance per axis; the units once mixed gave σ × √(2 × factor)). A track keeps σ."""
    from dataclasses import replace

    from core.shape_model import SHARED_ERROR_FACTOR, complete_track

    rng = np.random.default_rng(7)
    model = ShapeModel.fit(np.stack([_face(rng, 0.01) for _ in range(6)]))
    vague = replace(model, covariance=np.eye(2 * N_POINTS) * 1e6)
    measured = _face(rng, 0.01)
    sigma = np.linspace(0.5, 3.0, N_POINTS)
    completed, posterior = vague.complete(measured, sigma)
    np.testing.assert_allclose(completed, measured, atol=1e-3)
    np.testing.assert_allclose(posterior, sigma * np.sqrt(SHARED_ERROR_FACTOR), rtol=1e-3)
    _, errors = complete_track(vague, measured[None], sigma[None])
    np.testing.assert_allclose(errors[0], sigma)


def test_a_frame_that_drifted_as_a_whole_keeps_its_error() -> None:
    """Every point 30 px off in the same direction, and the tracker says so: the completion
    keeps the shape (it is right) and must not make the frame look confident."""
    from core.shape_model import complete_track

    rng = np.random.default_rng(8)
    model = ShapeModel.fit(np.stack([_face(rng, 0.01) for _ in range(12)]))
    drifted = _face(rng, 0.01) + (30.0, 0.0)
    sigma = np.full((1, N_POINTS), 30.0)
    _, errors = complete_track(model, drifted[None], sigma)
    assert errors.min() >= 30.0 - 1e-9


def test_completion_leaves_a_collapsed_or_lost_frame_as_it_is() -> None:
    from core.shape_model import complete_track

    rng = np.random.default_rng(9)
    model = ShapeModel.fit(np.stack([_face(rng, 0.01) for _ in range(12)]))
    good = _face(rng, 0.01)
    collapsed = np.full((N_POINTS, 2), 120.0)  # every point at one spot: a lost track
    lost = good.copy()
    lost[10] = np.nan
    track = np.stack([good, collapsed, lost])
    sigma = np.full((3, N_POINTS), 2.0)
    out, errors = complete_track(model, track, sigma)
    np.testing.assert_array_equal(out[1], collapsed)
    np.testing.assert_array_equal(out[2][np.isfinite(lost)], lost[np.isfinite(lost)])
    np.testing.assert_array_equal(errors[1:], sigma[1:])
    # the frame itself: no crash, no confidence made up
    points, err = model.complete(collapsed, sigma[0])
    np.testing.assert_array_equal(points, collapsed)
    np.testing.assert_array_equal(err, sigma[0])
