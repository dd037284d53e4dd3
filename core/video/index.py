"""Probing and indexing a video: the true frame count and a per-frame fingerprint.

Container seeks and frame counts are never trusted. Probing decodes the file once and records,
per frame, a cheap fingerprint (the 8x8 block means of the grey frame, exact to the pixel sum), so
the true frame count is known and any decoded frame can be recognised later (core.video.reader).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import CancelledError, VideoError
from core.frame_numbers import frame_label
from core.progress import Progress, ShouldStop

logger = logging.getLogger(__name__)


GRID = 8  # fingerprint: GRID x GRID block means of the grey frame, float32
MATCH_TOL = 0.5  # mean |difference| of block means (grey levels) still read as "the same frame"
IDENTIFY_MAX_READS = 32  # frames read after a seek to pin down where it landed
FORWARD_MAX = 512  # never step forward over more frames than this instead of seeking
_INDEX_MAGIC = b"FPVIDX1\n"


@dataclass(frozen=True)
class VideoInfo:
    """What probing learned; ``frame_count`` is the decoded count, not the header's."""

    path: str
    frame_count: int
    fps: float
    width: int
    height: int
    container_frame_count: int
    content_hash: str
    seek_exact: bool


@dataclass(frozen=True, eq=False)
class VideoIndex:
    """Per-frame fingerprints ``(N, GRID*GRID)`` float32 plus the facts a reader needs."""

    fingerprints: np.ndarray
    fps: float
    width: int
    height: int
    container_frame_count: int
    seek_exact: bool
    content_hash: str = ""
    file_size: int = -1
    backend: str = "ffmpeg"  # the decoder the fingerprints came from; readers use the same

    @property
    def frame_count(self) -> int:
        return int(self.fingerprints.shape[0])

    def to_bytes(self) -> bytes:
        """A self-describing blob (magic, JSON header, little-endian float32 array)."""
        fp = np.ascontiguousarray(self.fingerprints, dtype="<f4")
        header = {"shape": list(fp.shape), "fps": self.fps, "width": self.width,
                  "height": self.height, "container_frame_count": self.container_frame_count,
                  "seek_exact": self.seek_exact, "content_hash": self.content_hash,
                  "file_size": self.file_size, "backend": self.backend}
        head = json.dumps(header, sort_keys=True).encode()
        return _INDEX_MAGIC + struct.pack("<I", len(head)) + head + fp.tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> VideoIndex:
        try:
            if not blob.startswith(_INDEX_MAGIC):
                raise ValueError("bad magic")
            start = len(_INDEX_MAGIC) + 4
            (size,) = struct.unpack_from("<I", blob, len(_INDEX_MAGIC))
            h = json.loads(blob[start:start + size])
            rows, cols = (int(v) for v in h["shape"])
            data = np.frombuffer(blob, dtype="<f4", offset=start + size)
            if data.size != rows * cols or rows < 1 or cols != GRID * GRID or \
                    h.get("backend", "ffmpeg") not in ("ffmpeg", "mjpeg"):
                raise ValueError(f"{data.size} values for shape {(rows, cols)}")
            return cls(data.reshape(rows, cols).astype(np.float32), float(h["fps"]),
                       int(h["width"]), int(h["height"]), int(h["container_frame_count"]),
                       bool(h["seek_exact"]), str(h["content_hash"]), int(h["file_size"]),
                       h.get("backend", "ffmpeg"))
        except (ValueError, KeyError, TypeError, struct.error) as exc:
            raise VideoError(f"corrupt video index blob ({len(blob)} bytes): {exc}") from None


class _Fingerprinter:
    """Exact block means of the grey frame from an integral image (about 0.2 ms at 640x480)."""

    def __init__(self, height: int, width: int) -> None:
        self.shape = (height, width)
        self.ys = np.linspace(0, height, GRID + 1).round().astype(np.intp)
        self.xs = np.linspace(0, width, GRID + 1).round().astype(np.intp)
        self.area = np.maximum(np.outer(np.diff(self.ys), np.diff(self.xs)), 1).astype(np.float64)
        self.depth = cv2.CV_32S if height * width * 255 < 2**31 else cv2.CV_64F

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
        corners = cv2.integral(gray, sdepth=self.depth)[np.ix_(self.ys, self.xs)]
        c = corners.astype(np.float64)
        sums = c[1:, 1:] - c[:-1, 1:] - c[1:, :-1] + c[:-1, :-1]
        return (sums / self.area).astype(np.float32).ravel()


def _distance(fingerprints: np.ndarray, fp: np.ndarray) -> np.ndarray:
    return np.abs(fingerprints - fp).mean(axis=-1)


def _check_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise VideoError(f"video file not found: {p}")
    if not p.is_file():
        raise VideoError(f"not a video file (it is a folder or device): {p}")
    return p


def _open_capture(path: Path, backend: str = "ffmpeg") -> cv2.VideoCapture:
    """The one place captures are made (tests wrap it to simulate containers that seek badly).

    ``ffmpeg`` reads anything; ``mjpeg`` is OpenCV's own AVI/MJPEG reader, which seeks through the
    AVI index and decodes only what is retrieved (FFmpeg's seek decodes ~16 frames each time).
    """
    api = cv2.CAP_OPENCV_MJPEG if backend == "mjpeg" else cv2.CAP_FFMPEG
    cap = cv2.VideoCapture(str(path), api)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{path}: cannot open as a video (not a video, or an unsupported codec)")
    return cap


def _hash_file(path: Path, chunk: int, stop: threading.Event | None = None) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(chunk):
                if stop is not None and stop.is_set():
                    return ""
                digest.update(block)
    except OSError as exc:
        raise VideoError(f"{path}: cannot read file: {exc}") from None
    return digest.hexdigest()


def file_hash(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """sha256 hex digest of the file content."""
    return _hash_file(_check_path(path), chunk)


def sample_hash(path: str | os.PathLike[str], blocks: int = 16, block: int = 1 << 16) -> str:
    """A cheap identity of a file: sha256 over its size and ``blocks`` evenly spaced blocks
    (first and last included). Reads about 1 MB whatever the size; a replaced or re-encoded
    video changes it, while checking a 2 GB file stays instant."""
    p = _check_path(path)
    digest = hashlib.sha256()
    try:
        size = p.stat().st_size
        digest.update(size.to_bytes(8, "little"))
        with open(p, "rb") as fh:
            last = max(size - block, 0)
            for offset in dict.fromkeys(last * i // max(blocks - 1, 1) for i in range(blocks)):
                fh.seek(offset)
                digest.update(fh.read(block))
    except OSError as exc:
        raise VideoError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    return digest.hexdigest()


def _verify_container_seeks(path: Path, backend: str, fps: np.ndarray, fper: _Fingerprinter,
                            checks: int = 6) -> bool:
    """Seek to a few frames whose fingerprint is unique nearby; True when all land exactly."""
    n = len(fps)
    if n < 3:
        return True
    tested = 0
    cap = _open_capture(path, backend)
    try:
        for t in dict.fromkeys(np.linspace(n - 1, 1, 4 * checks).round().astype(int).tolist()):
            near = np.r_[max(0, t - 3):t, t + 1:min(n, t + 4)]
            if tested == checks or _distance(fps[near], fps[t]).min() <= MATCH_TOL:
                continue
            cap.set(cv2.CAP_PROP_POS_FRAMES, t)
            ok, img = cap.read()
            if not ok or img.shape[:2] != fper.shape or _distance(fper(img), fps[t]) > 0:
                return False
            tested += 1
    finally:
        cap.release()
    return tested > 0


def _decode_pass(path: Path, backend: str, expected: int, progress: Progress | None,
                 should_stop: ShouldStop | None
                 ) -> tuple[np.ndarray, _Fingerprinter, list, list[float]]:
    """Fingerprint every frame, in decode order; also return the first and last images for a
    cross-check and each frame's timestamp (ms, as the decoder reports it)."""
    rows: list[np.ndarray] = []
    stamps: list[float] = []
    fper: _Fingerprinter | None = None
    ends: list[np.ndarray] = []
    cap = _open_capture(path, backend)
    try:
        while True:
            if should_stop is not None and should_stop():
                raise CancelledError(f"indexing {path} cancelled at {frame_label(len(rows))}")
            ok, img = cap.read()
            if not ok:
                break
            if fper is None:
                fper, ends = _Fingerprinter(*img.shape[:2]), [img, img]
            elif img.shape[:2] != fper.shape:
                raise VideoError(f"{path}: {frame_label(len(rows))} is "
                                 f"{img.shape[1]}x{img.shape[0]}, {frame_label(0)} is "
                                 f"{fper.shape[1]}x{fper.shape[0]}")
            ends[1] = img
            rows.append(fper(img))
            stamps.append(float(cap.get(cv2.CAP_PROP_POS_MSEC)))
            if progress is not None and len(rows) % 16 == 0:
                progress(len(rows), max(expected, len(rows) + 1))
    finally:
        cap.release()
    if fper is None:
        raise VideoError(f"{path}: no decodable frames (empty or corrupt video)")
    return np.stack(rows), fper, ends, stamps


#: Timestamps whose median interval differs from the container's frame rate by more than this
#: fraction mean a variable-frame-rate file: the median interval is its rate.
VFR_TOLERANCE = 0.01


def frame_rate(stamps_ms: list[float], reported: float) -> float:
    """The video's frame rate for timing (the smoother's motion model): the median interval of
    the decoded frames' timestamps when they increase and disagree with the container's rate
    (a variable-frame-rate file, or a header that lies), else the container's rate."""
    stamps = np.asarray(stamps_ms, dtype=np.float64)
    if len(stamps) < 3 or not np.isfinite(stamps).all():
        return reported
    steps = np.diff(stamps)
    if (steps <= 0).any():  # no usable timestamps (some decoders report none)
        return reported
    measured = 1000.0 / float(np.median(steps))
    if not 0 < reported < 1000 or abs(measured / reported - 1.0) > VFR_TOLERANCE:
        return measured
    return reported


def _agrees_with_ffmpeg(path: Path, n: int, ends: list[np.ndarray]) -> bool:
    """Spot-check OpenCV's AVI/MJPEG reader against FFmpeg on the first and last frames (the
    decoders differ by about a grey level; a parsing error differs by much more)."""
    cap = _open_capture(path)
    try:
        for t, img in zip((0, n - 1), ends, strict=True):
            cap.set(cv2.CAP_PROP_POS_FRAMES, t)
            ok, other = cap.read()
            if not ok or other.shape != img.shape or float(cv2.absdiff(other, img).mean()) > 4:
                return False
    finally:
        cap.release()
    return True


def probe_video(path: str | os.PathLike[str], progress: Progress | None = None,
                should_stop: ShouldStop | None = None) -> tuple[VideoInfo, VideoIndex]:
    """Decode the whole file once: true frame count, size, fingerprints, and a seek check."""
    p = _check_path(path)
    stop_hash = threading.Event()
    hashed: dict[str, str] = {}

    def hash_in_background() -> None:
        try:
            hashed["h"] = _hash_file(p, 1 << 20, stop_hash)
        except VideoError as exc:
            logger.warning("%s", exc)

    hasher = threading.Thread(target=hash_in_background, name="video-hash", daemon=True)
    hasher.start()
    try:
        cap = _open_capture(p)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").upper()
        cap.release()
        backend = "mjpeg" if fourcc == b"MJPG" and p.suffix.lower() == ".avi" else "ffmpeg"
        try:
            fingerprints, fper, ends, stamps = _decode_pass(p, backend, reported, progress,
                                                            should_stop)
            if backend == "mjpeg" and not _agrees_with_ffmpeg(p, len(fingerprints), ends):
                raise VideoError("OpenCV's MJPEG reader disagrees with FFmpeg")
        except VideoError as exc:
            if backend == "ffmpeg":
                raise
            logger.info("%s: %s; indexing with FFmpeg", p, exc)
            backend = "ffmpeg"
            fingerprints, fper, _, stamps = _decode_pass(p, backend, reported, progress,
                                                         should_stop)
        seek_exact = _verify_container_seeks(p, backend, fingerprints, fper)
        hasher.join()
    finally:
        stop_hash.set()
        hasher.join()
    timed = frame_rate(stamps, fps)
    if timed != fps:
        logger.info("%s: container reports %.3f fps; the frames' timestamps say %.3f (median "
                    "interval): using that", p, fps, timed)
        fps = timed
    if not 0 < fps < 1000:
        logger.warning("%s: container reports fps %r; using 25", p, fps)
        fps = 25.0
    n = len(fingerprints)
    if n != reported:
        logger.info("%s: container reports %d frames, %d decoded", p, reported, n)
    index = VideoIndex(fingerprints, fps, fper.shape[1], fper.shape[0], reported, seek_exact,
                       hashed.get("h", ""), p.stat().st_size, backend)
    if progress is not None:
        progress(n, n)
    return _info_from(p, index), index


def _info_from(path: str | os.PathLike[str], index: VideoIndex) -> VideoInfo:
    return VideoInfo(os.fspath(path), index.frame_count, index.fps, index.width, index.height,
                     index.container_frame_count, index.content_hash, index.seek_exact)
