"""The timeline strip (keyframes, corrections, pseudo-labels, suggestions, shot cuts, current
frame) and, in tabs under it, the per-frame jitter / confidence plot of the latest run (and the
trajectory plot, added by the main window). All draw from arrays; click to seek.

A keyframe's tick tells how far it is reviewed by its line, not its colour: solid when every
point is pinned (placed or accepted), dashed when some points are still predicted, dotted when
none is pinned yet (a detection); its tooltip counts the points of each state. Frames marked "no
face" are a dark band hatched in grey across the strip's height. A shot cut is a magenta line
across the strip at the left edge of the frame that starts the new shot, notched at both ends;
hovering near it names that frame."""

from __future__ import annotations

import numpy as np
import numpy.ma  # np.unique imports it lazily: ~70 ms on the GUI thread at first paint
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QSizePolicy, QTabWidget, QToolTip, QVBoxLayout, QWidget

from app.frame_plots import FramePlots
from core.editing import is_reviewed
from core.frame_numbers import frame_label, frame_number
from core.review_states import PREDICTED, state_counts
from core.segments import Range

KEYFRAME_COLOUR = QColor(255, 170, 0)
CORRECTED_COLOUR = QColor(90, 230, 110)
PSEUDO_COLOUR = QColor(70, 130, 200)
SUGGESTED_COLOUR = QColor(235, 70, 70)
CURSOR_COLOUR = QColor(255, 255, 255)
ABSENT_COLOUR = QColor(22, 22, 26)  # the band of frames marked "no face"
ABSENT_HATCH = QColor(120, 120, 132)  # its hatching
CUT_COLOUR = QColor(236, 64, 236)  # a shot cut's line and notches
CUT_NOTCH = 5  # half-width and depth of the notches (px)
CUT_HIT = 3  # the tooltip names a cut whose line is this close to the mouse (px)
LEGEND = ("Timeline: orange = keyframe, green = corrected/accepted; a solid tick = every point "
          "placed or accepted, dashed = partly reviewed, dotted = only predicted points; blue = "
          "pseudo-labelled, red = suggested, grey hatched = no face (marked), magenta line "
          "with notches = shot cut (a new shot starts). Click or drag to seek.")
#: The tick's line by review: every point pinned, some pinned, none pinned.
REVIEW_LINES = {"fully": Qt.PenStyle.SolidLine, "partly": Qt.PenStyle.DashLine,
                "predicted": Qt.PenStyle.DotLine}


def _segments(frames: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive frames as (first, last) pairs."""
    if len(frames) == 0:
        return []
    frames = np.sort(frames)
    breaks = np.flatnonzero(np.diff(frames) > 1)
    starts = np.r_[frames[0], frames[breaks + 1]]
    stops = np.r_[frames[breaks], frames[-1]]
    return list(zip(starts.tolist(), stops.tolist()))


def _review(states: np.ndarray | None) -> str:
    """How far a keyframe is reviewed: "fully" (every point pinned), "partly" or "predicted"
    (none pinned)."""
    if states is None:
        return "fully"
    predicted = np.asarray(states) == PREDICTED
    return "predicted" if predicted.all() else "partly" if predicted.any() else "fully"


class TimelineStrip(QWidget):
    """One pixel column per frame bin: where keyframes, pseudo-labels and suggestions are."""

    seek_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip(LEGEND)  # with no video; else the tooltip names the frame under the mouse
        self.frame_count = 0
        self.current = 0
        self.keyframes = np.zeros(0, dtype=np.int64)
        self.corrected = np.zeros(0, dtype=np.int64)
        self.pseudo = np.zeros(0, dtype=np.int64)
        self.suggested = np.zeros(0, dtype=np.int64)
        self.states: dict[int, np.ndarray] = {}
        self.review: dict[int, str] = {}  # keyframe -> "fully", "partly" or "predicted"
        self.absent: list[Range] = []  # frames marked "no face" (first, last), inclusive
        self.cuts: list[int] = []  # frames that start a new shot

    def set_data(self, frame_count: int, keyframes: dict[int, str],
                 pseudo: np.ndarray | None, suggested: np.ndarray | None,
                 states: dict[int, np.ndarray] | None = None,
                 absent: list[Range] | None = None, cuts: list[int] | None = None) -> None:
        """``keyframes``: frame -> source; ``states``: frame -> its points' review states (a
        keyframe without counts all its points placed); ``absent``: the "no face" ranges;
        ``cuts``: the frames that start a new shot."""
        self.frame_count = frame_count
        self.absent = list(absent or [])
        self.cuts = sorted(int(c) for c in cuts or [])
        frames = np.array(sorted(keyframes), dtype=np.int64)
        corrected = np.array([is_reviewed(keyframes[f]) for f in frames], dtype=bool)
        self.keyframes = frames[~corrected] if len(frames) else frames
        self.corrected = frames[corrected] if len(frames) else frames
        self.states = {int(f): states[f] for f in frames.tolist()
                       if states is not None and f in states}
        self.review = {int(f): _review(self.states.get(int(f))) for f in frames.tolist()}
        self.pseudo = np.zeros(0, np.int64) if pseudo is None else np.asarray(pseudo, np.int64)
        self.suggested = (np.zeros(0, np.int64) if suggested is None
                          else np.asarray(suggested, np.int64))
        self.update()

    def set_current(self, frame: int) -> None:
        if frame != self.current:
            self.current = frame
            self.update()

    def _x(self, frames: np.ndarray) -> np.ndarray:
        width = max(self.width() - 1, 1)
        return np.unique((frames.astype(np.float64) + 0.5) * width
                         / max(self.frame_count, 1)).astype(np.int64)

    def _cut_x(self, frame: int) -> int:
        """The strip's x of a cut at ``frame``: the left edge of that frame's column."""
        return round(frame * max(self.width() - 1, 1) / max(self.frame_count, 1))

    def _paint_cuts(self, painter: QPainter) -> None:
        h = self.height()
        for frame in self.cuts:
            x = self._cut_x(frame)
            painter.setPen(QPen(CUT_COLOUR, 2))
            painter.drawLine(x, 0, x, h)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(CUT_COLOUR)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            for tip, base in ((CUT_NOTCH, 0), (h - CUT_NOTCH, h)):
                painter.drawPolygon(QPolygonF([QPointF(x - CUT_NOTCH, base),
                                               QPointF(x + CUT_NOTCH, base),
                                               QPointF(x, tip)]))
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        h = self.height()
        painter.fillRect(self.rect(), QColor(44, 44, 50))
        if self.frame_count <= 0:
            painter.end()
            return
        band = max(h // 4, 4)
        scale = max(self.width() - 1, 1) / max(self.frame_count, 1)
        for start, stop in _segments(self.pseudo):
            x0, x1 = int(start * scale), int(np.ceil((stop + 1) * scale))
            painter.fillRect(x0, band, max(x1 - x0, 1), h - 2 * band, PSEUDO_COLOUR)
        for start, stop in self.absent:
            x0, x1 = int(start * scale), int(np.ceil((stop + 1) * scale))
            area = QRect(x0, 0, max(x1 - x0, 1), h)
            painter.fillRect(area, ABSENT_COLOUR)
            painter.fillRect(area, QBrush(ABSENT_HATCH, Qt.BrushStyle.BDiagPattern))
        for frames, colour in ((self.keyframes, KEYFRAME_COLOUR),
                               (self.corrected, CORRECTED_COLOUR)):
            for review, line in REVIEW_LINES.items():
                subset = np.array([f for f in frames.tolist() if self.review.get(f) == review],
                                  dtype=np.int64)
                pen = QPen(colour)
                pen.setWidth(2)
                pen.setStyle(line)
                painter.setPen(pen)
                for x in self._x(subset):
                    painter.drawLine(int(x), 2, int(x), h - band)
        self._paint_cuts(painter)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(SUGGESTED_COLOUR)
        for x in self._x(self.suggested):
            painter.drawRect(QRectF(float(x) - 1.5, h - band + 1, 3, band - 2))
        cursor_x = int(self._x(np.array([self.current]))[0])
        pen = QPen(CURSOR_COLOUR)
        pen.setWidth(2)
        painter.setPen(pen)
        painter.drawLine(cursor_x, 0, cursor_x, h)
        painter.end()

    def frame_at(self, x: float) -> int:
        frame = int(x / max(self.width(), 1) * self.frame_count)
        return int(min(max(frame, 0), max(self.frame_count - 1, 0)))

    def tooltip_at(self, x: float) -> str:
        """The tooltip at ``x``: the frame a click there seeks to, what it holds, the legend."""
        frame = self.frame_at(x)
        kinds = [kind for frames, kind in ((self.keyframes, "keyframe"),
                                           (self.corrected, "corrected/accepted keyframe"),
                                           (self.pseudo, "pseudo-labelled"),
                                           (self.suggested, "suggested"))
                 if np.any(frames == frame)]
        if any(first <= frame <= last for first, last in self.absent):
            kinds.insert(0, "no face (marked)")
        if frame in self.states:
            counts = state_counts(self.states[frame])
            kinds.insert(1, ", ".join(f"{counts[name]} {name}"
                                      for name in ("placed", "accepted", "predicted")))
        kinds[:0] = [f"shot cut (frame {frame_number(c)})" for c in self.cuts
                     if c == frame or abs(self._cut_x(c) - x) <= CUT_HIT]
        return f"{frame_label(frame)}{''.join(f' · {k}' for k in kinds)}\n{LEGEND}"

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.frame_count:
            assert isinstance(event, QHelpEvent)
            x = event.pos().x()
            # the tip hides when the mouse leaves this frame's columns, so it never names a
            # frame the mouse has left
            bin_width = max(self.width(), 1) / self.frame_count
            left = int(self.frame_at(x) * bin_width)
            columns = QRect(left, 0, max(int(np.ceil(bin_width)), 1), self.height())
            QToolTip.showText(event.globalPos(), self.tooltip_at(x), self, columns)
            return True
        return super().event(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.frame_count and event.button() == Qt.MouseButton.LeftButton:
            self.seek_requested.emit(self.frame_at(event.position().x()))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.frame_count and event.buttons() & Qt.MouseButton.LeftButton:
            self.seek_requested.emit(self.frame_at(event.position().x()))


class StatsPlot(FramePlots):
    """Jitter and mean confidence of the latest run per frame, with the current frame marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(("jitter", "conf."), parent)
        self.setMinimumHeight(170)
        self.setMaximumHeight(220)
        self.jitter_plot, self.confidence_plot = self.top, self.bottom
        self.jitter_plot.setToolTip("Jitter (% of face size) of the latest run's points per "
                                    "frame")
        self.confidence_plot.setToolTip("Mean per-point confidence per frame")
        for plot, colour in ((self.jitter_plot, (255, 170, 60)),
                             (self.confidence_plot, (90, 200, 255))):
            plot.curve = plot.plot([], [], pen=pg.mkPen(colour, width=1.5))
        self.confidence_plot.setYRange(-0.08, 1.08, padding=0)
        self.confidence_plot.getAxis("left").setTicks([[(0.0, "0"), (0.5, ".5"), (1.0, "1")]])

    def set_data(self, frame_count: int, frames: np.ndarray | None,
                 jitter: np.ndarray | None, confidence: np.ndarray | None) -> None:
        self.frame_count = frame_count
        empty = np.zeros(0)
        has = frames is not None and len(frames) > 0
        # no line across frames the run has nothing for (no-face frames, a stopped run)
        connect = np.r_[np.diff(frames) == 1, False] if has else "all"
        self.jitter_plot.curve.setData(frames if has else empty, jitter if has else empty,
                                       connect=connect)
        self.confidence_plot.curve.setData(frames if has else empty,
                                           confidence if has else empty, connect=connect)
        self.jitter_plot.setXRange(0, max(frame_count - 1, 1), padding=0.01)
        if has and jitter is not None:
            top = float(np.percentile(jitter, 99.5)) if len(jitter) else 1.0
            self.jitter_plot.setYRange(0.0, max(top * 1.1, 1e-3))


class TimelinePanel(QWidget):
    """The strip above tabbed plots, as one widget under the frame view."""

    seek_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        self.strip = TimelineStrip(self)
        self.plot = StatsPlot(self)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.plot, "Run: jitter and confidence")
        layout.addWidget(self.strip)
        layout.addWidget(self.tabs)
        self.strip.seek_requested.connect(self.seek_requested)
        self.plot.seek_requested.connect(self.seek_requested)

    def set_current(self, frame: int) -> None:
        self.strip.set_current(frame)
        self.plot.set_current(frame)
