"""Fixtures shared by every test package: offscreen Qt, temporary projects, tiny videos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()


def decode_all(path: Path, backend: str = "ffmpeg") -> list[np.ndarray]:
    """The reference decode: every frame of a plain sequential cv2 read with ``backend``
    ("ffmpeg", or "mjpeg" for OpenCV's own MJPEG reader)."""
    import cv2

    api = cv2.CAP_OPENCV_MJPEG if backend == "mjpeg" else cv2.CAP_FFMPEG
    cap = cv2.VideoCapture(str(path), api)
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def shared_data_or_skip(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test when a user's clone has no such folder."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (it ships only with the development workspace)")
    return path


def write_numbered_video(path: Path, frames: int = 40, size: tuple[int, int] = (160, 120),
                         fps: float = 25.0, fourcc: str = "MJPG") -> Path:
    """A small video whose frames are all different: the frame number drawn large, plus noise."""
    import cv2

    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"cannot write {path} with {fourcc}"
    rng = np.random.default_rng(7)
    for i in range(frames):
        image = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
        cv2.putText(image, str(i), (8, height - 20), cv2.FONT_HERSHEY_SIMPLEX, 1.6,
                    (255, 255, 255), 3)
        cv2.circle(image, (int(10 + i * 3) % width, 20), 8, (0, 0, 255), -1)
        writer.write(image)
    writer.release()
    return path


@pytest.fixture
def tiny_video(tmp_path: Path) -> Path:
    return write_numbered_video(tmp_path / "tiny.avi")


@pytest.fixture
def project(tmp_path: Path):
    from core.store import Project

    with Project.create_or_open(tmp_path / "test.faceprop.sqlite") as proj:
        yield proj


@pytest.fixture
def project_with_video(project, tiny_video: Path):
    video = project.videos.add(tiny_video)
    return project, video
