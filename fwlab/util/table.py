"""Plain-text tables: left-aligned columns as wide as their widest cell, a rule under the header."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(
    rows: Sequence[Sequence[str]],
    *,
    sep: str = "  ",
    rule_sep: str | None = None,
    strip: bool = True,
) -> list[str]:
    """The lines of ``rows`` (the header first, every cell a string) as a text table.

    Cells are left-aligned in columns as wide as their widest cell and joined by ``sep``; a rule of
    dashes, joined by ``rule_sep`` (default: ``sep``), goes under the header. ``strip`` drops the
    spaces that pad the last column.

    Example:
        >>> print("\\n".join(text_table([["K", "loss"], ["1", "0.25"], ["10", "-"]], sep=" | ",
        ...                             rule_sep="-+-")))
        K  | loss
        ---+-----
        1  | 0.25
        10 | -
    """
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [sep.join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    if strip:
        lines = [line.rstrip() for line in lines]
    lines.insert(1, (sep if rule_sep is None else rule_sep).join("-" * w for w in widths))
    return lines
