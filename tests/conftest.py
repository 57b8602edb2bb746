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


# Seconds per test file (its path under tests/) on an idle 2-core machine (`bash .ci/test
# --durations=0`, summed per
# file, 2026-12-02, commit 82385ee), the slowest first. `.ci/test` hands out whole files to its
# pytest-xdist workers in collection order (--dist loadfile --no-loadscope-reorder); starting
# the slowest files first keeps both workers busy until the end instead of leaving one of them
# finishing a notebook file alone. Files not listed keep their order after these. Only the
# order changes: a stale table costs minutes, never a test. test_runs_interrupt, test_runs_study
# and test_runs_dask (one more cluster) are estimates from single-file runs on a busy machine,
# test_integrations_optuna too (123 s at a load average of 9); test_mlflow.py and
# test_train_cli.py (with its two-row reproduce test) too: their time on a loaded machine
# divided by test_tensorboard.py's ratio there (47 s against 9 s). Since then, estimated from
# what was cut: test_integrations_optuna (its Ctrl-C test's trials wait on a gate, not 20 s of
# sleep), test_notebook_overrides (notebook 04 runs once for two tests; 05 with one worker),
# test_runs_interrupt and test_reliability_runs (signals sent when the run is ready, not after a
# fixed sleep), and the browser files (their servers are killed, not stopped gracefully).
SLOWEST_FILES = {
    "e2e/test_notebooks.py": 94,
    "e2e/test_dashboard_browser.py": 75,  # estimated: 1.5-2.5 min on a busy machine
    "runs/test_study_interrupt.py": 42,
    "e2e/test_notebook_overrides.py": 42,
    "app/test_present.py": 37,
    "app/test_train_cli.py": 37,
    "e2e/test_install.py": 33,
    "runs/test_executors_dask.py": 33,
    "experiments/test_bitcheck.py": 30,  # estimated on a busy machine (4 re-trainings, 2 stored)
    "e2e/test_lab_browser.py": 29,
    "e2e/test_run_and_sweep_commands.py": 27,
    "e2e/test_notebook_01.py": 25,
    "integrations/test_mlflow.py": 23,
    "integrations/test_optuna.py": 22,
    "integrations/test_mlflow_environment.py": 20,  # estimated: about 40 s on a busy machine
    "runs/test_study.py": 15,
    "train/test_loop_out_dir.py": 14,
    "runs/test_provenance.py": 14,  # estimated on a busy machine
    "optim/test_frank_wolfe_sigint.py": 13,
    "runs/test_sweep.py": 11,
    "experiments/test_recorded.py": 9,
    "train/test_distributed.py": 9,
    "integrations/test_tensorboard.py": 9,
    "e2e/test_two_checkouts.py": 8,
    "plots/test_figure_files.py": 7,
    "app/test_bench.py": 5,
    "e2e/test_train_sigkill_resume.py": 5,
}


def pytest_collection_modifyitems(config, items):
    """The slowest files first (see :data:`SLOWEST_FILES`); the order within a file is kept."""
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items[:] = sorted(
        items,
        key=lambda item: rank.get(item.nodeid.split("::")[0].removeprefix("tests/"), len(rank)),
    )
