"""Notebook 01 in a real JupyterLab, driven by headless Chromium: the FigureWidget renders and a
keyboard move of the δ slider redraws the trajectory.

Skips (with the reason) when Chromium or Python playwright is missing. Never downloads a
browser: it uses the system Chromium (Debian's /usr/bin/chromium, installed by .ci/setup).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from browser_tools import (
    CHROMIUM_ARGS,
    expect,
    free_port,
    lift_anywidget_deadline,
    sync_playwright,
    wait_until_serving,
)
from browser_tools import chromium as _chromium

from fwlab.toy.sliders import DELTA_VALUES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_trust_region_playground.ipynb"
SCREENSHOT = ROOT / "test-output" / "browser_notebook01.png"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free localhost port, serving a copy of notebooks/; shut down after."""
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root)
    settings = tmp_path / "settings"
    # no "get Jupyter news?" toast over the page
    notification = (
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false"}))
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        # the kernel imports fwlab/widgets from this checkout, whatever is installed
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            "--LabApp.news_url=None",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            f"--ServerApp.token={token}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/status?token={token}"
        wait_until_serving(server, url, "JupyterLab", log.name, timeout=120)
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        log.close()


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
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda err: errors.append(str(err)))
            lift_anywidget_deadline(page)
            page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}", timeout=120_000)
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=120_000)

            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            page.wait_for_selector(
                ".jp-OutputArea-output >> text=all checks passed", timeout=240_000
            )

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
        finally:
            browser.close()
    assert not errors, errors
    assert SCREENSHOT.stat().st_size > 10_000
