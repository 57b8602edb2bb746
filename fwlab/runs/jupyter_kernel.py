"""The Jupyter kernel fwlab's notebooks run in, and what a missing piece of Jupyter costs.

The notebooks name the kernel ``fwlab``. A checkout's ``bash .ci/setup`` registers it for the
checkout's ``.venv``; after ``pip install 'fwlab[lab]'`` nothing has, so :func:`ensure_kernel`
(which ``fwlab run``, ``fwlab sweep``, ``fwlab reproduce`` and ``fwlab lab`` call first)
registers ``fwlab`` for the Python running fwlab: in its environment when that is a venv or
conda environment (``<prefix>/share/jupyter/kernels/fwlab``), else for the user
(:func:`register_kernel`: ipykernel's kernelspec, whose command runs
:mod:`fwlab.runs.kernel_launcher`, a kernel that starts 1.2 s of CPU sooner). Without
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

__all__ = [
    "DEFAULT_KERNEL",
    "LAB_MODULES",
    "LAUNCHER",
    "ensure_kernel",
    "install_hint",
    "kernel_argv",
    "missing_lab",
    "register_kernel",
]

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
        where = register_kernel(name)
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


#: the module the ``fwlab`` kernelspec runs (fwlab/runs/kernel_launcher.py)
LAUNCHER = "fwlab.runs.kernel_launcher"


def kernel_argv(python: str, python_arguments: list[str] | None = None) -> list[str]:
    """The command of the ``fwlab`` kernelspec: ipykernel's, with fwlab's launcher module in
    place of ``ipykernel_launcher``.

    Example:
        >>> kernel_argv("/env/bin/python", ["-Xfrozen_modules=off"])[:3]
        ['/env/bin/python', '-Xfrozen_modules=off', '-m']
        >>> kernel_argv("/env/bin/python", ["-Xfrozen_modules=off"])[3:]
        ['fwlab.runs.kernel_launcher', '-f', '{connection_file}']
    """
    from ipykernel.kernelspec import make_ipkernel_cmd

    return make_ipkernel_cmd(mod=LAUNCHER, executable=python, python_arguments=python_arguments)


def register_kernel(
    name: str = DEFAULT_KERNEL, prefix: str | os.PathLike[str] | None = None
) -> Path:
    """Register the kernel ``name`` for this Python and return its folder: in ``prefix`` if
    given, else in this Python's environment if it is a venv or a conda environment whose folder
    is writable, else for the user. ipykernel writes the kernelspec (its logos, its
    ``-Xfrozen_modules=off`` for the debugger); its command then runs
    :mod:`fwlab.runs.kernel_launcher` (:func:`kernel_argv`) instead of ``ipykernel_launcher``.
    An existing kernel ``name`` there is replaced."""
    import json

    from ipykernel.kernelspec import install

    if prefix is None:
        in_env = sys.prefix != sys.base_prefix or (Path(sys.prefix) / "conda-meta").is_dir()
        prefix = sys.prefix if in_env and os.access(sys.prefix, os.W_OK) else None
    where = {"prefix": os.fspath(prefix)} if prefix is not None else {"user": True}
    folder = Path(install(kernel_name=name, display_name="Python (fwlab)", **where))
    spec_file = folder / "kernel.json"
    spec = json.loads(spec_file.read_text())
    argv = spec["argv"]
    if argv[-4:] != ["-m", "ipykernel_launcher", "-f", "{connection_file}"]:
        raise RuntimeError(f"ipykernel wrote an unexpected kernel command {argv} in {spec_file}")
    spec["argv"] = kernel_argv(argv[0], argv[1:-4])
    spec_file.write_text(json.dumps(spec, indent=1) + "\n")
    return folder
