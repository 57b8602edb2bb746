r"""Plotly figure builders (static ``go.Figure``), shared by the widgets and headless reports.

No ipywidgets here: a widget wraps these figures in a ``go.FigureWidget`` and refreshes their
traces from the same ``*_data`` functions, so what a notebook shows headless (papermill, nbval,
exported HTML) is exactly what the live widget draws.

One module per figure family (every public name is re-exported here):

1. :mod:`fwlab.plots.balls`: p-norm balls: :func:`unit_ball`, :func:`balls_xy`,
   :func:`lmo_ball_figure`
2. :mod:`fwlab.plots.toy`: toy losses and trajectories: :func:`contour_data`,
   :func:`trajectory_trace_data`, :func:`trajectory_figure`
3. :mod:`fwlab.plots.tables`: the paper's tables: :func:`table_figure`
4. :mod:`fwlab.plots.landscape`: loss landscape: :func:`landscape_figure` (a
   :class:`fwlab.train.landscape.Landscape`)
5. :mod:`fwlab.plots.training`: training curves: :func:`training_figure`,
   :func:`training_trace_data`, :func:`add_training_traces` (several runs of
   :func:`fwlab.train.fit` side by side)
6. :mod:`fwlab.plots.recorded`: recorded runs over a training figure, mean and spread across
   seeds: :func:`recorded_band_traces`, :func:`add_recorded`; sets of seeds side by side:
   :func:`seed_bands_figure`, :func:`seed_bands_trace_data`
7. :mod:`fwlab.plots.tuning`: a tuning table, the validation metric over the learning-rate
   grid per method: :func:`tuning_figure`

:mod:`fwlab.plots._style` holds what several families share (colours, log-axis values);
:func:`format_p` (how p is written) is :func:`fwlab.util.exponent.format_p`, re-exported.

Example:
    >>> from fwlab.toy import trajectory
    >>> from fwlab.plots import trajectory_figure
    >>> fw = trajectory("himmelblau", lr=0.5, K=5, p=2, steps=30)
    >>> fig = trajectory_figure("himmelblau", fw)
    >>> [t.meta for t in fig.data][:5]
    ['contour', 'minima', 'balls', 'vertices', 'inner']
"""

from fwlab.plots._style import METHOD_COLORS
from fwlab.plots.balls import balls_xy, lmo_ball_figure, unit_ball
from fwlab.plots.landscape import LANDSCAPE_TRACES, landscape_figure
from fwlab.plots.recorded import (
    add_recorded,
    recorded_band_traces,
    seed_bands_figure,
    seed_bands_trace_data,
)
from fwlab.plots.tables import table_figure
from fwlab.plots.toy import (
    BASELINES,
    METHOD_LABELS,
    TRAJECTORY_TRACES,
    contour_data,
    trajectory_figure,
    trajectory_trace_data,
)
from fwlab.plots.training import (
    TRAINING_PANELS,
    TRAINING_SERIES,
    add_training_traces,
    run_title,
    style_training_figure,
    training_color,
    training_figure,
    training_metric,
    training_panel_titles,
    training_trace_data,
)
from fwlab.plots.tuning import tuning_figure
from fwlab.util.exponent import format_p

__all__ = [
    "add_recorded",
    "recorded_band_traces",
    "seed_bands_figure",
    "seed_bands_trace_data",
    "BASELINES",
    "LANDSCAPE_TRACES",
    "METHOD_COLORS",
    "METHOD_LABELS",
    "TRAINING_PANELS",
    "TRAINING_SERIES",
    "TRAJECTORY_TRACES",
    "add_training_traces",
    "balls_xy",
    "contour_data",
    "format_p",
    "landscape_figure",
    "lmo_ball_figure",
    "run_title",
    "table_figure",
    "trajectory_figure",
    "trajectory_trace_data",
    "style_training_figure",
    "training_color",
    "training_figure",
    "training_metric",
    "training_panel_titles",
    "training_trace_data",
    "unit_ball",
    "tuning_figure",
]
