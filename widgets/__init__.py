"""Interactive ipywidgets + plotly front ends built on :mod:`fwlab`."""

from widgets.dashboard import TrainingDashboard
from widgets.explorer import TrajectoryExplorer
from widgets.step_zoom import LmoExplorer, StepZoomExplorer

__all__ = ["LmoExplorer", "StepZoomExplorer", "TrainingDashboard", "TrajectoryExplorer"]
