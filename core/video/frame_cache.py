"""A thread-safe LRU cache of decoded frames, bounded by a frame count.

The reader and its prefetch thread share one; ``touch`` marks frames of the prefetch window as
recently used so that prefetching ahead never evicts the frames the person is looking at.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np


class FrameCache:
    """Decoded frames by index, least recently used evicted first; ``capacity`` 0 keeps none."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, int(capacity))
        self._lock = threading.Lock()
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()

    def get(self, i: int) -> np.ndarray | None:
        with self._lock:
            img = self._frames.get(i)
            if img is not None:
                self._frames.move_to_end(i)
            return img

    def put(self, i: int, img: np.ndarray) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._frames[i] = img
            self._frames.move_to_end(i)
            while len(self._frames) > self.capacity:
                self._frames.popitem(last=False)

    def touch(self, indices: Iterable[int]) -> None:
        """Mark the cached ones among ``indices`` as just used."""
        with self._lock:
            for i in indices:
                if i in self._frames:
                    self._frames.move_to_end(i)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()

    def __contains__(self, i: object) -> bool:
        with self._lock:
            return i in self._frames

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)
