"""Writing videos (MJPG by default) and transcoding to MJPG while indexing in the same pass."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from core.errors import CancelledError, VideoError
from core.frame_numbers import frame_label
from core.video.index import (
    Progress,
    ShouldStop,
    VideoIndex,
    VideoInfo,
    _check_path,
    _open_capture,
    probe_video,
)


def _open_writer(path: Path, fourcc: str, fps: float, size: tuple[int, int],
                 quality: int) -> cv2.VideoWriter:
    code = cv2.VideoWriter_fourcc(*fourcc)
    if fourcc.upper() == "MJPG" and path.suffix.lower() == ".avi":
        writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, code, fps, size)
        if writer.isOpened():
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(quality))
            return writer
    writer = cv2.VideoWriter(str(path), code, fps, size)
    if not writer.isOpened():
        raise VideoError(f"{path}: cannot open a video writer for fourcc {fourcc!r} "
                         "(unsupported codec/container, or the folder is not writable)")
    return writer


def write_video(path: str | os.PathLike[str], frames: Iterable[np.ndarray], fps: float,
                fourcc: str = "MJPG", *, quality: int = 95) -> int:
    """Write BGR (or grey) uint8 frames of one size; returns the number of frames written."""
    p = Path(path)
    if not fps > 0 or len(fourcc) != 4:
        raise VideoError(f"{p}: cannot write with fps={fps!r} and fourcc={fourcc!r}")
    writer: cv2.VideoWriter | None = None
    size = (0, 0)
    n = 0
    try:
        for frame in frames:
            a = np.asarray(frame)
            if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
                raise VideoError(f"{p}: {frame_label(n)} must be uint8 (H,W) or (H,W,3), "
                                 f"got {a.dtype} {a.shape}")
            if a.ndim == 2:
                a = cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
            if writer is None:
                size = (a.shape[1], a.shape[0])
                writer = _open_writer(p, fourcc, fps, size, quality)
            elif (a.shape[1], a.shape[0]) != size:
                raise VideoError(f"{p}: {frame_label(n)} is {a.shape[1]}x{a.shape[0]}, "
                                 f"frame 0 is {size[0]}x{size[1]}")
            writer.write(np.ascontiguousarray(a))
            n += 1
    except BaseException:
        if writer is not None:
            writer.release()
            p.unlink(missing_ok=True)
        raise
    if writer is None:
        raise VideoError(f"{p}: no frames to write")
    writer.release()
    return n


def transcode_and_index(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                        quality: int = 95, progress: Progress | None = None,
                        should_stop: ShouldStop | None = None) -> tuple[VideoInfo, VideoIndex]:
    """Re-encode ``src`` as intra-only MJPG at ``dst`` (written atomically), then index ``dst``."""
    s, d = _check_path(src), Path(dst)
    if d.exists() and d.resolve() == s.resolve():
        raise VideoError(f"{s}: cannot transcode a file onto itself")
    tmp = d.with_name(f"{d.stem}.part{d.suffix}")
    cap = _open_capture(s)
    estimate = max(1, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)

    def decoded() -> Iterator[np.ndarray]:
        count = 0
        while True:
            if should_stop is not None and should_stop():
                raise CancelledError(f"transcoding {s} cancelled at {frame_label(count)}")
            ok, img = cap.read()
            if not ok:
                if count == 0:
                    raise VideoError(f"{s}: no decodable frames (empty or corrupt video)")
                return
            yield img
            count += 1
            if progress is not None and count % 16 == 0:
                progress(count, 2 * max(estimate, count + 1))

    try:
        written = write_video(tmp, decoded(), fps if 0 < fps < 1000 else 25.0, "MJPG",
                              quality=quality)
    finally:
        cap.release()
    os.replace(tmp, d)
    phase2 = None if progress is None else (lambda k, n: progress(written + k, written + n))
    info, index = probe_video(d, phase2, should_stop)
    if info.frame_count != written:
        raise VideoError(f"{d}: wrote {written} frames but {info.frame_count} decode back")
    return info, index


def transcode_to_mjpg(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                      quality: int = 95, progress: Progress | None = None,
                      should_stop: ShouldStop | None = None) -> VideoInfo:
    """Re-encode ``src`` as MJPG (every frame a keyframe, so seeks are exact and cheap)."""
    return transcode_and_index(src, dst, quality, progress, should_stop)[0]
