"""Notebook 01 in a real JupyterLab, driven by headless Chromium: the FigureWidget renders and a
keyboard move of the δ slider redraws the trajectory.

Skips (with the reason) when Chromium or Python playwright is missing. Never downloads a
browser: it uses the system Chromium (Debian's /usr/bin/chromium, installed by .ci/setup).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fwlab.toy.sliders import DELTA_VALUES
from tests.browser_tools import chromium as _chromium
from tests.browser_tools import chromium_page, expect, jupyterlab

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "01_trust_region_playground.ipynb"
SCREENSHOT = ROOT / "test-output" / "browser_notebook01.png"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free localhost port, serving a copy of notebooks/; shut down after."""
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    with jupyterlab(root, tmp_path) as served:
        yield served


def _trace_paths(plot) -> list[str]:
    return plot.evaluate(
        "el => Array.from(el.querySelectorAll('.scatterlayer path.js-line'))"
        ".map(p => p.getAttribute('d'))"
    )


def test_notebook_01_in_jupyterlab_slider_redraws_the_figure_widget(lab):
    chromium = _chromium()
    url, token = lab
    SCREENSHOT.parent.mkdir(exist_ok=True)
    errors: list[str] = []
    with chromium_page(chromium, (1400, 1000), errors) as page:
        page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}", timeout=120_000)
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)

        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        page.wait_for_selector(".jp-OutputArea-output >> text=all checks passed", timeout=240_000)

        # the explorer: ipywidgets VBox holding sliders and the plotly FigureWidget
        # (the step-zoom and LMO widgets above it have a δ slider too; "steps T" is its own)
        explorer = page.locator(".widget-vbox").filter(has_text="steps T").first
        plot = explorer.locator(".js-plotly-plot").first
        plot.wait_for(state="visible", timeout=60_000)
        title = plot.locator(".gtitle")
        slider = explorer.locator(".widget-slider").filter(has_text="δ (radius)").first
        readout = slider.locator(".widget-readout").first
        delta0 = float(readout.text_content())
        # δ moves over exact decimal values (fwlab.toy.sliders): 0.5 is 0.5
        assert delta0 == 0.5
        expect(title).to_contain_text(f"δ = {delta0:.3g},", timeout=120_000)
        before = _trace_paths(plot)
        assert len(before) >= 5 and any(before), "the FigureWidget drew its traces"

        handle = slider.locator(".noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        for _ in range(5):  # a few values down the δ slider
            handle.press("ArrowLeft")
        expect(readout).not_to_have_text("0.5", timeout=60_000)
        page.wait_for_timeout(1000)  # the last key press has landed
        delta1 = float(readout.text_content())
        # the value shown is a value of the grid, and the one the figure was computed with
        assert delta1 in DELTA_VALUES and delta1 < delta0
        expect(title).to_contain_text(f"δ = {delta1:.3g},", timeout=60_000)
        after = _trace_paths(plot)
        assert after != before, "the trajectory's SVG paths changed"

        explorer.scroll_into_view_if_needed()
        page.mouse.move(5, 5)  # no hover label over the figure
        page.screenshot(path=str(SCREENSHOT))
    assert not errors, errors
    assert SCREENSHOT.stat().st_size > 10_000
