"""Command-line values, parameter grids and the folder name of a grid point."""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


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


def _split_top_level(text: str, spec: str = "") -> list[str]:
    """Split on commas that are outside brackets and quotes: ``"[1,2],3"`` -> two items.

    Unbalanced brackets and an unclosed quote raise ``ValueError`` naming ``spec``.
    """
    closing = {"(": ")", "[": "]", "{": "}"}
    items, stack, quote, current = [], [], "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in closing:
            stack.append(closing[ch])
        elif ch in ")]}":
            if not stack or stack.pop() != ch:
                raise ValueError(
                    f"--grid {spec}: unbalanced brackets (an unexpected {ch!r}); quote a value "
                    "that holds brackets as text"
                )
        elif ch == "," and not stack:
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    if stack:
        raise ValueError(f"--grid {spec}: unbalanced brackets ({stack[-1]!r} is missing)")
    if quote:
        raise ValueError(
            f"--grid {spec}: unclosed quote {quote}; close it, or quote the whole value with the "
            "other kind of quote"
        )
    items.append("".join(current))
    return items


def parse_grid(
    specs: Iterable[str], declared: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, list[Any]]:
    """Parse ``--grid NAME=v1,v2`` options into ``{NAME: [v1, v2]}``.

    Values are split at the commas outside brackets and quotes. With ``declared`` (a notebook's
    :func:`fwlab.runs.params.notebook_parameters`), each value is parsed by its parameter's declared
    type (:func:`fwlab.runs.params.parse_typed`: ``K: int`` refuses ``abc``, ``tag: str`` keeps
    ``007``); without it, or for an undeclared name, by :func:`parse_value`. An empty value
    (``K=1,``), unbalanced brackets or an unclosed quote raise ``ValueError``.

    Example:
        >>> parse_grid(["K=1,5,10", "p=2,inf", "hidden=[8,8],[16]"])
        {'K': [1, 5, 10], 'p': [2, inf], 'hidden': [[8, 8], [16]]}
        >>> parse_grid(["tag=007,a"], {"tag": {"inferred_type_name": "str", "default": "'x'"}})
        {'tag': ['007', 'a']}
    """
    from fwlab.runs.params import parse_typed

    declared = declared or {}
    axes: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not values.strip():
            raise ValueError(f"--grid expects NAME=v1,v2,..., got {spec!r}")
        if name in axes:
            raise ValueError(f"--grid {name} is given twice; put all its values in one option")
        parsed = [
            parse_typed(name, v.strip(), declared.get(name), fallback=parse_value, option="--grid")
            for v in _split_top_level(values, spec)
        ]
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
