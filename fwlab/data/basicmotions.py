r"""BasicMotions: the offline stand-in for HAR demos. It is **not** HAR-2.

BasicMotions (UEA/UCR multivariate archive, shipped inside sktime) records four activities —
badminton, running, standing, walking — with a smartwatch: 3-axis accelerometer and 3-axis
gyroscope at 10 Hz for 10 s, i.e. 6 channels × 100 steps; 40 train / 40 test windows, 10 per
class in each split. Like HAR it is real inertial data, which makes it a good offline demo; its
numbers are not comparable with the paper's HAR-2 results.

Preprocessing: ``(N, 6, 100)`` from sktime is transposed to batch-first ``(N, 100, 6)`` float32
and standardized per channel with the training split's mean and std (as HAR-2). Labels are the
sorted class names mapped to int64 ``0..3``.

Example:
    >>> d = load_basicmotions()
    >>> tuple(d.train.tensors[0].shape), d.classes
    ((40, 100, 6), ('badminton', 'running', 'standing', 'walking'))
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from fwlab.data.sequence_data import SequenceData, standardize_channels

__all__ = ["load_basicmotions", "BASICMOTIONS_CHANNELS"]

BASICMOTIONS_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


def _split(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sktime.datasets import load_basic_motions

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
    xt = torch.from_numpy(x_train).transpose(1, 2).contiguous()
    xs = torch.from_numpy(x_test).transpose(1, 2).contiguous()
    info: dict = {"channels": BASICMOTIONS_CHANNELS, "source": "sktime load_basic_motions"}
    if normalize:
        (xt, xs), mean, std = standardize_channels(xt, xs)
        info.update(normalization="per channel, train mean/std", mean=mean.tolist(),
                    std=std.tolist())  # fmt: skip
    yt = torch.tensor([index[c] for c in y_train], dtype=torch.int64)
    ys = torch.tensor([index[c] for c in y_test], dtype=torch.int64)
    return SequenceData(
        "basicmotions",
        TensorDataset(xt, yt),
        TensorDataset(xs, ys),
        task="classification",
        n_classes=len(classes),
        classes=classes,
        info=info,
    )
