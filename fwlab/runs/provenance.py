"""Provenance of a recorded result, taken when the run starts: what code, on what machine,
with which kernels, and the one command that re-trains it.

:func:`provenance` returns a dict of plain data:

* ``command``: the one command that re-trains the run; ``commit`` and ``dirty`` (whether the
  checkout had changes, ``git status --porcelain``), ``allow_dirty`` (the run was told to
  record from a dirty tree), ``date`` (UTC, when it started);
* ``machine``: one line; ``cpu``: the model, vendor and instruction-set flags of
  ``/proc/cpuinfo``;
* ``torch``: version, the CPU capability ATen dispatches to
  (``torch.backends.cpu.get_cpu_capability()``), MKL's and oneDNN's versions (from
  ``torch.__config__.show()``), whether oneDNN is enabled, the thread counts; ``numpy``,
  ``python`` and ``libc`` versions;
* ``environment``: every variable that changes kernels (:data:`fwlab.util.reproducible.
  KERNEL_VARIABLES`, ``None`` when unset); ``reproducible``: whether the run is in
  :mod:`fwlab.util.reproducible`'s mode;
* ``wall_seconds``: filled in when the run ends (``None`` until then).

Example:
    >>> p = provenance("fwlab record adding-paper --runs RUNS", allow_dirty=True)
    >>> p["command"], p["wall_seconds"], p["allow_dirty"], "cpu_capability" in p["torch"]
    ('fwlab record adding-paper --runs RUNS', None, True, True)
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fwlab.util.atomic import atomic_write_text
from fwlab.util.reproducible import KERNEL_PREFIXES, KERNEL_VARIABLES, requested

__all__ = [
    "ProvenanceFile",
    "provenance",
    "current_commit",
    "tree_is_dirty",
    "cpu_info",
    "kernel_environment",
]

_CHECKOUT = Path(__file__).resolve().parent


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=_CHECKOUT, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def current_commit() -> str | None:
    """``$FWLAB_COMMIT`` if set (a run from an exported snapshot of a commit), else the
    ``git rev-parse HEAD`` of the checkout fwlab is imported from, else ``None``."""
    if os.environ.get("FWLAB_COMMIT"):
        return os.environ["FWLAB_COMMIT"]
    out = _git("rev-parse", "HEAD")
    return out.strip() if out else None


def tree_is_dirty() -> bool | None:
    """Whether the checkout fwlab is imported from has changes or untracked files (``None``: no
    git checkout; ``False`` under ``$FWLAB_COMMIT``, an exported snapshot of that commit)."""
    if os.environ.get("FWLAB_COMMIT"):
        return False
    out = _git("status", "--porcelain")
    return None if out is None else bool(out.strip())


def cpu_info(path: str | os.PathLike = "/proc/cpuinfo") -> dict[str, Any]:
    """``model``, ``vendor`` and sorted ``flags`` of the first processor in ``path`` (``None``
    each where the file is missing, e.g. not Linux), and ``count`` (``os.cpu_count()``)."""
    fields: dict[str, str] = {}
    try:
        text = Path(path).read_text()
    except OSError:
        text = ""
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = fields.get("flags")
    return {
        "model": fields.get("model name") or platform.processor() or None,
        "vendor": fields.get("vendor_id"),
        "flags": sorted(flags.split()) if flags is not None else None,
        "count": os.cpu_count(),
    }


def kernel_environment(environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """The value of every environment variable that changes kernels (``None``: unset)."""
    env = dict(os.environ if environ is None else environ)
    out: dict[str, str | None] = {name: env.get(name) for name in KERNEL_VARIABLES}
    out.update({k: v for k, v in sorted(env.items()) if k.startswith(KERNEL_PREFIXES)})
    return out


def _torch_info() -> dict[str, Any]:
    import torch

    config = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([^\s]+)", config)
    dnn = re.search(r"MKL-DNN v([^\s]+)", config) or re.search(r"oneDNN v([^\s]+)", config)
    return {
        "version": torch.__version__,
        "git": getattr(torch.version, "git_version", None),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl": mkl.group(1) if mkl and torch.backends.mkl.is_available() else None,
        "mkldnn": dnn.group(1) if dnn and torch.backends.mkldnn.is_available() else None,
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
    }


def provenance(
    command: str, *, wall_seconds: float | None = None, allow_dirty: bool = False
) -> dict[str, Any]:
    """The provenance of a run that starts now (see the module's docstring)."""
    import numpy

    cpu = cpu_info()
    info = _torch_info()
    return dict(
        command=command,
        commit=current_commit(),
        dirty=tree_is_dirty(),
        allow_dirty=bool(allow_dirty),
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        machine=f"{platform.machine()}, {cpu['model']}, {cpu['count']} CPUs, "
        f"{platform.system()}, torch {info['version']} ({info['cpu_capability']}), "
        f"{info['threads']} thread(s)",
        cpu=cpu,
        torch=info,
        numpy=numpy.__version__,
        python=sys.version.split()[0],
        libc=" ".join(platform.libc_ver()).strip() or None,
        environment=kernel_environment(),
        reproducible=requested(),
        wall_seconds=None if wall_seconds is None else round(float(wall_seconds), 1),
    )


class ProvenanceFile:
    """A :func:`fwlab.train.fit` callback that writes ``folder/provenance.json`` when the run
    begins (:func:`provenance` of ``command``, plus ``extra``) and adds ``wall_seconds`` when it
    ends. A resumed run keeps the provenance of its start and appends the resuming process's
    (``commit``, ``dirty``, ``date``, ``machine``, ``reproducible``, ``environment``) to
    ``resumed``, so a run continued elsewhere says so."""

    def __init__(
        self, folder: str | os.PathLike, command: str, *, allow_dirty: bool = False, **extra: Any
    ) -> None:
        from fwlab.train.history import PROVENANCE

        self.path = Path(folder) / PROVENANCE
        self.command, self.allow_dirty, self.extra = command, allow_dirty, extra

    def _write(self, prov: dict[str, Any]) -> None:
        atomic_write_text(self.path, json.dumps(prov, indent=1) + "\n")

    def _read(self) -> dict[str, Any] | None:
        try:
            prov = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return prov if isinstance(prov, dict) else None

    def __call__(self, event: str, run: Any) -> None:
        if event == "begin":
            now = {**provenance(self.command, allow_dirty=self.allow_dirty), **self.extra}
            before = self._read() if run.step > 0 else None
            if before is None:
                self._write(now)
            else:
                keep = ("commit", "dirty", "date", "machine", "reproducible", "environment")
                resumed = [*before.get("resumed", []), {k: now[k] for k in keep}]
                resumed[-1]["at_step"] = run.step
                self._write({**before, "resumed": resumed})
        elif event == "end":
            prov = self._read() or {**provenance(self.command), **self.extra}
            prov["wall_seconds"] = round(float(run.history["summary"].get("wall_time", 0.0)), 1)
            self._write(prov)
