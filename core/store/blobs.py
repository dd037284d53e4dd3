"""Numpy arrays as little-endian blobs, with their shape checked when read back."""

from __future__ import annotations

import numpy as np

from core.errors import StoreError


def pack(array: np.ndarray, dtype: str) -> bytes:
    """Little-endian bytes of ``array`` converted to ``dtype`` ("<f4", "u1", ...)."""
    return np.ascontiguousarray(array, dtype=np.dtype(dtype)).tobytes()


def unpack(blob: bytes, dtype: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A writable array from ``blob``; a clear StoreError when its size does not fit ``shape``."""
    dt = np.dtype(dtype)
    expected = int(np.prod(shape)) * dt.itemsize
    if blob is None or len(blob) != expected:
        got = "nothing" if blob is None else f"{len(blob)} bytes"
        raise StoreError(f"{what}: stored array has {got}, expected {expected} bytes for shape "
                         f"{shape}; the project file may be damaged")
    return np.frombuffer(blob, dtype=dt).reshape(shape).copy()


def unpack_many(blobs: list[bytes], dtype: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Stack many same-shaped blobs into one ``(len(blobs), *shape)`` array in one pass."""
    dt = np.dtype(dtype)
    item = int(np.prod(shape)) * dt.itemsize
    if not blobs:
        return np.zeros((0, *shape), dtype=dt)
    joined = b"".join(blobs)
    if len(joined) != item * len(blobs) or any(len(b) != item for b in blobs):
        bad = next(i for i, b in enumerate(blobs) if b is None or len(b) != item)
        raise StoreError(f"{what}: row {bad} has a stored array of the wrong size; the project "
                         "file may be damaged")
    return np.frombuffer(joined, dtype=dt).reshape(len(blobs), *shape).copy()
