"""What a run executes: a notebook (papermill) or a function (imported by name).

Both are plain data (a path, a ``"module:name"`` string and options), so a run spec pickles to
a worker process or a Dask cluster and nothing callable is ever saved. Each has an
:meth:`identity`: the part of a run's digest that says *what* ran (the notebook's bytes; the
function's name and source code), so an edited notebook or function is not "done".

Example:
    >>> f = Function("fwlab.runs.examples:square")
    >>> f.name, f.accepts("x"), f.accepts("nope")
    ('fwlab.runs.examples:square', True, False)
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fwlab.runs.files import DEFAULT_KERNEL
from fwlab.util.validate import optional, positive_float

__all__ = ["Function", "Notebook", "Target", "as_target"]


@dataclass(frozen=True)
class Notebook:
    """A notebook executed headless by papermill, its parameters injected after the cell
    tagged ``parameters``.

    ``kernel``: the Jupyter kernel; ``timeout``: papermill's per-cell limit in seconds (``None``:
    none); ``cwd``: the kernel's working directory (default: the notebook's folder, as in
    JupyterLab); ``tensorboard``: a folder under which every :func:`fwlab.train.fit` of run
    ``NAME`` also logs (``tensorboard/NAME``; a study of one run: the folder itself);
    ``fit_callbacks``: ``"module:function"`` factories of callbacks every ``fit`` of the kernel
    adds (:mod:`fwlab.train.environment`); ``mlflow``: a tracking URI every ``fit`` of run
    ``NAME`` logs to, in ``mlflow_experiment``, as ``NAME/<method>-seed<seed>``, through the
    factory :data:`fwlab.integrations.mlflow.FIT_CALLBACKS` named in ``fit_callbacks``.
    """

    path: Path
    kernel: str = DEFAULT_KERNEL
    timeout: float | None = None
    cwd: Path | None = None
    tensorboard: Path | None = None
    mlflow: str | None = None
    mlflow_experiment: str = "fwlab"
    fit_callbacks: tuple[str, ...] = ()
    kind: str = field(default="notebook", init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path).resolve())
        optional(positive_float, "timeout", self.timeout)
        if self.cwd is not None:
            if not Path(self.cwd).is_dir():
                what = "a file" if Path(self.cwd).exists() else "missing"
                raise ValueError(
                    f"--cwd {self.cwd} is {what}; the kernel's working directory must be an "
                    "existing folder"
                )
            object.__setattr__(self, "cwd", Path(self.cwd).resolve())
        if self.tensorboard is not None:
            object.__setattr__(self, "tensorboard", Path(self.tensorboard).resolve())
        if self.mlflow is not None and not (isinstance(self.mlflow, str) and self.mlflow):
            raise ValueError(f"mlflow must be a tracking URI or None, got {self.mlflow!r}")
        if not (isinstance(self.mlflow_experiment, str) and self.mlflow_experiment.strip()):
            raise ValueError(
                f"mlflow_experiment must be a non-empty string, got {self.mlflow_experiment!r}"
            )
        if isinstance(self.fit_callbacks, str):
            raise ValueError(f"fit_callbacks must be a list of entries, got {self.fit_callbacks!r}")
        entries = tuple(self.fit_callbacks)
        for entry in entries:
            if not (isinstance(entry, str) and re.fullmatch(r"[\w.]+:[\w.]+", entry)):
                raise ValueError(f"fit_callbacks entries must be 'module:function', got {entry!r}")
        object.__setattr__(self, "fit_callbacks", entries)
        if self.mlflow is not None and not entries:
            raise ValueError(
                "mlflow needs fit_callbacks naming the factory that logs to it: pass "
                "fit_callbacks=[fwlab.integrations.mlflow.FIT_CALLBACKS]"
            )

    @property
    def name(self) -> str:
        return self.path.name

    def parameters(self) -> dict[str, dict[str, Any]]:
        """The declared parameters (:func:`fwlab.runs.params.notebook_parameters`)."""
        from fwlab.runs.params import notebook_parameters

        return notebook_parameters(self.path)

    def check_names(self, names: Iterable[str]) -> None:
        """``ValueError`` naming the first name the parameters cell does not declare."""
        declared = self.parameters()
        for name in names:
            if name not in declared:
                valid = ", ".join(declared) or "(none)"
                raise ValueError(
                    f"unknown parameter {name!r} for {self.path.name}; its parameters cell "
                    f"declares: {valid}"
                )

    def identity(self) -> str:
        """The SHA-256 of the notebook file's bytes."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Function:
    """A function ``module:qualname`` called as ``fn(**params)`` (``seed=`` too when the run has
    a seed, ``run_dir=`` the run's folder when the function takes it). It returns a dict of
    results (JSON data; or ``None``) and may also call :func:`fwlab.runs.record`. It must be
    importable by name in the process that executes it (a worker, a Dask worker): no lambda,
    no function defined inside another."""

    ref: str
    kind: str = field(default="function", init=False)

    def __post_init__(self) -> None:
        ref = self.ref
        if callable(ref):
            ref = f"{ref.__module__}:{ref.__qualname__}"
        if not isinstance(ref, str) or ":" not in ref:
            raise ValueError(f"a function target is 'module:name' or a function, got {ref!r}")
        object.__setattr__(self, "ref", ref)
        if "<" in ref:  # <lambda>, <locals>
            raise ValueError(
                f"{ref} cannot be imported by name in a worker; define it at the top level "
                "of a module"
            )
        self.resolve()  # fail now, not in a worker

    @property
    def name(self) -> str:
        return self.ref

    def resolve(self) -> Callable[..., Any]:
        module, _, qualname = self.ref.partition(":")
        try:
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot import the function {self.ref} ({err})") from None
        if not callable(obj):
            raise ValueError(f"{self.ref} is a {type(obj).__name__}, not a function")
        return obj

    def accepts(self, name: str) -> bool:
        params = inspect.signature(self.resolve()).parameters
        kinds = {p.kind for p in params.values()}
        return name in params or inspect.Parameter.VAR_KEYWORD in kinds

    def check_names(self, names: Iterable[str]) -> None:
        for name in names:
            if not self.accepts(name):
                valid = ", ".join(inspect.signature(self.resolve()).parameters) or "(none)"
                raise ValueError(f"unknown parameter {name!r} for {self.ref}; it takes: {valid}")

    def identity(self) -> str:
        """The SHA-256 of the name and the function's source (its name alone where the source
        cannot be read)."""
        fn = self.resolve()
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            source = ""
        return hashlib.sha256(f"{self.ref}\n{source}".encode()).hexdigest()


Target = Notebook | Function


def as_target(target: Any) -> Target:
    """A :class:`Notebook` or :class:`Function` from itself, a path ending in ``.ipynb``, a
    ``"module:name"`` string or a top-level function."""
    if isinstance(target, (Notebook, Function)):
        return target
    if isinstance(target, os.PathLike) or (isinstance(target, str) and target.endswith(".ipynb")):
        return Notebook(Path(target))
    if isinstance(target, str) or callable(target):
        return Function(target)
    raise ValueError(
        f"a run's target is a notebook path (.ipynb), 'module:name' or a function, got {target!r}"
    )
