"""Per-frame statistics and the suggestion score."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ValidationError
from core.framestats import disagreement, per_frame_jitter, run_statistics, suggestion_score
from core.landmarks import mean_shape


def track(frames: int = 20) -> np.ndarray:
    base = mean_shape() * 100 + 200  # face size 180 px (the box's larger side)
    return np.stack([base + [t * 2.0, 0.0] for t in range(frames)]).astype(np.float64)


def test_jitter_is_zero_on_smooth_motion_and_peaks_on_the_jumping_frame():
    points = track()
    np.testing.assert_allclose(per_frame_jitter(points), 0, atol=1e-9)
    points[7] += [1.8, 0.0]  # 1 % of the face size
    jitter = per_frame_jitter(points)
    assert int(np.argmax(jitter)) == 7
    assert jitter[7] == pytest.approx(1.0, rel=1e-3)
    assert jitter[6] == pytest.approx(0.5, rel=1e-3)


def test_disagreement_in_percent_of_face_size():
    a = track(3)
    np.testing.assert_allclose(disagreement(a, a + [0.0, 3.6]), 2.0, rtol=1e-6)


def test_suggestion_score_ranks_the_odd_frame_first_and_ignores_keyframes():
    rng = np.random.default_rng(1)
    jitter = rng.uniform(0.1, 0.2, 50)
    jitter[[13, 20]] = 3.0
    score = suggestion_score({"jitter": jitter}, keyframes=[20])
    assert int(np.argmax(score)) == 13 and score[20] == 0.0
    with pytest.raises(ValidationError, match="unknown"):
        suggestion_score({"wobble": jitter}, [])


def test_run_statistics_columns():
    points = track()
    confidence = np.full((20, 68), 0.9)
    confidence[5] = 0.1
    stats = run_statistics(points, confidence, keyframes=[0, 19],
                           extra={"forward_backward": np.zeros(20)})
    assert set(stats) == {"jitter", "confidence", "forward_backward", "suggestion_score"}
    assert int(np.argmax(stats["suggestion_score"])) == 5
    assert stats["confidence"][5] == pytest.approx(0.1)
