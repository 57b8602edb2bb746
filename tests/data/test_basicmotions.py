"""Tests of fwlab/data/basicmotions.py (sktime's BasicMotions, the offline HAR stand-in)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from fwlab.data import load_basicmotions, load_task
from fwlab.data.basicmotions import _ts_file, read_ts


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
        x_sktime = np.asarray(x_raw, dtype=np.float32).transpose(0, 2, 1)
        np.testing.assert_array_equal(ds.tensors[0].numpy(), x_sktime)  # same parse, same cast
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


def test_loading_reads_the_files_without_importing_sktime():
    code = (
        "import sys; from fwlab.data import load_task; d = load_task('basicmotions'); "
        "print(len(d.train), 'sktime' in sys.modules, 'sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["40", "False", "False"]


@pytest.mark.parametrize(
    "change",
    [
        ("@missing false", "@missing true"),
        ("@equalLength true", "@equalLength false"),
        ("@seriesLength 100", "@seriesLength 99"),
        ("@timeStamps false", "@timeStamps true"),
        ("@classLabel true", "@classLabel false"),
    ],
)
def test_a_file_with_another_header_is_left_to_sktime(tmp_path, change):
    src = _ts_file("train")
    text = src.read_text()
    assert change[0] in text
    assert read_ts(src) is not None
    other = tmp_path / "other.ts"
    other.write_text(text.replace(change[0], change[1]))
    assert read_ts(other) is None


def _rewrite_first_series(tmp_path, edit):
    """sktime's test file with its first series' line passed through ``edit``."""
    text = _ts_file("test").read_text()
    head, _, data = text.partition("@data\n")
    first, *rest = data.splitlines()
    out = tmp_path / "edited.ts"
    out.write_text(head + "@data\n" + "\n".join([edit(first), *rest]) + "\n")
    return out


def _shift_one_value(line):  # channel 0 loses its last value to channel 1: 99 and 101 values
    channels = line.split(":")
    c0, c1 = channels[0].split(","), channels[1].split(",")
    channels[0], channels[1] = ",".join(c0[:-1]), ",".join([c0[-1], *c1])
    return ":".join(channels)


@pytest.mark.parametrize(
    "edit",
    [
        lambda line: line.split(":", 1)[1],  # 5 channels on the first line
        _shift_one_value,
        lambda line: "?" + line[line.index(",") :],  # the first value missing, 100 values
        lambda line: line.rsplit(":", 1)[0] + ":jogging",  # not a declared class
    ],
    ids=["5-channels", "99-and-101-values", "missing-value", "undeclared-label"],
)
def test_a_series_sktime_reads_otherwise_is_left_to_sktime(tmp_path, edit):
    assert read_ts(_rewrite_first_series(tmp_path, edit)) is None


def test_spaces_case_and_line_endings_read_as_sktime_reads_them(tmp_path, raw):
    x_raw, y_raw = raw["test"]
    path = _rewrite_first_series(tmp_path, lambda line: line.rsplit(":", 1)[0] + ": Badminton ")
    text = path.read_text().replace("\n", "\r\n")
    path.write_bytes(text.encode())
    x, labels = read_ts(path)
    np.testing.assert_array_equal(x, np.asarray(x_raw, dtype=np.float32))
    assert labels[0] == "badminton" and labels[1:].tolist() == [str(v) for v in y_raw[1:]]


def test_a_file_without_its_data_line_is_left_to_sktime(tmp_path):
    other = tmp_path / "no-data.ts"
    other.write_text(_ts_file("test").read_text().replace("@data\n", ""))
    assert read_ts(other) is None
