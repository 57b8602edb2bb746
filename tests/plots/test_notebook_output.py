"""fwlab.plots.notebook_output and fwlab.widgets._display: figures in exported HTML, no widget repr
text."""

from __future__ import annotations

from pathlib import Path

import nbformat
import plotly.io as pio
import pytest
from fwlab.widgets._display import display_widget

from fwlab.plots.notebook_output import EMBEDDED_RENDERER, embed_figures

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture
def renderer():
    before = pio.renderers.default
    yield
    pio.renderers.default = before


def test_embed_figures_sets_a_renderer_that_writes_json_and_html(renderer):
    pio.renderers.default = "json"
    embed_figures()
    assert pio.renderers.default == EMBEDDED_RENDERER
    embed_figures()  # idempotent
    assert pio.renderers.default == EMBEDDED_RENDERER
    import plotly.graph_objects as go

    bundle = pio.renderers._build_mime_bundle(go.Figure(go.Scatter(x=[1], y=[2])).to_dict())
    assert set(bundle) == {"application/vnd.plotly.v1+json", "text/html"}
    assert "Plotly.newPlot" in bundle["text/html"]


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("0[1-5]_*.ipynb")), ids=lambda p: p.stem)
def test_every_numbered_notebook_embeds_its_figures(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "from fwlab.plots.notebook_output import embed_figures" in code
    assert "\nembed_figures()" in code


def test_display_widget_replaces_the_repr_text(monkeypatch):
    import ipywidgets as W

    shown = []
    monkeypatch.setattr("fwlab.widgets._display.display", lambda obj, raw: shown.append((obj, raw)))
    box = W.VBox([W.IntSlider()])
    display_widget(box, "a box of sliders")
    ((bundle, raw),) = shown
    assert raw is True and bundle["text/plain"] == "a box of sliders"
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == box.model_id
