"""The run's jitter and confidence plot draws no line across frames the run has nothing for."""

from __future__ import annotations

import numpy as np


def test_no_line_across_a_gap_in_the_run(qtbot):
    from app.timeline import StatsPlot

    plot = StatsPlot()
    qtbot.addWidget(plot)
    frames = np.array([0, 1, 2, 6, 7])  # frames 3..5 marked no face: the run skipped them
    plot.set_data(8, frames, np.ones(5), np.ones(5))
    for curve in (plot.jitter_plot.curve, plot.confidence_plot.curve):
        connect = np.asarray(curve.curve.opts["connect"])
        assert connect.tolist() == [True, True, False, True, False]
    plot.set_data(8, None, None, None)  # no run: nothing drawn, nothing to connect
    x, _y = plot.jitter_plot.curve.getData()
    assert x is None or len(x) == 0
