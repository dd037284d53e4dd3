"""The frame view: the video frame, zoom and pan, and the editable 68-point shape.

The view only displays and reports gestures: a finished drag emits ``points_dragged`` once (the
main window turns it into one undo command). While one point alone is dragged (it is the whole
selection) each mouse move emits ``point_drag_moved`` so that a listener can move the points that
follow it (``app.shape_drag``), and once more, final, on release before ``points_dragged``; a
group drag moves the selection rigidly. A box drawn in template mode emits ``box_drawn``;
a click on a group's polyline selects the whole group (Ctrl+click adds it to the selection).
Template-box mode (B) announces itself (``box_mode_changed``) and shows a cross cursor; Esc, a
drawn box or B again leave it. While no frame is shown the view paints ``placeholder``; over a
frame it paints ``caption`` (e.g. "No face (marked)") as a dark band across the top.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView

from app.landmark_items import ComparisonOverlay, LandmarkLayer, PointItem
from core.landmarks import Box, bounding_box

logger = logging.getLogger(__name__)

ZOOM_STEP = 1.0015  # per wheel delta unit (120 a notch: about 20 % a notch)
MIN_ZOOM, MAX_ZOOM = 0.05, 40.0
EDGE_PICK_PX = 5.0  # a click this close to a group's line selects the group
CLICK_SLOP_PX = 3  # a press and release this close together is a click, not a drag


def _alt(event: QMouseEvent) -> bool:
    """Alt held: the drag moves one point alone."""
    return bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)


class FrameView(QGraphicsView):
    """Shows one frame and its landmarks; wheel zooms around the cursor, middle/space drag pans."""

    #: moved indices (N,), their positions (N, 2), the dragged ones among them (the rest followed)
    points_dragged = Signal(object, object, object)
    point_drag_moved = Signal(int, bool, bool)  # the lone dragged point, Alt held, final
    box_drawn = Signal(object)  # core.landmarks.Box
    zoom_changed = Signal(float)
    play_requested = Signal()
    group_selected = Signal(str)
    box_mode_changed = Signal(bool)

    def __init__(self, parent: object = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(32, 32, 36))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.pixmap_item = QGraphicsPixmapItem()
        self.pixmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.pixmap_item)
        self.layer = LandmarkLayer(self.scene())
        self.overlay = ComparisonOverlay()
        self.scene().addItem(self.overlay)
        self.box_item = QGraphicsRectItem()
        self.box_item.setPen(QColor(255, 255, 255))
        self.box_item.setVisible(False)
        self.box_item.setZValue(20)
        self.scene().addItem(self.box_item)
        self.shown_frame: int | None = None
        self._pan_from: QPoint | None = None
        self._space_down = False
        self._space_panned = False
        self._box_mode = False
        self._box_origin: QPointF | None = None
        self._fitted = True
        self._group_click: tuple[str, bool, QPoint] | None = None
        self._point_pressed = False  # the left button went down on a point and is still down
        self._lone_drag: int | None = None  # that point, when it is the whole selection
        self.editable = True
        self.placeholder = ""
        self.caption = ""

    # -- content ------------------------------------------------------------------------------
    def set_image(self, image: QImage | None, frame: int | None) -> None:
        first = self.pixmap_item.pixmap().isNull()
        if image is None:
            self.pixmap_item.setPixmap(QPixmap())
            self._end_box()
        else:
            old_size = self.pixmap_item.pixmap().size()
            self.pixmap_item.setPixmap(QPixmap.fromImage(image))
            if first or old_size != image.size():
                self.scene().setSceneRect(QRectF(0, 0, image.width(), image.height()))
                if first or self._fitted:
                    self.fit()
        self.shown_frame = frame

    def show_shape(self, points: np.ndarray | None, visible: np.ndarray | None = None,
                   kind: str = "manual", confidence: np.ndarray | None = None,
                   states: np.ndarray | None = None) -> None:
        if points is None:
            self.layer.set_shown(False)
            return
        self.layer.set_shape(points, visible, kind, confidence, states)

    def show_comparison(self, points: np.ndarray | None) -> None:
        self.overlay.set_points(points)

    def set_placeholder(self, text: str) -> None:
        """The hint painted while no frame is shown."""
        if text != self.placeholder:
            self.placeholder = text
            self.viewport().update()

    def set_caption(self, text: str) -> None:
        """A caption painted over the frame ("" for none)."""
        if text != self.caption:
            self.caption = text
            self.viewport().update()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        super().drawForeground(painter, rect)
        if self.pixmap_item.pixmap().isNull() and self.placeholder:
            painter.save()
            painter.resetTransform()
            painter.setPen(QColor(170, 170, 180))
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter,
                             self.placeholder)
            painter.restore()
        elif self.caption:
            self._draw_caption(painter)

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        if self.caption:  # a pan scrolls the viewport's pixels: repaint the fixed caption
            self.viewport().update()

    def _draw_caption(self, painter: QPainter) -> None:
        painter.save()
        painter.resetTransform()
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        painter.setFont(font)
        text = painter.fontMetrics().boundingRect(self.caption)
        band = QRectF(0, 0, text.width() + 40, text.height() + 16)
        band.moveCenter(QPointF(self.viewport().rect().center().x(), 12 + band.height() / 2))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(20, 20, 24, 210))
        painter.drawRoundedRect(band, 6, 6)
        painter.setPen(QColor(220, 220, 228))
        painter.drawText(band, Qt.AlignmentFlag.AlignCenter, self.caption)
        painter.restore()

    # -- zoom and pan -------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return float(self.transform().m11())

    def fit(self) -> None:
        rect = self.scene().sceneRect()
        if rect.isEmpty() or self.pixmap_item.pixmap().isNull():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = True
        self.zoom_changed.emit(self.zoom)

    def zoom_to(self, box: Box, margin: float = 0.35) -> None:
        rect = QRectF(box.x, box.y, box.width, box.height)
        rect = rect.adjusted(-margin * box.width, -margin * box.height,
                             margin * box.width, margin * box.height)
        if rect.width() < 4 or rect.height() < 4:
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._fitted = False
        self.zoom_changed.emit(self.zoom)

    def zoom_to_points(self, points: np.ndarray | None) -> None:
        if points is not None:
            self.zoom_to(bounding_box(points))

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta == 0:
            return
        factor = ZOOM_STEP ** delta
        target = min(max(self.zoom * factor, MIN_ZOOM), MAX_ZOOM)
        factor = target / self.zoom
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.scale(factor, factor)
        self._fitted = False
        self.zoom_changed.emit(self.zoom)
        event.accept()

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect().intersected(
            self.scene().sceneRect())

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    # -- template box -------------------------------------------------------------------------
    @property
    def box_mode(self) -> bool:
        return self._box_mode

    def begin_box(self) -> None:
        """The next left drag draws a face box (for Place template); Escape cancels."""
        if self.pixmap_item.pixmap().isNull():
            return
        self._box_mode = True
        self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        self.setFocus()  # so that Esc reaches the view
        self.box_mode_changed.emit(True)

    def toggle_box_mode(self) -> None:
        """B: enter template-box mode, or leave it when it is on."""
        if self._box_mode:
            self._end_box()
            return
        self.begin_box()
        if not self._box_mode:  # refused (no frame shown): whoever mirrors the mode hears so
            self.box_mode_changed.emit(False)

    def _end_box(self) -> None:
        was_on = self._box_mode
        self._box_mode = False
        self._box_origin = None
        self.box_item.setVisible(False)
        self.viewport().unsetCursor()
        if was_on:
            self.box_mode_changed.emit(False)

    # -- mouse --------------------------------------------------------------------------------
    def _start_pan(self, pos: QPoint) -> None:
        self._pan_from = pos
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and self._space_down):
            self._start_pan(pos)
            self._space_panned = self._space_down
            event.accept()
            return
        if self._box_mode and event.button() == Qt.MouseButton.LeftButton:
            self._box_origin = self.mapToScene(pos)
            self.box_item.setRect(QRectF(self._box_origin, self._box_origin))
            self.box_item.setVisible(True)
            event.accept()
            return
        self._group_click = None
        if event.button() == Qt.MouseButton.LeftButton:
            group = self._group_under(pos)
            if group is not None:
                add = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
                self._group_click = (group, add, pos)
        super().mousePressEvent(event)
        item = self.itemAt(pos)
        self._point_pressed = (event.button() == Qt.MouseButton.LeftButton and self.layer.shown
                               and isinstance(item, PointItem))
        self._lone_drag = (item.index if self._point_pressed and isinstance(item, PointItem)
                           and self.layer.selected_indices() == [item.index] else None)

    @property
    def dragging(self) -> bool:
        """Whether the left button is down on a point (a drag may be under way)."""
        return self._point_pressed

    def _group_under(self, pos: QPoint) -> str | None:
        """The group whose line is under ``pos`` (a point there takes precedence)."""
        if not self.layer.shown or isinstance(self.itemAt(pos), PointItem):
            return None
        scene = self.mapToScene(pos)
        return self.layer.group_at(scene.x(), scene.y(), EDGE_PICK_PX / max(self.zoom, 1e-6))

    def _finish_group_click(self, pos: QPoint) -> None:
        """A click (press and release without dragging) on a group's line selects the group;
        a drag that starts there is still a rubber band."""
        click, self._group_click = self._group_click, None
        if click is None or (pos - click[2]).manhattanLength() > CLICK_SLOP_PX:
            return
        group, add, _ = click
        self.layer.select_group(group, add=add)
        self.group_selected.emit(group)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        if self._pan_from is not None:
            delta = pos - self._pan_from
            self._pan_from = pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            self._fitted = False
            event.accept()
            return
        if self._box_origin is not None:
            self.box_item.setRect(QRectF(self._box_origin, self.mapToScene(pos)).normalized())
            event.accept()
            return
        super().mouseMoveEvent(event)
        if self._lone_drag is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.point_drag_moved.emit(self._lone_drag, _alt(event), False)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().unsetCursor()
            event.accept()
            return
        if self._box_origin is not None:
            rect = self.box_item.rect()
            self._end_box()
            if rect.width() >= 8 and rect.height() >= 8:
                self.box_drawn.emit(Box(rect.x(), rect.y(), rect.width(), rect.height()))
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._finish_group_click(event.position().toPoint())
        lone, self._lone_drag, self._point_pressed = self._lone_drag, None, False
        if self.layer.shown:
            if lone is not None:  # the followers' final places (or back home: it did not move)
                self.point_drag_moved.emit(lone, _alt(event), True)
            moved = self.layer.moved_indices()
            if len(moved):
                dragged = [lone] if lone is not None and lone in moved else moved.tolist()
                self.points_dragged.emit(moved, self.layer.positions()[moved], dragged)

    # -- keys (space: pan while held, play/pause when tapped) ---------------------------------
    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            plain = event.modifiers() == Qt.KeyboardModifier.NoModifier
            if event.key() == Qt.Key.Key_Space and plain:
                event.accept()
                return True
            if event.key() == Qt.Key.Key_Escape and self._box_mode:
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down, self._space_panned = True, False
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape and self._box_mode:
            self._end_box()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down = False
                if not self._space_panned:
                    self.play_requested.emit()
            event.accept()
            return
        super().keyReleaseEvent(event)
