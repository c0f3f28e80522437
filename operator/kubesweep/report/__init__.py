"""`kubectl sweep report`: a sweep's runs as one self-contained HTML page.

Pure: a Sweep and its Jobs in, the runs (`runs_of`) and the page (`render`) out. The page draws
with inline SVG and a few lines of inline script (a run hovered is highlighted in every chart):
no library, no font, no request at view time, so it opens from a mail attachment or an
air-gapped laptop as it does anywhere.

The runs and what is read from them are in `data`, the SVG charts in `charts`, the page around
them in `page`; the names the plugin and the tests use are here.
"""

from __future__ import annotations

from kubesweep.report.charts import (
    STATE_COLORS,
    bands_chart,
    metric_chart,
    nice_ticks,
    parallel_coordinates,
    states_chart,
)
from kubesweep.report.data import (
    BEST_SHOWN,
    RUN_STATES,
    Axis,
    Run,
    axes,
    best_runs,
    best_so_far,
    flat_parameters,
    run_parameters,
    runs_of,
    state_counts,
    value_text,
)
from kubesweep.report.page import render, runs_table

__all__ = [
    "BEST_SHOWN",
    "RUN_STATES",
    "STATE_COLORS",
    "Axis",
    "Run",
    "axes",
    "bands_chart",
    "best_runs",
    "best_so_far",
    "flat_parameters",
    "metric_chart",
    "nice_ticks",
    "parallel_coordinates",
    "render",
    "run_parameters",
    "runs_of",
    "runs_table",
    "state_counts",
    "states_chart",
    "value_text",
]
