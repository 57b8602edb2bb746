"""A Jupyter kernel that runs nothing: it answers each cell with the outputs that cell produced
in an already executed notebook, so that nbval can compare a golden copy with the outputs of a
papermill run the notebook tests already made, without executing the notebook a second time.

The executed notebook is named by the environment variable ``FWLAB_REPLAY_NOTEBOOK``. The n-th
cell nbval runs is answered with the outputs of the executed notebook's n-th code cell (papermill's
injected-parameters cell aside), provided their sources are the same once the golden copy's
``# NBVAL_IGNORE_OUTPUT`` header is taken off; otherwise with an error, so nbval fails the cell:
the golden copy and the notebook that ran are no longer the same notebook.

nbval starts it through the kernelspec ``tests/golden/kernels/fwlab-replay/kernel.json``.
"""

from __future__ import annotations

import json
import os

from ipykernel.kernelbase import Kernel

IGNORE_MARK = "# NBVAL_IGNORE_OUTPUT"
REASON_PREFIX = "# why: "
NOTEBOOK_VARIABLE = "FWLAB_REPLAY_NOTEBOOK"


def strip_header(source: str) -> str:
    """The notebook's own source of a golden copy's cell: without the two lines
    ``# NBVAL_IGNORE_OUTPUT`` and ``# why: ...`` that a golden copy puts on top of it.

    >>> strip_header("# NBVAL_IGNORE_OUTPUT\\n# why: wall times\\nprint(1)")
    'print(1)'
    >>> strip_header("print(1)")
    'print(1)'
    """
    lines = source.split("\n")
    if len(lines) >= 2 and lines[0] == IGNORE_MARK and lines[1].startswith(REASON_PREFIX):
        return "\n".join(lines[2:])
    return source


def recorded_cells(path: str) -> list[tuple[str, list[dict]]]:
    """(source, outputs) of every code cell of the executed notebook at ``path`` (a golden copy
    too: its headers are taken off)."""
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)

    def text(value):  # nbformat allows a source or a stream's text as a list of lines
        return "".join(value) if isinstance(value, list) else value

    cells = []
    for cell in nb["cells"]:
        # papermill's injected-parameters cell is the run's, not the notebook's
        injected = "injected-parameters" in cell.get("metadata", {}).get("tags", [])
        if cell["cell_type"] == "code" and not injected:
            outputs = []
            for out in cell.get("outputs", []):
                if out["output_type"] == "stream":
                    out = {**out, "text": text(out["text"])}
                elif "data" in out:
                    out = {**out, "data": {k: text(v) if k.startswith("text/") else v
                                           for k, v in out["data"].items()}}  # fmt: skip
                outputs.append(out)
            cells.append((strip_header(text(cell["source"])), outputs))
    return cells


class ReplayKernel(Kernel):
    implementation = "fwlab-replay"
    implementation_version = "1"
    language_info = {"name": "python", "mimetype": "text/x-python", "file_extension": ".py"}
    banner = "replays the outputs of an executed notebook"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        path = os.environ.get(NOTEBOOK_VARIABLE)
        self._cells, self._problem = [], f"set {NOTEBOOK_VARIABLE} to an executed notebook"
        if path:
            try:
                self._cells = recorded_cells(path)
            except (OSError, ValueError, KeyError) as e:  # reported by every cell, not a crash
                self._problem = f"cannot read the executed notebook {path}: {e!r}"
        self._next = 0  # the executed code cell that answers the next execute request

    def _error(self, ename: str, evalue: str) -> dict:
        error = {"ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}
        self.send_response(self.iopub_socket, "error", error)
        return {"status": "error", "execution_count": self.execution_count, **error}

    async def do_execute(self, code, silent, store_history=True, user_expressions=None,
                         allow_stdin=False, **kwargs):  # fmt: skip
        if not self._cells:
            return self._error("ReplayError", self._problem)
        found = self._next
        if found >= len(self._cells) or self._cells[found][0] != strip_header(code):
            return self._error(
                "ReplayError",
                f"code cell {found} of the executed notebook is not this cell: the golden copy "
                "and the notebook that ran differ; after an intended change run `bash .ci/golden`",
            )
        self._next = found + 1
        for out in self._cells[found][1]:
            kind = out["output_type"]
            if kind == "stream":
                content = {"name": out["name"], "text": out["text"]}
            elif kind == "display_data":
                content = {"data": out["data"], "metadata": out.get("metadata", {})}
            elif kind == "execute_result":
                content = {"data": out["data"], "metadata": out.get("metadata", {}),
                           "execution_count": self.execution_count}  # fmt: skip
            else:  # an error recorded in the executed notebook fails the cell here too
                return self._error(out.get("ename", "Error"), out.get("evalue", ""))
            self.send_response(self.iopub_socket, kind, content)
        return {"status": "ok", "execution_count": self.execution_count, "payload": [],
                "user_expressions": {}}  # fmt: skip


if __name__ == "__main__":
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(kernel_class=ReplayKernel)
