"""Tests of the baseline propagators on synthetic videos with exactly known landmark motion."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import CancelledError, FacePropError, ValidationError
from core.landmarks import mean_shape
from core.propagation import (
    METHODS,
    Propagation,
    detector,
    dlib_available,
    dlib_detect,
    flow_track,
    interpolate,
)

N_FRAMES, WIDTH, HEIGHT, IOD = 40, 320, 240, 60.0
KEYS = (10, 20, 30)
OCCLUDED = range(22, 28)  # frames with a black box over the mouth, inside the 20-30 segment
SHARED_DATA = Path(__file__).parents[2] / ".." / "shared" / "data"


def _motion(n: int) -> np.ndarray:
    """A smooth, non-linear sub-pixel translation per frame (n, 2)."""
    t = np.arange(n)
    return np.stack([9.0 * np.sin(2 * np.pi * t / 24) + 0.23 * t,
                     5.0 * np.sin(2 * np.pi * t / 17 + 0.5)], axis=1)


def _make_video(occluded: range = range(0)) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames (BGR) of a blurred-noise texture translated by ``_motion`` and the 68 points moving
    with it (the mean shape placed on the texture); a black box hides the mouth in ``occluded``."""
    rng = np.random.default_rng(7)
    texture = rng.normal(128, 60, (HEIGHT + 80, WIDTH + 80)).astype(np.float32)
    texture = cv2.GaussianBlur(texture, (0, 0), 2.0)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    base = mean_shape() * IOD + np.array([WIDTH / 2, HEIGHT / 2 - 20], dtype=np.float32)
    motion = _motion(N_FRAMES)
    truth = (base[None] + motion[:, None, :]).astype(np.float32)
    mouth = truth[occluded.start if occluded else 0, 48:]
    x0, y0 = (mouth.min(axis=0) - 8).astype(int)
    x1, y1 = (mouth.max(axis=0) + 8).astype(int)
    frames = []
    for i, (dx, dy) in enumerate(motion):
        shift = np.float32([[1, 0, dx - 40], [0, 1, dy - 40]])
        image = cv2.warpAffine(texture, shift, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT)
        if i in occluded:
            image[y0:y1, x0:x1] = 0
        frames.append(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    return frames, truth


@pytest.fixture(scope="module")
def video() -> tuple[list[np.ndarray], np.ndarray]:
    return _make_video()


@pytest.fixture(scope="module")
def flow_results(video) -> dict[str, Propagation]:
    frames, truth = video
    keys = {k: truth[k].copy() for k in KEYS}
    return {method: flow_track(frames.__getitem__, N_FRAMES, keys, method=method)
            for method in ("lk", "dis")}


def _non_keyframes(n: int = N_FRAMES) -> np.ndarray:
    return np.array([i for i in range(n) if i not in KEYS])


def _errors(points: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points.astype(np.float64) - truth, axis=-1)


# --- interpolation -------------------------------------------------------------------------------

def test_interpolation_is_exact_on_piecewise_linear_motion_and_holds_outside() -> None:
    base = mean_shape() * 50 + 100
    velocity = {3: (1.5, -0.5), 11: (-2.0, 0.25)}  # a different velocity in each segment
    truth = np.empty((25, 68, 2), dtype=np.float64)
    position = np.zeros(2)
    for t in range(25):
        truth[t] = base + position
        position = position + (velocity[3] if t < 11 else velocity[11])
    keys = {3: truth[3].astype(np.float32), 11: truth[11].astype(np.float32),
            20: truth[20].astype(np.float32)}
    result = interpolate(25, keys)
    assert result.method == "interpolation"
    assert result.points.shape == (25, 68, 2) and result.points.dtype == np.float32
    assert np.abs(result.points[3:21] - truth[3:21]).max() < 1e-3
    assert np.array_equal(result.points[0], keys[3]) and np.array_equal(result.points[2], keys[3])
    assert np.array_equal(result.points[24], keys[20])
    for k, pts in keys.items():
        assert np.array_equal(result.points[k], pts)
    # confidence: 0.5 ** (distance to the nearest keyframe / 10)
    assert result.confidence.shape == (25, 68) and result.confidence.dtype == np.float32
    assert np.allclose(result.confidence[[3, 11, 20], :], 1.0)
    assert np.allclose(result.confidence[0], 0.5 ** 0.3)
    assert np.allclose(result.confidence[15], 0.5 ** 0.4)
    assert np.allclose(result.confidence[24], 0.5 ** 0.4)


def test_interpolation_with_one_keyframe_holds_it_everywhere() -> None:
    pts = mean_shape() * 40 + 60
    result = METHODS["interpolation"](None, 5, {2: pts})
    assert np.array_equal(result.points, np.repeat(pts[None], 5, axis=0))


# --- optical-flow tracking -----------------------------------------------------------------------

@pytest.mark.parametrize("method", ["lk", "dis"])
def test_flow_tracking_is_sub_pixel_and_beats_interpolation(video, flow_results, method) -> None:
    _, truth = video
    result = flow_results[method]
    assert result.method == ("flow" if method == "lk" else "flow_dis")
    non_key = _non_keyframes()
    flow_error = _errors(result.points, truth)[non_key]
    interp = interpolate(N_FRAMES, {k: truth[k] for k in KEYS})
    interp_error = _errors(interp.points, truth)[non_key]
    assert flow_error.mean() < 0.5
    assert flow_error.mean() < 0.2 * interp_error.mean()
    # one-directional tracking before the first and after the last keyframe
    outside = np.r_[0:KEYS[0], KEYS[-1] + 1:N_FRAMES]
    assert _errors(result.points, truth)[outside].mean() < 0.5


def test_exposure_is_matched_only_where_it_jumps() -> None:
    from core.propagation.flow import matched_exposure

    rng = np.random.default_rng(1)
    image = rng.integers(40, 220, (60, 80)).astype(np.uint8)
    assert matched_exposure(image, image) is image  # nothing to match: the frame as it is
    dimmed = (image * 0.4).astype(np.uint8)
    matched = matched_exposure(image, dimmed)
    assert abs(float(matched.mean()) - float(image.mean())) < 2.0
    assert abs(float(matched.std()) / float(image.std()) - 1.0) < 0.05
    occluded = image.copy()
    occluded[:25] = 0  # a dark occluder over a third of the frame is not a change of exposure
    assert matched_exposure(image, occluded) is occluded


@pytest.mark.parametrize("method", ["lk", "dis"])
def test_tracking_follows_a_fade(video, monkeypatch, method) -> None:
    """Frames 12-27 dim to a quarter of their brightness and back (a fade, an exposure change):
    tracked within half a pixel, where Lucas-Kanade without the exposure matching is 2.7 px off."""
    from core.propagation import flow

    frames, truth = video
    level = 1.0 - 0.75 * np.clip(1.0 - np.abs(np.arange(N_FRAMES) - 20) / 8.0, 0.0, 1.0)
    faded = [(f * lv).astype(np.uint8) for f, lv in zip(frames, level)]
    keys = {k: truth[k].copy() for k in (10, 30)}
    inside = np.arange(14, 27)

    def error() -> float:
        result = flow_track(faded.__getitem__, N_FRAMES, keys, method=method)
        return float(_errors(result.points, truth)[inside].mean())

    assert error() < 0.5
    if method == "lk":  # DIS normalises its patches itself
        monkeypatch.setattr(flow, "EXPOSURE_STEP", np.inf)
        assert error() > 2.0


@pytest.mark.parametrize("method", ["lk", "dis"])
def test_flow_returns_keyframes_exactly_and_confidence_in_range(video, flow_results,
                                                                 method) -> None:
    _, truth = video
    result = flow_results[method]
    assert result.points.shape == (N_FRAMES, 68, 2) and result.points.dtype == np.float32
    assert result.confidence.shape == (N_FRAMES, 68) and result.confidence.dtype == np.float32
    assert np.all(np.isfinite(result.points))
    assert result.confidence.min() >= 0.0 and result.confidence.max() <= 1.0
    for k in KEYS:
        assert np.array_equal(result.points[k], truth[k])
        assert np.all(result.confidence[k] == 1.0)
    # clean, well-tracked frames are confident
    assert result.confidence[_non_keyframes()].mean() > 0.8


@pytest.mark.parametrize("method", ["lk", "dis"])
def test_occlusion_lowers_confidence(video, flow_results, method) -> None:
    frames, truth = _make_video(OCCLUDED)
    keys = {k: truth[k] for k in KEYS}
    occluded = flow_track(frames.__getitem__, N_FRAMES, keys, method=method)
    clean = flow_results[method]
    frames_slice = slice(OCCLUDED.start, OCCLUDED.stop)
    occluded_conf = occluded.confidence[frames_slice, 48:].mean()
    clean_conf = clean.confidence[frames_slice, 48:].mean()
    assert occluded_conf < 0.7 * clean_conf
    # frames of other segments are not affected
    assert np.allclose(occluded.confidence[:KEYS[1]], clean.confidence[:KEYS[1]])
    assert np.all(np.isfinite(occluded.points))


@pytest.mark.parametrize("method", ["lk", "dis"])
def test_a_track_with_large_forward_backward_error_is_downweighted(method) -> None:
    # The mouth is hidden just before keyframe 30, so only the backward track crosses the
    # occlusion on frames 21-25: its accumulated FB error must keep it out of the blend there.
    frames, truth = _make_video(range(26, 30))
    result = flow_track(frames.__getitem__, N_FRAMES, {k: truth[k] for k in KEYS}, method=method)
    assert _errors(result.points, truth)[21:26, 48:].mean() < 0.3


@pytest.mark.parametrize("method", ["lk", "dis"])
def test_blend_weights_are_linear_in_time_and_disagreement_lowers_confidence(video,
                                                                             method) -> None:
    # Keyframe 30 is labelled 4 px right of the truth: the backward track carries that offset,
    # the forward track none, so the blend's offset must grow linearly from 0 at 20 to 4 at 30.
    frames, truth = video
    keys = {k: truth[k] for k in KEYS}
    keys[30] = truth[30] + np.float32([4.0, 0.0])
    result = flow_track(frames.__getitem__, N_FRAMES, keys, method=method)
    offset = (result.points[21:30, :, 0] - truth[21:30, :, 0]).mean(axis=1)
    assert np.abs(offset - 4.0 * np.arange(1, 10) / 10).max() < 0.25
    confidence = result.confidence[21:30].mean(axis=1)
    assert confidence[4] < confidence[0] - 0.1 and confidence[4] < confidence[8] - 0.1


def test_flow_decodes_each_frame_once_reports_progress_and_cancels(video) -> None:
    frames, truth = video
    calls: list[int] = []
    reports: list[tuple[int, int]] = []

    def source(index: int) -> np.ndarray:
        calls.append(index)
        return frames[index]

    flow_track(source, N_FRAMES, {k: truth[k] for k in KEYS},
               progress=lambda done, total: reports.append((done, total)))
    assert sorted(calls) == list(range(N_FRAMES))
    assert reports[-1][0] == reports[-1][1]
    assert all(a[0] <= b[0] for a, b in pairwise(reports))
    with pytest.raises(CancelledError):
        flow_track(source, N_FRAMES, {k: truth[k] for k in KEYS},
                   should_stop=lambda: len(calls) > N_FRAMES + 5)


def test_methods_registry_has_stable_names_and_one_signature(video) -> None:
    frames, truth = video
    assert {"interpolation", "flow", "dlib"} <= set(METHODS)
    keys = {0: truth[0], 5: truth[5]}
    for name in ("interpolation", "flow", "flow_dis"):
        result = METHODS[name](frames.__getitem__, 6, keys, None, None)
        assert result.method == name and result.points.shape == (6, 68, 2)


# --- validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("propagate", [
    lambda n, keys: interpolate(n, keys),
    lambda n, keys: flow_track(lambda i: np.zeros((48, 64, 3), np.uint8), n, keys),
])
def test_bad_keyframes_are_rejected_with_the_frame_named(propagate) -> None:
    good = mean_shape() * 10 + 30
    with pytest.raises(ValidationError, match="no keyframes"):
        propagate(10, {})
    with pytest.raises(ValidationError, match="frame 10"):
        propagate(10, {10: good})
    with pytest.raises(ValidationError, match="frame -1"):
        propagate(10, {-1: good})
    with pytest.raises(ValidationError, match=r"frame 3.*shape"):
        propagate(10, {3: good[:67]})
    nan = good.copy()
    nan[5, 0] = np.nan
    with pytest.raises(ValidationError, match=r"frame 3.*NaN"):
        propagate(10, {0: good, 3: nan})


def test_bad_frames_and_method_are_rejected(video) -> None:
    frames, truth = video
    keys = {0: truth[0]}
    with pytest.raises(ValidationError, match="method"):
        flow_track(frames.__getitem__, 4, keys, method="farneback")

    def shrinking(index: int) -> np.ndarray:
        return frames[index] if index < 2 else frames[index][:100]

    with pytest.raises(ValidationError, match="frame 2"):
        flow_track(shrinking, 4, keys)
    with pytest.raises(ValidationError, match="frame 0"):
        flow_track(lambda i: frames[i].astype(np.float32), 4, keys)


# --- dlib ----------------------------------------------------------------------------------------

def test_dlib_absent_explains_how_to_install(monkeypatch) -> None:
    monkeypatch.setattr(detector.importlib.util, "find_spec", lambda name: None)
    available, reason = dlib_available()
    assert not available and "pip install dlib-bin face-recognition-models" in reason
    with pytest.raises(FacePropError, match="pip install dlib-bin"):
        dlib_detect(lambda i: np.zeros((48, 64, 3), np.uint8), 3)


needs_dlib = pytest.mark.skipif(not dlib_available()[0], reason="dlib or its model is absent")


@needs_dlib
def test_dlib_falls_back_to_interpolation_where_no_face_is_found() -> None:
    keys = {0: mean_shape() * 40 + 80, 3: mean_shape() * 40 + 90}
    result = dlib_detect(lambda i: np.full((160, 200, 3), 127, np.uint8), 4, keys)
    expected = interpolate(4, keys).points
    assert result.method == "dlib"
    assert np.allclose(result.points, expected)
    assert np.all(result.confidence[[1, 2]] == 0.0) and np.all(result.confidence[[0, 3]] == 1.0)


@needs_dlib
@pytest.mark.shared_data
@pytest.mark.skipif(not (SHARED_DATA / "faces" / "lenna.png").is_file(),
                    reason="../shared/data is absent")
def test_dlib_finds_a_real_face() -> None:
    from core.formats.pts import read_pts

    image = cv2.imread(str(SHARED_DATA / "faces" / "lenna.png"))
    truth = read_pts(SHARED_DATA / "faces" / "lenna.pts")
    shifts = [(0.0, 0.0), (6.0, -4.0), (-5.0, 3.0)]
    frames = [cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), image.shape[1::-1],
                             borderMode=cv2.BORDER_REFLECT) for dx, dy in shifts]
    result = dlib_detect(frames.__getitem__, 3, {0: truth})
    iod = np.linalg.norm(truth[36] - truth[45])
    for i in (1, 2):
        expected = truth + np.float32(shifts[i])
        assert np.linalg.norm(result.points[i] - expected, axis=1).mean() / iod < 0.1
        assert result.confidence[i].min() > 0.5
