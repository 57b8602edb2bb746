"""Helpers for tests that start real processes and signal them."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any


def is_kernel(command: str | list[str]) -> bool:
    """Whether a process's command line (a string or psutil's ``cmdline()`` list) is a Jupyter
    kernel's: the ``fwlab`` kernel (fwlab/runs/kernel_launcher.py) or ipykernel's own."""
    text = command if isinstance(command, str) else " ".join(command)
    return "fwlab.runs.kernel_launcher" in text or "ipykernel_launcher" in text


def dies_with_test() -> None:
    """``preexec_fn`` for a server a test starts (JupyterLab, Voilà, MLflow, Dask, Optuna's
    dashboard): Linux sends it SIGTERM when the test's process dies, so that a test run killed
    before its teardown (a CI job's time limit, SIGKILL) leaves no server behind, nor the kernels
    a server stops when it gets SIGTERM (a Voilà kernel of notebook 02 left training at 100,000
    steps took a core for an hour once). A no-op off Linux."""
    from fwlab.runs.kernel import die_with_parent

    die_with_parent(os.getppid(), sig=signal.SIGTERM)


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


def gated_bowl(x: float, gate: str, steps: int = 0, pause: float = 0.0) -> dict[str, Any]:
    """:func:`fwlab.integrations.search_examples.bowl` (a search's target, ``module:name``:
    ``tests.process_tools:gated_bowl``), started once the file ``gate`` exists; until then the
    trial waits, 50 ms at a time. A trial the test interrupts cannot end before its Ctrl-C, and
    once the test creates ``gate`` the same command's trials take no longer than ``bowl``'s."""
    from fwlab.integrations.search_examples import bowl

    while not os.path.exists(gate):
        time.sleep(0.05)
    return bowl(x, steps=steps, pause=pause)


def killed_after_a_progress_bar(x: int) -> None:
    """A run's function (``tests.process_tools:killed_after_a_progress_bar``) that shows a
    progress bar, disabled, as :func:`fwlab.train.fit` does without ``progress``, then SIGKILLs
    the process it runs in: a worker ended at once (a second Ctrl-C), after a training run."""
    from tqdm.auto import tqdm

    with tqdm(total=x, disable=True):
        pass
    os.kill(os.getpid(), signal.SIGKILL)
