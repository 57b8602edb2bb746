"""Every notebook executed by tests/test_notebooks.py also runs headless with cheap parameters
overridden through papermill, and prints what they ask for."""

from __future__ import annotations

import json

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
    if path.stem == "05_reproduce_paper":  # one run of train_row per (row, task)
        base = tmp_path / "notebooks" / "runs" / "override" / "table3-smoke-seed0"
        for task, data in (("har2", "basicmotions"), ("noisy_har2", "noisy_basicmotions")):
            point = base / f"method=sgd__task={task}"
            status = json.loads((point / "status.json").read_text())
            assert status["status"] == "ok"
            assert (status["params"]["method"], status["params"]["task"]) == ("sgd", task)
            recorded = json.loads((point / "results.json").read_text())
            assert (recorded["label"], recorded["data"]) == ("SGD", data)
    if path.stem == "table_row":
        assert (recorded["label"], recorded["data"]) == ("SGD", "noisy_basicmotions")
