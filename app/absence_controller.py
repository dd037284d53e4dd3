"""Frames marked "no face" (issue 12 §1): the toggle on the current frame, the range dialog, and
the undo command that changes a video's absent ranges.

Toggle no face (Shift+N) clears the mark of the current frame when it has one and marks it
otherwise; Mark frames as no face… asks for a range in frame numbers as a person reads them
(1-based) and marks it, or clears the mark there. Each change is one ``AbsenceCommand`` on the
window's undo stack: its first redo asks the store to mark or clear (``LabelSession.mark_absent``),
and from then on undo and redo put back exactly the ranges before and after (``replace``). A
change the store refuses (the range holds labels, or lies outside the video) changes nothing: the
command makes itself obsolete and its message goes to the status bar (``edit_refused``), like a
refused label edit.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

from app.commands import VideoMarksCommand
from app.state import LabelSession
from core.frame_numbers import frame_index, frame_number
from core.segments import describe_ranges


def _frames_text(first: int, last: int) -> str:
    return f"frame{'s' if last > first else ''} {describe_ranges([(first, last)])}"


class AbsenceCommand(VideoMarksCommand):
    """Mark frames first … last "no face" (``absent``) or clear the mark; undo and redo restore
    the video's ranges exactly. ``frame`` is the frame shown when it is undone or redone."""

    what = "no-face"

    def __init__(self, session: LabelSession, video_id: int, first: int, last: int,
                 absent: bool, frame: int) -> None:
        verb = "Mark" if absent else "Clear"
        super().__init__(f"{verb} no face ({_frames_text(first, last)})", session, video_id,
                         frame)
        self.first, self.last, self.absent = first, last, absent

    def apply(self) -> list:
        return self._session.mark_absent(self.video_id, self.first, self.last, self.absent)

    def current(self) -> list:
        assert self._session.project is not None
        return self._session.project.absences.ranges(self.video_id)

    def restore(self, marks: list) -> None:
        self._session.replace_absences(self.video_id, marks)


class RangeDialog(QDialog):
    """First and last frame (1-based, as a person numbers them), and mark or clear."""

    def __init__(self, frame_count: int, frame: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Mark frames as no face")
        layout = QFormLayout(self)
        self.first_spin, self.last_spin = QSpinBox(self), QSpinBox(self)
        for spin in (self.first_spin, self.last_spin):
            spin.setRange(1, max(frame_count, 1))
            spin.setValue(frame_number(frame))
        self.clear_box = QCheckBox("Clear the mark instead (the face is in these frames)", self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addRow("First frame:", self.first_spin)
        layout.addRow("Last frame:", self.last_spin)
        layout.addRow(self.clear_box)
        layout.addRow(buttons)

    def choice(self) -> tuple[int, int, bool]:
        """(first, last) as 0-based indices and whether to mark (True) or clear."""
        return (frame_index(self.first_spin.value()), frame_index(self.last_spin.value()),
                not self.clear_box.isChecked())


class AbsenceController(QObject):
    """The actions that mark and clear "no face" frames of the current video."""

    message = Signal(str)

    def __init__(self, session: LabelSession, undo_stack: QUndoStack,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.undo_stack = undo_stack
        self._parent = parent

    def toggle(self) -> bool:
        """The current frame: clear its mark when it has one, else mark it."""
        frame = self.session.frame
        return self.apply(frame, frame, not self.session.is_absent(frame))

    def mark_range_dialog(self) -> bool:
        if self.session.video is None:
            self.message.emit("Open a project and select a video first.")
            return False
        dialog = RangeDialog(self.session.frame_count, self.session.frame, self._parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        return self.apply(*dialog.choice())

    def apply(self, first: int, last: int, absent: bool) -> bool:
        """Mark (``absent``) or clear frames first … last of the current video as one undo
        command; False when refused or when nothing changed."""
        video = self.session.video
        if video is None:
            self.message.emit("Open a project and select a video first.")
            return False
        command = AbsenceCommand(self.session, video.id, first, last, absent,
                                 self.session.frame)
        self.undo_stack.push(command)
        if command.refused is not None:
            return False
        what = _frames_text(first, last)
        if command.after is None or command.after == command.before:
            self.message.emit(f"Nothing to change: {what} "
                              + ("already marked 'no face'." if absent
                                 else "not marked 'no face'."))
            return False
        self.message.emit(f"Marked 'no face': {what}; propagation leaves "
                          f"{'them' if last > first else 'it'} out." if absent
                          else f"Cleared the 'no face' mark: {what}.")
        return True
