"""Interactive ipywidgets + plotly front ends built on :mod:`fwlab`."""

from widgets.explorer import TrajectoryExplorer

__all__ = ["TrajectoryExplorer"]
