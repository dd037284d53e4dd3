"""Shot cuts in the GUI (issue 12 §2): the toggle on the current frame and the undo command that
changes a video's cuts.

A cut at frame ``c`` (0-based) means frames ``c − 1`` and ``c`` belong to different shots:
propagation, the re-solve and the review queue never reach across it (``core.segments``). Cuts
are found when a video is added; Toggle shot cut here (Shift+C) adds one at the current frame
when it has none and removes it otherwise. Each change is one ``CutCommand`` on the window's
undo stack: its first redo asks the store to add or remove (``LabelSession.set_cut``), and from
then on undo and redo put back exactly the cuts before and after (``replace``). A change the
store refuses (frame 1, where the video starts) changes nothing: the command makes itself
obsolete and its message goes to the status bar (``edit_refused``), like a refused label edit.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QWidget

from app.commands import VideoMarksCommand
from app.state import LabelSession
from core.frame_numbers import frame_number


class CutCommand(VideoMarksCommand):
    """Add a shot cut at ``frame`` (``cut``) or remove the one there; undo and redo restore the
    video's cuts exactly and show ``frame``."""

    what = "shot cut"

    def __init__(self, session: LabelSession, video_id: int, frame: int, cut: bool) -> None:
        verb = "Add" if cut else "Remove"
        super().__init__(f"{verb} shot cut (frame {frame_number(frame)})", session, video_id,
                         frame)
        self.cut = cut

    def apply(self) -> list:
        return self._session.set_cut(self.video_id, self.frame, self.cut)

    def current(self) -> list:
        assert self._session.project is not None
        return self._session.project.cuts.frames(self.video_id)

    def restore(self, marks: list) -> None:
        self._session.replace_cuts(self.video_id, marks)


class CutController(QObject):
    """The action that adds and removes the shot cuts of the current video."""

    message = Signal(str)

    def __init__(self, session: LabelSession, undo_stack: QUndoStack,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.undo_stack = undo_stack

    def toggle(self) -> bool:
        """The current frame: remove its cut when it starts a new shot, else add one."""
        return self.apply(self.session.frame, not self.session.is_cut())

    def apply(self, frame: int, cut: bool) -> bool:
        """Add (``cut``) or remove the cut at ``frame`` of the current video as one undo
        command; False when refused or when nothing changed."""
        video = self.session.video
        if video is None:
            self.message.emit("Open a project and select a video first.")
            return False
        command = CutCommand(self.session, video.id, frame, cut)
        self.undo_stack.push(command)
        if command.refused is not None:
            return False
        number = frame_number(frame)
        if command.after is None or command.after == command.before:
            self.message.emit(f"Nothing to change: frame {number} "
                              + ("already starts a new shot." if cut
                                 else "does not start a new shot."))
            return False
        self.message.emit(f"Shot cut added: frame {number} starts a new shot; nothing is "
                          "propagated across it." if cut
                          else f"Shot cut removed: frames {number - 1} and {number} are one "
                          "shot again.")
        return True
