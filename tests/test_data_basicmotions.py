"""Tests of fwlab/data/basicmotions.py (sktime's BasicMotions, the offline HAR stand-in)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fwlab.data import load_basicmotions, load_task


@pytest.fixture(scope="module")
def data():
    return load_basicmotions()


@pytest.fixture(scope="module")
def raw():
    from sktime.datasets import load_basic_motions

    return {s: load_basic_motions(split=s, return_type="numpy3D") for s in ("train", "test")}


def test_shapes_labels_and_name(data):
    assert data.name == "basicmotions"  # never called HAR-2
    assert data.classes == ("badminton", "running", "standing", "walking")
    assert (data.n_classes, data.output_size, data.seq_len, data.input_size) == (4, 4, 100, 6)
    for split in (data.train, data.test):
        x, y = split.tensors
        assert x.shape == (40, 100, 6) and x.dtype == torch.float32
        assert y.dtype == torch.int64 and y.bincount().tolist() == [10, 10, 10, 10]


def test_batch_first_layout_and_labels_match_sktime(raw):
    d = load_basicmotions(normalize=False)
    for split, ds in (("train", d.train), ("test", d.test)):
        x_raw, y_raw = raw[split]
        np.testing.assert_allclose(ds.tensors[0].numpy(), x_raw.transpose(0, 2, 1), rtol=1e-6)
        names = [d.classes[i] for i in ds.tensors[1].tolist()]
        assert names == [str(v) for v in y_raw]


def test_train_statistics_normalization(data, raw):
    flat = data.train.tensors[0].reshape(-1, 6).double()
    torch.testing.assert_close(flat.mean(0), torch.zeros(6, dtype=torch.float64), atol=1e-5,
                               rtol=0)  # fmt: skip
    torch.testing.assert_close(flat.std(0, unbiased=False), torch.ones(6, dtype=torch.float64),
                               atol=1e-5, rtol=0)  # fmt: skip
    tr = raw["train"][0].transpose(0, 2, 1).reshape(-1, 6)
    te = (raw["test"][0].transpose(0, 2, 1) - tr.mean(0)) / tr.std(0)
    np.testing.assert_allclose(data.test.tensors[0].numpy(), te, atol=1e-4)
    np.testing.assert_allclose(data.info["mean"], tr.mean(0), rtol=1e-5)


def test_load_task(data):
    d = load_task("basicmotions")
    assert torch.equal(d.train.tensors[0], data.train.tensors[0])
