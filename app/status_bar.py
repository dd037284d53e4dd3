"""The status bar's permanent widgets, sized so that nothing overlaps or shifts as texts change:
each label asks for the width of a sample text whatever it shows, elides a longer text (the full
text is its tooltip) and, in a window too narrow for every widget, shrinks and elides instead of
overlapping its neighbours. The box-mode indicator, the re-propagate prompt and the run panel sit
left of the labels, so showing them never moves the labels while there is room. The current
frame's review-state counts sit at the far left, in whatever room the others leave (elided when
short of it, hidden while a message shows): they never push a permanent widget."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget

from core.frame_numbers import frame_list

MARGIN = 6  # left and right contents margin of each label
MIN_WIDTH = 48  # what a label shrinks to at most in a window too narrow for everything

#: The longest text each label is sized for (longer texts are elided).
FRAME_SAMPLE = "frame 99999 / 99999  · corrected keyframe"
STATES_SAMPLE = "68 placed · 68 accepted · 68 predicted"
ZOOM_SAMPLE = "zoom 4000%"
DEVICE_SAMPLE = "device: cuda:0"
RUN_SAMPLE = "run 99 final-mfe: done · est. NME ≈ 9.9 %"
BOX_MODE_TEXT = "Box mode: drag a box around the face · Esc leaves"


class ElidedLabel(QLabel):
    """A label as wide as ``sample`` whatever its text (narrower only when the bar lacks room);
    a longer text is elided on the right and shown in full as the tooltip (else ``tip``).
    ``text()`` returns the full text."""

    def __init__(self, sample: str, text: str = "", parent: QWidget | None = None,
                 tip: str = "") -> None:
        super().__init__(parent)
        self.setContentsMargins(MARGIN, 0, MARGIN, 0)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        self._width = self.fontMetrics().horizontalAdvance(sample) + 2 * MARGIN + 4
        self.tip = tip
        self._full = ""
        self.setText(text)

    def sizeHint(self) -> QSize:
        return QSize(self._width, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(min(MIN_WIDTH, self._width), super().minimumSizeHint().height())

    def setText(self, text: str) -> None:
        self._full = text
        self._elide()

    def text(self) -> str:
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = self.width() - 2 * MARGIN
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, room)
        super().setText(shown)
        self.setToolTip(self._full if shown != self._full else self.tip)


@dataclass
class StatusWidgets:
    """The permanent widgets of the status bar, left to right after the prompt and panel."""

    mode: ElidedLabel
    frame: ElidedLabel
    states: ElidedLabel  # the current frame's placed / accepted / predicted counts
    zoom: ElidedLabel
    device: ElidedLabel
    run: ElidedLabel


def build_status_bar(bar: QStatusBar, prompt: QWidget, run_panel: QWidget) -> StatusWidgets:
    """Add the box-mode indicator, ``prompt``, ``run_panel`` and the five labels to ``bar``."""
    mode = ElidedLabel(BOX_MODE_TEXT, BOX_MODE_TEXT)
    mode.setObjectName("mode_label")
    mode.setVisible(False)
    widgets = StatusWidgets(mode, ElidedLabel(FRAME_SAMPLE, "no video"),
                            ElidedLabel(STATES_SAMPLE), ElidedLabel(ZOOM_SAMPLE),
                            ElidedLabel(DEVICE_SAMPLE), ElidedLabel(RUN_SAMPLE))
    widgets.states.setObjectName("states_label")
    widgets.states.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    bar.addWidget(widgets.states, 1)  # the room the permanent widgets leave, left-aligned
    for widget in (mode, prompt, run_panel, widgets.frame, widgets.zoom, widgets.device,
                   widgets.run):
        bar.addPermanentWidget(widget)
    # the bar keeps the tallest widget's height, so showing the run panel or the prompt never
    # re-lays out (and repaints) the whole window
    bar.setMinimumHeight(max(run_panel.sizeHint().height(), prompt.sizeHint().height()) + 6)
    return widgets


def run_text(run) -> tuple[str, str]:  # run: core.store.RunRecord | None
    """The run label's text, ``run 3 final: done · est. NME ≈ 2.1 % · shot change? 61``,
    and its tooltip."""
    if run is None:
        return "no run", ""
    text, tip = _estimate_text(run)
    frames = (run.metrics or {}).get("transitions")
    if isinstance(frames, list) and frames:
        numbers = frame_list(frames)
        text += f" · shot change? {numbers}"
        tip += (f"{' ' if tip else ''}Tracking found a change of shot (a dissolve, or a cut not "
                f"marked) inside a keyframe gap at frame{'s' * (len(frames) > 1)} {numbers}: "
                "the frames before it were tracked from the keyframe before, those from it "
                "from the keyframe after. Mark it with Edit › Toggle shot cut here (Shift+C) "
                "to keep it a boundary.")
    return text, tip


def _estimate_text(run) -> tuple[str, str]:
    """``run 3 final: done · est. NME ≈ 2.1 %`` and what the estimate is."""
    text = f"run {run.id} {run.method}: {run.status}"
    nme = (run.metrics or {}).get("estimated_nme")
    if not isinstance(nme, (int, float)):
        return text, ""
    metrics = run.metrics or {}
    count = metrics.get("held_out_keyframes", "?")
    settings = metrics.get("smooth_accel")
    smoother = (f" The temporal smoother's setting was chosen from them too: "
                f"{', '.join(f'{v:g}' for v in settings)} (per face segment)."
                if isinstance(settings, list) and settings else "")
    return (f"{text} · est. NME ≈ {100 * nme:.1f} %",
            f"The run's estimated accuracy, as a % of the inter-ocular distance: each of "
            f"{count} keyframes predicted from its two neighbours alone (tracking and "
            "smoothing, no training), compared with your label, and scaled to the real "
            f"gaps between keyframes. It is an estimate: see docs/MEASUREMENTS.md.{smoother}")
