"""Small line charts drawn with OpenCV (no matplotlib): cumulative error curves, error over time.

Charts are written as PNG for reports; they are meant to be read by people, so they carry axis
labels, ticks, a legend and distinct colours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Colour-blind friendly palette (Okabe-Ito), as BGR.
PALETTE = [(178, 114, 0), (0, 159, 230), (115, 158, 0), (167, 121, 204), (0, 94, 213),
           (233, 180, 86), (66, 228, 240), (0, 0, 0)]


@dataclass(frozen=True)
class Series:
    label: str
    x: np.ndarray
    y: np.ndarray


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw),
               default=raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _format_tick(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def line_chart(series: Sequence[Series], path: str | Path, *, title: str, x_label: str,
               y_label: str, x_range: tuple[float, float] | None = None,
               y_range: tuple[float, float] | None = None, size: tuple[int, int] = (900, 560),
               markers: Mapping[str, Sequence[float]] | None = None) -> Path:
    """Draw ``series`` as lines and write a PNG; ``markers`` draws labelled vertical ticks."""
    width, height = size
    left, right, top, bottom = 80, 220, 50, 60
    image = np.full((height, width, 3), 255, np.uint8)
    xs = [s.x[np.isfinite(s.y)] for s in series if len(s.x)]
    ys = [s.y[np.isfinite(s.y)] for s in series if len(s.y)]
    x_lo, x_hi = x_range or (min((float(x.min()) for x in xs if len(x)), default=0.0),
                             max((float(x.max()) for x in xs if len(x)), default=1.0))
    y_lo, y_hi = y_range or (0.0, max((float(y.max()) for y in ys if len(y)), default=1.0))
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    if y_hi <= y_lo:
        y_hi = y_lo + 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def to_px(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        px = left + (x - x_lo) / (x_hi - x_lo) * plot_w
        py = top + plot_h - (np.clip(y, y_lo, y_hi) - y_lo) / (y_hi - y_lo) * plot_h
        return np.stack([px, py], axis=-1)

    font, grey = cv2.FONT_HERSHEY_SIMPLEX, (200, 200, 200)
    for tick in _nice_ticks(x_lo, x_hi):
        (px, _), = to_px(np.array([tick]), np.array([y_lo]))
        cv2.line(image, (int(px), top), (int(px), top + plot_h), grey, 1)
        cv2.putText(image, _format_tick(tick), (int(px) - 12, top + plot_h + 20), font, 0.45,
                    (60, 60, 60), 1, cv2.LINE_AA)
    for tick in _nice_ticks(y_lo, y_hi):
        (_, py), = to_px(np.array([x_lo]), np.array([tick]))
        cv2.line(image, (left, int(py)), (left + plot_w, int(py)), grey, 1)
        cv2.putText(image, _format_tick(tick), (8, int(py) + 5), font, 0.45, (60, 60, 60), 1,
                    cv2.LINE_AA)
    cv2.rectangle(image, (left, top), (left + plot_w, top + plot_h), (0, 0, 0), 1)
    for name, positions in (markers or {}).items():
        for pos in positions:
            (px, _), = to_px(np.array([pos]), np.array([y_lo]))
            cv2.line(image, (int(px), top + plot_h - 8), (int(px), top + plot_h), (0, 0, 0), 1)
        cv2.putText(image, f"| {name}", (left + 4, top + plot_h - 12), font, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        finite = np.isfinite(s.y)
        points = to_px(np.asarray(s.x, float)[finite], np.asarray(s.y, float)[finite])
        if len(points) > 1:
            cv2.polylines(image, [np.round(points).astype(np.int32)], False, colour, 2,
                          cv2.LINE_AA)
        legend_y = top + 10 + 22 * i
        cv2.line(image, (width - right + 15, legend_y), (width - right + 40, legend_y), colour, 3)
        cv2.putText(image, s.label[:22], (width - right + 48, legend_y + 5), font, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, title, (left, 30), font, 0.65, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, x_label, (left + plot_w // 2 - 40, height - 15), font, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    label = np.full((20, 300, 3), 255, np.uint8)
    cv2.putText(label, y_label, (2, 15), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    rotated = cv2.rotate(label, cv2.ROTATE_90_COUNTERCLOCKWISE)
    y0 = max(0, top + plot_h // 2 - 150)
    image[y0:y0 + 300, 50:70] = rotated[: min(300, height - y0)]
    path = Path(path)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"{path}: cannot write the chart")
    return path
