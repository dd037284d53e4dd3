"""Render the README screenshots offscreen: the welcome view, the demo just opened from it,
keyframe editing, propagation running, review after a run, and the trajectory plot of a
selected group. ``--only welcome,demo`` renders just those (no propagation runs then).

    QT_QPA_PLATFORM=offscreen python docs/make_screenshots.py [OUT_DIR] [--only NAME,...]
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

from app.icons import apply_look
from app.main_window import MainWindow

SHOTS = ("welcome", "demo", "keyframe-editing", "propagating", "review", "trajectories")


def _wide_box(points):
    from core.landmarks import Box, bounding_box

    box = bounding_box(points)
    return Box(box.x - 0.5 * box.width, box.y - 0.3 * box.height, 2 * box.width,
               1.6 * box.height)


def settle(app: QApplication, ms: int = 400) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _arguments() -> tuple[Path, set[str]]:
    args = sys.argv[1:]
    only = set(SHOTS)
    if "--only" in args:
        at = args.index("--only")
        only = set(args[at + 1].split(","))
        del args[at:at + 2]
    unknown = only - set(SHOTS)
    if unknown:
        sys.exit(f"unknown screenshot(s) {sorted(unknown)}; known: {', '.join(SHOTS)}")
    return (Path(args[0]) if args else Path(__file__).resolve().parent), only


def _recent_projects(tmp: Path) -> list[str]:
    """One project that exists and one that was moved away, as a returning user has them."""
    from core.store import Project

    existing = tmp / "interviews" / "interviews.faceprop.sqlite"
    existing.parent.mkdir()
    Project.create_or_open(existing).close()
    return [str(existing), "/home/you/labels/pilot-2025.faceprop.sqlite"]


def main() -> None:
    out, only = _arguments()
    app = QApplication.instance() or QApplication([])
    apply_look(app)
    tmp = Path(tempfile.mkdtemp(prefix="faceprop-shots-"))
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("projects/recent", _recent_projects(tmp))
    window = MainWindow(settings)
    window.resize(1400, 880)
    window.show()
    settle(app)
    if "welcome" in only:
        window.grab().save(str(out / "screenshot-welcome.png"))

    window.welcome.demo_button.click()  # the demo as a new user opens it
    for _ in range(600):
        if window.session.video is not None and window.projects.demo_worker is None:
            break
        settle(app, 200)
    settle(app)
    if "demo" in only:
        window.grab().save(str(out / "screenshot-demo.png"))
    if not only - {"welcome", "demo"}:
        window.close()
        return
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
