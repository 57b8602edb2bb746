"""The ``fwlab`` Jupyter kernel's process: ipykernel's kernel, started as fwlab's own processes are.

The kernelspec ``fwlab`` (:func:`fwlab.runs.jupyter_kernel.register_kernel`) starts
``python -m fwlab.runs.kernel_launcher -f {connection_file}`` instead of ipykernel's
``ipykernel_launcher``. This module does what that one does (takes the current folder off
``sys.path`` while the kernel's modules load; IPython puts it back) after
:func:`fwlab.util.process_start.start_fwlab_process`, which keeps jsonschema from building its
IRI grammar: the notebooks import plotly's renderers, plotly imports nbformat, nbformat imports
jsonschema, and the grammar cost every kernel 1.2 s of CPU at its start (measured:
``python -c "import ipykernel.kernelapp, torch; from fwlab.plots.notebook_output import
embed_figures; embed_figures()"`` took 3.1 s, 1.9 s with the grammar kept out). Nothing in a
kernel checks the two formats the grammar serves (``"iri"``, ``"iri-reference"``).

Example (the command the kernelspec runs):
    >>> from fwlab.runs.jupyter_kernel import kernel_argv
    >>> kernel_argv("python")[-4:]
    ['-m', 'fwlab.runs.kernel_launcher', '-f', '{connection_file}']
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    """Start the kernel (the arguments are ipykernel's: ``-f CONNECTION_FILE`` and its options)."""
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]  # as ipykernel_launcher does: IPython's init_path adds it back
    from fwlab.util.process_start import start_fwlab_process

    start_fwlab_process()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
