"""Environment variables set for a while and restored after."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping


@contextlib.contextmanager
def temporary_environ(values: Mapping[str, str | None]) -> Iterator[None]:
    """While inside, ``os.environ`` holds ``values`` (``None``: the variable unset); after, also
    after an exception, each of them is back as it was (its old value, or unset).

    Example:
        >>> import os
        >>> from fwlab.util.environ import temporary_environ
        >>> with temporary_environ({"FWLAB_EXAMPLE": "1"}):
        ...     os.environ["FWLAB_EXAMPLE"]
        '1'
        >>> "FWLAB_EXAMPLE" in os.environ
        False
    """
    previous = {name: os.environ.get(name) for name in values}
    _set(values)
    try:
        yield
    finally:
        _set(previous)


def _set(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
