r"""BasicMotions: the offline stand-in for HAR demos. It is **not** HAR-2.

BasicMotions (UEA/UCR multivariate archive, shipped inside sktime) records four activities —
badminton, running, standing, walking — with a smartwatch: 3-axis accelerometer and 3-axis
gyroscope at 10 Hz for 10 s, i.e. 6 channels × 100 steps; 40 train / 40 test windows, 10 per
class in each split. Like HAR it is real inertial data, which makes it a good offline demo; its
numbers are not comparable with the paper's HAR-2 results.

Reading: the two ``.ts`` files sktime ships (``sktime/datasets/data/BasicMotions``) are read
here, without importing sktime: ``import sktime`` brings in scikit-learn and scipy, 2-3 s of CPU
in every process (each notebook kernel, each sweep point) that loads this task. The files are in
sktime's ``.ts`` format, with a header fwlab checks (``@equalLength true``, ``@missing false``,
``@timeStamps false``, ``@dimensions 6``, ``@seriesLength 100``, ``@classLabel true``) and then
one line per series: its 6 channels of 100 comma-separated values, separated by ``:``, then the
class label (lower-cased, as sktime's reader does). A file that differs in anything fwlab checks
(the header, a missing value, a channel that is not 100 numbers, a label outside the declared
classes) is read with sktime's own ``load_basic_motions`` instead. The tests check the arrays
equal sktime's.

Preprocessing: ``(N, 6, 100)`` (sktime's layout) is transposed to batch-first ``(N, 100, 6)``
float32 and standardized per channel with the training split's mean and std (as HAR-2). Labels
are the sorted class names mapped to int64 ``0..3``.

Example:
    >>> d = load_basicmotions()
    >>> tuple(d.train.tensors[0].shape), d.classes
    ((40, 100, 6), ('badminton', 'running', 'standing', 'walking'))
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from fwlab.data.sequence_data import SequenceData, standardize_channels

__all__ = ["load_basicmotions", "BASICMOTIONS_CHANNELS"]

BASICMOTIONS_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


#: the header lines of sktime's BasicMotions files that the reader below relies on
_HEADER = {
    "@timestamps": "false",
    "@missing": "false",
    "@univariate": "false",
    "@dimensions": "6",
    "@equallength": "true",
    "@serieslength": "100",
    "@classlabel": "true",
}


def _ts_file(split: str) -> Path | None:
    """sktime's ``BasicMotions_{TRAIN,TEST}.ts``, found without importing sktime (``None`` if
    sktime is not installed as a folder)."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder / "datasets" / "data" / "BasicMotions" / f"BasicMotions_{split.upper()}.ts"


def read_ts(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """``(x (N, 6, 100) float32, labels (N,) str)`` from an equal-length, labelled ``.ts`` file
    with the header of BasicMotions (:data:`_HEADER`); ``None`` for anything else (another
    header, missing values such as ``?``, a channel that is not 100 numbers, a label outside the
    declared classes, no ``@data`` line), which the caller leaves to sktime's reader."""
    header: dict[str, str] = {}
    classes: set[str] = set()
    rows: list[list[float]] = []
    labels: list[str] = []
    in_data = False
    with open(path, encoding="utf-8-sig") as f:
        for raw in f:
            line = raw.strip().lower()  # sktime's reader lower-cases every line too
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    return None
                key, _, value = line.partition(" ")
                words = value.split()
                if key == "@data":
                    in_data = True
                    if any(header.get(k) != v for k, v in _HEADER.items()):
                        return None
                    continue
                header[key] = words[0] if words else ""
                if key == "@classlabel":
                    classes = set(words[1:])
                continue
            *channels, label = (part.strip() for part in line.split(":"))
            if len(channels) != 6 or label not in classes:
                return None
            values = [c.split(",") for c in channels]
            if any(len(v) != 100 for v in values):
                return None
            try:
                rows.append([float(x) for v in values for x in v])
            except ValueError:  # "?" (a missing value) or any other non-number
                return None
            labels.append(label)
    if not rows:
        return None
    x = np.asarray(rows, dtype=np.float64).astype(np.float32).reshape(-1, 6, 100)
    return x, np.asarray(labels, dtype=str)


def _split(split: str) -> tuple[np.ndarray, np.ndarray]:
    path = _ts_file(split)
    read = read_ts(path) if path is not None and path.is_file() else None
    if read is not None:
        return read
    from sktime.datasets import load_basic_motions  # not the files read_ts knows: sktime reads

    x, y = load_basic_motions(split=split, return_type="numpy3D")
    return np.asarray(x, dtype=np.float32), np.asarray(y).astype(str)


def load_basicmotions(*, normalize: bool = True) -> SequenceData:
    """BasicMotions as :class:`SequenceData`: x ``(40, 100, 6)`` per split, 4 classes.

    Args:
        normalize: standardize each channel with training statistics (default); ``False``
            keeps the raw sensor units.
    """
    x_train, y_train = _split("train")
    x_test, y_test = _split("test")
    classes = tuple(sorted(set(y_train.tolist())))
    if set(y_test.tolist()) - set(classes):
        raise RuntimeError(f"BasicMotions test labels {sorted(set(y_test))} not in {classes}")
    index = {c: i for i, c in enumerate(classes)}
    xt, xs = (torch.from_numpy(x).transpose(1, 2).contiguous() for x in (x_train, x_test))
    source = "sktime's BasicMotions_TRAIN.ts and BasicMotions_TEST.ts"
    info: dict = {"channels": BASICMOTIONS_CHANNELS, "source": source}
    if normalize:
        (xt, xs), mean, std = standardize_channels(xt, xs)
        info.update(normalization="per channel, train mean/std", mean=mean.tolist(),
                    std=std.tolist())  # fmt: skip
    yt, ys = (torch.tensor([index[c] for c in y], dtype=torch.int64) for y in (y_train, y_test))
    return SequenceData(
        "basicmotions",
        TensorDataset(xt, yt),
        TensorDataset(xs, ys),
        task="classification",
        n_classes=len(classes),
        classes=classes,
        info=info,
    )
