"""tests/doctest_tmp.py: a doctest's ``tempfile.mkdtemp()`` lands in its own tmp_path, and a
plain test's is left where it was."""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MODULE = '''
"""
>>> import tempfile
>>> print("DOCTEST", tempfile.mkdtemp())  # doctest: +ELLIPSIS
DOCTEST ...
"""
'''


def test_a_doctests_temporary_folder_is_made_in_its_tmp_path(tmp_path):
    (tmp_path / "example_mod.py").write_text(MODULE)
    base = tmp_path / "base"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--doctest-modules", "-q",
         "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), f"--basetemp={base}",
         "-o", "tmp_path_retention_policy=all",  # keep the folder, to look at it
         str(tmp_path / "example_mod.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    made = [p for p in base.rglob("tmp*") if p.is_dir()]
    assert len(made) == 1 and made[0].parent.parent == base, made


def test_outside_doctests_tempfile_is_untouched(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    assert not Path(tempfile.gettempdir()).resolve().is_relative_to(base.resolve())
