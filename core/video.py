"""Frame-exact random access to video files: a one-pass index, verified seeks, an LRU frame cache,
background prefetch, and MJPG writing/transcoding.

Container seeks are never trusted. Probing decodes the file once and records, per frame, a cheap
fingerprint (the 8x8 block means of the grey frame, exact to the pixel sum), so the true frame
count is known and any decoded frame can be recognised. ``VideoReader.frame(i)`` steps forward
when ``i`` is just ahead of the decoder; otherwise it seeks the container a little before ``i``,
identifies where the seek really landed by matching the fingerprints of the frames it reads
against the index, and decodes forward; when that fails it backs off further, and in the end
decodes from the start.

MJPG ``.avi`` files (what ``transcode_to_mjpg`` writes) are read with OpenCV's own AVI/MJPEG
reader, whose seeks go through the AVI index and cost one JPEG decode; its pixels differ from
FFmpeg's JPEG decoder by about a grey level, so compare frames with a ``VideoReader``, not with a
plain ``cv2.VideoCapture``. Every other file is read with FFmpeg.
"""

from __future__ import annotations

import hashlib
import json
import logging
import operator
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import CancelledError, VideoError

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]

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
                 should_stop: ShouldStop | None) -> tuple[np.ndarray, _Fingerprinter, list]:
    """Fingerprint every frame; also return the first and last images for a cross-check."""
    rows: list[np.ndarray] = []
    fper: _Fingerprinter | None = None
    ends: list[np.ndarray] = []
    cap = _open_capture(path, backend)
    try:
        while True:
            if should_stop is not None and should_stop():
                raise CancelledError(f"indexing {path} cancelled at frame {len(rows)}")
            ok, img = cap.read()
            if not ok:
                break
            if fper is None:
                fper, ends = _Fingerprinter(*img.shape[:2]), [img, img]
            elif img.shape[:2] != fper.shape:
                raise VideoError(f"{path}: frame {len(rows)} is {img.shape[1]}x{img.shape[0]},"
                                 f" frame 0 is {fper.shape[1]}x{fper.shape[0]}")
            ends[1] = img
            rows.append(fper(img))
            if progress is not None and len(rows) % 16 == 0:
                progress(len(rows), max(expected, len(rows) + 1))
    finally:
        cap.release()
    if fper is None:
        raise VideoError(f"{path}: no decodable frames (empty or corrupt video)")
    return np.stack(rows), fper, ends


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
            fingerprints, fper, ends = _decode_pass(p, backend, reported, progress, should_stop)
            if backend == "mjpeg" and not _agrees_with_ffmpeg(p, len(fingerprints), ends):
                raise VideoError("OpenCV's MJPEG reader disagrees with FFmpeg")
        except VideoError as exc:
            if backend == "ffmpeg":
                raise
            logger.info("%s: %s; indexing with FFmpeg", p, exc)
            backend = "ffmpeg"
            fingerprints, fper, _ = _decode_pass(p, backend, reported, progress, should_stop)
        seek_exact = _verify_container_seeks(p, backend, fingerprints, fper)
        hasher.join()
    finally:
        stop_hash.set()
        hasher.join()
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


class VideoReader:
    """Random access by true frame number, with an LRU cache and an optional prefetch thread.

    One lock guards the capture (and the decoder position), another the cache, so cached frames
    are served while the prefetch worker decodes. Returned frames are read-only BGR uint8 arrays.
    """

    def __init__(self, path: str | os.PathLike[str], index: VideoIndex | None = None,
                 cache_frames: int = 96, *, max_cache_bytes: int = 1 << 30) -> None:
        self._path = _check_path(path)
        if index is None:
            _, index = probe_video(self._path)
        elif index.file_size >= 0 and index.file_size != self._path.stat().st_size:
            raise VideoError(f"{self._path}: the file changed since it was indexed (size "
                             f"{self._path.stat().st_size} bytes, indexed {index.file_size})")
        self._index = index
        self._info = _info_from(path, index)
        self._fps = index.fingerprints
        self._fper = _Fingerprinter(index.height, index.width)
        frame_bytes = max(1, index.width * index.height * 3)
        self._capacity = max(0, min(int(cache_frames), max_cache_bytes // frame_bytes))
        self._cap_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._backend = index.backend
        self._cap = _open_capture(self._path, self._backend)
        self._pos: int | None = 0  # true index of the frame the next read() returns
        self._seek_exact = index.seek_exact
        self._margin = 16
        self._cost = {"seek": 0.0, "step": 0.0}  # EWMA seconds: one seek-path call, one frame
        self._stats = dict.fromkeys(("hits", "misses", "forward", "seeks", "retries",
                                     "from_start", "prefetched"), 0)
        self._closed = False
        self._cond = threading.Condition()
        self._request: tuple[int, int, int] | None = None
        self._generation = 0
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._fg_count = 0
        self._fg_idle = threading.Event()
        self._fg_idle.set()
        try:
            if not self._matches(self.frame(0), 0):
                raise VideoError(f"{self._path}: frame 0 does not match the stored index")
        except BaseException:
            self.close()
            raise

    # -- properties -------------------------------------------------------------------------
    @property
    def info(self) -> VideoInfo:
        return self._info

    @property
    def index(self) -> VideoIndex:
        return self._index

    @property
    def frame_count(self) -> int:
        return self._info.frame_count

    @property
    def fps(self) -> float:
        return self._info.fps

    @property
    def width(self) -> int:
        return self._info.width

    @property
    def height(self) -> int:
        return self._info.height

    @property
    def cache_capacity(self) -> int:
        return self._capacity

    @property
    def cache_size(self) -> int:
        with self._cache_lock:
            return len(self._cache)

    @property
    def stats(self) -> dict[str, int]:
        """Counters: cache hits/misses, forward steps, seeks, retries, decodes from the start."""
        return dict(self._stats)

    def is_cached(self, i: int) -> bool:
        with self._cache_lock:
            return i in self._cache

    # -- public reading ---------------------------------------------------------------------
    def frame(self, i: int) -> np.ndarray:
        i = self._check_frame(i)
        img = self._cache_get(i)
        if img is not None:
            return img
        with self._foreground():
            img = self._cache_get(i, count=False)  # prefetch may have decoded it meanwhile
            if img is None:
                img = self._decode(i)
                img.flags.writeable = False
                self._cache_put(i, img)
        return img

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``start .. stop-1`` in order, decoded sequentially; frames not already cached
        are decoded without entering the cache (treat all as read-only)."""
        stop = self.frame_count if stop is None else operator.index(stop)
        start = operator.index(start)
        if not 0 <= start <= stop <= self.frame_count:
            raise VideoError(f"{self._path}: frame range {start}..{stop} is outside "
                             f"0..{self.frame_count}")
        return self._iter_frames(start, stop)

    def _iter_frames(self, start: int, stop: int) -> Iterator[np.ndarray]:
        for i in range(start, stop):
            img = self._cache_get(i)
            if img is None:
                with self._foreground():
                    img = self._decode(i)
            yield img

    def prefetch(self, centre: int, before: int = 8, after: int = 24) -> None:
        """Ask the worker thread to decode frames around ``centre`` into the cache; no waiting."""
        if self._closed or self._stopping or self._capacity < 2:
            return
        centre = min(max(operator.index(centre), 0), self.frame_count - 1)
        after = max(0, min(after, self._capacity - 1))
        before = max(0, min(before, self._capacity - 1 - after))
        request = (centre, max(0, centre - before), min(self.frame_count, centre + after + 1))
        with self._cond:
            self._request = request
            self._generation += 1
            self._cond.notify_all()
            if self._worker is None:
                self._worker = threading.Thread(target=self._prefetch_loop, daemon=True,
                                                name=f"prefetch-{self._path.name}")
                self._worker.start()

    def close(self) -> None:
        """Stop the prefetch thread, release the decoder and drop the cache (idempotent)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=10)
        with self._cap_lock:
            if not self._closed:
                self._closed = True
                self._cap.release()
        with self._cache_lock:
            self._cache.clear()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- cache -----------------------------------------------------------------------------
    def _cache_get(self, i: int, count: bool = True) -> np.ndarray | None:
        with self._cache_lock:
            img = self._cache.get(i)
            if img is not None:
                self._cache.move_to_end(i)
            if count:
                self._stats["hits" if img is not None else "misses"] += 1
            return img

    def _cache_put(self, i: int, img: np.ndarray) -> None:
        if self._capacity <= 0:
            return
        with self._cache_lock:
            self._cache[i] = img
            self._cache.move_to_end(i)
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)

    # -- decoding (all below run with the capture lock held) -------------------------------
    def _check_frame(self, i: int) -> int:
        i = operator.index(i)
        if not 0 <= i < self.frame_count:
            raise VideoError(f"{self._path}: frame {i} is out of range (the video has "
                             f"{self.frame_count} frames, 0..{self.frame_count - 1})")
        return i

    @contextmanager
    def _foreground(self) -> Iterator[None]:
        """Hold the capture; the prefetch worker gives way while a caller waits for it."""
        with self._cond:
            self._fg_count += 1
            self._fg_idle.clear()
        try:
            with self._cap_lock:
                if self._closed:
                    raise VideoError(f"{self._path}: the reader is closed")
                yield
        finally:
            with self._cond:
                self._fg_count -= 1
                if self._fg_count == 0:
                    self._fg_idle.set()

    def _decode(self, i: int) -> np.ndarray:
        t0 = time.perf_counter()
        gap = -1 if self._pos is None else i - self._pos
        if gap >= 0 and self._prefer_forward(gap):
            img = self._step_to(i)
            self._stats["forward"] += 1
            self._learn("step", (time.perf_counter() - t0) / (gap + 1))
            return img
        img = self._seek_to(i)
        self._stats["seeks"] += 1
        self._learn("seek", time.perf_counter() - t0)
        return img

    def _learn(self, kind: str, seconds: float) -> None:
        old = self._cost[kind]
        self._cost[kind] = seconds if old == 0.0 else 0.8 * old + 0.2 * seconds

    def _prefer_forward(self, gap: int) -> bool:
        if gap == 0:
            return True
        if gap > FORWARD_MAX:
            return False
        if self._cost["seek"] > 0.0 and self._cost["step"] > 0.0:
            return (gap + 1) * self._cost["step"] <= self._cost["seek"]
        return gap <= (FORWARD_MAX if self._backend == "mjpeg" else 64)

    def _step_to(self, i: int) -> np.ndarray:
        assert self._pos is not None and self._pos <= i
        while self._pos < i:
            if not self._cap.grab():
                return self._lost(i)
            self._pos += 1
        ok, img = self._cap.read()
        if not ok:
            return self._lost(i)
        self._pos = i + 1
        return img

    def _lost(self, i: int) -> np.ndarray:
        at = self._pos
        self._pos = None
        raise VideoError(f"{self._path}: decoding stopped at frame {at} on the way to frame {i} "
                         "(was the file truncated since it was indexed?)")

    def _matches(self, img: np.ndarray, i: int) -> bool:
        return img.shape[:2] == self._fper.shape and \
            float(_distance(self._fper(img), self._fps[i])) <= MATCH_TOL

    def _seek_to(self, i: int) -> np.ndarray:
        margins = [0] if self._seek_exact else []
        margins += [self._margin * 4**k for k in range(6)]
        for margin in margins:
            start = max(0, i - margin)
            found = self._identify_after_seek(start)
            if found is not None and found[0] <= i:
                img = found[1] if found[0] == i else self._step_to(i)
                if self._matches(img, i):
                    return img
            if margin == 0 and (found is None or found[2] != start):
                logger.info("%s: container seek to %d was not exact; verifying seeks from now",
                            self._path, i)
                self._seek_exact = False
            self._stats["retries"] += 1
            if start == 0:
                break
        logger.warning("%s: could not place a seek near frame %d; decoding from the start",
                       self._path, i)
        self._stats["from_start"] += 1
        self._cap.release()
        self._cap = _open_capture(self._path, self._backend)
        self._pos = 0
        img = self._step_to(i)
        if not self._matches(img, i):
            raise VideoError(f"{self._path}: frame {i} does not match the stored index "
                             "(the file changed since it was indexed)")
        return img

    def _identify_after_seek(self, start: int) -> tuple[int, np.ndarray, int] | None:
        """Seek the container to ``start``; return the true index and image of the last frame read
        and the true index of the first frame the seek landed on.

        Candidates are index positions whose fingerprints match the run of frames read so far;
        exact matches win over tolerant ones. Ambiguity (repeated frames) reads on.
        """
        n = len(self._fps)
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        self._pos = None
        window = max(64, 2 * self._margin + IDENTIFY_MAX_READS)
        near = exact = None
        first_k = 0
        for k in range(IDENTIFY_MAX_READS):
            ok, img = self._cap.read()
            if not ok or img.shape[:2] != self._fper.shape:
                return None
            fp = self._fper(img)
            if near is None:  # the first readable frame that matches anything starts the run
                lo, hi = max(0, start - window), min(n, start + window + 1)
                d = _distance(self._fps[lo:hi], fp)
                if not (d <= MATCH_TOL).any():
                    lo, d = 0, _distance(self._fps, fp)
                near, exact = lo + np.flatnonzero(d <= MATCH_TOL), lo + np.flatnonzero(d == 0)
                first_k = k
                if near.size == 0:
                    near = None
                    continue
            else:
                near, exact = near[near + 1 < n] + 1, exact[exact + 1 < n] + 1
                near = near[_distance(self._fps[near], fp) <= MATCH_TOL]
                exact = exact[_distance(self._fps[exact], fp) == 0]
                if near.size == 0:
                    return None
            if exact.size == 1 or (exact.size == 0 and near.size == 1):
                at = int(exact[0] if exact.size else near[0])
                self._pos = at + 1
                landed = at - (k - first_k)
                self._margin = max(self._margin, min(2 * abs(landed - start) + 4, 256))
                return at, img, landed
        return None

    # -- prefetch worker --------------------------------------------------------------------
    def _prefetch_loop(self) -> None:
        while True:
            with self._cond:
                while self._request is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                centre, lo, hi = self._request
                self._request, generation = None, self._generation
            plan = [*range(centre, hi), *range(lo, centre)]
            with self._cache_lock:  # keep frames of the window that are cached from eviction
                for j in reversed(plan):
                    if j in self._cache:
                        self._cache.move_to_end(j)
            for j in plan:
                if self._stopping or self._generation != generation:
                    break
                if self.is_cached(j):
                    continue
                while not self._fg_idle.wait(0.05):
                    if self._stopping:
                        return
                with self._cap_lock:
                    if self._closed or self._stopping:
                        return
                    if self.is_cached(j):
                        continue
                    try:
                        img = self._decode(j)
                    except Exception as exc:  # a worker must not die on one bad frame
                        logger.warning("%s: prefetch of frame %d failed: %s", self._path, j, exc)
                        break
                img.flags.writeable = False
                self._cache_put(j, img)
                self._stats["prefetched"] += 1


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
                raise VideoError(f"{p}: frame {n} must be uint8 (H,W) or (H,W,3), "
                                 f"got {a.dtype} {a.shape}")
            if a.ndim == 2:
                a = cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
            if writer is None:
                size = (a.shape[1], a.shape[0])
                writer = _open_writer(p, fourcc, fps, size, quality)
            elif (a.shape[1], a.shape[0]) != size:
                raise VideoError(f"{p}: frame {n} is {a.shape[1]}x{a.shape[0]}, "
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
                raise CancelledError(f"transcoding {s} cancelled at frame {count}")
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
