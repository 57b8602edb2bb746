"""fwlab/app/notebook_html.py: a notebook as one offline HTML page, MathJax inlined, solutions
collapsed. (Notebook 01's page in headless Chromium with the network blocked:
tests/e2e/test_notebook_01.py.)"""

from __future__ import annotations

import re

import nbformat
import pytest

from fwlab.app.cli import main
from fwlab.app.notebook_html import export_html, mathjax_js, offline_exporter


def _notebook():
    nb = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_code_cell("answer = 42  # the solution")
    solution.metadata["jupyter"] = {"source_hidden": True}
    solution.outputs = [nbformat.v4.new_output("stream", text="solution output\n")]
    reveal = nbformat.v4.new_code_cell("print('the answer')")
    reveal.metadata["jupyter"] = {"outputs_hidden": True}
    reveal.outputs = [nbformat.v4.new_output("stream", text="the revealed answer\n")]
    figure = nbformat.v4.new_code_cell("fig")
    figure.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"text/html": '<div>fig</div><script src="https://cdnjs.cloudflare.com/ajax/'
                  'libs/mathjax/3.2.2/es5/tex-svg.min.js"></script><script>var x = 1;</script>'},
        )
    ]  # fmt: skip
    nb.cells = [
        nbformat.v4.new_markdown_cell("Inline $\\delta \\le 1$ and\n\n$$G_k \\ge 0 .$$"),
        nbformat.v4.new_code_cell("visible = 1"),
        solution,
        reveal,
        figure,
    ]
    return nb


def test_the_page_loads_nothing_from_the_network_and_inlines_mathjax():
    html, _ = offline_exporter().from_notebook_node(_notebook())
    assert not re.search(r"<script[^>]*src=[\"']https?://", html), "a script from the network"
    assert "require.min.js" not in html and "mermaid" not in html.lower()
    assert "MathJax" in html and len(html) > len(mathjax_js()) > 1_000_000
    assert "</script" not in mathjax_js()  # the inlined script cannot end early
    assert "var x = 1;" in html  # the figure's own script stays
    assert "$$G_k \\ge 0 .$$" in html  # left to MathJax, in the page


def test_hidden_code_and_collapsed_outputs_sit_in_closed_details():
    html, _ = offline_exporter().from_notebook_node(_notebook())
    blocks = re.findall(r"<details class=\"fwlab-collapsed ([^\"]*)\">(.*?)</details>", html, re.S)
    kinds = [k for k, _ in blocks]
    assert kinds == ["fwlab-solution", "fwlab-answer"], kinds
    assert "the solution" in blocks[0][1] and "Solution: click to show" in blocks[0][1]
    assert "the revealed answer" in blocks[1][1] and "Answer: click to show" in blocks[1][1]
    assert "<details open" not in html
    # what is not hidden stays outside any <details>
    outside = re.sub(r"<details.*?</details>", "", html, flags=re.S)
    assert "visible" in outside and "the solution" not in outside
    # only what JupyterLab hides is folded: this solution's output is not hidden there
    assert "solution output" in outside


def test_export_html_writes_the_file_and_refuses_bad_paths(tmp_path):
    src = tmp_path / "nb.ipynb"
    nbformat.write(_notebook(), src)
    out = export_html(src, tmp_path / "page.html")
    assert out.read_text(encoding="utf-8").count("<details") == 2
    with pytest.raises(ValueError, match="is not a file"):
        export_html(tmp_path / "missing.ipynb", tmp_path / "x.html")
    with pytest.raises(ValueError, match="out must be an .html file"):
        export_html(src, tmp_path / "page.txt")


def test_cli_writes_the_page_and_refuses_bad_paths(tmp_path, capsys):
    src = tmp_path / "nb.ipynb"
    nbformat.write(_notebook(), src)
    assert main(["export-html", str(src), str(tmp_path / "page.html")]) == 0
    assert "works offline" in capsys.readouterr().out
    assert (tmp_path / "page.html").read_text(encoding="utf-8").count("<details") == 2
    assert main(["export-html", str(tmp_path / "none.ipynb"), str(tmp_path / "p.html")]) == 2
    assert "fwlab export-html: notebook" in capsys.readouterr().err
