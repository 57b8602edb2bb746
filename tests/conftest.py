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


# Seconds per test file on an idle 2-core machine (`bash .ci/test --durations=0`, summed per
# file, 2026-12-02), the slowest first. `.ci/test` hands out whole files to its pytest-xdist
# workers in collection order (--dist loadfile --no-loadscope-reorder); starting the slowest
# files first keeps both workers busy until the end instead of leaving one of them finishing a
# notebook file alone. Files not listed keep their order after these. Only the order changes:
# a stale table costs minutes, never a test.
SLOWEST_FILES = {
    "test_notebooks.py": 126,
    "test_notebook_overrides.py": 90,
    "test_reliability_runs.py": 47,
    "test_present.py": 46,
    "test_install.py": 44,
    "test_reliability.py": 42,
    "test_browser.py": 41,
    "test_notebook_01.py": 40,
    "test_reliability_train.py": 32,
    "test_train_cli.py": 29,
    "test_sweep_dask.py": 26,
    "test_sweep.py": 24,
    "test_tensorboard.py": 20,
    "test_frank_wolfe_interrupt.py": 16,
    "test_kill_resume.py": 15,
    "test_two_clones.py": 14,
    "test_data_mnist.py": 12,
    "test_distributed.py": 11,
    "test_recorded.py": 11,
    "test_figure_files.py": 10,
}


def pytest_collection_modifyitems(config, items):
    """The slowest files first (see :data:`SLOWEST_FILES`); the order within a file is kept."""
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items[:] = sorted(items, key=lambda item: rank.get(item.path.name, len(rank)))
