"""A base for plots against the frame number: two linked rows, a current-frame line, click to
seek. The run statistics (app.timeline) and the point trajectories (app.trajectory) build on it.

The plots' x coordinate is the 0-based frame index, like everything internal; only what a person
reads (the axis' tick labels, the current-frame label) is numbered 1-based, through
core.frame_numbers.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from core.frame_numbers import frame_number


class FrameAxisItem(pg.AxisItem):
    """A frame axis over 0-based indices that reads as frame numbers: ticks fall on round frame
    numbers (10, 20, … rather than indices 10, 20, …) and only on whole frames."""

    def tickValues(self, minVal: float, maxVal: float,
                   size: float) -> list[tuple[float, list[float]]]:
        shift = frame_number(0)
        levels = super().tickValues(minVal + shift, maxVal + shift, size)
        return [(spacing, [v - shift for v in values if float(v).is_integer()])
                for spacing, values in levels]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [str(frame_number(round(v))) for v in values]


class FramePlots(pg.GraphicsLayoutWidget):
    """Two plots sharing the frame axis; ``set_current`` moves the frame line (labelled with the
    frame number at the top), a click seeks."""

    seek_requested = Signal(int)

    def __init__(self, labels: tuple[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground(QColor(36, 36, 40))
        self.top = self.addPlot(row=0, col=0, axisItems={"bottom": FrameAxisItem("bottom")})
        self.bottom = self.addPlot(row=1, col=0, axisItems={"bottom": FrameAxisItem("bottom")})
        self.bottom.setXLink(self.top)
        self.lines: list[pg.InfiniteLine] = []
        for plot, label in zip((self.top, self.bottom), labels):
            plot.setLabel("left", label)
            plot.showGrid(x=False, y=True, alpha=0.25)
            plot.setMouseEnabled(x=True, y=False)
            plot.hideButtons()
            plot.getAxis("left").setWidth(52)
            plot.getAxis("left").enableAutoSIPrefix(False)
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((255, 255, 255), width=1))
            plot.addItem(line)
            self.lines.append(line)
        self.top.getAxis("bottom").setStyle(showValues=False)
        self.cursor_label = pg.InfLineLabel(self.lines[0], position=0.88, color=(255, 255, 255),
                                            fill=(36, 36, 40, 200))
        self.ci.layout.setSpacing(0)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.frame_count = 0
        self.set_current(0)

    def set_current(self, frame: int) -> None:
        for line in self.lines:
            line.setValue(frame)
        text = str(frame_number(frame))  # also while hidden (InfLineLabel skips updates then)
        self.cursor_label.setFormat(text)
        self.cursor_label.setText(text)

    def _clicked(self, event: object) -> None:
        pos = event.scenePos()  # type: ignore[attr-defined]
        for plot in (self.top, self.bottom):
            if plot.sceneBoundingRect().contains(pos) and self.frame_count:
                x = plot.vb.mapSceneToView(pos).x()
                self.seek_requested.emit(int(min(max(round(x), 0), self.frame_count - 1)))
                return
