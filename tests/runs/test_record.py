"""fwlab/runs/record.py: how a notebook or a function reports its results."""

from __future__ import annotations

import json

import pytest
import torch

from fwlab.runs import RESULTS_ENV, record


def test_record_without_the_runner_only_returns(monkeypatch, tmp_path):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert record(loss=torch.tensor(0.5), curve=torch.tensor([1.0, 2.0])) == {
        "loss": 0.5,
        "curve": [1.0, 2.0],
    }
    assert list(tmp_path.iterdir()) == []


def test_record_merges_into_results_json(monkeypatch, tmp_path):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "out"))
    record(loss=1.0, acc=0.5)
    merged = record({"test/acc": 0.9}, acc=0.75, shape=(2, 3))
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk == merged == {"loss": 1.0, "acc": 0.75, "test/acc": 0.9, "shape": [2, 3]}


def test_record_rejects_what_json_cannot_hold(monkeypatch, tmp_path):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(TypeError, match="'model'.*Linear"):
        record(model=torch.nn.Linear(1, 1))
    assert not (tmp_path / "results.json").exists()
