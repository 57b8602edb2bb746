"""Interactive ipywidgets + plotly front ends built on :mod:`fwlab`.

Each widget is imported from its module on first use: the playground's explorers
(``from fwlab.widgets import TrajectoryExplorer``) start without torch, which only the training
dashboard needs.
"""

from typing import TYPE_CHECKING

from fwlab.util.lazy import lazy_exports

if TYPE_CHECKING:
    from .dashboard import TrainingDashboard
    from .explorer import TrajectoryExplorer
    from .step_zoom import LmoExplorer, StepZoomExplorer

_EXPORTS = {
    "LmoExplorer": ".step_zoom",
    "StepZoomExplorer": ".step_zoom",
    "TrainingDashboard": ".dashboard",
    "TrajectoryExplorer": ".explorer",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


__all__ = ["LmoExplorer", "StepZoomExplorer", "TrainingDashboard", "TrajectoryExplorer"]
