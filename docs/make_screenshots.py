"""Render the README screenshots offscreen: empty window, keyframe editing, review after a run,
and the trajectory plot of a selected group.

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py [OUT_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from app.demo import create_demo_project
from app.main_window import MainWindow


def _wide_box(points):
    from core.landmarks import Box, bounding_box

    box = bounding_box(points)
    return Box(box.x - 0.5 * box.width, box.y - 0.3 * box.height, 2 * box.width,
               1.6 * box.height)


def settle(app: QApplication, ms: int = 400) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="faceprop-shots-"))
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.resize(1400, 880)
    window.show()
    settle(app)
    window.grab().save(str(out / "screenshot-empty.png"))

    window.open_project(create_demo_project(tmp / "demo"))
    window.session.seek(30)
    settle(app)
    window.view.zoom_to_points(window.editor.current_shape())
    points = window.view.layer.points
    for i in (36, 37, 38, 39, 40, 41):
        points[i].setSelected(True)
    settle(app)
    window.grab().save(str(out / "screenshot-keyframe-editing.png"))

    window.method = os.environ.get("FACEPROP_SHOT_METHOD", "final")
    training = QEventLoop()
    window.runner.losses_reported.connect(lambda *_: training.quit())
    window.runner.run_finished.connect(lambda *_: training.quit())
    QTimer.singleShot(120_000, training.quit)
    window.propagate()
    training.exec()  # the trainer reports its first losses (or a baseline ends)
    settle(app, 300)
    window.grab().save(str(out / "screenshot-propagating.png"))
    loop = QEventLoop()
    window.runner.run_finished.connect(lambda *_: loop.quit())
    QTimer.singleShot(600_000, loop.quit)
    if window.runner.running:
        loop.exec()
    window.view.scene().clearSelection()
    window.next_suggestion()
    settle(app)
    window.view.zoom_to(_wide_box(window.editor.current_shape()))
    settle(app)
    window.grab().save(str(out / "screenshot-review.png"))
    window.view.layer.select_group("right_eye")
    window.timeline.tabs.setCurrentWidget(window.trajectory)
    settle(app)
    window.grab().save(str(out / "screenshot-trajectories.png"))
    window.close()


if __name__ == "__main__":
    main()
