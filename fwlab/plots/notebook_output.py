r"""Notebook output that survives headless runs and static exports: one call per notebook.

Plotly's default renderer in a kernel writes only ``application/vnd.plotly.v1+json``, which
JupyterLab draws but ``jupyter nbconvert --to html`` drops: the exported page has no figures.
:func:`embed_figures` switches to ``"plotly_mimetype+notebook"``: every figure carries both the
JSON (JupyterLab and VS Code draw it live) and an HTML/JavaScript version, and the page gets
plotly.js once, inline (about 4.6 MB, no network needed), so an exported notebook shows every
figure offline.

Example:
    >>> import plotly.io as pio
    >>> from fwlab.plots.notebook_output import EMBEDDED_RENDERER
    >>> EMBEDDED_RENDERER
    'plotly_mimetype+notebook'
"""

from __future__ import annotations

__all__ = ["EMBEDDED_RENDERER", "embed_figures"]

#: the plotly renderer that writes JSON for live front ends and HTML + plotly.js for exports
EMBEDDED_RENDERER = "plotly_mimetype+notebook"


def embed_figures() -> None:
    """Make every plotly figure shown from now on render in exported HTML as well.

    Sets ``plotly.io.renderers.default`` to :data:`EMBEDDED_RENDERER`; the first time, the
    ``notebook`` renderer writes plotly.js into the cell's output. Calling it again is a no-op.
    """
    import plotly.io as pio

    if pio.renderers.default != EMBEDDED_RENDERER:
        pio.renderers.default = EMBEDDED_RENDERER
