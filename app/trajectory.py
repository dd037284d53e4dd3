"""Per-landmark x/y trajectories of the selected points over the whole video.

Two linked pyqtgraph plots (x above, y below): each selected point's pseudo-label track of the
latest run as a line and its manual keyframes as dots, a vertical line at the current frame;
a legend beside the plots (never over the data) names each colour's point; click to seek.
Everything is drawn from arrays the session already holds (no per-frame queries), and nothing is
drawn while the panel is hidden.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import QGraphicsScene, QLabel, QVBoxLayout, QWidget

from app.frame_plots import FramePlots
from app.state import LabelSession
from core.landmarks import GROUP_RANGES, N_POINTS, POINT_NAMES

logger = logging.getLogger(__name__)

MAX_TRACKS = 12  # more curves than this are unreadable; the first ones are drawn
LEGEND_ROWS = 6  # entries per legend column: more make a second column
HINT = "Select points (click a group's line, drag a box) to plot their x / y over the video."


def track_colour(k: int, n: int) -> QColor:
    return pg.intColor(k, hues=max(n, 1), values=1, maxValue=255, minValue=150, sat=200)


class TrajectoryPlot(FramePlots):
    """x and y of up to MAX_TRACKS points against the frame number."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(("x (px)", "y (px)"), parent)
        self.setMinimumHeight(120)
        self.x_plot, self.y_plot = self.top, self.bottom
        self.y_plot.invertY(True)  # image y grows downwards: up on the plot is up in the frame
        self.tracks: dict[str, list[pg.PlotDataItem]] = {"x": [], "y": []}
        self.keys: dict[str, list[pg.PlotDataItem]] = {"x": [], "y": []}
        for axis, plot in (("x", self.x_plot), ("y", self.y_plot)):
            for _ in range(MAX_TRACKS):
                track = plot.plot([], [])
                track.setClipToView(True)
                track.setDownsampling(auto=True, method="peak")
                self.tracks[axis].append(track)
                self.keys[axis].append(plot.plot([], [], pen=None, symbol="o", symbolSize=6))
        self.indices: list[int] = []
        self.legend = pg.LegendItem(labelTextSize="8pt", labelTextColor=(230, 230, 230),
                                    verSpacing=-6)
        self.addItem(self.legend, row=0, col=1, rowspan=2)

    def legend_names(self) -> list[str]:
        """The legend's entries, in order."""
        return [label.text for _sample, label in self.legend.items]

    def set_data(self, frame_count: int, indices: list[int], key_frames: np.ndarray,
                 key_points: np.ndarray, pseudo_frames: np.ndarray | None,
                 pseudo_points: np.ndarray | None) -> None:
        """Draw ``indices`` (at most MAX_TRACKS); ``key_points`` is (K, 68, 2) at
        ``key_frames``, ``pseudo_points`` (N, 68, 2) at ``pseudo_frames``."""
        self.frame_count = frame_count
        self.indices = list(indices[:MAX_TRACKS])
        empty = np.zeros(0)
        for axis, col in (("x", 0), ("y", 1)):
            for k in range(MAX_TRACKS):
                track, keys = self.tracks[axis][k], self.keys[axis][k]
                if k >= len(self.indices):
                    track.setData(empty, empty)
                    keys.setData(empty, empty)
                    continue
                i = self.indices[k]
                colour = track_colour(k, len(self.indices))
                track.setPen(pg.mkPen(colour, width=1.3))
                if pseudo_points is not None and pseudo_frames is not None:
                    track.setData(pseudo_frames, pseudo_points[:, i, col])
                else:
                    track.setData(empty, empty)
                keys.setSymbolBrush(colour)
                keys.setSymbolPen(pg.mkPen((0, 0, 0), width=1))
                keys.setData(key_frames, key_points[:, i, col] if len(key_frames) else empty)
        self.legend.clear()
        self.legend.setColumnCount(max(1, -(-len(self.indices) // LEGEND_ROWS)))
        for k, i in enumerate(self.indices):
            self.legend.addItem(self.tracks["x"][k], f"{i} {POINT_NAMES[i]}")
        self.legend.setVisible(bool(self.indices))
        self.x_plot.setXRange(0, max(frame_count - 1, 1), padding=0.01)
        for plot in (self.x_plot, self.y_plot):
            plot.enableAutoRange(axis="y")


class TrajectoryPanel(QWidget):
    """A caption and the plot; follows the session and the view's point selection."""

    seek_requested = Signal(int)

    def __init__(self, session: LabelSession, scene: QGraphicsScene,
                 selected: Callable[[], list[int]], parent: QWidget | None = None) -> None:
        """``selected()`` returns the selected landmark indices of the frame view."""
        super().__init__(parent)
        self.session = session
        self._selected = selected
        self.caption = QLabel(HINT)
        self.plot = TrajectoryPlot(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        layout.addWidget(self.caption)
        layout.addWidget(self.plot, 1)
        self._timer = QTimer(self)  # selection changes come in bursts (rubber band): coalesce
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self.refresh)
        scene.selectionChanged.connect(self.schedule)
        session.video_changed.connect(self.schedule)
        session.run_changed.connect(self.schedule)
        session.annotation_changed.connect(self.schedule)
        session.frame_changed.connect(self.plot.set_current)
        self.plot.seek_requested.connect(self.seek_requested)

    def schedule(self, *_args: object) -> None:
        if self.isVisible():
            self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.schedule()

    def refresh(self) -> None:
        s = self.session
        indices = sorted(self._selected()) if s.video is not None else []
        frames = np.array(sorted(s.keyframe_points), dtype=np.int64)
        points = (np.stack([s.keyframe_points[f] for f in frames.tolist()]) if len(frames)
                  else np.zeros((0, N_POINTS, 2), np.float32))
        pseudo = s.pseudo
        self.plot.set_data(s.frame_count, indices, frames, points,
                           None if pseudo is None else pseudo.frames,
                           None if pseudo is None else pseudo.points)
        self.plot.set_current(s.frame)
        if not indices:
            self.caption.setText(HINT)
            return
        shown = f" (first {MAX_TRACKS} drawn)" if len(indices) > MAX_TRACKS else ""
        source = f"run {s.run.id} pseudo-labels" if s.run is not None else "no run yet"
        self.caption.setText(f"x / y of {describe_points(indices)}{shown}: lines = {source}, "
                             f"dots = keyframes; click to seek.")


def describe_points(indices: list[int]) -> str:
    """The caption's name for the points: a whole group, one point, or a short list."""
    for name, members in GROUP_RANGES.items():
        if indices == list(members):
            return f"{name.replace('_', ' ')} ({members[0]}-{members[-1]})"
    if len(indices) == 1:
        return f"{indices[0]} {POINT_NAMES[indices[0]]}"
    more = f" +{len(indices) - 4} more" if len(indices) > 4 else ""
    return ", ".join(str(i) for i in indices[:4]) + more
