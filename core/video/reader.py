"""Frame-exact random access: verified seeks, an LRU frame cache and background prefetch.

``VideoReader.frame(i)`` steps forward when ``i`` is just ahead of the decoder; otherwise it seeks
the container a little before ``i``, identifies where the seek really landed by matching the
fingerprints of the frames it reads against the index (core.video.index), and decodes forward;
when that fails it backs off further, and in the end decodes from the start.

MJPG ``.avi`` files (what ``transcode_to_mjpg`` writes) are read with OpenCV's own AVI/MJPEG
reader, whose seeks go through the AVI index and cost one JPEG decode; its pixels differ from
FFmpeg's JPEG decoder by about a grey level, so compare frames with a ``VideoReader``, not with a
plain ``cv2.VideoCapture``. Every other file is read with FFmpeg.
"""

from __future__ import annotations

import logging
import operator
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np

from core.errors import VideoError
from core.frame_numbers import frame_label
from core.video.frame_cache import FrameCache
from core.video.index import (
    FORWARD_MAX,
    IDENTIFY_MAX_READS,
    MATCH_TOL,
    VideoIndex,
    VideoInfo,
    _check_path,
    _distance,
    _Fingerprinter,
    _info_from,
    _open_capture,
    probe_video,
)

logger = logging.getLogger(__name__)

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
        self._cache = FrameCache(min(int(cache_frames), max_cache_bytes // frame_bytes))
        self._capacity = self._cache.capacity
        self._cap_lock = threading.Lock()
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
                raise VideoError(f"{self._path}: {frame_label(0)} does not match the stored index")
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
        return len(self._cache)

    @property
    def stats(self) -> dict[str, int]:
        """Counters: cache hits/misses, forward steps, seeks, retries, decodes from the start."""
        return dict(self._stats)

    def is_cached(self, i: int) -> bool:
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

    def drop_cache(self) -> None:
        """Forget every decoded frame (benchmarks use it to measure uncached access)."""
        self._cache.clear()

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
        self._cache.clear()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- cache -----------------------------------------------------------------------------
    def _cache_get(self, i: int, count: bool = True) -> np.ndarray | None:
        img = self._cache.get(i)
        if count:
            self._stats["hits" if img is not None else "misses"] += 1
        return img

    def _cache_put(self, i: int, img: np.ndarray) -> None:
        self._cache.put(i, img)

    # -- decoding (all below run with the capture lock held) -------------------------------
    def _check_frame(self, i: int) -> int:
        i = operator.index(i)
        if not 0 <= i < self.frame_count:
            raise VideoError(f"{self._path}: {frame_label(i)} is out of range (the video has "
                             f"{self.frame_count} frames, 1..{self.frame_count})")
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
        raise VideoError(f"{self._path}: decoding stopped at {frame_label(at)} on the way to "
                         f"{frame_label(i)} "
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
            raise VideoError(f"{self._path}: {frame_label(i)} does not match the stored index "
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
            self._cache.touch(reversed(plan))  # keep the window's cached frames from eviction
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
