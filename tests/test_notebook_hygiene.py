"""The notebooks in the repository hold no outputs: every tracked notebook is clean, and the git
filter that ``bash .ci/setup`` defines (nbstripout, named by .gitattributes) strips an executed
notebook before it reaches git."""

import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def tracked_notebooks() -> list[Path]:
    """``git ls-files '*.ipynb'``, less golden copies kept under tests/ on purpose; the
    notebooks folder when this is not a git checkout (an unpacked archive)."""
    try:
        out = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return sorted(ROOT.glob("notebooks/*.ipynb"))
    return [ROOT / p for p in out if not p.startswith("tests/")]


def stains(nb) -> list[str]:
    """What would make ``nb`` a notebook with run state: outputs, execution counts, widget
    state, per-cell timings."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {i}: {len(cell.outputs)} outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i}: execution_count {cell.execution_count}")
        if "execution" in cell.get("metadata", {}):
            found.append(f"cell {i}: execution timings")
    if "widgets" in nb.metadata:
        found.append("widget state in the notebook's metadata")
    return found


def test_tracked_notebooks_hold_no_outputs():
    notebooks = tracked_notebooks()
    assert {p.name for p in notebooks} >= {"01_trust_region_playground.ipynb", "table_row.ipynb"}
    dirty = {}
    for path in notebooks:
        found = stains(nbformat.read(path, as_version=4))
        if found:
            dirty[str(path.relative_to(ROOT))] = found
    assert not dirty, (
        f"notebooks with outputs: {dirty}; clear them with `.venv/bin/nbstripout --keep-id NB` "
        "(bash .ci/setup makes git do it on every commit)"
    )


def test_the_git_filter_strips_an_executed_notebook(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    nb_path = "notebooks/01_trust_region_playground.ipynb"
    attr = subprocess.run(["git", "check-attr", "filter", nb_path], cwd=ROOT, capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert attr.stdout.strip().endswith("filter: nbstripout")  # .gitattributes
    golden = subprocess.run(["git", "check-attr", "filter", "tests/golden/02_adding_task.ipynb"],
                            cwd=ROOT, capture_output=True, text=True, check=True)  # fmt: skip
    assert golden.stdout.strip().endswith("filter: unset")  # golden copies keep their outputs
    clean = subprocess.run(["git", "config", "filter.nbstripout.clean"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    assert clean, "the nbstripout filter is not defined here: run `bash .ci/setup`"
    source = ROOT / "notebooks" / "table_row.ipynb"
    nb = nbformat.read(source, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.execution_count = 3
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="8,347 lines\n")]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    executed = nbformat.writes(nb)
    assert stains(nbformat.reads(executed, as_version=4))
    # what `git add` stores: the filter run as git runs it, in the checkout's root
    stored = subprocess.run(["sh", "-c", clean], cwd=ROOT, input=executed, capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    assert stains(nbformat.reads(stored, as_version=4)) == []
    # ... and nothing else changes: the clean notebook passes through byte for byte
    assert json.loads(stored)["cells"][0]["id"] == nb.cells[0]["id"]
    same = subprocess.run(["sh", "-c", clean], cwd=ROOT, input=source.read_text(),
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert same == source.read_text()
