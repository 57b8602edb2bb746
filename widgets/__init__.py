"""Interactive ipywidgets + plotly front ends built on :mod:`fwlab`."""
