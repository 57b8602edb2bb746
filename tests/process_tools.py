"""Helpers for tests that start real processes and signal them."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator


def interactive_sigint() -> None:
    """``preexec_fn`` that gives the child SIGINT at its default, as a terminal would.

    A job started in the background (nohup, ``&``, some CI runners) inherits SIGINT ignored, and
    so would every process it starts, as a nohup'ed command should; tests that send SIGINT to a
    child start it with this, or the signal never arrives.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def claimed_elsewhere(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold fwlab's claim on ``folder`` (:func:`fwlab.runs.claim`) from another thread while the
    ``with`` block runs: the engine refuses it as it refuses another process's claim."""
    from fwlab.runs import claim

    release, held = threading.Event(), threading.Event()

    def hold() -> None:
        with claim(folder):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10), "the claim was not taken"
        yield
    finally:
        release.set()
        holder.join()
