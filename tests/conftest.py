"""Test-wide settings.

The suite runs many tiny models; on a 2-core machine one intra-op thread is faster for them than
two (and far faster when the other core is busy), so every test process uses one.
"""

import signal

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def interactive_sigint():
    """SIGINT raises KeyboardInterrupt for the test's duration, as in an interactive session.

    A job started in the background (nohup, ``&``, some CI runners) inherits SIGINT ignored, and
    Python then installs no KeyboardInterrupt handler; tests of Ctrl-C need the interactive case.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
