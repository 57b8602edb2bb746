"""pytest plugin for nbval's runs on the golden copies (tests/golden/golden.py:compare).

nbval compares every MIME type of an output except those in its ``skip_compare`` list (widget
views, whose model ids are random, and images). This adds plotly's figure JSON: it holds every
float of a figure's traces and plotly's template, which changes with plotly releases; the numbers
a figure draws are printed by the notebooks and compared there. The sanitizer replaces the
figure's HTML version by ``<plotly figure>``, so that a figure is still checked to be there.

At the end it prints how many cells nbval compared and how many it ran without comparing
(``# NBVAL_IGNORE_OUTPUT``).
"""

from __future__ import annotations

import pytest

NOT_COMPARED = ("application/vnd.plotly.v1+json",)


def _nbval_cells(items):
    from nbval.plugin import IPyNbCell

    return [item for item in items if isinstance(item, IPyNbCell)]


def pytest_collection_modifyitems(session, config, items):
    cells = _nbval_cells(items)
    for cell in cells:
        if not set(NOT_COMPARED) <= set(cell.parent.skip_compare):
            cell.parent.skip_compare = tuple(cell.parent.skip_compare) + NOT_COMPARED
    config.stash[_COUNTS] = (
        sum(1 for c in cells if c.options["check"]),
        sum(1 for c in cells if not c.options["check"]),
    )


_COUNTS = pytest.StashKey[tuple]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    compared, ignored = config.stash.get(_COUNTS, (0, 0))
    terminalreporter.write_line(
        f"nbval: {compared} cells' outputs compared, {ignored} run with NBVAL_IGNORE_OUTPUT"
    )
