"""Tests of fwlab/data/sequence_data.py and fwlab/data/tasks.py: the common return type,
subsets, normalization, the cache root and the task registry."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

from fwlab.data import (
    TASKS,
    SequenceData,
    default_data_root,
    load_task,
    standardize_channels,
    subset_dataset,
)
from fwlab.data.sequence_data import stratified_indices


def _ds(n=6, T=4, F=3, classes=2):
    return TensorDataset(torch.randn(n, T, F), torch.arange(n) % classes)


def test_sequence_data_properties_and_validation():
    d = SequenceData("t", _ds(), _ds(2), task="classification", n_classes=2)
    assert (d.seq_len, d.input_size, d.output_size) == (4, 3, 2)
    with pytest.raises(ValueError, match="task must be"):
        SequenceData("t", _ds(), _ds(), task="ranking")
    with pytest.raises(ValueError, match="n_classes"):
        SequenceData("t", _ds(), _ds(), task="classification")
    with pytest.raises(ValueError, match=r"share \(T, F\)"):
        SequenceData("t", _ds(T=4), _ds(T=5), task="classification", n_classes=2)
    with pytest.raises(ValueError, match=r"\(N, T, F\)"):
        SequenceData("t", TensorDataset(torch.zeros(3, 4), torch.zeros(3)), _ds(),
                     task="regression")  # fmt: skip
    with pytest.raises(AttributeError):
        d.name = "other"  # frozen


@settings(max_examples=50, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=1, max_size=60),
    frac=st.floats(0.01, 1.0),
    seed=st.integers(0, 1000),
)
def test_stratified_indices_properties(labels, frac, seed):
    y = torch.tensor(labels)
    n = max(1, round(frac * len(labels)))
    idx = stratified_indices(y, n, seed)
    assert len(idx) == n and len(set(idx.tolist())) == n
    assert torch.all(idx[1:] > idx[:-1])  # increasing, hence no duplicates
    counts = torch.bincount(y, minlength=5).double()
    got = torch.bincount(y[idx], minlength=5).double()
    assert torch.all((got - counts * n / len(labels)).abs() < 1.0 + 1e-9)  # within one
    assert torch.equal(idx, stratified_indices(y, n, seed))


def test_subset_dataset_regression_and_errors():
    ds = TensorDataset(torch.arange(10.0).view(10, 1, 1), torch.arange(10.0).view(10, 1))
    sub = subset_dataset(ds, 4, seed=3)
    assert len(sub) == 4 and torch.equal(sub.tensors[0].flatten(), sub.tensors[1].flatten())
    assert subset_dataset(ds, None) is ds
    with pytest.raises(ValueError, match="subset size"):
        subset_dataset(ds, 11)
    with pytest.raises(ValueError, match="subset size"):
        subset_dataset(_ds(), 0)


def test_standardize_channels_constant_channel():
    train = torch.stack([torch.randn(5, 7), torch.full((5, 7), 3.0)], dim=2)
    (a,), mean, std = standardize_channels(train)
    assert std[1] == 1.0 and mean[1] == 3.0
    assert torch.all(a[..., 1] == 0) and torch.isfinite(a).all()


def test_default_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("FWLAB_DATA", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("FWLAB_DATA")
    assert default_data_root() == platformdirs.user_cache_path("fwlab")
    if sys.platform.startswith("linux"):  # the XDG base directory rules
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert default_data_root() == tmp_path / "xdg" / "fwlab"
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert default_data_root() == Path.home() / ".cache" / "fwlab"


def test_task_registry_names():
    assert sorted(TASKS) == sorted(
        ["adding", "pixel_mnist", "permuted_mnist", "har2", "noisy_har2", "basicmotions"]
    )
    d = load_task("adding", seq_len=12, n_train=5, n_test=3, seed=1)
    assert d.name == "adding" and d.train.tensors[0].shape == (5, 12, 2)
    with pytest.raises(ValueError, match="name must be one of"):
        load_task("mnist")


def test_load_task_mnist(tmp_path):
    d = load_task("permuted_mnist", root=tmp_path, subset=20, test_subset=10)
    assert d.name == "permuted_mnist" and d.train.tensors[0].shape == (20, 784, 1)
    assert d.test.tensors[1].bincount().tolist() == [1] * 10
