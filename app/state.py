"""The GUI's view of the open project: current video, frame, keyframes, the frames marked "no
face", the shot cuts and the latest run.

``LabelSession`` is the one place widgets read from and the undo commands write through. It holds
the GUI thread's ``Project`` (each call opens and closes its own database session) and announces
every change with a signal, so views refresh from arrays instead of polling the database. An edit
the store refuses (e.g. a label on a frame marked "no face") is announced by ``edit_refused``
with the store's message, which the window shows in the status bar.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.editing import is_reviewed
from core.review_states import PREDICTED, default_states
from core.segments import Range
from core.store import Annotation, FrameStats, Project, PseudoLabels, RunRecord, VideoRecord

logger = logging.getLogger(__name__)


class LabelSession(QObject):
    """State shared by the main window's widgets; emits a signal for each kind of change."""

    project_changed = Signal()
    video_changed = Signal()
    frame_changed = Signal(int)
    annotation_changed = Signal(int, int)  # video id, frame
    run_changed = Signal()
    absences_changed = Signal(int)  # video id: its "no face" ranges changed
    cuts_changed = Signal(int)  # video id: its shot cuts changed
    edit_refused = Signal(str)  # the store's message for an edit it refused

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.video: VideoRecord | None = None
        self.frame = 0
        self.keyframes: dict[int, str] = {}  # frame -> source, current video
        self.keyframe_points: dict[int, np.ndarray] = {}  # frame -> (68, 2), current video
        self.keyframe_states: dict[int, np.ndarray] = {}  # frame -> (68,) review states
        self.absent_ranges: list[Range] = []  # frames marked "no face", current video
        self.cut_frames: list[int] = []  # frames that start a new shot, current video
        self.run: RunRecord | None = None  # latest usable run of the current video
        self.last_run: RunRecord | None = None  # newest run of any status
        self.pseudo: PseudoLabels | None = None
        self.stats: FrameStats | None = None

    # -- project and video --------------------------------------------------------------------
    @property
    def project_path(self) -> Path | None:
        return None if self.project is None else self.project.path

    def open_project(self, path: str | Path, create: bool = False) -> None:
        """Open (or create) a project file; StoreError when it cannot be opened."""
        project = Project.create_or_open(path) if create else Project.open(path)
        self.close_project(emit=False)
        self.project = project
        abandoned = project.runs.mark_abandoned()
        if abandoned:
            logger.info("marked abandoned runs %s as failed", abandoned)
        self.project_changed.emit()
        videos = project.videos.all()
        self.set_video(videos[0].id if videos else None)

    def close_project(self, emit: bool = True) -> None:
        if self.project is not None:
            self.project.close()
        self.project = None
        self.video = None
        self._clear_video_data()
        if emit:
            self.project_changed.emit()
            self.video_changed.emit()

    def _clear_video_data(self) -> None:
        self.frame = 0
        self.keyframes = {}
        self.keyframe_points = {}
        self.keyframe_states = {}
        self.absent_ranges = []
        self.cut_frames = []
        self.run = self.last_run = None
        self.pseudo = self.stats = None

    def set_video(self, video_id: int | None) -> None:
        self._clear_video_data()
        self.video = None
        if self.project is not None and video_id is not None:
            self.video = self.project.videos.get(video_id)
            frames, points, _vis, sources = self.project.labels.arrays(video_id)
            self.keyframes = {int(f): s for f, s in zip(frames, sources)}
            self.keyframe_points = {int(f): p for f, p in zip(frames, points)}
            state_frames, states = self.project.labels.states(video_id)
            self.keyframe_states = {int(f): s for f, s in zip(state_frames, states)}
            self.absent_ranges = self.project.absences.ranges(video_id)
            self.cut_frames = self.project.cuts.frames(video_id)
            self._load_run()
        self.video_changed.emit()
        self.run_changed.emit()
        self.frame_changed.emit(self.frame)

    def reload_run(self) -> None:
        """Re-read the latest run of the current video (after the trainer finished)."""
        if self.video is not None:
            self._load_run()
        self.run_changed.emit()
        self.frame_changed.emit(self.frame)

    def show_run(self, run: RunRecord, pseudo: PseudoLabels, stats: FrameStats | None) -> None:
        """Make ``run`` (the newest run of the current video, its arrays read off the GUI
        thread, e.g. by a re-solve worker) the one shown; only ``run_changed`` is emitted (the
        frame stays)."""
        self.run = self.last_run = run
        self.pseudo, self.stats = pseudo, stats
        self.run_changed.emit()

    def _load_run(self) -> None:
        assert self.project is not None and self.video is not None
        runs = self.project.runs
        self.run = runs.latest(self.video.id)
        history = runs.all(self.video.id)
        self.last_run = history[-1] if history else None
        if self.run is None:
            self.pseudo = self.stats = None
            return
        self.pseudo = runs.pseudo_labels(self.run.id)
        self.stats = runs.frame_stats(self.run.id)

    @property
    def frame_count(self) -> int:
        return 0 if self.video is None else self.video.frame_count

    @property
    def fps(self) -> float:
        return 25.0 if self.video is None or self.video.fps <= 0 else self.video.fps

    # -- frames -------------------------------------------------------------------------------
    def seek(self, frame: int) -> None:
        if self.video is None:
            return
        frame = int(min(max(frame, 0), self.frame_count - 1))
        if frame != self.frame:
            self.frame = frame
            self.frame_changed.emit(frame)

    def frame_states(self, frame: int | None = None) -> np.ndarray | None:
        """The review states of a frame's points: its annotation's, all predicted on a frame
        that only has a pseudo-label, None on a frame with neither."""
        frame = self.frame if frame is None else frame
        if frame in self.keyframe_states:
            return self.keyframe_states[frame]
        pseudo = self.pseudo_label(frame)
        return None if pseudo is None else np.full(len(pseudo[0]), PREDICTED, dtype=np.uint8)

    def is_absent(self, frame: int | None = None) -> bool:
        """Whether a frame (default: the current one) is marked "no face"."""
        frame = self.frame if frame is None else frame
        return any(first <= frame <= last for first, last in self.absent_ranges)

    def is_cut(self, frame: int | None = None) -> bool:
        """Whether a frame (default: the current one) starts a new shot."""
        return (self.frame if frame is None else frame) in self.cut_frames

    def reviewed_count(self) -> int:
        """Frames of the current video whose annotation is a reviewed machine label."""
        return sum(is_reviewed(source) for source in self.keyframes.values())

    def sorted_keyframes(self) -> np.ndarray:
        return np.array(sorted(self.keyframes), dtype=np.int64)

    def neighbour_keyframe(self, frame: int, direction: int) -> int | None:
        keys = self.sorted_keyframes()
        if direction > 0:
            later = keys[keys > frame]
            return int(later[0]) if len(later) else None
        earlier = keys[keys < frame]
        return int(earlier[-1]) if len(earlier) else None

    def annotation(self, frame: int | None = None) -> Annotation | None:
        if self.project is None or self.video is None:
            return None
        return self.project.labels.get(self.video.id, self.frame if frame is None else frame)

    def pseudo_label(self, frame: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """(points (68,2), confidence (68,)) of the latest run for a frame, or None."""
        if self.pseudo is None:
            return None
        return self.pseudo.for_frame(self.frame if frame is None else frame)

    # -- writing (called by the undo commands) ------------------------------------------------
    def focus(self, video_id: int, frame: int) -> None:
        """Show ``frame`` of ``video_id`` (undo of an edit made elsewhere jumps there)."""
        if self.video is None or self.video.id != video_id:
            self.set_video(video_id)
        self.seek(frame)

    def write_annotation(self, video_id: int, frame: int, points: np.ndarray,
                         visible: np.ndarray | None, source: str,
                         states: np.ndarray | None = None) -> Annotation | None:
        """Create or replace a frame's annotation; ``states`` are its points' review states
        (default: what ``source`` implies). Returns the previous annotation."""
        assert self.project is not None
        states = default_states(source) if states is None else np.array(states, np.uint8)
        previous = self.project.labels.set(video_id, frame, points, visible, source=source,
                                           states=states)
        self._note_annotation(video_id, frame, source, points, states)
        return previous

    def delete_annotation(self, video_id: int, frame: int) -> Annotation | None:
        assert self.project is not None
        removed = self.project.labels.delete(video_id, frame)
        self._note_annotation(video_id, frame, None, None, None)
        return removed

    def restore_annotation(self, video_id: int, frame: int, previous: Annotation | None) -> None:
        """Put back what a frame held before an edit, review states included (nothing: delete
        its annotation)."""
        if previous is None:
            self.delete_annotation(video_id, frame)
        else:
            self.write_annotation(video_id, frame, previous.points, previous.visible,
                                  previous.source, previous.states)

    def mark_absent(self, video_id: int, first: int, last: int, absent: bool = True
                    ) -> list[Range]:
        """Mark frames first … last "no face" (or clear the mark); returns the ranges before.
        ValidationError (unchanged) when they hold labels or lie outside the video."""
        assert self.project is not None
        before = self.project.absences.mark(video_id, first, last, absent)
        self._note_absences(video_id)
        return before

    def replace_absences(self, video_id: int, ranges: list[Range]) -> list[Range]:
        """Set a video's "no face" ranges to exactly ``ranges`` (undo/redo); returns those
        before."""
        assert self.project is not None
        before = self.project.absences.replace(video_id, ranges)
        self._note_absences(video_id)
        return before

    def _note_absences(self, video_id: int) -> None:
        if self.project is not None and self.video is not None and self.video.id == video_id:
            self.absent_ranges = self.project.absences.ranges(video_id)
        self.absences_changed.emit(video_id)

    def set_cut(self, video_id: int, frame: int, cut: bool = True) -> list[int]:
        """Add a shot cut at ``frame`` (or remove the one there); returns the cuts before.
        ValidationError (unchanged) for frame 0 or a frame outside the video."""
        assert self.project is not None
        cuts = self.project.cuts
        before = cuts.add(video_id, frame) if cut else cuts.remove(video_id, frame)
        self._note_cuts(video_id)
        return before

    def replace_cuts(self, video_id: int, frames: list[int]) -> list[int]:
        """Set a video's shot cuts to exactly ``frames`` (undo/redo); returns those before."""
        assert self.project is not None
        before = self.project.cuts.replace(video_id, frames)
        self._note_cuts(video_id)
        return before

    def _note_cuts(self, video_id: int) -> None:
        if self.project is not None and self.video is not None and self.video.id == video_id:
            self.cut_frames = self.project.cuts.frames(video_id)
        self.cuts_changed.emit(video_id)

    def _note_annotation(self, video_id: int, frame: int, source: str | None,
                         points: np.ndarray | None, states: np.ndarray | None) -> None:
        if self.video is not None and self.video.id == video_id:
            if source is None or points is None or states is None:
                self.keyframes.pop(frame, None)
                self.keyframe_points.pop(frame, None)
                self.keyframe_states.pop(frame, None)
            else:
                self.keyframes[frame] = source
                self.keyframe_points[frame] = np.array(points, dtype=np.float32)
                self.keyframe_states[frame] = np.array(states, dtype=np.uint8)
        self.annotation_changed.emit(video_id, frame)
