"""Golden executed copies of the notebooks, and their comparison by nbval.

``tests/golden/NAME.ipynb`` is notebook ``notebooks/NAME.ipynb`` executed at its defaults, kept
as a regression baseline apart from the output-free notebook users open: its code cells (no
markdown), each with the outputs it printed, sanitized by ``sanitize.cfg``. nbval compares it
with a later run: a change that moves a number a lesson prints (a distance to the exact step, an
LMO count, a recorded run's accuracy, an ordering's verdict) fails even where no assert names it.

* Cells whose output is inherently not reproducible (live training: torch's floats depend on the
  CPU's kernels, and wall times on the load) carry ``# NBVAL_IGNORE_OUTPUT`` and a ``# why:``
  line (:data:`IGNORED`); nbval still replays them, but does not compare their outputs, and the
  golden copy stores none.
* Figures are compared by output type only: a plotly figure's JSON holds every float of its
  traces and plotly's template (it changes with plotly releases), so nbval skips that MIME type
  (``nbval_plugin.py``) and the sanitizer turns its HTML into ``<plotly figure>``. The numbers a
  figure draws are the ones the cells print, and those are compared.
* No second execution: nbval runs the golden copy in the ``fwlab-replay`` kernel
  (``replay_kernel.py``), which answers each cell with the outputs of the papermill run the
  notebook tests already made (:func:`compare`).
* Each golden copy stores a digest of its notebook's code cells (:func:`code_digest`); a test
  fails when the notebook's code has changed since (:func:`stale`).

Regenerate after an intended change: ``bash .ci/golden [NAME ...]`` (it runs .ci/setup, then
``.venv/bin/python -m tests.golden.regenerate``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat

from tests.golden.nbval_plugin import NOT_COMPARED as _PLOTLY_JSON
from tests.golden.replay_kernel import IGNORE_MARK, NOTEBOOK_VARIABLE, REASON_PREFIX

GOLDEN_DIR = Path(__file__).resolve().parent
ROOT = GOLDEN_DIR.parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
SANITIZE = GOLDEN_DIR / "sanitize.cfg"
KERNEL = "fwlab-replay"  # tests/golden/kernels/fwlab-replay/kernel.json
REGENERATE = "bash .ci/golden"  # .ci/setup, then python -m tests.golden.regenerate
METADATA_KEY = "fwlab_golden"

_TRAINED = "torch's floats after training, which move across CPUs and torch releases"
#: per notebook with a golden copy: the cells whose output is not compared (each found by the
#: start of its source) and the one-line reason written above it in the golden copy
IGNORED: dict[str, dict[str, str]] = {
    "01_trust_region_playground": {},
    "02_adding_task": {
        "if result.landscape is not None:": f"the live run's landscape: {_TRAINED}; grid time",
        "for name, h in histories.items():": f"the live runs' test MSEs: {_TRAINED}; wall times",
    },
    "03_pixel_mnist": {
        "if result.landscape is not None:": f"the live run's landscape: {_TRAINED}; grid time",
        "for name, h in histories.items():": f"the live runs' accuracies: {_TRAINED}; wall times",
    },
    "04_har2": {
        "import dataclasses": "task='auto' prints the data this machine has: HAR-2 when the UCI "
        "files are in the data cache, BasicMotions otherwise",
        "paper = PAPER_RESULTS[3]": f"the live runs' accuracies: {_TRAINED}; wall times",
    },
    "05_reproduce_paper": {
        "# one pipeline with `fwlab reproduce`": "a live sweep: rows print in the order they "
        f"finish; their accuracies are {_TRAINED}",
    },
}
NAMES = tuple(IGNORED)

#: output MIME types nbval does not compare, so a golden copy does not store them: those of
#: nbval's own skip_compare (widget views: random model ids; images) and plotly's figure JSON
NOT_COMPARED = (
    "application/vnd.jupyter.widget-view+json",
    "image/png",
    "image/jpeg",
    *_PLOTLY_JSON,
)


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.ipynb"


def code_digest(notebook) -> str:
    """SHA-256 of a notebook's code cells' sources, in order (markdown does not count).

    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    >>> code_digest(nb)[:12]
    '2d0de73cf02c'
    >>> nb.cells.append(nbformat.v4.new_markdown_cell("prose"))
    >>> code_digest(nb)[:12]
    '2d0de73cf02c'
    """
    sources = [c.source for c in notebook.cells if c.cell_type == "code"]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def sanitize_patterns() -> list[tuple[str, str]]:
    """The (regex, replacement) pairs of sanitize.cfg, read by nbval's own parser."""
    from nbval.plugin import get_sanitize_patterns

    return get_sanitize_patterns(SANITIZE.read_text())


def sanitize(text: str, patterns=None) -> str:
    """``text`` as nbval sees it after ``--nbval-sanitize-with sanitize.cfg``."""
    for regex, replace in sanitize_patterns() if patterns is None else patterns:
        text = re.sub(regex, replace, text)
    return text


def _reasons(name: str, notebook) -> dict[int, str]:
    """Index of each ignored code cell of ``notebook`` -> its reason; every start in
    :data:`IGNORED` must match exactly one cell."""
    code = [c for c in notebook.cells if c.cell_type == "code"]
    found = {}
    for start, reason in IGNORED[name].items():
        hits = [i for i, c in enumerate(code) if c.source.startswith(start)]
        if len(hits) != 1:
            raise ValueError(
                f"{name}: {len(hits)} code cells start with {start!r}, expected 1: update "
                "IGNORED in tests/golden/golden.py to the notebook's cells"
            )
        found[hits[0]] = reason
    return found


def make_golden(name: str, executed, source) -> nbformat.NotebookNode:
    """The golden copy of notebook ``name`` from its papermill run ``executed`` and its
    committed ``source``: code cells only, outputs sanitized, figure JSON and widget views left
    out, the ignored cells marked with their reason and stored without outputs."""
    code = [c for c in executed.cells if c.cell_type == "code"]
    own = [c.source for c in source.cells if c.cell_type == "code"]
    ran = [c for c in code if "injected-parameters" not in c.metadata.get("tags", [])]
    if [c.source for c in ran] != own:
        raise ValueError(f"{name}: the executed notebook's code cells are not the notebook's")
    reasons = _reasons(name, source)
    patterns = sanitize_patterns()
    note = nbformat.v4.new_markdown_cell(
        f"Golden copy of `notebooks/{name}.ipynb` executed at its defaults, compared by nbval in "
        "the notebook tests (tests/golden/golden.py). Generated: do not edit; regenerate with "
        f"`{REGENERATE} {name}`.",
        id="golden-note",
    )
    cells = [note]
    for i, cell in enumerate(ran):
        # the notebook's own cell ids (a regeneration changes only what the outputs changed)
        cell_id = cell.get("id") or f"cell-{i}"
        new = nbformat.v4.new_code_cell(cell.source, execution_count=i + 1, id=cell_id)
        if i in reasons:
            new.source = f"{IGNORE_MARK}\n{REASON_PREFIX}{reasons[i]}\n{cell.source}"
        else:
            new.outputs = [_golden_output(o, patterns) for o in cell.outputs]
        if cell.metadata.get("tags"):
            new.metadata["tags"] = list(cell.metadata.tags)
        cells.append(new)
    nb = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(source.metadata))
    nb.metadata[METADATA_KEY] = {
        "notebook": f"notebooks/{name}.ipynb",
        "code_digest": code_digest(source),
        "regenerate": f"{REGENERATE} {name}",
    }
    return nb


def _golden_output(output, patterns):
    out = copy.deepcopy(output)
    if out.output_type == "stream":
        out.text = sanitize(out.text, patterns)
    elif "data" in out:
        out.data = {
            k: sanitize(v, patterns) if isinstance(v, str) else v
            for k, v in out.data.items()
            if k not in NOT_COMPARED
        }
        out.metadata = {}
        if out.output_type == "execute_result":
            out.execution_count = None
    return out


def stale(name: str, notebook_path: Path | None = None, golden: Path | None = None) -> str | None:
    """Why the golden copy of ``name`` is out of date with its notebook, or None if it is not."""
    golden = golden or golden_path(name)
    notebook_path = notebook_path or NOTEBOOK_DIR / f"{name}.ipynb"
    if not golden.exists():
        return f"{golden} is missing: run `{REGENERATE} {name}`"
    stored = nbformat.read(golden, as_version=4).metadata.get(METADATA_KEY, {})
    if stored.get("code_digest") != code_digest(nbformat.read(notebook_path, as_version=4)):
        return (
            f"tests/golden/{golden.name} is older than {notebook_path.name}'s code cells: after "
            f"an intended change run `{REGENERATE} {name}`"
        )
    return None


# pytest in a process of its own, without the optional rfc3987_syntax: jsonschema (which nbformat
# imports) builds that package's grammar on import, about 1 s of CPU, and uses it only for the
# "iri" string formats, which no notebook schema has
_PYTEST = (
    "import sys; sys.modules.setdefault('rfc3987_syntax', None); import pytest; "
    "sys.exit(pytest.main(sys.argv[1:]))"
)


def compare(golden: Path | list[Path], executed: Path, *pytest_args: str):
    """Run nbval on ``golden`` (one path or several) in the replay kernel, which answers with
    the outputs of the executed notebook ``executed``; the finished process (``returncode`` 0:
    every compared output matches; ``stdout`` ends with nbval's count of cells compared)."""
    paths = [golden] if isinstance(golden, Path) else list(golden)
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(GOLDEN_DIR), env.get("JUPYTER_PATH")]))
    env[NOTEBOOK_VARIABLE] = str(Path(executed).resolve())  # nbval's cwd: GOLDEN_DIR
    # only the plugins this run needs (hypothesis's alone costs a second of CPU to import), and
    # not tests/conftest.py (it imports torch)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    cmd = [
        sys.executable, "-c", _PYTEST, *map(str, paths),
        "-p", "tests.golden.nbval_plugin", "-p", "nbval.plugin", "-p", "pytest_timeout",
        "--nbval", "--nbval-kernel-name", KERNEL, "--nbval-sanitize-with", str(SANITIZE),
        "--noconftest", "-p", "no:cacheprovider", "--color=no", "-q", "-rf", *pytest_args,
    ]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def assert_matches_golden(name: str, executed: Path) -> None:
    """Fail unless nbval finds the papermill run ``executed`` of notebook ``name`` equal to its
    golden copy; nbval's report goes to test-output/nbval_NAME.txt either way."""
    done = compare(golden_path(name), executed)
    report = ROOT / "test-output" / f"nbval_{name}.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        reason = stale(name)
        raise AssertionError(
            (f"{reason}\n" if reason else "")
            + f"nbval: the outputs differ from tests/golden/{name}.ipynb (after an intended "
            f"change: `{REGENERATE} {name}`):\n{done.stdout[-6000:]}{done.stderr[-2000:]}"
        )
