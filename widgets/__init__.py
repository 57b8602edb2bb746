"""Interactive ipywidgets + plotly front ends built on :mod:`fwlab`."""

from widgets.dashboard import TrainingDashboard
from widgets.explorer import TrajectoryExplorer

__all__ = ["TrainingDashboard", "TrajectoryExplorer"]
