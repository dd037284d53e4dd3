"""Graphics items for the 68 landmarks: draggable points, group polylines and a comparison overlay.

A point's fill tells its review state (``core.review_states``), never its hue alone, so the three
read apart without colour vision: *placed* is a filled disc, *accepted* a ring with a centre dot,
*predicted* a hollow ring. Points of an annotation take their group's colour; predicted points
with a run's confidence are coloured by it (red low, green high). Occluded points keep their
state's centre inside a larger dashed ring in the point's colour over a dark outline, opaque so
that they are easy to find and grab on any frame. A predicted point the run's confidence marks
as likely wrong (``core.suggest.suspect_points``) has a red ring around it, so the person
looks there first.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QStyleOptionGraphicsItem,
    QWidget,
)

from core.landmarks import EDGES, GROUP_RANGES, N_POINTS, POINT_NAMES, group_of
from core.review_states import ACCEPTED, PLACED, PREDICTED, STATE_NAMES
from core.suggest import doubtful_points

GROUP_COLOURS: dict[str, QColor] = {
    "jaw": QColor(255, 196, 0),
    "right_brow": QColor(255, 120, 40),
    "left_brow": QColor(255, 120, 40),
    "nose_bridge": QColor(80, 220, 255),
    "nostrils": QColor(80, 220, 255),
    "right_eye": QColor(90, 255, 120),
    "left_eye": QColor(90, 255, 120),
    "outer_lips": QColor(255, 80, 160),
    "inner_lips": QColor(220, 120, 255),
}
POINT_RADIUS = 4.0
SELECTED_COLOUR = QColor(255, 255, 255)
OCCLUDED_OUTLINE = QColor(0, 0, 0, 230)  # under an occluded point's coloured ring
OCCLUDED_OUTLINE_WIDTH = 4.5
OCCLUDED_RADIUS = 6.0  # a little larger than a visible point, so the ring reads as hollow
OCCLUDED_RING_WIDTH = 2.0
PLACED_OUTLINE = QColor(0, 0, 0, 200)
ACCEPTED_RADIUS = 5.0  # the ring of an accepted point, around its centre dot
ACCEPTED_RING_WIDTH = 2.0
PREDICTED_RING_WIDTH = 2.5
DOUBTFUL_COLOUR = QColor(255, 40, 40)
DOUBTFUL_RADIUS = 6.5  # just outside a point, so neighbouring doubtful points stay apart
DOUBTFUL_RING_WIDTH = 1.5
#: The centre dot's radius by state, on a visible and on an occluded point (None: no dot).
CENTRE_RADIUS = {True: {PLACED: None, ACCEPTED: 2.4, PREDICTED: None},
                 False: {PLACED: 3.2, ACCEPTED: 1.8, PREDICTED: None}}
POINT_LEGEND = ("Points: filled disc = placed · ring with a centre dot = accepted\n"
                "hollow ring = predicted (coloured by confidence when a run gave one)\n"
                "larger dashed ring = occluded · red ring = doubtful (likely wrong)")
_EDGE_A = np.array([a for a, _ in EDGES])
_EDGE_B = np.array([b for _, b in EDGES])


def confidence_colour(value: float) -> QColor:
    """Red (0) through yellow to green (1)."""
    v = float(np.clip(value, 0.0, 1.0))
    return QColor.fromHsvF(v / 3.0, 0.9, 1.0)


class PointItem(QGraphicsEllipseItem):
    """One draggable landmark; its size stays constant on screen at any zoom."""

    def __init__(self, index: int, layer: LandmarkLayer) -> None:
        r = POINT_RADIUS
        super().__init__(QRectF(-r, -r, 2 * r, 2 * r))
        self.index = index
        self._layer = layer
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setZValue(10)
        self.style = ("manual", True, None, PLACED)
        self.doubtful = False
        self.ring: QPen | None = None  # an occluded point's coloured ring, drawn over its pen
        self.centre: tuple[QColor, float] | None = None  # (colour, radius) of a centre dot
        self._restyle()

    def apply_style(self, kind: str, visible: bool, confidence: float | None,
                    state: int = PLACED, doubtful: bool = False) -> None:
        """``kind`` "manual" (an annotation) or "pseudo"; ``confidence`` colours a predicted
        point when known; ``state`` is its review state; ``doubtful`` marks it likely wrong."""
        self.style = (kind, visible, confidence, state)
        if doubtful != self.doubtful:
            self.prepareGeometryChange()  # the red ring lies outside the point's rectangle
            self.doubtful = doubtful
        self._restyle()

    @property
    def state(self) -> int:
        return self.style[3]

    def _restyle(self) -> None:
        _kind, visible, confidence, state = self.style
        colour = (confidence_colour(confidence) if state == PREDICTED and confidence is not None
                  else GROUP_COLOURS[group_of(self.index)])
        selected = self.isSelected()
        self.setToolTip(f"{self.index}: {POINT_NAMES[self.index]} · {STATE_NAMES[state]}"
                        f"{'' if visible else ' · occluded'}"
                        f"{' · doubtful: check it' if self.doubtful else ''}\n{POINT_LEGEND}")
        centre = CENTRE_RADIUS[visible][state]
        self.centre = None if centre is None else (colour, centre)
        r = (OCCLUDED_RADIUS if not visible else ACCEPTED_RADIUS if state == ACCEPTED
             else POINT_RADIUS)
        self.setRect(QRectF(-r, -r, 2 * r, 2 * r))
        self.setBrush(QBrush(colour) if visible and state == PLACED else Qt.BrushStyle.NoBrush)
        if not visible:
            outline = QPen(SELECTED_COLOUR if selected else OCCLUDED_OUTLINE)
            outline.setWidthF(OCCLUDED_OUTLINE_WIDTH)
            self.ring = QPen(colour)
            self.ring.setWidthF(OCCLUDED_RING_WIDTH)
            self.ring.setStyle(Qt.PenStyle.DashLine)
            self.setPen(outline)
            return
        self.ring = None
        if selected:
            pen = QPen(SELECTED_COLOUR)
            pen.setWidthF(2.5)
        elif state == PLACED:
            pen = QPen(PLACED_OUTLINE)
            pen.setWidthF(1.0)
        else:
            pen = QPen(colour)
            pen.setWidthF(ACCEPTED_RING_WIDTH if state == ACCEPTED else PREDICTED_RING_WIDTH)
        self.setPen(pen)

    def boundingRect(self) -> QRectF:
        rect = super().boundingRect()
        if not self.doubtful:
            return rect
        r = DOUBTFUL_RADIUS + DOUBTFUL_RING_WIDTH
        return rect.united(QRectF(-r, -r, 2 * r, 2 * r))

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        super().paint(painter, option, widget)
        if self.doubtful:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for colour, width in ((PLACED_OUTLINE, DOUBTFUL_RING_WIDTH + 1.5),
                                  (DOUBTFUL_COLOUR, DOUBTFUL_RING_WIDTH)):
                pen = QPen(colour)
                pen.setWidthF(width)
                painter.setPen(pen)
                painter.drawEllipse(QPointF(0.0, 0.0), DOUBTFUL_RADIUS, DOUBTFUL_RADIUS)
        if self.ring is not None:
            painter.setPen(self.ring)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawEllipse(self.rect())
        if self.centre is not None:
            colour, radius = self.centre
            outline = QPen(PLACED_OUTLINE)
            outline.setWidthF(0.6)
            painter.setPen(outline)
            painter.setBrush(colour)
            painter.drawEllipse(QPointF(0.0, 0.0), radius, radius)

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self._layer.point_moved_live()
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self._restyle()
        return super().itemChange(change, value)


class LandmarkLayer:
    """The 68 editable points of the shown shape plus one polyline path per group."""

    def __init__(self, scene: QGraphicsScene) -> None:
        self.points = [PointItem(i, self) for i in range(N_POINTS)]
        self.paths: dict[str, QGraphicsPathItem] = {}
        for name in GROUP_RANGES:
            path = QGraphicsPathItem()
            pen = QPen(GROUP_COLOURS[name])
            pen.setWidthF(1.5)
            pen.setCosmetic(True)
            path.setPen(pen)
            path.setZValue(5)
            scene.addItem(path)
            self.paths[name] = path
        for item in self.points:
            scene.addItem(item)
        self.base = np.zeros((N_POINTS, 2), dtype=np.float32)
        self.visible = np.ones(N_POINTS, dtype=bool)
        self.states = np.full(N_POINTS, PLACED, dtype=np.uint8)
        self.doubtful = np.zeros(0, dtype=np.int64)  # indices of the points marked doubtful
        self.kind = "manual"
        self._syncing = False
        self.set_shown(False)

    def set_shown(self, shown: bool) -> None:
        for item in self.points:
            item.setVisible(shown)
            if not shown:
                item.setSelected(False)
        for path in self.paths.values():
            path.setVisible(shown)

    @property
    def shown(self) -> bool:
        return self.points[0].isVisible()

    def set_shape(self, points: np.ndarray, visible: np.ndarray | None, kind: str,
                  confidence: np.ndarray | None = None, states: np.ndarray | None = None
                  ) -> None:
        """Show a shape; ``kind`` is "manual" (an annotation) or "pseudo" (a run's label, every
        point predicted); ``states`` are the points' review states (default: all placed for
        "manual"); ``confidence`` colours the predicted points and marks those likely wrong."""
        self.base = np.array(points, dtype=np.float32)
        self.visible = (np.ones(N_POINTS, dtype=bool) if visible is None
                        else np.array(visible, dtype=bool))
        self.kind = kind
        default = PREDICTED if kind == "pseudo" else PLACED
        self.states = (np.full(N_POINTS, default, dtype=np.uint8) if states is None
                       else np.array(states, dtype=np.uint8))
        self.doubtful = doubtful_points(confidence, self.states)
        doubtful = set(self.doubtful.tolist())
        self._syncing = True
        for i, item in enumerate(self.points):
            item.setPos(QPointF(float(self.base[i, 0]), float(self.base[i, 1])))
            item.apply_style(kind, bool(self.visible[i]),
                             None if confidence is None else float(confidence[i]),
                             int(self.states[i]), i in doubtful)
        self._syncing = False
        self._rebuild_paths()
        self.set_shown(True)

    def positions(self) -> np.ndarray:
        return np.array([[item.pos().x(), item.pos().y()] for item in self.points],
                        dtype=np.float32)

    def set_positions(self, points: np.ndarray, keep: int | None = None) -> None:
        """Move every point but ``keep`` (the one under the mouse) to ``points`` ``(68, 2)``:
        the points that follow a drag, redrawn at once."""
        self._syncing = True
        for i, item in enumerate(self.points):
            if i != keep:
                item.setPos(QPointF(float(points[i, 0]), float(points[i, 1])))
        self._syncing = False
        self._rebuild_paths()

    def restore(self, keep: int | None = None) -> None:
        """Put every point but ``keep`` back where the shown shape has it."""
        self.set_positions(self.base, keep)

    def moved_indices(self, tolerance: float = 1e-3) -> np.ndarray:
        return np.flatnonzero(np.abs(self.positions() - self.base).max(axis=1) > tolerance)

    def selected_indices(self) -> list[int]:
        return [item.index for item in self.points if item.isSelected() and item.isVisible()]

    def select_group(self, name: str, add: bool = False) -> None:
        """Select every point of a group (``add``: keep the points already selected)."""
        members = set(GROUP_RANGES[name])
        for item in self.points:
            if item.index in members:
                item.setSelected(True)
            elif not add:
                item.setSelected(False)

    def group_at(self, x: float, y: float, tolerance: float) -> str | None:
        """The group whose polyline passes within ``tolerance`` (scene units) of (x, y)."""
        if not self.shown:
            return None
        pos = self.positions().astype(np.float64)
        a, b = pos[_EDGE_A], pos[_EDGE_B]
        ab = b - a
        length2 = np.maximum((ab * ab).sum(axis=1), 1e-12)
        t = np.clip(((np.array([x, y]) - a) * ab).sum(axis=1) / length2, 0.0, 1.0)
        distance = np.hypot(*(a + t[:, None] * ab - np.array([x, y])).T)
        nearest = int(np.argmin(distance))
        return group_of(EDGES[nearest][0]) if distance[nearest] <= tolerance else None

    def point_moved_live(self) -> None:
        if not self._syncing:
            self._rebuild_paths()

    def _rebuild_paths(self) -> None:
        pos = self.positions()
        paths = {name: QPainterPath() for name in self.paths}
        for a, b in EDGES:
            path = paths[group_of(a)]
            path.moveTo(float(pos[a, 0]), float(pos[a, 1]))
            path.lineTo(float(pos[b, 0]), float(pos[b, 1]))
        for name, item in self.paths.items():
            item.setPath(paths[name])
            pen = item.pen()
            pen.setStyle(Qt.PenStyle.DashLine if self.kind == "pseudo" else Qt.PenStyle.SolidLine)
            item.setPen(pen)


class ComparisonOverlay(QGraphicsPathItem):
    """The latest run's pseudo-label drawn thin and dashed under a keyframe, for comparison."""

    def __init__(self) -> None:
        super().__init__()
        pen = QPen(QColor(0, 220, 255, 200))
        pen.setWidthF(1.0)
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)
        self.setZValue(4)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_points(self, points: np.ndarray | None) -> None:
        path = QPainterPath()
        if points is not None:
            for a, b in EDGES:
                path.moveTo(float(points[a, 0]), float(points[a, 1]))
                path.lineTo(float(points[b, 0]), float(points[b, 1]))
        self.setPath(path)
