"""Helpers for tests that start real processes and signal them."""

from __future__ import annotations

import signal


def interactive_sigint() -> None:
    """``preexec_fn`` that gives the child SIGINT at its default, as a terminal would.

    A job started in the background (nohup, ``&``, some CI runners) inherits SIGINT ignored, and
    so would every process it starts, as a nohup'ed command should; tests that send SIGINT to a
    child start it with this, or the signal never arrives.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
