"""The Jupyter kernels that ``fwlab run`` and ``fwlab sweep`` start, and sweep workers that die
with the sweep.

* :func:`kernel_manager_class`: papermill's kernels run under jupyter_client's
  ``AsyncKernelManager`` (the one papermill and nbclient use by default), so a kernel that dies
  (SIGKILL, out of memory) ends the run with ``DeadKernelError`` within seconds; the synchronous
  ``KernelManager`` waited for it forever. The kernel talks over Unix sockets in a private
  folder: two kernels started at the same moment can never race for a TCP port.
* :func:`die_with_parent`: a sweep's worker process asks Linux (``PR_SET_PDEATHSIG``) to be
  killed when the sweep process dies, even by SIGKILL; its kernel then exits too (ipykernel polls
  its parent, ``JPY_PARENT_PID``), so no orphan keeps writing into folders a re-run uses.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["die_with_parent", "kernel_manager_class"]

_PR_SET_PDEATHSIG = 1


def kernel_manager_class(
    socket_dir: str | os.PathLike[str], log: str | os.PathLike[str] | None = None
) -> type:
    """An ``AsyncKernelManager`` class whose kernels use Unix sockets under ``socket_dir``.

    ``socket_dir`` must exist and be private to one run (the socket files are
    ``<socket_dir>/kernel-<port>``, the connection file ``<socket_dir>/kernel.json``); remove it
    when the run is over. Off POSIX the kernels use
    TCP on localhost. With ``log``, the kernel process's own stdout and stderr (its log lines,
    e.g. "KeyboardInterrupt caught in kernel" when a Ctrl-C stops a run, and anything written
    to the file descriptors directly) are appended to that file instead of the terminal, so a
    stopped sweep ends with its one line; what cells print reaches the notebook as always.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    prefix = os.path.join(os.fspath(socket_dir), "kernel")

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc" if os.name == "posix" else "tcp"

        @default("ip")
        def _default_ip(self) -> str:
            return prefix if self.transport == "ipc" else super()._ip_default()

        @default("connection_file")
        def _default_connection_file(self) -> str:
            # beside the sockets, so that it goes with the folder (jupyter_client's default, a
            # temporary file, stayed behind whenever the kernel's manager was killed)
            return f"{prefix}.json"

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: object) -> None:
            if log is None:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
                kw.setdefault("stdout", out)
                kw.setdefault("stderr", out)
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return IPCKernelManager


def die_with_parent(parent_pid: int, *, sig: int = signal.SIGKILL) -> None:
    """Have this process sent ``sig`` (SIGKILL) when its parent ``parent_pid`` dies (Linux only).

    The first thing a local worker does (:mod:`fwlab.runs.executors`). If the parent is already
    gone, exits at once. A no-op where ``prctl`` is not available (the worker then finishes its
    current run and exits).
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
