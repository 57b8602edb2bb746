"""Tests of fwlab/util/process_start.py: fwlab's own processes skip jsonschema's IRI grammar."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from fwlab.runs import Function, Study
from fwlab.util.process_start import IRI_GRAMMAR_MODULE


def _python(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def grammar_after_nbformat() -> dict[str, str]:
    """In this process: import nbformat, then report what jsonschema's IRI grammar module is."""
    import nbformat  # noqa: F401 - imports jsonschema

    return {"grammar": repr(sys.modules.get(IRI_GRAMMAR_MODULE, "absent"))}


def test_a_started_process_imports_nbformat_without_the_iri_grammar_and_still_validates():
    code = (
        "from fwlab.util.process_start import start_fwlab_process as s; print(s()); "
        "import nbformat, jsonschema, sys; "
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1')]); "
        "nbformat.validate(nb); print(sys.modules['rfc3987_syntax']); "
        "print('iri' in jsonschema.FormatChecker().checkers, 'email' in "
        "jsonschema.FormatChecker().checkers)"
    )
    assert _python(code) == ["True", "None", "False", "True"]


def test_a_plain_python_process_is_left_alone():
    # jsonschema imports the grammar when it is installed (what fwlab skips); once it is
    # imported, starting the process that way is too late and changes nothing
    code = (
        "import jsonschema, sys; print(sys.modules['rfc3987_syntax'] is not None); "
        "from fwlab.util.process_start import start_fwlab_process as s; print(s()); "
        "print(sys.modules['rfc3987_syntax'] is not None)"
    )
    assert _python(code) == ["True", "False", "True"]


def test_the_fwlab_command_starts_that_way():
    script = Path(sys.executable).with_name("fwlab").read_text()  # what pip made of pyproject
    assert "from fwlab.app.cli import run" in script and "sys.exit(run())" in script
    code = (
        "import atexit, sys; atexit.register(lambda: print(sys.modules.get('rfc3987_syntax', "
        "'absent'))); sys.argv = ['fwlab', 'run', '--help']; "
        "import fwlab.app.cli; fwlab.app.cli.run()"
    )
    assert _python(code)[-1] == "None"


def test_a_run_engine_worker_starts_that_way(tmp_path):
    study = Study(Function(f"{__name__}:grammar_after_nbformat"), tmp_path)
    rows = study.run(jobs=1, log=io.StringIO()).rows  # a LocalProcesses worker
    assert [(r["status"], r["grammar"]) for r in rows] == [("ok", "None")]
