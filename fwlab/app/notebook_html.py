r"""A notebook as one HTML page that works offline, with its solutions collapsed.

``jupyter nbconvert --to html`` (nbconvert's ``lab`` template) writes a page that loads MathJax,
require.js and mermaid from a CDN, so in a classroom without internet no formula renders, and it
prints every cell's code, hidden solutions included. :func:`export_html` writes the same page
with

* MathJax 3 (``tex-svg-full.js`` from the ``django-static-mathjax`` package: no Django needed,
  it only ships the files) inlined in the page, with SVG output, which needs no font files;
* no script loaded from the network: the template's CDN tags (require.js, mermaid, the widget
  manager: a page without a kernel cannot run widgets) are left out, and plotly's
  per-figure MathJax tags (``<script src="https://…/mathjax/…">``) are removed from the outputs
  (the figures use no LaTeX; plotly.js itself is inlined once by
  :func:`fwlab.plots.notebook_output.embed_figures`);
* cells whose code is hidden in JupyterLab (``jupyter.source_hidden``: the solutions) inside a
  closed ``<details>`` ("Solution: click to show"), and outputs collapsed in JupyterLab
  (``jupyter.outputs_hidden``: the prompts' answers) likewise.

Example (``fwlab export-html`` does the same from the shell)::

    from fwlab.app.notebook_html import export_html
    export_html("runs/nb01/01_trust_region_playground.ipynb", "lesson.html")
"""

from __future__ import annotations

import re
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

from fwlab.util.argtypes import Argument, Command, path_type
from fwlab.util.failure import CommandError

__all__ = ["export_html", "mathjax_js", "offline_exporter"]

TEMPLATE_NAME = "fwlab_offline"
_TEMPLATES = Path(__file__).resolve().parent / "templates"
# a <script src="http(s)://…"></script> tag: what the page must not load
_NETWORK_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"']https?://[^\"']*[\"'][^>]*>\s*</script>")


def mathjax_js() -> str:
    """The text of MathJax 3's ``es5/tex-svg-full.js``, from the installed
    ``django-static-mathjax`` package (ImportError with the fix when it is missing)."""
    try:
        root = importlib_resources.files("mathjax")
    except ModuleNotFoundError:
        raise ImportError(
            "the offline HTML export needs MathJax: pip install django-static-mathjax "
            "(it only ships MathJax's files; no Django)"
        ) from None
    js = (root / "static" / "mathjax" / "es5" / "tex-svg-full.js").read_text(encoding="utf-8")
    return js.replace("</script", "<\\/script")  # cannot close the inline <script> early


def offline_exporter(**config: Any):
    """nbconvert's ``HTMLExporter`` on the ``fwlab_offline`` template (see the module
    docstring); ``config`` goes to the exporter (e.g. ``exclude_input=True``)."""
    from nbconvert import HTMLExporter

    class OfflineHTMLExporter(HTMLExporter):
        def from_notebook_node(self, nb, resources=None, **kw):
            resources = dict(resources or {})
            resources["fwlab_mathjax_js"] = mathjax_js()
            resources.setdefault("fwlab_input_summary", "Solution: click to show")
            resources.setdefault("fwlab_output_summary", "Answer: click to show")
            html, res = super().from_notebook_node(nb, resources, **kw)
            return _NETWORK_SCRIPT.sub("", html), res

    return OfflineHTMLExporter(
        template_name=TEMPLATE_NAME, extra_template_basedirs=[str(_TEMPLATES)], **config
    )


def export_html(notebook: str | Path, out: str | Path) -> Path:
    """Write ``notebook`` (an executed ``.ipynb``) as one offline HTML page at ``out``
    (atomically); returns the path. Raises ``ValueError`` for a missing notebook or an ``out``
    that is not an ``.html`` file."""
    from fwlab.util.atomic import atomic_write_text

    src, dst = Path(notebook), Path(out)
    if not src.is_file():
        raise ValueError(f"notebook {str(src)!r} is not a file; pass an executed .ipynb")
    if dst.suffix.lower() not in (".html", ".htm") or dst.is_dir():
        raise ValueError(f"out must be an .html file, got {str(dst)!r}")
    html, _ = offline_exporter().from_filename(str(src))
    atomic_write_text(dst, html)
    return dst


#: ``fwlab export-html NOTEBOOK.ipynb PAGE.html``
command = Command(
    "export-html",
    lambda args: run_cli(args),  # defined below
    [
        Argument(["notebook"], type=path_type, metavar="NOTEBOOK.ipynb",
                 help="an executed notebook (e.g. the one `fwlab run` wrote)"),
        Argument(["file"], type=path_type, metavar="PAGE.html", help="the page to write"),
    ],
)  # fmt: skip


def run_cli(args: Any) -> int:
    try:  # a ValueError is reported in one line by fwlab.util.failure, as this one
        path = export_html(args.notebook, args.file)
    except ImportError as err:
        raise CommandError(str(err), 2) from err
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB, works offline (MathJax inlined)")
    return 0
