"""A minimal Matroska writer for tests: MJPEG frames with any timestamps (a variable-frame-rate
file, which OpenCV's VideoWriter cannot make). One track, one cluster per frame, no cues."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np


def _size(n: int) -> bytes:
    return b"\x01" + n.to_bytes(7, "big")  # an 8-byte EBML size


def _element(element_id: int, payload: bytes) -> bytes:
    head = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    return head + _size(len(payload)) + payload


def _uint(element_id: int, value: int) -> bytes:
    return _element(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def write_mkv(path: Path, frames: Sequence[np.ndarray], stamps_ms: Sequence[int]) -> Path:
    """Write BGR ``frames`` shown at ``stamps_ms`` (increasing milliseconds) to ``path``."""
    height, width = frames[0].shape[:2]
    header = _element(0x1A45DFA3, b"".join([
        _uint(0x4286, 1), _uint(0x42F7, 1), _uint(0x42F2, 4), _uint(0x42F3, 8),
        _element(0x4282, b"matroska"), _uint(0x4287, 4), _uint(0x4285, 2)]))
    info = _element(0x1549A966, _uint(0x2AD7B1, 1_000_000)  # timestamps in ms
                    + _element(0x4D80, b"faceprop-tests") + _element(0x5741, b"faceprop-tests")
                    + _element(0x4489, struct.pack(">d", float(stamps_ms[-1] + 40))))
    track = _element(0xAE, _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1)
                     + _element(0x86, b"V_MJPEG")
                     + _element(0xE0, _uint(0xB0, width) + _uint(0xBA, height)))
    clusters = []
    for frame, stamp in zip(frames, stamps_ms, strict=True):
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        block = b"\x81" + struct.pack(">h", 0) + b"\x80" + jpeg.tobytes()  # track 1, key
        clusters.append(_element(0x1F43B675, _uint(0xE7, int(stamp)) + _element(0xA3, block)))
    segment = _element(0x18538067, info + _element(0x1654AE6B, track) + b"".join(clusters))
    path.write_bytes(header + segment)
    return path
