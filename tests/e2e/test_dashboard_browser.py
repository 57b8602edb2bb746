"""Notebook 02's training dashboard in real front ends, driven by headless Chromium, the whole
notebook run top to bottom: "Run All" in JupyterLab and ``fwlab present 02`` (Voilà).

While the cell ``await dash.wait_async()`` waits for the runs (the cells below it already
queued), the dashboard's buttons act: pause parks every run (the status line says "paused" and
the step stays where it is), resume continues, stop ends the runs and the notebook goes on to
its checks. In Voilà the page shows the dashboard at once and its curves grow while the runs
train. Neither page ever has its figure replaced (the recovery meant for a page that stopped
following it): JupyterLab's pages get anywidget's module deadline lifted (browser_tools.py), so
every page here follows its figure and a replacement would be a false alarm.

The notebook trains until stopped (``steps`` = 100,000); every wait is bounded but generous: the
machine may be shared. Step counts and latencies go to ``test-output/dashboard_run_all.txt``,
screenshots to ``test-output/dashboard_paused.png`` and ``test-output/dashboard_voila.png``.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from tests.browser_tools import chromium, chromium_page, jupyterlab, presented

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "02_adding_task.ipynb"
OUTPUT = ROOT / "test-output"
# one live seed (the notebook trains four at its defaults): three runs to watch
RUNS = tuple(f"{m} · seed 20" for m in ("BPTT+Adam", "BPTT+Adam+clip 1", "Frank-Wolfe K=1"))
# trains until the test stops it; a small landscape, so the checks after it are quick
PARAMETERS = {
    "seeds": [20],
    "steps": 100_000,
    "landscape_resolution": 5,
    "landscape_samples": 64,
}

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]


def _notebooks(tmp_path: Path) -> Path:
    """A copy of notebooks/ whose notebook 02 has :data:`PARAMETERS` in its parameters cell."""
    root = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", root, ignore=shutil.ignore_patterns("runs"))
    nb = nbformat.read(root / NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for name, value in PARAMETERS.items():
        cell.source, n = re.subn(
            rf"^{name}: (\w+) = [^#\n]+", rf"{name}: \1 = {value!r}  ", cell.source, flags=re.M
        )
        assert n == 1, f"notebook 02 has no parameter {name}"
    nbformat.write(nb, root / NOTEBOOK)
    return root


def _rows(status) -> dict[str, tuple[str, int]]:
    """The dashboard's status table: run → (state, step)."""
    cells = status.evaluate(
        "el => Array.from(el.querySelectorAll('tr')).map(tr => "
        "Array.from(tr.cells).map(td => td.textContent.trim()))"
    )
    return {
        c[0]: (c[1], int(c[2].removeprefix("step ")))
        for c in cells
        if len(c) >= 3 and c[2].startswith("step ")
    }


def _until(what: str, check, timeout_s: float, every_s: float = 0.25):
    """Poll ``check()`` until it returns something true; fail after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)


def _training(status, at_least: int = 1):
    rows = _rows(status)
    return set(rows) == set(RUNS) and all(
        s == "training" and n >= at_least for s, n in rows.values()
    )


def _dashboard(page):
    """The dashboard (its status line and its buttons) and its status line."""
    status = page.locator(".widget-html").filter(has_text="Frank-Wolfe K=1").first
    box = (
        page.locator(".widget-vbox").filter(has=status).filter(has=page.locator(".js-plotly-plot"))
    )
    return box.last, status


def test_run_all_in_jupyterlab_pause_freezes_the_runs_while_the_notebook_waits(tmp_path):
    executable = chromium()
    root = _notebooks(tmp_path)
    OUTPUT.mkdir(exist_ok=True)
    errors: list[str] = []
    with (
        jupyterlab(root, tmp_path) as (url, token),
        chromium_page(executable, (1400, 1100), errors) as page,
    ):
        page.goto(f"{url}/lab/tree/{NOTEBOOK}?token={token}", timeout=120_000)
        page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=180_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

        dash, status = _dashboard(page)
        status.wait_for(timeout=300_000)
        _until("every run training", lambda: _training(status, at_least=500), 600)
        dash.scroll_into_view_if_needed()

        dash.get_by_role("button", name="pause").click()
        clicked = time.monotonic()
        _until("the click heard", lambda: "pause: " in status.text_content(), 120, 0.05)
        heard_after_s = time.monotonic() - clicked
        _until("every run paused", lambda: {s for s, _ in _rows(status).values()} == {"paused"},
               120, every_s=0.05)  # fmt: skip
        paused_after_s = time.monotonic() - clicked
        at_pause = {name: n for name, (_, n) in _rows(status).items()}
        time.sleep(5.0)  # the kernel's own count, which a running thread would move
        later = {name: n for name, (_, n) in _rows(status).items()}
        assert later == at_pause, (at_pause, later)
        assert "all checks passed" not in page.inner_text(".jp-Notebook")  # still waiting
        page.mouse.move(5, 5)
        dash.screenshot(path=str(OUTPUT / "dashboard_paused.png"))

        dash.get_by_role("button", name="resume").click()
        resumed = _until(
            "every run training again past its paused step",
            lambda: (
                (rows := _rows(status))
                and all(s == "training" and n > at_pause[k] for k, (s, n) in rows.items())
                and rows
            ),
            180,
        )
        dash.get_by_role("button", name="stop").click()
        page.wait_for_selector(".jp-OutputArea-output >> text=all checks passed", timeout=400_000)
        final = _rows(status)
        text = status.inner_text()
    assert {s for s, _ in final.values()} == {"stopped"}
    assert "drawn anew" not in text, text  # the page followed the figure all along
    (OUTPUT / "dashboard_run_all.txt").write_text(
        "JupyterLab, Run All on notebook 02; the dashboard's pause, resume, stop\n"
        f"steps at pause: {at_pause}\nsteps 5 s later: {later}\n"
        f"steps after resume: { {k: n for k, (_, n) in resumed.items()} }\n"
        f"steps at stop: { {k: n for k, (_, n) in final.items()} }\n"
        f"click -> the kernel's answer 'pause: ...' in the status line: {heard_after_s:.2f} s\n"
        f"click -> every run 'paused' in the status line: {paused_after_s:.2f} s\n"
    )
    assert not errors, errors


def test_voila_shows_the_dashboard_at_once_and_its_curves_grow_while_training(tmp_path):
    executable = chromium()
    root = _notebooks(tmp_path)
    OUTPUT.mkdir(exist_ok=True)
    errors: list[str] = []
    with (
        presented(root / NOTEBOOK, tmp_path) as url,
        chromium_page(executable, (1300, 1100), errors) as page,
    ):
        page.goto(url, timeout=300_000)
        dash, status = _dashboard(page)
        status.wait_for(timeout=300_000)
        _until("every run training", lambda: _training(status), 300)
        plot = dash.locator(".js-plotly-plot").first
        points = "el => el.data.map(t => (t.x || []).length).reduce((a, b) => a + b, 0)"
        first = _until("the curves drawn", lambda: plot.evaluate(points), 300)
        grown = _until("the curves growing", lambda: plot.evaluate(points) > first, 300)
        assert grown and _training(status)  # still training: the page did not wait for it
        assert "all checks passed" not in page.inner_text("body")
        page.mouse.move(5, 5)
        dash.screenshot(path=str(OUTPUT / "dashboard_voila.png"))
        dash.get_by_role("button", name="stop").click()
        page.wait_for_selector("text=all checks passed", timeout=400_000)
        final = _rows(status)
        text = status.inner_text()
    assert {s for s, _ in final.values()} == {"stopped"}
    assert "drawn anew" not in text, text
    # jupyterlab-plotly's renderer (plotly 7.1) throws this inside Voila 0.5 after drawing a
    # static figure (tests/app/test_present.py)
    assert not [e for e in errors if "setData is not a function" not in e], errors
