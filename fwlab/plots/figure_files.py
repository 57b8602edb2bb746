"""Figures as files: save any plotly figure of fwlab as PNG, SVG, PDF, HTML or JSON.

The format is the file's suffix. HTML is self-contained (plotly.js inlined: it opens offline,
and can be mailed or hosted); JSON is plotly's figure JSON (``plotly.io.read_json`` reads it
back). PNG, SVG and PDF are drawn by ``kaleido``, which drives a Chrome or Chromium installed
on the system (found on ``PATH``, e.g. Debian's ``/usr/bin/chromium``, or named by the
``BROWSER_PATH`` environment variable); fwlab never downloads a browser. Every file is written
atomically (a temporary file renamed over the target), so a killed save leaves the old file or
none, never half an image.

Every figure function of :mod:`fwlab.plots` returns a ``go.Figure`` (the widgets a
``go.FigureWidget``); both save with :func:`save_figure`, several at once (one browser start)
with :func:`save_figures`.

Example:
    >>> import tempfile, pathlib
    >>> from fwlab.plots import table_figure
    >>> fig = table_figure([dict(label="Frank-Wolfe K=5", task="har2", data="basicmotions",
    ...                          best_acc=80.0, final_acc=75.0, paper_acc=94.11)])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_figure(fig, pathlib.Path(folder) / "table.html")
    ...     path.name, b"<script src=" in path.read_bytes(), path.stat().st_size > 3_000_000
    ('table.html', False, True)
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from fwlab.util.atomic import atomic_write
from fwlab.util.validate import one_of

__all__ = ["FIGURE_FORMATS", "find_browser", "figure_bytes", "save_figure", "save_figures"]

#: suffix -> needs a browser (kaleido)
FIGURE_FORMATS: dict[str, bool] = {
    "png": True,
    "svg": True,
    "pdf": True,
    "html": False,
    "json": False,
}


def find_browser() -> str | None:
    """The Chrome/Chromium kaleido will use: ``$BROWSER_PATH`` if set, else the first Chromium
    based browser found on ``PATH`` or in the usual places; ``None`` if there is none."""
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env if os.access(env, os.X_OK) else None
    from choreographer.browsers.chromium import Chromium

    return Chromium.find_browser(skip_local=False)


def _format(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise ValueError(
            f"cannot tell the figure format of {str(path)!r}: its suffix must be one of "
            f"{', '.join('.' + f for f in FIGURE_FORMATS)}"
        )
    return fmt


def _check_figure(fig: Any) -> None:
    from plotly.basedatatypes import BaseFigure

    if not isinstance(fig, BaseFigure):
        raise TypeError(
            f"fig must be a plotly figure (go.Figure or go.FigureWidget), got "
            f"{type(fig).__name__}; fwlab.plots' functions return one"
        )


def _need_browser(fmt: str) -> None:
    if find_browser() is None:
        raise RuntimeError(
            f"saving {fmt.upper()} needs Chrome or Chromium (kaleido drives it) and none was "
            "found: install one (Debian: apt-get install chromium) or set BROWSER_PATH to its "
            "executable; .html and .json need no browser"
        )


def figure_bytes(
    fig: Any, fmt: str, *, width: int | None = None, height: int | None = None, scale: float = 1
) -> bytes:
    """The file content of ``fig`` in format ``fmt`` (a key of :data:`FIGURE_FORMATS`)."""
    import plotly.io as pio

    _check_figure(fig)
    if fmt == "html":
        return pio.to_html(fig, include_plotlyjs=True, full_html=True).encode()
    if fmt == "json":
        return pio.to_json(fig).encode()
    one_of("fmt", fmt, list(FIGURE_FORMATS))
    _need_browser(fmt)
    with _kaleido_server(), warnings.catch_warnings():
        # plotly passes kaleido options meant for a one-shot browser; the server has its own
        warnings.filterwarnings("ignore", "The kopts argument is ignored", UserWarning)
        try:
            return pio.to_image(fig, format=fmt, width=width, height=height, scale=scale)
        except Exception as err:  # noqa: BLE001 - only kaleido's page race is retried
            if _SCOPES_MISSING not in str(err):
                raise
            # kaleido 1.5 may take the JavaScript context of the tab's blank page for its own
            # script's (a race between two browser events that a busy machine loses): its
            # renderer is then "not defined". One more try, in a new browser when the browser
            # is fwlab's (a browser the caller started keeps its options); a second miss
            # raises, with this first one as its context.
            if _SERVER["ours"]:
                _restart_kaleido_server()
            return pio.to_image(fig, format=fmt, width=width, height=height, scale=scale)


#: what kaleido's error says when it called its renderer in the wrong page context
_SCOPES_MISSING = "kaleido_scopes is not defined"
#: whether the running kaleido browser was started by :func:`_kaleido_server` (not the caller)
_SERVER = {"ours": False}


def _restart_kaleido_server() -> None:
    import kaleido

    kaleido.stop_sync_server(silence_warnings=True)
    kaleido.start_sync_server(mathjax=False, silence_warnings=True)


@contextlib.contextmanager
def _kaleido_server() -> Iterator[None]:
    """A kaleido browser for the block (started once for several figures); MathJax off: it
    would be fetched from a CDN, and fwlab's figures write their math in Unicode."""
    import kaleido

    started = not kaleido._global_server.is_running()  # a server the caller started stays
    if started:
        kaleido.start_sync_server(mathjax=False, silence_warnings=True)
        _SERVER["ours"] = True
    try:
        yield
    finally:
        if started:
            _SERVER["ours"] = False
            kaleido.stop_sync_server(silence_warnings=True)


def save_figure(
    fig: Any,
    path: str | os.PathLike,
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float = 1,
) -> Path:
    """Write ``fig`` to ``path`` in the format of its suffix (``.png``, ``.svg``, ``.pdf``,
    ``.html``, ``.json``) atomically; returns the path.

    Args:
        fig: a plotly ``go.Figure`` or ``go.FigureWidget``.
        path: the file; its folder is created.
        width, height: image size in CSS pixels (default: the figure's own, else 700×500).
        scale: PNG pixels per CSS pixel (2 for a sharp slide).
    """
    path = Path(path)
    fmt = _format(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; give a file path such as fig.png")
    return atomic_write(path, figure_bytes(fig, fmt, width=width, height=height, scale=scale))


def save_figures(figures: Mapping[str | os.PathLike, Any], *, scale: float = 1) -> list[Path]:
    """Save ``path → figure`` pairs (:func:`save_figure` each), starting the browser once for
    all the images instead of once per image."""
    items = [(Path(p), fig) for p, fig in figures.items()]
    for path, fig in items:
        _format(path)
        _check_figure(fig)
    if not any(FIGURE_FORMATS[_format(p)] for p, _ in items):
        return [save_figure(fig, p) for p, fig in items]
    _need_browser(next(_format(p) for p, _ in items if FIGURE_FORMATS[_format(p)]))
    with _kaleido_server():
        return [save_figure(fig, p, scale=scale) for p, fig in items]
