"""The Jupyter kernel fwlab's notebooks run in, and what a missing piece of Jupyter costs.

The notebooks name the kernel ``fwlab``. A checkout's ``bash .ci/setup`` registers it for the
checkout's ``.venv``; after ``pip install 'fwlab[lab]'`` nothing has, so :func:`ensure_kernel`
(which ``fwlab run``, ``fwlab sweep``, ``fwlab reproduce`` and ``fwlab lab`` call first)
registers ``fwlab`` for the Python running fwlab: in its environment when that is a venv or
conda environment (``<prefix>/share/jupyter/kernels/fwlab``), else for the user. Without
ipykernel no kernel can run, and the error says, in one line, the command that installs it.
:func:`missing_lab` names the ``[lab]`` extra's packages that are not installed.

Example:
    >>> missing_lab()  # this environment has the [lab] extra
    []
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from pathlib import Path

from fwlab.runs.files import DEFAULT_KERNEL

__all__ = ["DEFAULT_KERNEL", "LAB_MODULES", "ensure_kernel", "install_hint", "missing_lab"]

#: the modules of the ``[lab]`` extra (pyproject.toml) and the packages that provide them
LAB_MODULES = {
    "jupyterlab": "jupyterlab",
    "ipykernel": "ipykernel",
    "ipywidgets": "ipywidgets",
    "anywidget": "anywidget",
    "voila": "voila",
}


def install_hint(extra: str = "lab") -> str:
    """The command that installs fwlab's ``extra`` into the Python running fwlab (its own pip,
    so the fix lands where the error came from)."""
    return f"{shlex.quote(sys.executable)} -m pip install 'fwlab[{extra}]'"


def missing_lab() -> list[str]:
    """The packages of the ``[lab]`` extra that this Python cannot import."""
    return [pkg for module, pkg in LAB_MODULES.items() if importlib.util.find_spec(module) is None]


def ensure_kernel(name: str = DEFAULT_KERNEL) -> str:
    """Make sure the Jupyter kernel ``name`` can start; returns ``name``.

    ``name`` installed: nothing to do (for a kernel of this Python, ipykernel must be
    importable). ``"fwlab"`` missing: registered for this Python (one line on stderr says
    where), if ipykernel is installed. Any other failure raises ``ValueError`` with the fix.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    no_ipykernel = importlib.util.find_spec("ipykernel") is None
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        if name != DEFAULT_KERNEL:
            raise ValueError(
                f"no Jupyter kernel named {name!r}: pass --kernel with a name that `jupyter "
                f"kernelspec list` shows, or leave --kernel out to use {DEFAULT_KERNEL!r}"
            ) from None
        if no_ipykernel:
            raise ValueError(
                f"the notebooks need a Jupyter kernel and ipykernel is not installed: "
                f"{install_hint()}"
            ) from None
        where = _register(name)
        print(f"fwlab: registered the Jupyter kernel {name!r} in {where}", file=sys.stderr)
        return name
    if no_ipykernel and _runs_this_python(spec.argv):
        raise ValueError(
            f"the Jupyter kernel {name!r} runs this Python, which has no ipykernel: "
            f"{install_hint()}"
        )
    return name


def _runs_this_python(argv: list[str]) -> bool:
    """Whether a kernel command starts the Python running fwlab (jupyter_client reads
    ``python``/``python3`` as the launching interpreter)."""
    if not argv:
        return False
    first = argv[0]
    major, minor = sys.version_info[:2]
    if first in ("python", f"python{major}", f"python{major}.{minor}"):
        return True
    try:
        return Path(first).resolve() == Path(sys.executable).resolve()
    except OSError:
        return False


def _register(name: str) -> Path:
    """Register a kernel ``name`` for this Python: in its environment if it is a venv or a
    conda environment whose folder is writable, else for the user; returns the kernel's
    folder."""
    from ipykernel.kernelspec import install

    in_env = sys.prefix != sys.base_prefix or (Path(sys.prefix) / "conda-meta").is_dir()
    where = {"prefix": sys.prefix} if in_env and os.access(sys.prefix, os.W_OK) else {"user": True}
    return Path(install(kernel_name=name, display_name="Python (fwlab)", **where))
