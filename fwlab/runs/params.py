r"""A notebook's declared parameters, and command-line values parsed by their declared types.

The cell tagged ``parameters`` declares each parameter on one line, with an optional type and a
comment that documents it::

    K: int = 5              # inner Frank-Wolfe iterations
    tag: str = "run"        # a label
    sizes: list = [8, 16]
    lr = 1e-3               # no annotation: the value's own syntax decides

:func:`cell_parameters` reads that cell with Python's own parser (so ``int | None``, comments
with quotes and unicode all work, where papermill's line-by-line reader drops such lines), and
:func:`parse_typed` turns a command-line text into a value of the declared type or raises a
``ValueError`` that names the parameter, its type and the value:

========================  ==========================================================  ============
declared type             accepted text                                               ``-p`` value
========================  ==========================================================  ============
``int``                   an integer literal                                          ``5``
``float``                 an int or float literal, ``inf``, ``nan``                   ``1e-3``
``bool``                  ``True`` or ``False``                                       ``True``
``str`` (or a str         any text, kept as typed; a quoted literal is unquoted       ``007``
default, unannotated)     (``"''"`` is the empty string)
``list`` ``tuple``        a Python literal of that kind (``list[int]`` checks items)  ``[1, 2]``
``dict``
``Optional[X]``/``X|None``  ``None`` or a value of type ``X``                         ``None``
``Union[A, B]``           the first of ``A``, ``B`` that accepts it                   ``1``
anything else             :func:`fwlab.runs.parse_value`                             ``1e-3``
========================  ==========================================================  ============
"""

from __future__ import annotations

import ast
import io
import os
import tokenize
from pathlib import Path
from typing import Any

__all__ = ["cell_parameters", "notebook_parameters", "parse_typed"]


def notebook_parameters(notebook: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The parameters declared in the notebook's cell tagged ``parameters``.

    Returns ``{name: {"name", "inferred_type_name", "default", "help"}}`` in the format of
    papermill's ``inspect_notebook``, read by :func:`cell_parameters` (Python's own parser:
    lines papermill's reader drops, such as a comment holding ``=`` or an ``int | None``
    annotation, are kept). Raises ``ValueError`` if there is no such cell or the file is not a
    notebook, ``FileNotFoundError`` if there is no file.
    """
    import nbformat

    path = Path(notebook)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; pass the notebook file (.ipynb) to run")
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001 - JSON errors, validation errors, bad encodings
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(
            f"{path} is not a Jupyter notebook that can be read ({first[:200]}); pass an .ipynb"
        ) from None
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(
            f"{path.name} has no cell tagged 'parameters'; tag the cell of defaults "
            "(View > Cell Toolbar > Tags in Jupyter) so that papermill can override them"
        )
    return cell_parameters(cells[0].source)


def _comments(source: str) -> dict[int, str]:
    """``{line number: comment text}`` of the comments in ``source`` (best effort)."""
    found: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                found[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return found


def cell_parameters(source: str) -> dict[str, dict[str, Any]]:
    """The parameters assigned at the top level of a parameters cell's ``source``.

    Returns ``{name: {"name", "inferred_type_name", "default", "help"}}`` in the order of the
    cell (the format of ``papermill.inspect_notebook``); ``inferred_type_name`` is the annotation
    as written, or ``"None"`` without one. Lines that are not plain assignments to names are
    ignored; a cell that is not valid Python raises ``ValueError``.

    Example:
        >>> src = 'K: int = 5  # inner steps\\nsizes: list[int] | None = None\\nmode = "sgd"\\n'
        >>> {n: (p["inferred_type_name"], p["default"], p["help"])
        ...  for n, p in cell_parameters(src).items()}
        {'K': ('int', '5', 'inner steps'), 'sizes': ('list[int] | None', 'None', ''), \
'mode': ('None', '"sgd"', '')}
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ValueError(
            f"the parameters cell is not valid Python (line {err.lineno}: {err.msg}); fix the "
            "cell so that it runs"
        ) from None
    comments = _comments(source)
    found: dict[str, dict[str, Any]] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets, type_name = [node.target], ast.unparse(node.annotation)
        elif isinstance(node, ast.Assign):
            targets, type_name = node.targets, "None"
        else:
            continue
        if node.value is None:
            continue
        default = ast.get_source_segment(source, node.value) or ast.unparse(node.value)
        for target in targets:
            if isinstance(target, ast.Name):
                found[target.id] = {
                    "name": target.id,
                    "inferred_type_name": type_name,
                    "default": default,
                    "help": comments.get(node.end_lineno or node.lineno, ""),
                }
    return found


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NO_VALUE


_NO_VALUE = object()
_SCALARS = {"int": int, "float": float, "bool": bool, "str": str}
_CONTAINERS = {"list": list, "tuple": tuple, "dict": dict, "List": list, "Tuple": tuple}


def _split_union(node: ast.expr) -> list[ast.expr] | None:
    """The members of ``A | B`` or ``Union[A, B]`` / ``Optional[A]``; None if not a union."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [
            *(_split_union(node.left) or [node.left]),
            *(_split_union(node.right) or [node.right]),
        ]
    if isinstance(node, ast.Subscript):
        base = ast.unparse(node.value).rsplit(".", 1)[-1]
        if base in ("Union", "Optional"):
            members = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return [*members, ast.Constant(None)] if base == "Optional" else list(members)
    return None


def _coerce(text: str, node: ast.expr | None, fallback) -> Any:
    """``text`` as a value of the annotation ``node``; ``_NO_VALUE`` if it does not fit."""
    if node is None:
        return fallback(text)
    members = _split_union(node)
    if members is not None:
        # None first: "None" for an Optional[str] is None, not the string "None"
        members = sorted(members, key=lambda m: not _is_none(m))
        for member in members:
            value = _coerce(text, member, fallback)
            if value is not _NO_VALUE:
                return value
        return _NO_VALUE
    if _is_none(node):
        return None if text.strip() == "None" else _NO_VALUE
    name = ast.unparse(node.value if isinstance(node, ast.Subscript) else node)
    name = name.rsplit(".", 1)[-1]
    if name == "str":
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            value = _literal(text)
            return value if isinstance(value, str) else text
        return text
    if name in ("int", "float", "bool"):
        if name == "float" and text.strip().lower() in ("inf", "+inf", "-inf", "nan"):
            return float(text.strip())
        value = _literal(text.strip())
        if not _fits(value, ast.Name(name)):
            return _NO_VALUE
        return float(value) if name == "float" else value
    if name in _CONTAINERS:
        value = _literal(text.strip())
        if not isinstance(value, _CONTAINERS[name]):
            return _NO_VALUE
        if isinstance(node, ast.Subscript) and isinstance(value, list):
            item = node.slice
            if not all(_fits(v, item) for v in value):
                return _NO_VALUE
        return value
    return fallback(text)  # Any, a class of the notebook's own, ...


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None or ast.unparse(node) == "None"


def _fits(value: Any, node: ast.expr) -> bool:
    name = ast.unparse(node).rsplit(".", 1)[-1]
    kind = _SCALARS.get(name)
    if kind is None:
        return True  # an item type we do not check
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def parse_typed(
    name: str, text: str, declared: dict[str, Any] | None, *, fallback, option: str = "-p"
) -> Any:
    """Parse the command-line ``text`` of parameter ``name`` by its declared type.

    ``declared`` is the parameter's entry from :func:`cell_parameters` (``None``: not declared,
    parsed by ``fallback``); ``fallback`` parses untyped text (:func:`fwlab.runs.parse_value`).
    An unannotated parameter whose default is a string literal is treated as ``str``. Raises
    ``ValueError`` naming ``option``, the parameter, its type and the value when the text does
    not fit, or when it is empty.

    Example:
        >>> from fwlab.runs import parse_value
        >>> K = {"inferred_type_name": "int", "default": "5"}
        >>> tag = {"inferred_type_name": "None", "default": '"run"'}
        >>> parse_typed("K", "7", K, fallback=parse_value), parse_typed("tag", "007", tag,
        ...                                                               fallback=parse_value)
        (7, '007')
        >>> parse_typed("K", "abc", K, fallback=parse_value)
        Traceback (most recent call last):
        ...
        ValueError: -p K: the notebook declares K: int, got 'abc'; pass an integer (its ...
    """
    if not text.strip():
        raise ValueError(
            f"{option} {name}: empty value; give a value (for an empty string, quote it: \"''\")"
        )
    if declared is None:
        return fallback(text)
    type_name = str(declared.get("inferred_type_name") or "None")
    node: ast.expr | None = None
    if type_name not in ("None", ""):
        try:
            node = ast.parse(type_name, mode="eval").body
        except SyntaxError:
            node = None
    elif isinstance(_literal(str(declared.get("default", ""))), str):
        node = ast.Name("str")
        type_name = "str"
    value = _coerce(text, node, fallback)
    if value is _NO_VALUE:
        hint = {
            "int": "an integer",
            "float": "a number",
            "bool": "True or False",
            "list": "a list such as [1, 2]",
            "tuple": "a tuple such as (1, 2)",
            "dict": "a dict such as {'a': 1}",
        }.get(type_name.split("[")[0], f"a value of type {type_name}")
        raise ValueError(
            f"{option} {name}: the notebook declares {name}: {type_name}, got {text!r}; pass "
            f"{hint} (its default is {declared.get('default')})"
        )
    return value
