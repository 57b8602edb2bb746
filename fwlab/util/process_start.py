r"""What fwlab's own processes do first: the ``fwlab`` command and a sweep's worker processes.

A relative ``$FWLAB_DATA`` is made absolute there, against the folder the command started in, so
that the notebook kernels it starts (in the notebooks' folders) read the same data cache.

Only processes fwlab starts for itself call :func:`start_fwlab_process`; importing fwlab (in a
notebook kernel, a script, a test) changes nothing.

It keeps jsonschema from compiling its IRI grammar. Running a notebook imports nbformat
(papermill, nbclient), nbformat imports jsonschema, and jsonschema's format checkers import
``rfc3987_syntax`` when it is installed (jupyter-events requires it, through
``jsonschema[format-nongpl]``). ``rfc3987_syntax`` builds about 35 Earley parsers when it is
imported: 1.5-1.8 s of CPU per process on the 2-core machine the README's timings come from,
measured with ``python -X importtime -c "import jsonschema"``, and paid again by every `fwlab
run`, `fwlab sweep` and every sweep worker (upstream: python-jsonschema/jsonschema#1428). The
parsers check the ``"iri"`` and ``"iri-reference"`` formats, which neither the notebook format's
schema nor anything else these processes validate uses. So the module is marked absent
(``sys.modules[name] = None``, Python's documented way to make an import raise ``ImportError``)
before anything imports jsonschema; jsonschema then registers no checker for those two formats,
exactly as when ``rfc3987_syntax`` is not installed.

Example:
    >>> import subprocess, sys
    >>> code = ("from fwlab.util.process_start import start_fwlab_process as s; s(); "
    ...         "import nbformat, sys; print(sys.modules['rfc3987_syntax'])")
    >>> subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    'None\n'
"""

from __future__ import annotations

import os
import sys

__all__ = ["IRI_GRAMMAR_MODULE", "start_fwlab_process"]

#: the module jsonschema's "iri" format checkers come from
IRI_GRAMMAR_MODULE = "rfc3987_syntax"


def start_fwlab_process() -> bool:
    """Set up a process fwlab started for itself (see the module's docstring); ``True`` when the
    IRI grammar was kept out, ``False`` when jsonschema (or the grammar) was already imported
    and nothing changed."""
    value = os.environ.get("FWLAB_DATA")
    if value and not os.path.isabs(os.path.expanduser(value)):
        os.environ["FWLAB_DATA"] = os.path.abspath(os.path.expanduser(value))
    if "jsonschema" in sys.modules or IRI_GRAMMAR_MODULE in sys.modules:
        return False
    sys.modules[IRI_GRAMMAR_MODULE] = None  # type: ignore[assignment]
    return True
