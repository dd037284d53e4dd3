"""The status-bar panel shown while the trainer runs: phase, progress, ETA, the latest losses,
Stop and Cancel. Its size never follows its texts (new losses or a longer phase do not move the
status bar's other widgets); in a narrow window the bar and the losses shrink and elide."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from app.propagation import PropagationRunner
from app.status_bar import ElidedLabel

LOSSES_SAMPLE = "loss t 0.000123 · s 0.000123"  # the widest losses text the panel makes room for
BAR_WIDTH, BAR_MIN_WIDTH = 240, 120


class ProgressBar(QProgressBar):
    """A progress bar whose preferred width is BAR_WIDTH, whatever its text."""

    def sizeHint(self) -> QSize:
        return QSize(BAR_WIDTH, super().sizeHint().height())


class RunPanel(QWidget):
    """Hidden unless a propagation runs; Stop is graceful (SIGTERM), Cancel kills."""

    def __init__(self, runner: PropagationRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.label = QLabel("Propagating:")
        self.bar = ProgressBar()
        self.bar.setMinimumWidth(BAR_MIN_WIDTH)
        self.bar.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.bar.setTextVisible(True)
        self.stop_button = QPushButton("Stop")
        self.losses = ElidedLabel(LOSSES_SAMPLE,
                                  tip="latest training losses: teacher (t) and student (s)")
        self.stop_button.setToolTip("Stop at a clean point: the trainer saves a checkpoint and "
                                    "keeps its results so far (propagate --resume continues)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Kill the trainer at once")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.label, self.bar, self.losses, self.stop_button, self.cancel_button):
            layout.addWidget(widget)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        self.stop_button.clicked.connect(runner.stop)
        self.cancel_button.clicked.connect(runner.cancel)
        runner.started.connect(self._started)
        runner.progressed.connect(self._progressed)
        runner.losses_reported.connect(self._losses)
        runner.run_finished.connect(lambda *_: self.setVisible(False))
        self.setVisible(False)

    def _started(self) -> None:
        self.losses.setText("")
        self.bar.setRange(0, 0)
        self.bar.setFormat("starting trainer…")
        self.setVisible(True)

    def _progressed(self, phase: str, step: int, total: int, eta: object) -> None:
        eta_text = f" · ETA {float(eta):.0f} s" if isinstance(eta, (int, float)) else ""
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(step, max(total, 1)))
        self.bar.setFormat(f"{phase} {step}/{total}{eta_text}")

    def _losses(self, losses: dict) -> None:
        shown = [f"{name[0]} {losses[name]:.3g}" for name in ("t_loss", "s_loss")
                 if isinstance(losses.get(name), (int, float))]
        self.losses.setText("loss " + " · ".join(shown) if shown else "")
