"""notebooks/01_trust_region_playground.ipynb: structure, headless runs, corners of its sliders.

Three layers, cheapest first:

* the committed notebook's structure (typed parameters, hidden solution cells, no outside paths);
* its code cells executed in this process with parameters at the corners of the sliders' ranges
  (every loss once; δ at min/mid/max; K ∈ {1, 2, 3, 30}; p ∈ {1, 1.5, 2, 3, ∞}; the extremes of
  η, T, γ and k): every assert of the notebook must hold — the same code papermill runs, without
  a kernel start per corner;
* the claim functions over the full product loss × δ × K × p (cheap invariants only);
* papermill in the real kernel: the defaults (its outputs compared by nbval with the golden copy
  tests/golden/01_trust_region_playground.ipynb; the exported HTML shows every figure) and one
  corner.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import papermill as pm
import plotly.io as pio
import pytest
from fwlab.widgets.explorer import RANGES
from jupyter_client.kernelspec import find_kernel_specs

from fwlab.toy import loss_names, step_zoom, trajectory
from fwlab.toy.lesson import lmo_rows
from fwlab.toy.sliders import DELTA_VALUES
from fwlab.toy.trust_region import p_norm
from tests.golden.golden import assert_matches_golden
from tests.notebook_tools import SAVE_AT_THE_END

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_trust_region_playground.ipynb"
KERNEL = "fwlab"  # registered by .ci/setup (fwlab.runs.jupyter_kernel.register_kernel)

DEFAULTS = {
    "loss": ("str", '"rosenbrock"'),
    "delta": ("float", "0.5"),
    "K": ("int", "5"),
    "p": ("float", "2.0"),
    "lr": ("float", "0.5"),
    "steps": ("int", "100"),
    "x0": ("float", 'float("nan")'),
    "y0": ("float", 'float("nan")'),
    "gd_lr": ("float", 'float("nan")'),
    "delta_decay": ("float", "1.0"),
    "zoom_k": ("int", "5"),
    "lmo_direction": ("float", "20.0"),
}

D_MIN, D_MAX = RANGES["delta"]
D_MID = DELTA_VALUES[len(DELTA_VALUES) // 2]  # the δ slider's middle value
#: corners of the slider ranges: every loss once, every δ/K/p corner at least once
CORNERS = [
    dict(loss="rosenbrock", delta=D_MIN, K=1, p=1.0, lr=0.05, steps=0, zoom_k=1),
    dict(loss="beale", delta=D_MAX, K=30, p=math.inf, lr=2.0, steps=300, zoom_k=30,
         delta_decay=0.9, lmo_direction=359.0),
    dict(loss="himmelblau", delta=D_MID, K=2, p=2.0),
    dict(loss="quadratic", delta=D_MIN, K=3, p=math.inf, lr=2.0),
    dict(loss="saddle", delta=D_MAX, K=1, p=2.0, steps=300, delta_decay=0.9),
    dict(loss="rastrigin", delta=D_MID, K=30, p=1.0, delta_decay=0.9),
    dict(loss="rosenbrock", delta=D_MAX, K=2, p=3.0, lr=0.05),
    dict(loss="quadratic", delta=D_MID, K=30, p=1.5, x0=0.3, y0=-0.2),
]  # fmt: skip


def _code_cells() -> list[nbformat.NotebookNode]:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def test_committed_notebook_is_clean_and_has_one_typed_parameters_cell():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == KERNEL
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "clear outputs"
    params = pm.inspect_notebook(str(NOTEBOOK))
    assert {k: (v["inferred_type_name"], v["default"]) for k, v in params.items()} == DEFAULTS
    assert all(v["help"] for v in params.values()), "every parameter has a comment"
    # the notebook ends with its asserts
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert last.source.count("assert ") >= 5


def test_the_playground_starts_without_torch():
    """Notebook 01's imports (and the explorers it builds) need no torch: its kernel starts
    about 2.4 s of CPU sooner than one that imports it."""
    imports = _code_cells()[1].source.split("\n\n# ")[0]  # up to the first comment block
    assert "from fwlab.widgets import" in imports and "embed_figures()" in imports
    code = imports + (
        "\nTrajectoryExplorer('rosenbrock', steps=5); StepZoomExplorer('rosenbrock'); "
        "LmoExplorer()\nimport sys; print(sorted({'torch', 'sklearn'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=NOTEBOOK.parent, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[-2] == "[]"


def test_teaching_apparatus_is_there():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert text.count("**Predict, then move the slider.**") >= 4
    assert len(re.findall(r"\*\*Exercise \d\.\*\*", text)) == 3
    hidden = [c for c in nb.cells if c.metadata.get("jupyter", {}).get("source_hidden")]
    assert len(hidden) == 3 and all(c.source.startswith("# Solution") for c in hidden)
    assert all("assert " in c.source for c in hidden), "solutions check themselves"
    assert all("solution" in c.metadata.get("tags", []) for c in hidden)
    # every prompt is followed by a reveal cell with a checker, its output collapsed
    cells = nb.cells
    prompts = [i for i, c in enumerate(cells) if "**Predict, then move the slider.**" in c.source]
    reveals = [i for i, c in enumerate(cells) if "reveal" in c.metadata.get("tags", [])]
    assert len(reveals) == len(prompts) == 6
    for i, j in zip(prompts, reveals, strict=True):
        assert i < j and "lesson.check_" in cells[j].source and "my_prediction" in cells[j].source
        assert cells[j].metadata["jupyter"]["outputs_hidden"] is True
    exercises = text.split("**Exercise ")[1:]
    assert len(exercises) == 3 and all("lesson.check_" in e for e in exercises)
    assert "## Glossary" in text
    # no reference to files outside the repository (e.g. the background notes in shared/)
    everything = "\n".join(c.source for c in nb.cells)
    assert "shared/" not in everything and "PAPER.md" not in everything


def test_readme_cites_no_file_outside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "shared/" not in readme and "PAPER.md" not in readme


def _exec_notebook(**parameters) -> str:
    """Run the notebook's code cells in this process, parameters injected after the tagged cell
    (as papermill does); returns what it printed."""
    import contextlib
    import io

    ns: dict = {"__name__": "__notebook__"}
    out = io.StringIO()
    before = pio.renderers.default
    try:
        with contextlib.redirect_stdout(out):
            for cell in _code_cells():
                exec(compile(cell.source, "<notebook 01>", "exec"), ns)
                if "parameters" in cell.metadata.get("tags", []):
                    ns.update(parameters)
    finally:
        pio.renderers.default = before
    return out.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("corner", CORNERS, ids=lambda c: f"{c['loss']}-K{c['K']}")
def test_every_assert_holds_at_the_corners_of_the_sliders(corner):
    text = _exec_notebook(**corner)
    assert "all checks passed" in text


def test_the_corners_cover_every_loss_and_every_corner_value():
    assert {c["loss"] for c in CORNERS} == set(loss_names())
    assert {c["delta"] for c in CORNERS} == {D_MIN, D_MID, D_MAX}
    assert {c["K"] for c in CORNERS} >= {1, 2, 3, 30}
    assert {c["p"] for c in CORNERS} == {1.0, 1.5, 2.0, 3.0, math.inf}
    lo, hi = RANGES["lr"]
    assert {c.get("lr") for c in CORNERS} >= {lo, hi}
    assert {c.get("steps") for c in CORNERS} >= {RANGES["steps"][0], RANGES["steps"][1]}
    assert RANGES["delta_decay"][0] in {c.get("delta_decay") for c in CORNERS}


@pytest.mark.slow
@pytest.mark.parametrize("loss", loss_names())
def test_step_zoom_claims_over_every_delta_and_p(loss):
    """The step-zoom asserts of section 2 over δ × p (K does not enter one step)."""
    for delta, p in itertools.product((D_MIN, D_MID, D_MAX), (1.0, 2.0, math.inf)):
        z = step_zoom(loss, delta=delta, p=p, K=30)
        assert p_norm(z.exact, p) <= delta * (1 + 1e-12)
        assert abs(z.exact_gap) <= 1e-6 * max(1.0, z.fw_gaps[0]), (delta, p, z.exact_gap)
        assert z.f_exact <= min(z.f_fw.min(), z.f_pg.min()) + 1e-9 * (1 + abs(z.f_exact))
        assert np.all(p_norm(z.fw_dw, p) <= delta * (1 + 1e-9))
        assert np.all(np.diff(z.f_pg) <= 1e-12 * (1 + np.abs(z.f_pg).max()))


@pytest.mark.parametrize("loss", loss_names())
def test_trajectory_claims_over_every_delta_K_and_p(loss):
    """The checks of sections 4-6 and the final cell over δ × K × p (and γ ∈ {1, 0.9})."""
    for delta, K, p, gamma in itertools.product(
        (D_MIN, D_MID, D_MAX), (1, 2, 3, 30), (1.0, 2.0, math.inf), (1.0, 0.9)
    ):
        fw = trajectory(loss, lr=0.5, delta=delta, K=K, p=p, steps=30, delta_decay=gamma)
        assert np.all(p_norm(fw.dw, p) <= fw.deltas[:, None] * (1 + 1e-9))
        assert np.all(p_norm(fw.moves, p) <= 0.5 * fw.deltas * (1 + 1e-9))
        assert p_norm(fw.moves, p).sum() <= 0.5 * delta * min(30, 1 / (1 - gamma + 1e-300)) * (
            1 + 1e-9
        )
        assert np.all(fw.gaps >= -1e-9 * (1 + fw.gaps[:, :1]))
        if K == 1 and gamma == 1.0:
            twin = trajectory(loss, lr=1.0, delta=delta / 2, K=1, p=p, steps=30)
            assert np.array_equal(fw.iterates, twin.iterates)  # only ηδ matters
        g = fw.vertices[:, 0]
        nonzero = np.max(np.abs(g), axis=1) > 0
        assert np.allclose(p_norm(g[nonzero], p), fw.deltas[nonzero], rtol=1e-12)  # K=1 step


def test_lmo_claims_over_every_p_and_direction():
    theta = np.radians(np.arange(0.5, 360.0, 0.5))
    gs = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    for p, delta in itertools.product((1.0, 1.5, 2.0, 3.0, math.inf), (D_MIN, D_MID, D_MAX)):
        s = lmo_rows(gs, p, delta)
        assert np.allclose(p_norm(s, p), delta, rtol=1e-12)
        q = 1.0 if math.isinf(p) else (math.inf if p == 1.0 else p / (p - 1))
        assert np.allclose((s * gs).sum(1), -delta * p_norm(gs, q), rtol=1e-12)


# --- papermill in the real kernel ---------------------------------------------------------------


def _run(tmp_path, monkeypatch, **parameters):
    if KERNEL not in find_kernel_specs():
        pytest.fail(f"Jupyter kernel {KERNEL!r} is not installed; run `bash .ci/setup`")
    # the kernel imports fwlab/widgets from this checkout, whatever is installed in the venv
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "01_out.ipynb"
    pm.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters=parameters,
        kernel_name=KERNEL,
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
        execution_timeout=240,
        **SAVE_AT_THE_END,
    )
    nb = nbformat.read(out, as_version=4)
    text = "\n".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream"
    )
    return out, nb, text


@pytest.mark.notebooks
@pytest.mark.timeout(300)
def test_notebook_runs_headless_with_its_defaults_and_exports_every_figure(tmp_path, monkeypatch):
    out, nb, text = _run(tmp_path, monkeypatch)
    # nbval: every printed number of this run against tests/golden/ (no second run)
    assert_matches_golden(NOTEBOOK.stem, out)
    assert "Rosenbrock" in text and "δ = 0.5, K = 5, p = 2.0, η = 0.5, T = 100" in text
    assert "start (-1.5, 2.0)" in text
    assert "all checks passed" in text
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    # step zoom, LMO, length vs K, K sweep, η × δ, move vs δ, paths, explorer
    assert len(figures) == 8
    # no widget repr text (VBox(children=...)) in headless output: a sentence instead
    plain = [o["data"]["text/plain"] for o in outputs if "text/plain" in o.get("data", {})]
    assert not any("VBox(" in t or "HBox(" in t for t in plain)
    widgets_text = [t for t in plain if "need a running kernel" in t or "needs a running" in t]
    assert len(widgets_text) == 3
    # the exported HTML draws every figure: one Plotly.newPlot call per figure, plotly.js inline
    # (HTMLExporter is what `jupyter nbconvert --to html` runs; here without a new interpreter)
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_filename(str(out))
    assert html.count("Plotly.newPlot(") >= len(figures)
    assert "plotly.js v" in html or "plotly-latest" in html or "Plotly" in html[:2_000_000]
    _offline_page_typesets_its_maths_and_draws_its_figures(out, tmp_path, len(figures))


def _offline_page_typesets_its_maths_and_draws_its_figures(executed, tmp_path, n_figures):
    """fwlab.app.notebook_html's page of the executed notebook in headless Chromium, every request
    that is not a file aborted: the formulas are typeset by the inlined MathJax (mjx-container,
    no raw $$ left, no MathJax error), every figure is drawn, the solutions and answers are
    folded, and nothing was fetched."""
    from fwlab.app.notebook_html import export_html
    from tests.browser_tools import CHROMIUM_ARGS, chromium, sync_playwright

    page_file = export_html(executed, tmp_path / "01.html")
    executable = chromium()
    blocked, errors = [], []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.route("**/*", only_files)
            page = context.new_page()
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(page_file.as_uri(), timeout=120_000)
            page.wait_for_function(
                "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
                arg=n_figures, timeout=120_000,
            )  # fmt: skip
            page.wait_for_function(
                "() => document.querySelectorAll('mjx-container').length >= 3", timeout=120_000
            )
            assert page.locator("mjx-merror").count() == 0  # every formula parsed
            text = page.evaluate("() => document.body.innerText")
            assert "$$" not in text and "\\operatorname" not in text and "\\langle" not in text
            folded = page.locator("details.fwlab-collapsed")
            assert folded.count() == 3 + 6 + 3  # solutions' code and output, prompts' answers
            assert page.locator("details[open]").count() == 0
            assert not page.get_by_text("Solution 1. The LMO").is_visible()
            page.locator("details.fwlab-solution summary").first.click()
            assert page.get_by_text("Solution 1. The LMO").is_visible()  # a click opens it
        finally:
            browser.close()
    assert not errors, errors
    assert blocked == [], blocked  # nothing was asked of the network


# notebook 01 away from its defaults under papermill: tests/e2e/test_install.py runs it at a corner
# of
# its sliders with `fwlab run` from the installed wheel
