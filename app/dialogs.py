"""Small dialogs: Export 300VW options (the shortcut editor is in ``app.shortcuts``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.store import RunRecord


@dataclass(frozen=True)
class ExportOptions:
    target: Path
    run_id: int | None
    labelled_only: bool
    force: bool


class ExportDialog(QDialog):
    """Target folder, which run supplies the pseudo-labels, labelled-only, replace existing."""

    def __init__(self, runs: list[RunRecord], default_target: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export 300VW")
        self.target_edit = QLineEdit(str(default_target))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        target_row = QHBoxLayout()
        target_row.addWidget(self.target_edit, 1)
        target_row.addWidget(browse)
        self.run_combo = QComboBox()
        self.run_combo.addItem("Latest finished run of each video", None)
        for run in reversed(runs):
            if run.status in ("done", "stopped"):
                self.run_combo.addItem(f"Run {run.id} · video {run.video_id} · {run.method}",
                                       run.id)
        self.labelled_only = QCheckBox("Only frames with a label (skip frames no run covers)")
        self.force = QCheckBox("Replace the target folder if it is not empty")
        form = QFormLayout()
        form.addRow("Target folder", target_row)
        form.addRow("Pseudo-labels from", self.run_combo)
        form.addRow("", self.labelled_only)
        form.addRow("", self.force)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(560, self.sizeHint().height())

    def _browse(self) -> None:
        start = Path(self.target_edit.text()).expanduser()
        while not start.is_dir() and start != start.parent:  # the target may not exist yet
            start = start.parent
        folder = QFileDialog.getExistingDirectory(self, "Export into folder", str(start))
        if folder:
            self.target_edit.setText(folder)

    def options(self) -> ExportOptions:
        return ExportOptions(Path(self.target_edit.text()).expanduser(),
                             self.run_combo.currentData(), self.labelled_only.isChecked(),
                             self.force.isChecked())
