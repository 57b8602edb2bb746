"""tests/golden/: the golden executed copies of the notebooks and their comparison by nbval.

The comparison of each notebook's papermill run with its golden copy happens in the tests that
make that run (tests/e2e/test_notebooks.py, tests/e2e/test_notebook_01.py); here, without a notebook
kernel: the golden copies are as new as their notebooks, built as golden.py says, the sanitizer
replaces only what varies, and nbval fails on a one-digit change of a printed number.
"""

from __future__ import annotations

import re
import shutil

import nbformat
import pytest

from tests.golden.golden import (
    GOLDEN_DIR,
    IGNORED,
    METADATA_KEY,
    NAMES,
    NOT_COMPARED,
    NOTEBOOK_DIR,
    code_digest,
    compare,
    golden_path,
    sanitize,
    stale,
)
from tests.golden.replay_kernel import IGNORE_MARK, REASON_PREFIX, strip_header

PLAYGROUND = "01_trust_region_playground"


def _golden(name):
    return nbformat.read(golden_path(name), as_version=4)


def test_every_notebook_with_outputs_at_its_defaults_has_a_golden_copy_and_no_other():
    notebooks = {p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")}
    # table_row.ipynb runs inside notebook 05's sweep: its printed table is in 05's outputs
    assert set(NAMES) == notebooks - {"table_row"}, (
        "a notebook without a golden copy: add it to IGNORED in tests/golden/golden.py, then run "
        "`bash .ci/golden NAME`"
    )
    assert {p.stem for p in GOLDEN_DIR.glob("*.ipynb")} == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_golden_copy_is_as_new_as_its_notebook(name):
    assert stale(name) is None, stale(name)


def test_freshness_check_fails_when_a_code_cell_changes_and_only_then(tmp_path):
    notebook = tmp_path / f"{PLAYGROUND}.ipynb"
    shutil.copy(NOTEBOOK_DIR / notebook.name, notebook)
    assert stale(PLAYGROUND, notebook) is None
    nb = nbformat.read(notebook, as_version=4)
    next(c for c in nb.cells if c.cell_type == "markdown").source += "\nMore prose."
    nbformat.write(nb, notebook)
    assert stale(PLAYGROUND, notebook) is None, "prose does not make a golden copy stale"
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[-1].source = code[-1].source.replace("all checks passed", "all checks passed!")
    nbformat.write(nb, notebook)
    reason = stale(PLAYGROUND, notebook)
    assert reason and "is older than" in reason and f"bash .ci/golden {PLAYGROUND}" in reason
    assert "is missing" in stale(PLAYGROUND, notebook, golden=tmp_path / "none.ipynb")


@pytest.mark.parametrize("name", NAMES)
def test_golden_copy_holds_the_notebooks_code_cells_and_only_comparable_outputs(name):
    golden, source = _golden(name), nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    nbformat.validate(golden)
    assert golden.metadata[METADATA_KEY]["code_digest"] == code_digest(source)
    code = [c for c in golden.cells if c.cell_type == "code"]
    assert [strip_header(c.source) for c in code] == [
        c.source for c in source.cells if c.cell_type == "code"
    ]
    assert all(c.execution_count == i + 1 for i, c in enumerate(code)), "nbval skips unrun cells"
    ignored = []  # (the notebook's source, the reason)
    for cell in code:
        lines = cell.source.split("\n")
        if IGNORE_MARK in lines:
            # the mark on the first line, then the reason on one line, and nothing stored
            assert lines[0] == IGNORE_MARK and lines[1].startswith(REASON_PREFIX), cell.source
            assert len(lines[1]) > len(REASON_PREFIX) + 20 and cell.outputs == []
            ignored.append((strip_header(cell.source), lines[1].removeprefix(REASON_PREFIX)))
        assert "NBVAL_SKIP" not in cell.source and "NBVAL_CHECK_OUTPUT" not in cell.source
        for out in cell.outputs:
            assert not set(out.get("data", {})) & set(NOT_COMPARED)
            for text in [out.get("text", ""), *out.get("data", {}).values()]:
                assert sanitize(text) == text, "outputs are stored sanitized"
    assert len(ignored) == len(IGNORED[name])
    for start, reason in IGNORED[name].items():
        assert [r for src, r in ignored if src.startswith(start)] == [reason]
    assert golden_path(name).stat().st_size < 100_000, "no figure JSON or plotly.js stored"


def test_sanitizer_replaces_what_varies_and_keeps_the_numbers_a_lesson_prints():
    varies = {
        "recompute + redraw 5.8 ms": "recompute + redraw <time> ms",
        "after 2500 batches (49.1 s)": "after 2500 batches (<time> s)",
        "<Explorer object at 0x7f3a2b1c9d80>": "<Explorer object at 0x<address>>",
        "-> /tmp/pytest-of-root/pytest-3/t0/notebooks/runs/reproduce": "-> <dir>/reproduce",
        '<div id="f077dc14-a75e-43be-858e-1094ae6fe818">': '<div id="<uuid>">',
        '"uid": "a1b2c3"': '"uid": "<uid>"',
        '{"model_id": "0123456789abcdef0123456789abcdef"}': '{"model_id": "<model id>"}',
        '<div style="height:520px;"> <div id="x" class="plotly-graph-div"></div>\n<script>'
        "Plotly.newPlot(...)</script></div>": "<plotly figure>",
        "        <script>\n        window.PlotlyConfig = {};\n</script><script>/** plotly.js */"
        "</script>\n": "<plotly.js>",
    }
    for text, expected in varies.items():
        assert sanitize(text) == expected
        assert sanitize(expected) == expected  # a golden copy's stored output stays as it is
    kept = [
        "Frank-Wolfe         0.6277 / 0.4687 / 0.4046",
        "T= 30 H= 16   500 batches   151 s: BPTT+Adam 0.161/0.163",  # stored seconds
        "(20000 batches, 104 min)",
        "stays above 0.8 · 1/6 on every recorded seed (3 seeds): holds",
        "GD: F = 0.000176; Frank-Wolfe: F = 5.21e-05 at δ = 0.1, K = 30",
        "--out fwlab/experiments/data/calibration_adding.json",
        "-> runs/reproduce/table3-smoke-seed0",
    ]
    assert [sanitize(t) for t in kept] == kept


def _one_digit_changed(text):
    """``text`` with the last digit of its first number with 3+ decimals moved by one."""
    match = re.search(r"\d+\.\d{3,}", text)
    assert match, text
    end = match.end() - 1
    return text[:end] + str((int(text[end]) + 1) % 10) + text[end + 1 :], match.group()


@pytest.mark.slow
def test_nbval_fails_on_a_one_digit_change_to_a_printed_number_and_on_a_changed_cell(tmp_path):
    """In one nbval run, against the outputs of the golden copy itself: the golden copy passes;
    a copy with one digit of one printed number changed fails at that cell and only there; a
    copy with one cell's code changed (a stale copy) fails from that cell on."""
    golden = _golden(PLAYGROUND)
    code = [c for c in golden.cells if c.cell_type == "code"]
    index, cell = next(
        (i, c)
        for i, c in enumerate(code)
        if any(o.output_type == "stream" and re.search(r"\d\.\d{3}", o.text) for o in c.outputs)
    )
    stream = next(o for o in cell.outputs if o.output_type == "stream")
    text = stream.text
    stream.text, number = _one_digit_changed(text)
    changed = tmp_path / "changed" / f"{PLAYGROUND}.ipynb"
    changed.parent.mkdir()
    nbformat.write(golden, changed)
    stream.text = text
    cell.source += "\n# edited"
    edited = tmp_path / "edited" / f"{PLAYGROUND}.ipynb"
    edited.parent.mkdir()
    nbformat.write(golden, edited)

    done = compare([golden_path(PLAYGROUND), changed, edited], golden_path(PLAYGROUND), "-vv")
    report = done.stdout + done.stderr
    assert done.returncode == 1, report
    # one line per cell, the three files in turn (nbval names a cell of a copy outside the
    # checkout by its number only)
    results = re.findall(r"^\S*::Cell (\d+) (PASSED|FAILED)", report, flags=re.MULTILINE)
    n = len(code)
    assert [int(i) for i, _ in results] == list(range(n)) * 3, report
    verdicts = [r for _, r in results]
    assert verdicts[:n] == ["PASSED"] * n, report
    assert verdicts[n : 2 * n] == ["PASSED"] * index + ["FAILED"] + ["PASSED"] * (n - index - 1)
    assert verdicts[2 * n :] == ["PASSED"] * index + ["FAILED"] * (n - index), report
    assert "Cell outputs differ" in report and number in report
    assert f"code cell {index} of the executed notebook is not this cell" in report
    assert "bash .ci/golden" in report
