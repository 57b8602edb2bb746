"""Tasks and data loaders. Every loader returns one shape: :class:`SequenceData`.

``SequenceData(name, train, test, task, n_classes, classes, info)``: ``train`` and ``test`` are
``TensorDataset(x, y)`` with batch-first float32 inputs ``x`` of shape ``(N, T, F)`` and

* ``y`` float32 ``(N, 1)`` for ``task="regression"`` (the adding problem; MSE), or
* ``y`` int64 ``(N,)`` in ``0..n_classes-1`` for ``task="classification"``.

``seq_len``, ``input_size`` and ``output_size`` (1 or ``n_classes``) are derived properties, so a
trainer can build ``SequenceModel(cell, d.input_size, H, d.output_size)`` for any task.
``load_task(name, **options)`` maps the names ``adding``, ``pixel_mnist``, ``permuted_mnist``,
``har2``, ``noisy_har2`` and ``basicmotions`` to their loaders.

Files are cached under :func:`default_data_root` (``$FWLAB_DATA`` or the user cache folder,
``~/.cache/fwlab`` on Linux) and written atomically. Only ``har2``/``noisy_har2`` need files
that are not installed with fwlab's dependencies; nothing is downloaded unless
``download=True`` or :func:`download_uci_har` (pooch) is called.
"""

from fwlab.data.adding import STALLED_MSE, adding_problem, load_adding
from fwlab.data.basicmotions import load_basicmotions
from fwlab.data.har import (
    UCI_HAR_SHA256,
    UCI_HAR_URL,
    download_uci_har,
    har2_labels,
    load_har2,
    load_noisy_har2,
    read_uci_har,
)
from fwlab.data.mnist import (
    load_permuted_mnist,
    load_pixel_mnist,
    mnist_permutation,
    mnist_sequences,
    prepare_offline_mnist,
)
from fwlab.data.noise import with_noise
from fwlab.data.sequence_data import (
    DataFileError,
    SequenceData,
    data_root,
    default_data_root,
    shrink,
    standardize_channels,
    subset_dataset,
)
from fwlab.data.tasks import TASKS, load_task
from fwlab.data.validation import validation_indices, validation_size, with_validation

__all__ = [
    "with_noise",
    "STALLED_MSE",
    "TASKS",
    "UCI_HAR_SHA256",
    "UCI_HAR_URL",
    "DataFileError",
    "SequenceData",
    "adding_problem",
    "data_root",
    "default_data_root",
    "download_uci_har",
    "har2_labels",
    "load_adding",
    "load_basicmotions",
    "load_har2",
    "load_noisy_har2",
    "load_permuted_mnist",
    "load_pixel_mnist",
    "load_task",
    "mnist_permutation",
    "mnist_sequences",
    "prepare_offline_mnist",
    "read_uci_har",
    "standardize_channels",
    "shrink",
    "subset_dataset",
    "validation_indices",
    "validation_size",
    "with_validation",
]
