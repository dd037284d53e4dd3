"""Variable-frame-rate files (issue 12 §4): frames are indexed in decode order, and the frame
rate the smoother uses is the median interval of the frames' timestamps, not the container's
guess."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core.store import Project
from core.video import VideoReader, probe_video
from core.video.index import frame_rate
from tests.mkv import write_mkv


def numbered_frames(count: int) -> list[np.ndarray]:
    frames = []
    for i in range(count):
        frame = np.full((48, 64, 3), 6 * i, np.uint8)
        cv2.putText(frame, str(i), (4, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        frames.append(frame)
    return frames


@pytest.fixture
def vfr_video(tmp_path: Path) -> tuple[Path, list[np.ndarray], list[int]]:
    rng = np.random.default_rng(0)
    intervals = rng.choice([33, 50, 50, 67, 100], size=29)  # a median of 50 ms: 20 fps
    stamps = np.concatenate([[0], np.cumsum(intervals)]).tolist()
    frames = numbered_frames(30)
    return write_mkv(tmp_path / "vfr.mkv", frames, stamps), frames, stamps


def test_a_variable_frame_rate_file_is_timed_by_its_median_interval(vfr_video) -> None:
    path, frames, stamps = vfr_video
    info, _ = probe_video(path)
    assert info.frame_count == len(frames)
    assert info.fps == pytest.approx(1000.0 / np.median(np.diff(stamps)))
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FPS) != pytest.approx(info.fps)


def test_its_frames_are_read_in_decode_order_and_the_project_keeps_its_rate(
        vfr_video, tmp_path: Path) -> None:
    path, frames, _ = vfr_video
    with VideoReader(path) as reader:
        for i in (0, 17, 5, 29, 11):  # random access lands on the frame decoded i-th
            grey = float(reader.frame(i)[30:, 50:].mean())
            assert abs(grey - frames[i][30:, 50:].mean()) < 4
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        video = project.videos.add(path)
        assert project.videos.get(video.id).fps == pytest.approx(20.0)


def test_frame_rate_falls_back_to_the_container_without_usable_timestamps() -> None:
    assert frame_rate([0.0, 40.0, 80.0, 120.0], 25.0) == 25.0  # agrees: the container's
    assert frame_rate([0.0, 40.4, 80.0, 120.0], 25.0) == 25.0  # within 1 %
    assert frame_rate([0.0, 50.0, 100.0, 180.0], 25.0) == pytest.approx(20.0)
    assert frame_rate([0.0, 0.0, 0.0, 0.0], 25.0) == 25.0  # the decoder gave none
    assert frame_rate([0.0, 40.0], 25.0) == 25.0  # too few
    assert frame_rate([0.0, 50.0, 100.0], 0.0) == pytest.approx(20.0)  # no header rate
