r"""Run notebooks headless with papermill, alone (``fwlab run``) or over a grid (``fwlab sweep``).

**How a notebook reports results.** A notebook calls :func:`record` with the numbers it wants in
the results table::

    from fwlab.sweep import record
    record(final_loss=float(loss), best_acc=best, seconds=elapsed)

The runner sets the environment variable ``FWLAB_RESULTS_DIR`` (:data:`RESULTS_ENV`) for the
kernel; :func:`record` then merges its arguments into ``$FWLAB_RESULTS_DIR/results.json`` (several
calls accumulate, a later value of the same name wins). Opened interactively, the variable is unset
and :func:`record` only returns the dict, so the same notebook runs in JupyterLab and in a sweep.

**What a run leaves on disk.** Every run (one ``fwlab run`` or one grid point of a sweep) writes one
folder holding

* the executed notebook, under the input notebook's file name (outputs and tracebacks included);
* ``results.json``: what the notebook passed to :func:`record` (absent if it never called it);
* ``status.json``: written by the runner: ``status`` (``"running"``, ``"ok"`` or ``"failed"``),
  ``params``, ``seconds``, ``started``/``finished`` (UTC ISO 8601), ``error`` (``"Type: message"``)
  and ``traceback`` (its last lines, ANSI colours stripped) for a failed run.

A sweep puts one such folder per grid point under its output folder, named by :func:`point_name`,
and gathers them with :func:`gather` into ``results.csv`` and a printed table.

Grid points run in separate worker processes (``--jobs``): papermill changes the working directory
of the process that drives a kernel and the results folder reaches the kernel through its
environment, so neither can be shared between threads.
"""

from __future__ import annotations

import argparse
import ast
import csv
import datetime as _dt
import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
import traceback as _tb
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

__all__ = [
    "RESULTS_ENV",
    "RESULTS_FILE",
    "STATUS_FILE",
    "check_kernel",
    "format_table",
    "gather",
    "grid",
    "notebook_parameters",
    "parse_grid",
    "parse_value",
    "point_name",
    "record",
    "run_notebook",
    "run_sweep",
    "write_csv",
]

RESULTS_ENV = "FWLAB_RESULTS_DIR"
RESULTS_FILE = "results.json"
STATUS_FILE = "status.json"
CSV_FILE = "results.csv"
DEFAULT_KERNEL = "fwlab"
# columns the runner adds to every row of the results table
_STATUS_COLUMNS = ("status", "seconds", "error", "point")
_TRACEBACK_LINES = 30
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# ---------------------------------------------------------------------------------- recording
def _jsonable(value: Any, key: str) -> Any:
    """``value`` as plain JSON data; tensors and numpy values become numbers or lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist"):  # torch.Tensor, numpy arrays and numpy scalars
        return _jsonable(value.tolist(), key)
    raise TypeError(
        f"record(): {key!r} is a {type(value).__name__}, which cannot be stored in JSON; "
        "pass numbers, strings, booleans, None, lists/dicts of them, tensors or numpy arrays"
    )


def _write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def record(metrics: Mapping[str, Any] | None = None, /, **kwargs: Any) -> dict[str, Any]:
    """Report a notebook's results to the runner (``fwlab run`` / ``fwlab sweep``).

    Call it anywhere in a notebook, as often as you like; names may also come as a dict (for
    names that are not identifiers). Values must be JSON data; tensors and numpy values are
    converted (a one-element tensor to a number, others to nested lists).

    When the environment variable ``FWLAB_RESULTS_DIR`` is set (the runner sets it for the
    kernel), the values are merged into ``$FWLAB_RESULTS_DIR/results.json`` and the merged dict
    is returned; otherwise (interactive use) nothing is written and the converted dict is
    returned.

    Example:
        >>> import os
        >>> os.environ.pop("FWLAB_RESULTS_DIR", None)  # interactive: nothing written
        >>> record({"test/acc": 0.93}, loss=0.25)
        {'test/acc': 0.93, 'loss': 0.25}
    """
    values = {**(dict(metrics) if metrics is not None else {}), **kwargs}
    values = {str(k): _jsonable(v, str(k)) for k, v in values.items()}
    folder = os.environ.get(RESULTS_ENV)
    if not folder:
        return values
    path = Path(folder) / RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(values)
    _write_json(path, merged)
    return merged


# ---------------------------------------------------------------------------------- parameters
def parse_value(text: str) -> Any:
    """Parse a command-line value the way ``papermill -p`` does, plus Python literals.

    ``True``/``False``/``None``, then an int, then a float (``1e-3``, ``inf``); text starting
    with ``[ ( { ' "`` is a Python literal (a list, tuple, dict or quoted string: ``"'5'"`` is
    the string ``'5'``); anything else stays a string.

    Example:
        >>> [parse_value(t) for t in ["5", "1e-3", "True", "None", "inf", "[1, 2]", "'7'", "adam"]]
        [5, 0.001, True, None, inf, [1, 2], '7', 'adam']
    """
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text[:1] in ("[", "(", "{", "'", '"'):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError) as err:
            raise ValueError(
                f"cannot parse {text!r} as a Python literal ({err}); quote it to pass a string"
            ) from None
    return text


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are outside brackets and quotes: ``"[1,2],3"`` -> two items."""
    items, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    items.append("".join(current))
    return items


def parse_grid(specs: Iterable[str]) -> dict[str, list[Any]]:
    """Parse ``--grid NAME=v1,v2`` options into ``{NAME: [v1, v2]}`` (values: :func:`parse_value`).

    Example:
        >>> parse_grid(["K=1,5,10", "p=2,inf", "hidden=[8,8],[16]"])
        {'K': [1, 5, 10], 'p': [2, inf], 'hidden': [[8, 8], [16]]}
    """
    axes: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not values.strip():
            raise ValueError(f"--grid expects NAME=v1,v2,..., got {spec!r}")
        if name in axes:
            raise ValueError(f"--grid {name} is given twice; put all its values in one option")
        parsed = [parse_value(v.strip()) for v in _split_top_level(values)]
        for a, b in itertools.combinations(parsed, 2):
            if a == b and type(a) is type(b):
                raise ValueError(f"--grid {name} lists the value {a!r} twice")
        axes[name] = parsed
    return axes


def grid(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of ``axes``: one dict per point, the first axis varying slowest.

    Example:
        >>> grid({"K": [1, 5], "p": [2, "inf"]})
        [{'K': 1, 'p': 2}, {'K': 1, 'p': 'inf'}, {'K': 5, 'p': 2}, {'K': 5, 'p': 'inf'}]
    """
    names = list(axes)
    for name in names:
        values = axes[name]
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise ValueError(f"grid axis {name!r} must be a list of values, got {values!r}")
        if len(values) == 0:
            raise ValueError(f"grid axis {name!r} has no values")
    return [dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)  # repr keeps 1 and 1.0 apart


def _reads_back(value: Any) -> bool:
    """Whether ``value`` comes back from its folder-name text (the str "5" would read as 5)."""
    if not isinstance(value, str):
        return True
    try:
        return parse_value(value) == value
    except ValueError:
        return False


def point_name(params: Mapping[str, Any], *, max_len: int = 96) -> str:
    """A stable, filesystem-safe folder name for a grid point: ``K=5__p=inf``.

    Characters outside ``[A-Za-z0-9._=+-]`` become ``_``; when that loses information (or the
    name is longer than ``max_len``) a short hash of the exact parameters is appended, so two
    different points never share a folder.

    Example:
        >>> point_name({"K": 5, "delta": 0.001, "outer": "adam"})
        'K=5__delta=0.001__outer=adam'
        >>> point_name({"tag": "a/b"})
        'tag=a_b-fd5a62ce'
    """
    if not params:
        return "default"
    raw = "__".join(f"{k}={_value_text(v)}" for k, v in params.items())
    safe = re.sub(r"[^A-Za-z0-9._=+-]", "_", raw)
    lossy = safe != raw or not all(_reads_back(v) for v in params.values())
    if lossy or len(safe) > max_len:
        exact = json.dumps([[k, repr(v)] for k, v in params.items()])
        digest = hashlib.sha1(exact.encode()).hexdigest()[:8]
        safe = f"{safe[: max_len - 9]}-{digest}"
    return safe


def notebook_parameters(notebook: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The parameters declared in the notebook's cell tagged ``parameters``.

    Returns ``{name: {"name", "inferred_type_name", "default", "help"}}`` (papermill's
    ``inspect_notebook``). Raises ``ValueError`` if there is no such cell.
    """
    import nbformat
    import papermill

    path = Path(notebook)
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    nb = nbformat.read(path, as_version=4)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise ValueError(
            f"{path.name} has no cell tagged 'parameters'; tag the cell of defaults "
            "(View > Cell Toolbar > Tags in Jupyter) so that papermill can override them"
        )
    return papermill.inspect_notebook(str(path))


def _check_names(notebook: Path, names: Iterable[str]) -> None:
    declared = notebook_parameters(notebook)
    for name in names:
        if name not in declared:
            valid = ", ".join(declared) or "(none)"
            raise ValueError(
                f"unknown parameter {name!r} for {notebook.name}; its parameters cell "
                f"declares: {valid}"
            )


# ---------------------------------------------------------------------------------- running
def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _error_fields(err: BaseException) -> tuple[str, str]:
    """``("Type: message", traceback tail)`` of an exception, from the notebook when it has one."""
    ename = getattr(err, "ename", None)
    if ename is not None:  # papermill.PapermillExecutionError: the error raised in a cell
        message = f"{ename}: {err.evalue}"
        lines = "\n".join(err.traceback or []).splitlines()
    else:
        message = f"{type(err).__name__}: {err}"
        lines = "".join(_tb.format_exception(type(err), err, err.__traceback__)).splitlines()
    lines = [_ANSI.sub("", line) for line in lines]
    return message, "\n".join(lines[-_TRACEBACK_LINES:])


def run_notebook(
    notebook: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    kernel: str = DEFAULT_KERNEL,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    index: int | None = None,
    check_names: bool = True,
) -> dict[str, Any]:
    """Execute ``notebook`` with papermill into ``out_dir`` and return its status dict.

    Writes ``out_dir/<notebook name>`` (the executed notebook), ``results.json`` (through
    :func:`record` in the notebook) and ``status.json``; a previous ``results.json`` is removed
    first. A failure inside the notebook does not raise: it comes back as ``status="failed"`` with
    ``error`` and ``traceback``. ``timeout`` is papermill's per-cell execution timeout in seconds
    (``None``: no limit); ``cwd`` is the kernel's working directory (default: the notebook's folder,
    as in JupyterLab). Unknown parameter names raise ``ValueError`` before anything runs.

    Sets ``FWLAB_RESULTS_DIR`` in this process's environment for the kernel while it runs (and
    restores it after), so call it from one thread at a time per process.
    """
    import papermill

    nb_path = Path(notebook).resolve()
    out = Path(out_dir).resolve()
    params = dict(parameters or {})
    if check_names:
        _check_names(nb_path, params)
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_FILE).unlink(missing_ok=True)
    status: dict[str, Any] = {
        "status": "running",
        "notebook": str(nb_path),
        "params": params,
        "point": out.name,
        "index": index,
        "kernel": kernel,
        "output": nb_path.name,
        "started": _now(),
        "finished": None,
        "seconds": None,
        "error": None,
        "traceback": None,
    }
    _write_json(out / STATUS_FILE, status)
    previous = os.environ.get(RESULTS_ENV)
    os.environ[RESULTS_ENV] = str(out)
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(nb_path),
            str(out / nb_path.name),
            parameters=params,
            kernel_name=kernel,
            execution_timeout=timeout,
            cwd=str(Path(cwd).resolve() if cwd is not None else nb_path.parent),
            progress_bar=False,
            kernel_manager_class=_ipc_kernel_manager(),
        )
        status["status"] = "ok"
    except Exception as err:  # noqa: BLE001 - a failed notebook is a result, not a crash
        status["status"] = "failed"
        status["error"], status["traceback"] = _error_fields(err)
    finally:
        if previous is None:
            os.environ.pop(RESULTS_ENV, None)
        else:
            os.environ[RESULTS_ENV] = previous
    status["seconds"] = round(time.perf_counter() - t0, 3)
    status["finished"] = _now()
    _write_json(out / STATUS_FILE, status)
    return status


def _ipc_kernel_manager() -> type:
    """A KernelManager whose kernel talks over Unix sockets named after its connection file.

    With TCP, each manager picks "free" ports and the kernel binds them later; two sweep workers
    starting kernels at the same moment can pick the same port and one kernel dies with
    "Address already in use". IPC socket paths are unique per kernel, so that race is gone (and
    so is ipykernel's warning about unencrypted TCP).
    """
    import tempfile
    import uuid

    from jupyter_client.manager import KernelManager
    from traitlets import default

    class IPCKernelManager(KernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc" if os.name == "posix" else "tcp"

        @default("ip")
        def _default_ip(self) -> str:
            if self.transport != "ipc":
                return super()._ip_default()
            # jupyter_client's default ("kernel-ipc" in the working directory) is shared by
            # every kernel started from the same folder; the socket files are <ip>-<port>
            return os.path.join(tempfile.gettempdir(), f"fwlab-kernel-{uuid.uuid4().hex[:16]}")

    return IPCKernelManager


def _run_point(task: dict[str, Any]) -> dict[str, Any]:
    """Worker-process entry of a sweep: one grid point (top level so that it pickles)."""
    try:
        return run_notebook(**task, check_names=False)
    except Exception as err:  # noqa: BLE001 - e.g. an unwritable folder: still one row
        message, tb = _error_fields(err)
        return {
            "status": "failed",
            "params": task["parameters"],
            "point": Path(task["out_dir"]).name,
            "index": task["index"],
            "error": message,
            "traceback": tb,
            "seconds": None,
        }


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_sweep(
    notebook: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    axes: Mapping[str, Sequence[Any]],
    fixed: Mapping[str, Any] | None = None,
    *,
    jobs: int = 2,
    kernel: str = DEFAULT_KERNEL,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    force: bool = False,
    log: Any = None,
) -> list[dict[str, Any]]:
    """Run ``notebook`` at every point of ``grid(axes)`` (with the ``fixed`` parameters too).

    Each point runs in ``out_dir/<point_name(grid values)>`` via :func:`run_notebook`, ``jobs`` at
    a time in worker processes. A point whose ``status.json`` says ``"ok"`` for the same notebook
    and the same parameters (fixed ones included) is skipped unless ``force``. A failing point is
    recorded and the others go on. Returns the :func:`gather` rows of this sweep's points, in grid
    order, after writing them to ``out_dir/results.csv`` (folders of other sweeps in ``out_dir``
    are left out of both). ``log`` (a file, default stdout) gets one line per point.
    """
    log = sys.stdout if log is None else log
    nb_path = Path(notebook).resolve()
    out = Path(out_dir).resolve()
    fixed = dict(fixed or {})
    clash = sorted(set(fixed) & set(axes))
    if clash:
        raise ValueError(f"parameter(s) {', '.join(clash)} given both as --grid and as -p")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    _check_names(nb_path, [*axes, *fixed])
    points = grid(axes)
    names = [point_name(p) for p in points]
    tasks, skipped = [], 0
    for i, (point, name) in enumerate(zip(points, names)):
        params = {**point, **fixed}
        old = _read_json(out / name / STATUS_FILE) or {}
        same = old.get("params") == json.loads(json.dumps(params)) and old.get("notebook") == str(
            nb_path
        )
        if not force and same and old.get("status") == "ok":
            skipped += 1
            print(f"[skip] {name}: already ok ({old.get('seconds')} s)", file=log, flush=True)
            continue
        tasks.append(
            dict(
                notebook=str(nb_path),
                out_dir=str(out / name),
                parameters=params,
                kernel=kernel,
                timeout=timeout,
                cwd=None if cwd is None else str(cwd),
                index=i,
            )
        )
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"sweep {nb_path.name}: {len(points)} points, {len(tasks)} to run, {skipped} already ok, "
        f"{min(jobs, max(len(tasks), 1))} at a time -> {out}",
        file=log,
        flush=True,
    )
    if tasks:
        # spawn: a clean interpreter per worker, no fork of a process that may hold threads
        with ProcessPoolExecutor(
            max_workers=min(jobs, len(tasks)), mp_context=get_context("spawn")
        ) as pool:
            futures = {pool.submit(_run_point, t): t for t in tasks}
            for done, fut in enumerate(as_completed(futures), 1):
                try:
                    st = fut.result()
                except Exception as err:  # noqa: BLE001 - e.g. a worker process was killed
                    task = futures[fut]
                    st = {
                        "status": "failed",
                        "point": Path(task["out_dir"]).name,
                        "seconds": None,
                        "error": _error_fields(err)[0],
                    }
                line = f"[{done}/{len(tasks)}] {st['point']}: {st['status']}"
                if st.get("seconds") is not None:
                    line += f" ({st['seconds']:.1f} s)"
                if st["status"] != "ok":
                    line += f" - {st['error']}"
                print(line, file=log, flush=True)
    by_point = {r["point"]: r for r in gather(out)}
    rows = []
    for point, name in zip(points, names):
        if name not in by_point:  # the worker could not even write status.json
            by_point[name] = {
                **point,
                **fixed,
                "status": "failed",
                "seconds": None,
                "error": "no status.json was written",
                "point": name,
            }
        rows.append(by_point[name])
    write_csv(rows, out / CSV_FILE)
    return rows


# ---------------------------------------------------------------------------------- gathering
def gather(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One flat row per run found under ``out_dir`` (its sub-folders, and itself).

    A row holds the run's parameters, then its recorded metrics, then ``status``, ``seconds``,
    ``error`` and ``point`` (the folder name). A metric whose name is also a parameter or one of
    those columns is renamed ``result.<name>``. Rows follow the grid order of the sweep
    (``index`` in ``status.json``), then the folder name. Folders without a ``status.json`` are
    ignored; a ``results.json`` that cannot be read leaves the metrics empty.
    """
    root = Path(out_dir)
    folders = [root, *sorted(p for p in root.iterdir() if p.is_dir())] if root.is_dir() else []
    found = []
    for folder in folders:
        st = _read_json(folder / STATUS_FILE)
        if not isinstance(st, dict):
            continue
        metrics = _read_json(folder / RESULTS_FILE)
        metrics = metrics if isinstance(metrics, dict) else {}
        params = st.get("params") or {}
        row: dict[str, Any] = dict(params)
        for key, value in metrics.items():
            taken = key in params or key in _STATUS_COLUMNS
            row[f"result.{key}" if taken else key] = value
        row.update(
            status=st.get("status"),
            seconds=st.get("seconds"),
            error=st.get("error"),
            point=folder.name,
        )
        index = st.get("index")
        found.append(((index if isinstance(index, int) else math.inf, folder.name), row))
    found.sort(key=lambda item: item[0])
    return [row for _, row in found]


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for key in row:
            if key not in cols and key not in _STATUS_COLUMNS:
                cols.append(key)
    return cols + list(_STATUS_COLUMNS)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` (from :func:`gather`) as a CSV with the union of their columns."""
    path = Path(path)
    cols = _columns(rows)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in cols])
    os.replace(tmp, path)
    return path


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table of ``rows``: parameters, metrics, status and seconds (errors below it).

    Example:
        >>> print(format_table([{"K": 1, "loss": 0.123456, "status": "ok", "seconds": 2.0,
        ...                      "error": None, "point": "K=1"}]))
        K  loss    status  seconds
        -  ------  ------  -------
        1  0.1235  ok      2
    """
    cols = [c for c in _columns(rows) if c not in ("error", "point")]

    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        text = _cell(value)
        return text if len(text) <= 40 else text[:37] + "..."

    body = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [
        max(len(c), *(len(b[i]) for b in body)) if body else len(c) for i, c in enumerate(cols)
    ]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths)).rstrip() for b in body]
    failed = [r for r in rows if r.get("status") != "ok"]
    if failed:
        lines.append("")
        lines += [f"{r.get('status', '?').upper()} {r['point']}: {r.get('error')}" for r in failed]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- CLI
def _add_common(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("notebook", type=Path, help="the notebook to execute (.ipynb)")
    parser.add_argument(
        "-p",
        "--parameter",
        dest="parameters",
        action="append",
        nargs=2,
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a parameter of the notebook's 'parameters' cell; VALUE is parsed as "
        "True/False/None, int, float, a Python literal ([..], (..), {..}, '..') or else a string",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output folder (default: {default_out}/<notebook name>)",
    )
    parser.add_argument(
        "--kernel", default=DEFAULT_KERNEL, help=f"Jupyter kernel name (default: {DEFAULT_KERNEL})"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="S",
        help="per-cell execution timeout in seconds (default: none)",
    )
    parser.add_argument(
        "--cwd",
        type=Path,
        default=None,
        help="the kernel's working directory (default: the notebook's folder)",
    )


def _fixed(pairs: Sequence[Sequence[str]]) -> dict[str, Any]:
    fixed: dict[str, Any] = {}
    for name, value in pairs:
        if name in fixed:
            raise ValueError(f"-p {name} is given twice")
        fixed[name] = parse_value(value)
    return fixed


def configure_run_parser(parser: argparse.ArgumentParser) -> None:
    _add_common(parser, "runs")
    parser.epilog = (
        "Writes the executed notebook, status.json and results.json (what the notebook passed to "
        "fwlab.sweep.record) into the output folder. Exit status 1 if the notebook failed."
    )


def check_kernel(name: str) -> None:
    """Raise ``ValueError`` saying how to get the Jupyter kernel ``name`` if it is not installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        if name == DEFAULT_KERNEL:
            hint = (
                "run `bash .ci/setup` (it registers it) or `python -m ipykernel install --user "
                "--name fwlab`, or pass --kernel NAME"
            )
        else:
            hint = "pass --kernel with a name that `jupyter kernelspec list` shows"
        raise ValueError(f"no Jupyter kernel named {name!r}: {hint}") from None


def run_run_cli(args: argparse.Namespace) -> int:
    out = args.out or Path("runs") / args.notebook.stem
    try:
        check_kernel(args.kernel)
        status = run_notebook(
            args.notebook,
            out,
            _fixed(args.parameters),
            kernel=args.kernel,
            timeout=args.timeout,
            cwd=args.cwd,
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"fwlab run: error: {err}", file=sys.stderr)
        return 2
    print(format_table(gather(out)))
    if status["status"] != "ok":
        print(
            f"\nFAILED: {args.notebook.name} raised {status['error']}\n{status['traceback']}",
            file=sys.stderr,
        )
        print(
            f"the executed notebook with the traceback is in {Path(out) / args.notebook.name}",
            file=sys.stderr,
        )
        return 1
    print(f"\nok: {Path(out).resolve()}")
    return 0


def configure_sweep_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grid",
        action="append",
        required=True,
        metavar="NAME=v1,v2",
        help="a grid axis (repeat for more; the points are their cartesian product)",
    )
    _add_common(parser, "sweeps")
    parser.add_argument("--jobs", type=int, default=2, help="points run at a time (default: 2)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="re-run points that already finished ok (default: skip them)",
    )
    parser.epilog = (
        "Each point gets a folder named after its grid values, holding the executed notebook, "
        "status.json and results.json; results.csv gathers them. Exit status 1 if any point failed."
    )


def run_sweep_cli(args: argparse.Namespace) -> int:
    out = args.out or Path("sweeps") / args.notebook.stem
    try:
        check_kernel(args.kernel)
        rows = run_sweep(
            args.notebook,
            out,
            parse_grid(args.grid),
            _fixed(args.parameters),
            jobs=args.jobs,
            kernel=args.kernel,
            timeout=args.timeout,
            cwd=args.cwd,
            force=args.force,
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"fwlab sweep: error: {err}", file=sys.stderr)
        return 2
    print()
    print(format_table(rows))
    print(f"\nresults: {Path(out).resolve() / CSV_FILE}")
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        print(
            f"\nFAILED: {len(failed)} of {len(rows)} points; see status.json and the executed "
            f"notebook in each failed point's folder",
            file=sys.stderr,
        )
        return 1
    return 0
