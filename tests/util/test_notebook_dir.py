"""fwlab/util/notebook_dir.py: finding fwlab's notebooks and `fwlab notebooks DIR`."""

from pathlib import Path

import pytest

import fwlab.util.notebook_dir as nd
from fwlab.app.cli import main
from fwlab.util.notebook_dir import PLAYGROUND, copy_notebooks, notebook_path, notebooks_dir

ROOT = Path(__file__).resolve().parents[2]


def test_in_a_checkout_the_notebooks_are_the_repository_folder():
    assert notebooks_dir() == ROOT / "notebooks"
    assert notebook_path("table_row.ipynb") == ROOT / "notebooks" / "table_row.ipynb"
    with pytest.raises(FileNotFoundError, match="no notebook 'nope.ipynb'; it has: 01_"):
        notebook_path("nope.ipynb")


def test_an_installed_copy_is_preferred_and_a_missing_one_says_so(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "fwlab"
    (pkg / "notebooks").mkdir(parents=True)
    monkeypatch.setattr(nd, "_PACKAGE", pkg)
    with pytest.raises(FileNotFoundError, match="fwlab's notebooks are not installed"):
        notebooks_dir()
    (pkg / "notebooks" / PLAYGROUND).write_text("{}")
    assert notebooks_dir() == pkg / "notebooks"


def test_fwlab_notebooks_copies_them_and_keeps_edited_ones(tmp_path, capsys):
    dest = tmp_path / "mine"
    assert main(["notebooks", str(dest)]) == 0
    names = sorted(p.name for p in dest.glob("*.ipynb"))
    assert names == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert PLAYGROUND in names
    (dest / PLAYGROUND).write_text("edited")
    assert main(["notebooks", str(dest)]) == 2
    assert "already exist; pass --force" in capsys.readouterr().err
    assert (dest / PLAYGROUND).read_text() == "edited"
    assert [p.name for p in copy_notebooks(dest, force=True)] == names
    assert (dest / PLAYGROUND).read_bytes() == (ROOT / "notebooks" / PLAYGROUND).read_bytes()


def test_a_file_where_the_folder_should_be_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["notebooks", str(tmp_path / "f")]) == 2
    assert "is a file; pass a folder" in capsys.readouterr().err


def test_find_notebook_by_number_file_name_stem_or_path(tmp_path, monkeypatch, capsys):
    from fwlab.util.notebook_dir import find_notebook

    monkeypatch.chdir(tmp_path)  # none of the names is a file here
    nb = ROOT / "notebooks"
    assert find_notebook("01") == nb / PLAYGROUND
    assert find_notebook(PLAYGROUND) == nb / PLAYGROUND  # the file name: was "not found"
    assert find_notebook("table_row") == find_notebook("table_row.ipynb") == nb / "table_row.ipynb"
    (tmp_path / "mine.ipynb").write_text("{}")
    assert find_notebook("mine.ipynb") == Path("mine.ipynb")  # a path here wins
    with pytest.raises(ValueError, match="no notebook 'sub/01.ipynb': the file does not exist"):
        find_notebook("sub/01.ipynb")
    with pytest.raises(ValueError, match=r"\d+ notebooks in .* matches '0'"):
        find_notebook("0")
    # fwlab run and fwlab sweep resolve the name before anything else
    assert main(["run", "07"]) == 2
    assert "fwlab run: error: no notebook in" in capsys.readouterr().err
    assert main(["sweep", "07", "--grid", "K=1,2"]) == 2
    assert "fwlab sweep: error: no notebook in" in capsys.readouterr().err
