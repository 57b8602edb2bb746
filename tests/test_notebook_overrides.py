"""Every notebook executed by tests/test_notebooks.py also runs headless with cheap parameters
overridden through papermill, and prints what they ask for (table_row.ipynb through notebook
05's sweep, which overrides its parameters for every point)."""

from __future__ import annotations

import json

import nbformat
import pytest
from notebook_tools import EXECUTED, OVERRIDES, notebook_id, run_notebook


@pytest.mark.notebooks
@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", [p for p in EXECUTED if p.stem in OVERRIDES], ids=notebook_id)
def test_notebook_parameters_can_be_overridden(path, tmp_path, monkeypatch):
    parameters, expected = OVERRIDES[path.stem]
    text, _, recorded = run_notebook(path, tmp_path, monkeypatch, **parameters)
    for line in expected:
        assert line in text
    if path.stem == "02_adding_task":
        assert recorded["fw_k5/steps"] == 30 and "sgd/final_test_loss" in recorded
    if path.stem == "04_har2":
        assert recorded["task"] == "basicmotions"
        assert recorded["tbptt_fw/steps"] == 3 * 4 * 7  # epochs × batches × chunks of 16
    if path.stem == "05_reproduce_paper":  # table_row.ipynb, as overridden for each point
        base = tmp_path / "notebooks" / "runs" / "override" / "table3-smoke-seed0"
        for task, data in (("har2", "basicmotions"), ("noisy_har2", "noisy_basicmotions")):
            point = base / f"method=sgd__task={task}"
            nb = nbformat.read(point / "table_row.ipynb", as_version=4)
            injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
            assert (
                'method = "sgd"' in injected[0].source and f'task = "{task}"' in injected[0].source
            )
            printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
            assert "SGD" in printed and data in printed
            recorded = json.loads((point / "results.json").read_text())
            assert (recorded["label"], recorded["data"]) == ("SGD", data)
