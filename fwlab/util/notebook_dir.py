"""Where fwlab's notebooks are, in a checkout and in an installed package.

In a checkout (and an editable install) the notebooks are the repository's ``notebooks/``
folder beside the ``fwlab`` package. A wheel ships the same files as package data,
``fwlab/notebooks/*.ipynb``. :func:`notebooks_dir` finds whichever exists; every command that
needs a notebook (``fwlab lab``, ``fwlab reproduce``, ``fwlab bench --notebooks``) asks it, and
``fwlab notebooks DIR`` copies them out (:func:`copy_notebooks`) to a folder you can edit.

Example:
    >>> (notebooks_dir() / PLAYGROUND).is_file()
    True
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from fwlab.util.argtypes import Argument, Command, Option, path_type

__all__ = ["PLAYGROUND", "copy_notebooks", "find_notebook", "notebook_path", "notebooks_dir"]

#: the first notebook (``fwlab lab`` opens it); its presence marks a notebooks folder
PLAYGROUND = "01_trust_region_playground.ipynb"

_PACKAGE = Path(__file__).resolve().parents[1]


def notebooks_dir() -> Path:
    """The folder of fwlab's notebooks: the copy installed with the package, else the
    checkout's ``notebooks/``; ``FileNotFoundError`` saying what to do if neither exists."""
    for candidate in (_PACKAGE / "notebooks", _PACKAGE.parent / "notebooks"):
        if (candidate / PLAYGROUND).is_file():
            return candidate
    raise FileNotFoundError(
        f"fwlab's notebooks are not installed (looked in {_PACKAGE / 'notebooks'} and "
        f"{_PACKAGE.parent / 'notebooks'}); reinstall fwlab from a wheel or a checkout, or pass "
        "the folder of the notebooks explicitly"
    )


def notebook_path(name: str) -> Path:
    """The path of fwlab's notebook ``name`` (e.g. ``"table_row.ipynb"``)."""
    path = notebooks_dir() / name
    if not path.is_file():
        known = ", ".join(p.name for p in sorted(notebooks_dir().glob("*.ipynb")))
        raise FileNotFoundError(f"fwlab has no notebook {name!r}; it has: {known}")
    return path


def find_notebook(name: str | os.PathLike | None, folder: Path | None = None) -> Path:
    """A notebook named on the command line: ``None`` → the playground; an existing path as
    given; else, in ``folder`` (default: fwlab's, :func:`notebooks_dir`), the notebook of that
    file name (``"table_row.ipynb"``) or the one whose name starts with ``name`` (``"02"``,
    ``"02_adding"``). ``fwlab run``, ``fwlab sweep`` and ``fwlab present`` take notebooks so.

    Example:
        >>> find_notebook(None).name, find_notebook("05").name, find_notebook("table_row").name
        ('01_trust_region_playground.ipynb', '05_reproduce_paper.ipynb', 'table_row.ipynb')
    """
    folder = notebooks_dir() if folder is None else Path(folder)
    if name is None:
        return folder / PLAYGROUND
    path = Path(name)
    if path.is_file():
        if path.suffix != ".ipynb":
            raise ValueError(f"{str(path)!r} is not a notebook (.ipynb)")
        return path
    if path.is_dir():
        raise ValueError(
            f"{str(path)!r} is a folder; pass the notebook file (.ipynb) or its number"
        )
    if path.name != str(name):  # a path that does not exist: not a name to look up
        raise ValueError(f"no notebook {str(path)!r}: the file does not exist")
    exact = folder / (path.name if path.suffix == ".ipynb" else f"{path.name}.ipynb")
    if exact.is_file():
        return exact
    matches = sorted(folder.glob(f"{path.name}*.ipynb")) if folder.is_dir() else []
    if len(matches) != 1:
        known = ", ".join(p.name for p in sorted(folder.glob("*.ipynb"))) or "none"
        what = "no notebook" if not matches else f"{len(matches)} notebooks"
        raise ValueError(f"{what} in {folder} matches {str(name)!r}; the notebooks: {known}")
    return matches[0]


def copy_notebooks(dest: str | os.PathLike[str], *, force: bool = False) -> list[Path]:
    """Copy fwlab's notebooks into ``dest`` (created if missing); returns the copies.

    An existing notebook of the same name is kept (``FileExistsError`` naming it) unless
    ``force``; nothing is copied then.
    """
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"{dest} is a file; pass a folder to copy the notebooks into")
    sources = sorted(notebooks_dir().glob("*.ipynb"))
    clash = [dest / s.name for s in sources if (dest / s.name).exists()]
    if clash and not force:
        raise FileExistsError(
            f"{', '.join(str(c) for c in clash)} already exist; pass --force to overwrite them "
            "or copy into another folder"
        )
    dest.mkdir(parents=True, exist_ok=True)
    from fwlab.util.atomic import atomic_write

    # each notebook whole or not at all (a full disk leaves no half notebook behind)
    return [atomic_write(dest / s.name, s.read_bytes()) for s in sources]


#: ``fwlab notebooks DEST``
command = Command(
    "notebooks",
    lambda args: run_cli(args),  # defined below
    [
        Argument(["dest"], type=path_type, help="folder to copy the notebooks into"),
        Option(["--force", "force"], is_flag=True, help="overwrite notebooks already there"),
    ],
)


def run_cli(args: argparse.Namespace) -> int:
    copied = copy_notebooks(args.dest, force=args.force)  # failures: one line, fwlab.util.failure
    for path in copied:
        print(path)
    print(
        f"{len(copied)} notebooks in {args.dest.resolve()}; open them with `fwlab lab "
        f"--notebooks {args.dest}`"
    )
    return 0
