"""Interactive ipywidgets + plotly front ends built on :mod:`fwlab`."""

from .dashboard import TrainingDashboard
from .explorer import TrajectoryExplorer
from .step_zoom import LmoExplorer, StepZoomExplorer

__all__ = ["LmoExplorer", "StepZoomExplorer", "TrainingDashboard", "TrajectoryExplorer"]
