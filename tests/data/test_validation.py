"""Tests of fwlab/data/validation.py: the validation split's sizes, disjointness and seeding."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import TensorDataset

from fwlab.data import SequenceData, load_task, with_validation
from fwlab.data.validation import validation_indices
from fwlab.train import TrainConfig, fit, get_method


def _classes(n=60, T=4):
    x = torch.arange(n * T, dtype=torch.float32).view(n, T, 1)  # every sample distinct
    y = torch.tensor([0] * (n * 2 // 3) + [1] * (n - n * 2 // 3))
    test = TensorDataset(torch.zeros(5, T, 1), torch.zeros(5, dtype=torch.int64))
    return SequenceData("toy", TensorDataset(x, y), test, task="classification", n_classes=2)


def _rows(ds):
    return {tuple(r.flatten().tolist()) for r in ds.tensors[0]}


@pytest.mark.parametrize("n_valid", [1, 15, 59])
def test_sizes_disjoint_and_union_is_the_training_set(n_valid):
    data = _classes()
    d = with_validation(data, n_valid, seed=3)
    assert len(d.valid) == n_valid and len(d.train) == 60 - n_valid
    assert _rows(d.train).isdisjoint(_rows(d.valid))
    assert _rows(d.train) | _rows(d.valid) == _rows(data.train)
    assert d.test is data.test and d.info["n_valid"] == n_valid


def test_classes_keep_their_proportions():
    d = with_validation(_classes(), 15, seed=0)
    assert d.valid.tensors[1].bincount().tolist() == [10, 5]


def test_seeded_and_seed_sensitive_on_regression():
    data = load_task("adding", seq_len=10, n_train=200, n_test=20)
    a, b = (with_validation(data, 50, seed=1) for _ in range(2))
    c = with_validation(data, 50, seed=2)
    assert torch.equal(a.valid.tensors[0], b.valid.tensors[0])
    assert not torch.equal(a.valid.tensors[0], c.valid.tensors[0])
    assert a.valid.tensors[1].shape == (50, 1)


@pytest.mark.parametrize("n_valid", [0, 60, 61, 2.5, True, "10"])
def test_bad_sizes_name_the_argument(n_valid):
    with pytest.raises(ValueError, match=r"n_valid must be an integer in \[1, 59\]"):
        with_validation(_classes(), n_valid)


def test_a_second_split_is_refused():
    d = with_validation(_classes(), 10)
    with pytest.raises(ValueError, match="already has a validation split"):
        with_validation(d, 10)


def test_valid_inputs_must_match_train_shape():
    d = _classes()
    with pytest.raises(ValueError, match="train and valid inputs must share"):
        SequenceData(
            "toy", d.train, d.test, task="classification", n_classes=2,
            valid=TensorDataset(torch.zeros(3, 7, 1), torch.zeros(3, dtype=torch.int64)),
        )  # fmt: skip


def test_indices_are_sorted_and_unique():
    idx = validation_indices(torch.rand(100, 1), 30, seed=5)
    assert idx.tolist() == sorted(set(idx.tolist())) and len(idx) == 30


def test_fit_records_test_at_best_validation():
    data = with_validation(load_task("adding", seq_len=8, n_train=300, n_test=60), 60, seed=0)
    h = fit(
        get_method("sgd"),
        data,
        TrainConfig(hidden_size=8, batch_size=30, steps=30, eval_every=5),
        progress=False,
    )
    ev, s = h["eval"], h["summary"]
    assert h["data"]["n_valid"] == 60 and h["data"]["n_train"] == 240
    assert len(ev["valid_loss"]) == len(ev["test_loss"]) == 9  # every 5 batches + 3 epoch ends
    i = ev["valid_loss"].index(min(ev["valid_loss"]))
    assert s["selected_step"] == ev["step"][i]
    assert s["test_loss_at_best_valid"] == ev["test_loss"][i]


def test_fit_without_validation_records_none():
    data = load_task("adding", seq_len=8, n_train=100, n_test=20)
    h = fit(get_method("sgd"), data, TrainConfig(hidden_size=4, steps=4), progress=False)
    assert set(h["eval"]["valid_loss"]) == {None} and "test_loss_at_best_valid" not in h["summary"]


def test_validation_size():
    from fwlab.data import validation_size

    assert [validation_size(n) for n in (2, 5, 40, 4000)] == [1, 1, 4, 400]
    assert validation_size(10, 0.5) == 5
    with pytest.raises(ValueError, match="n_train must be an integer >= 2"):
        validation_size(1)
    with pytest.raises(ValueError, match=r"fraction must be a number in \(0, 1\)"):
        validation_size(10, 1.0)


@pytest.mark.parametrize(
    "valid,want_step,skipped",
    [
        ([0.9, math.nan, 0.3, 0.5], 3, 1),  # a NaN in the middle does not stop the search
        ([math.nan, 0.8, 0.3, 0.5], 3, 1),  # a leading NaN does not win
        ([0.9, 0.4, math.inf, -math.inf], 2, 2),  # -inf is no best value either
        ([math.nan, math.nan, math.nan, math.nan], None, 4),
    ],
)
def test_selection_by_validation_compares_finite_values_only(valid, want_step, skipped):
    from fwlab.train.history import selected_by_validation

    ev = {"step": [1, 2, 3, 4], "test_loss": [1.425, 0.7, 0.459, 0.6], "test_acc": [None] * 4,
          "valid_loss": valid, "valid_acc": [None] * 4}  # fmt: skip
    got = selected_by_validation(ev)
    assert got["selected_step"] == want_step and got["valid_nonfinite_skipped"] == skipped
    want_loss = None if want_step is None else ev["test_loss"][want_step - 1]
    assert got["test_loss_at_best_valid"] == want_loss
    ev_acc = {**ev, "test_acc": [0.1, 0.2, 0.9, 0.4],
              "valid_acc": [math.nan if math.isnan(v) else 1 - v for v in valid]}  # fmt: skip
    if not any(math.isinf(v) for v in valid):
        got = selected_by_validation(ev_acc)
        assert got["selected_step"] == want_step
        assert got["test_acc_at_best_valid"] == (None if want_step is None else 0.9)


def test_summary_best_values_skip_nan_and_count_them():
    from types import SimpleNamespace

    from fwlab.train.history import _summary

    none = [None] * 3
    h = {"eval": {"step": [1, 2, 3], "test_loss": [math.nan, 0.4, math.inf], "test_acc": none,
                  "valid_loss": none, "valid_acc": none}}  # fmt: skip
    run = SimpleNamespace(step=3, epoch=1, stop_requested=False)
    s = _summary(h, run, 1.0)
    assert s["best_test_loss"] == 0.4 and math.isinf(s["final_test_loss"])
    assert s["nonfinite_evals"] == 2
