"""Where a sweep's points run: a local process pool, or a Dask cluster.

Both are a :class:`concurrent.futures.Executor`, so :func:`fwlab.sweep.run_sweep` has one code
path: it submits one task per grid point and collects them with ``as_completed``.

* **local** (the default): a ``ProcessPoolExecutor`` of ``jobs`` spawned processes.
* **Dask**: ``scheduler="tcp://HOST:8786"`` (or the environment variable
  ``FWLAB_DASK_SCHEDULER``) sends each point to that ``dask.distributed`` scheduler's workers
  through ``Client.get_executor()``. The workers need fwlab and the Jupyter kernel installed,
  and the notebook and the output folder on a file system they share with the machine that
  runs the sweep (same paths). A worker that dies mid-point (killed, out of memory, node lost)
  has its point rescheduled by the scheduler on another worker; the point's files are only
  complete once ``status.json`` says ``"ok"`` (results and status are written atomically,
  status last), so a half-run point is never mistaken for a result, and a re-run of the sweep
  runs it again. Start workers with one thread each (``dask worker ADDRESS --nthreads 1``,
  ``--nworkers N`` for N points at a time per machine): a point is a whole notebook kernel.

Example:
    >>> resolve_scheduler("local"), resolve_scheduler("tcp://10.0.0.5:8786")
    (None, 'tcp://10.0.0.5:8786')
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing import get_context

from fwlab.process_start import start_fwlab_process
from fwlab.sweep.kernel import die_with_parent

__all__ = ["SCHEDULER_ENV", "resolve_scheduler", "point_executor"]

SCHEDULER_ENV = "FWLAB_DASK_SCHEDULER"
_CONNECT_TIMEOUT = "20s"


def resolve_scheduler(scheduler: str | None) -> str | None:
    """The Dask scheduler address to use, or ``None`` for the local pool: ``scheduler`` if
    given (``"local"`` forces the local pool), else ``$FWLAB_DASK_SCHEDULER`` if set."""
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV) or None
    if scheduler is None or scheduler == "local":
        return None
    if not isinstance(scheduler, str) or "://" not in scheduler:
        raise ValueError(
            f"scheduler must be a Dask scheduler address such as tcp://HOST:8786 (or 'local'), "
            f"got {scheduler!r}"
        )
    return scheduler


def _start_worker(parent_pid: int) -> None:
    """A local pool's worker: dies with the sweep process, starts as fwlab's processes do."""
    die_with_parent(parent_pid)
    start_fwlab_process()


@contextlib.contextmanager
def point_executor(
    jobs: int, n_tasks: int, scheduler: str | None
) -> Iterator[tuple[Executor, str]]:
    """``(executor, description)`` for ``n_tasks`` points: a local pool of
    ``min(jobs, n_tasks)`` processes when ``scheduler`` is ``None``, else a Dask client's
    executor (``jobs`` is then the cluster's business). The pool or client is closed on exit.
    """
    if scheduler is None:
        workers = min(jobs, max(n_tasks, 1))
        # spawn: a clean interpreter per worker, no fork of a process that may hold threads;
        # workers die with this process (even by SIGKILL), and their kernels with them; they
        # skip jsonschema's IRI grammar (fwlab.process_start)
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        ) as pool:
            yield pool, f"{workers} at a time"
        return
    try:
        from distributed import Client
    except ImportError:
        raise ValueError(
            "a Dask scheduler was given but dask.distributed is not installed: "
            "pip install 'fwlab[cluster]' (or unset FWLAB_DASK_SCHEDULER)"
        ) from None
    try:
        client = Client(scheduler, timeout=_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise ValueError(
            f"cannot reach the Dask scheduler at {scheduler} ({type(err).__name__}: {err}); "
            "start one with `dask scheduler` and workers with `dask worker ADDRESS --nthreads 1`, "
            f"or unset {SCHEDULER_ENV} / drop --scheduler to run locally"
        ) from None
    try:
        threads = sum(client.nthreads().values())
        where = f"on the Dask cluster at {scheduler} ({threads} worker threads now)"
        if not threads:
            where += "; no worker yet: the points wait until workers join"
        # pure=False: every point is its own task, even with equal arguments
        yield client.get_executor(pure=False), where
    finally:
        client.close()
