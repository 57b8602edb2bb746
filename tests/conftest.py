"""Test-wide settings.

The suite runs many tiny models; on a 2-core machine one intra-op thread is faster for them than
two (and far faster when the other core is busy), so every test process uses one.
"""

import signal
import sys

import pytest
import torch

from fwlab.util.process_start import IRI_GRAMMAR_MODULE

torch.set_num_threads(1)
# as in fwlab's own processes (fwlab/util/process_start.py): nbformat (papermill, nbclient) imports
# jsonschema, which would build the IRI grammar no notebook schema uses, 1.1 s of CPU per test
# process; the tests that check that behaviour run it in processes of their own
sys.modules.setdefault(IRI_GRAMMAR_MODULE, None)


@pytest.fixture
def interactive_sigint():
    """SIGINT raises KeyboardInterrupt for the test's duration, as in an interactive session.

    A job started in the background (nohup, ``&``, some CI runners) inherits SIGINT ignored, and
    Python then installs no KeyboardInterrupt handler; tests of Ctrl-C need the interactive case.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


# Seconds per test file (its path under tests/) in `bash .ci/test --durations=0` on an idle
# 2-core machine with its three workers (summed per file; 2026-12-07, commit 9fe7971, with notebook
# 04's tuning test then moved into e2e/test_notebook_overrides.py), the slowest first. `.ci/test`
# hands out whole files to its pytest-xdist workers in collection order (--dist loadfile
# --no-loadscope-reorder); starting the slowest files first keeps every worker busy until the
# end instead of leaving one of them finishing a notebook file alone. Files not listed keep their
# order after these. Only the order changes: a stale table costs seconds, never a test.
SLOWEST_FILES = {
    "e2e/test_notebooks.py": 143,
    "runs/test_study_interrupt.py": 72,
    "e2e/test_notebook_overrides.py": 63,
    "e2e/test_dashboard_browser.py": 58,
    "experiments/test_bitcheck.py": 48,
    "integrations/test_mlflow_environment.py": 33,
    "app/test_present.py": 31,
    "e2e/test_notebook_01.py": 28,
    "runs/test_executors_dask.py": 27,
    "train/test_loop_out_dir.py": 24,
    "e2e/test_run_and_sweep_commands.py": 23,
    "integrations/test_mlflow.py": 22,
    "e2e/test_lab_browser.py": 21,
    "integrations/test_optuna.py": 21,
    "e2e/test_install.py": 16,
    "e2e/test_two_checkouts.py": 15,
    "app/test_train_cli.py": 14,
    "runs/test_sweep.py": 12,
    "optim/test_frank_wolfe_sigint.py": 10,
    "integrations/test_tensorboard.py": 10,
    "experiments/test_recorded.py": 9,
    "runs/test_provenance.py": 9,
    "app/test_bench.py": 8,
    "train/test_distributed.py": 7,
    "plots/test_figure_files.py": 7,
    "util/test_failure.py": 7,
    "e2e/test_train_sigkill_resume.py": 6,
    "app/test_cli.py": 6,
    "widgets/test_dashboard.py": 5,
    "runs/test_study.py": 5,
}


def pytest_collection_modifyitems(config, items):
    """The slowest files first (see :data:`SLOWEST_FILES`); the order within a file is kept."""
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items[:] = sorted(
        items,
        key=lambda item: rank.get(item.nodeid.split("::")[0].removeprefix("tests/"), len(rank)),
    )
