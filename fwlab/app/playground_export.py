r"""``fwlab export-playground FILE.html``: the trust-region playground as one self-contained page.

The page is the playground's figure (:func:`fwlab.plots.trajectory_figure`: contour with the
Frank-Wolfe path, inner points and δ-balls, normalized GD/GD/Adam baselines, loss and FW-gap
panels) with three sliders, δ, K and p. Every combination of the grid is precomputed by the
same functions the live playground uses (:func:`fwlab.toy.trajectory` and
:func:`fwlab.plots.trajectory_trace_data`) and stored as one plotly animation frame; a slider
move shows the frame of the sliders' current values. plotly.js is inlined, so the page needs no
Python, no kernel and no network: a teacher can mail it or put it on any web server.

Size grows with ``len(deltas) × len(Ks) × len(ps) × steps``; the default grid (5 × 4 × 5
combinations, 60 steps) gives a page of about 8 MB, 4.8 MB of it plotly.js.

Example:
    >>> page = playground_html("quadratic", deltas=[0.2, 0.5], Ks=[1, 5], ps=[2.0], steps=5)
    >>> page.count('"name":"delta|'), "Plotly.animate" in page, "<script src=" in page
    (4, True, False)
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fwlab.toy import loss_names
from fwlab.util import argtypes
from fwlab.util.validate import p_exponent, positive_float, positive_int

__all__ = [
    "DEFAULT_KS",
    "DEFAULT_PS",
    "default_deltas",
    "playground_figure",
    "playground_html",
    "export_playground",
    "command",
    "run_cli",
]

DEFAULT_KS: tuple[int, ...] = (1, 2, 5, 10)
DEFAULT_PS: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, math.inf)
_SLIDERS = ("delta", "K", "p")
_LABELS = {"delta": "δ (radius) = ", "K": "K (inner) = ", "p": "p (norm) = "}
#: baselines as in the playground: normalized GD shown, GD and Adam a legend click away
_VISIBLE = {"ngd": True, "gd": "legendonly", "adam": "legendonly"}


def default_deltas(loss: str) -> tuple[float, ...]:
    """Five radii around the loss's demo radius: ×¼, ×½, ×1, ×2, ×4 (3 significant digits)."""
    from fwlab.toy import get_loss

    d = get_loss(loss).delta
    return tuple(float(f"{d * f:.3g}") for f in (0.25, 0.5, 1.0, 2.0, 4.0))


def _frame_name(i: int, j: int, k: int) -> str:
    return f"delta|{i}|K|{j}|p|{k}"


def _check_grid(
    deltas: Sequence[float], Ks: Sequence[int], ps: Sequence[float]
) -> tuple[list[float], list[int], list[float]]:
    """The grid's values by the rules of :mod:`fwlab.util.validate`, as plain numbers."""
    for name, values in (("deltas", deltas), ("Ks", Ks), ("ps", ps)):
        if len(values) == 0:
            raise ValueError(f"{name} must hold at least one value, got none")
    return (
        [positive_float("delta", d) for d in deltas],
        [positive_int("K", K) for K in Ks],
        [p_exponent("p", p) for p in ps],
    )


def playground_figure(
    loss: str = "rosenbrock",
    *,
    deltas: Sequence[float] | None = None,
    Ks: Sequence[int] = DEFAULT_KS,
    ps: Sequence[float] = DEFAULT_PS,
    lr: float = 0.5,
    steps: int = 60,
    x0: tuple[float, float] | None = None,
    grid: int = 100,
) -> Any:
    """The playground as a ``go.Figure`` with one frame per (δ, K, p) and three sliders.

    Args:
        loss: a toy loss (:func:`fwlab.toy.loss_names`).
        deltas, Ks, ps: the slider values (``deltas`` default: :func:`default_deltas`).
        lr: η, the outer step; steps: outer steps T; x0: start (default: the loss's).
        grid: contour points per axis.

    The figure starts at the middle of each slider; its frames are named
    ``"delta|i|K|j|p|k"`` (indices into the value lists). The sliders do nothing by themselves
    (``method="skip"``): the page's script (:func:`playground_html`) animates to the frame of
    the three current values.
    """
    from fwlab.plots import format_p, trajectory_figure, trajectory_trace_data
    from fwlab.toy import get_loss, playground_trajectories

    spec = get_loss(loss)
    deltas = list(default_deltas(spec.name) if deltas is None else deltas)
    Ks, ps = list(Ks), list(ps)
    deltas, Ks, ps = _check_grid(deltas, Ks, ps)
    start = spec.start if x0 is None else x0

    def runs(delta: float, K: int, p: float):
        return playground_trajectories(spec, start, lr=lr, delta=delta, K=K, p=p, steps=steps)

    middle = (len(deltas) // 2, len(Ks) // 2, len(ps) // 2)
    fw0, base0 = runs(deltas[middle[0]], Ks[middle[1]], ps[middle[2]])
    fig = trajectory_figure(spec, fw0, base0, grid=grid)
    index = {tr.meta: n for n, tr in enumerate(fig.data)}
    for m, shown in _VISIBLE.items():
        for part in ("path", "loss"):
            fig.data[index[f"{part}:{m}"]].visible = shown

    frames = []
    for (i, delta), (j, K), (k, p) in itertools.product(*map(enumerate, (deltas, Ks, ps))):
        data = trajectory_trace_data(spec, *runs(delta, K, p))
        metas = [m for m in data if m in index]
        traces = []
        for meta in metas:
            props = {key: _compact(v) for key, v in data[meta].items()}
            if meta.split(":")[-1] in _VISIBLE:
                props["visible"] = _VISIBLE[meta.split(":")[-1]]
            traces.append({"type": "scatter", **props})
        title = (
            f"{spec.title} — Frank-Wolfe δ = {delta:g}, K = {K}, p = {format_p(p)}, η = {lr:g}, "
            f"{steps} steps"
        )
        layout = {"title": {"text": title}}
        ids = [index[m] for m in metas]
        frames.append(
            {"name": _frame_name(i, j, k), "data": traces, "traces": ids, "layout": layout}
        )
    fig.frames = frames
    values = {"delta": [f"{d:g}" for d in deltas], "K": [str(K) for K in Ks]}
    values["p"] = [format_p(p) for p in ps]
    fig.update_layout(
        height=640,
        margin={"b": 170},
        legend={"y": -0.32},
        sliders=[
            {
                "name": name,
                "active": middle[n],
                "currentvalue": {"prefix": _LABELS[name]},
                "steps": [
                    {"label": label, "value": str(v), "method": "skip", "args": [None]}
                    for v, label in enumerate(values[name])
                ],
                "x": 0.0 + 0.34 * n,
                "len": 0.3,
                "y": -0.02,
                "yanchor": "top",
                "pad": {"t": 30},
            }
            for n, name in enumerate(_SLIDERS)
        ],
    )
    return fig


def _compact(value: Any) -> Any:
    """Arrays as lists of floats with 5 significant digits (NaN → None): about a third of
    plotly's float64 encoding, and exact enough for a figure."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            return [None if not math.isfinite(v) else float(f"{v:.5g}") for v in value.tolist()]
        return value.tolist()
    return value


# the page's script: the three sliders pick one frame (names as in _frame_name)
_SCRIPT = """
var gd = document.getElementById('{plot_id}');
var order = ORDER;
var chosen = {};
gd.layout.sliders.forEach(function (s) { chosen[s.name] = String(s.active || 0); });
gd.on('plotly_sliderchange', function (e) {
  chosen[e.slider.name] = String(e.step.value);
  var name = order.map(function (s) { return s + '|' + chosen[s]; }).join('|');
  Plotly.animate(gd, [name], {mode: 'immediate', frame: {duration: 0, redraw: true},
                              transition: {duration: 0}});
});
""".replace("ORDER", json.dumps(list(_SLIDERS)))


def playground_html(loss: str = "rosenbrock", **options: Any) -> str:
    """The self-contained HTML page of :func:`playground_figure` (options as there), plotly.js
    inlined and the slider script included."""
    import plotly.io as pio

    fig = playground_figure(loss, **options)
    return pio.to_html(
        fig,
        include_plotlyjs=True,
        full_html=True,
        auto_play=False,
        post_script=_SCRIPT,
        config={"displaylogo": False},
        div_id="fwlab-playground",
    )


def export_playground(path: str | os.PathLike, loss: str = "rosenbrock", **options: Any) -> Path:
    """Write :func:`playground_html` to ``path`` atomically; returns the path."""
    from fwlab.util.atomic import atomic_write

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; give a file such as playground.html")
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"the page must be an .html file, got {str(path)!r}")
    from fwlab.util.outdir import check_output_dir

    check_output_dir(path.parent, option="the page's folder")  # before seconds of work
    return atomic_write(path, playground_html(loss, **options).encode())


# ---------------------------------------------------------------------------- command line
def _floats(value: str) -> list[float]:
    try:
        out = [math.inf if v.strip() in ("inf", "∞") else float(v) for v in value.split(",")]
    except ValueError:
        raise ValueError(
            f"must be comma-separated numbers such as 0.1,0.3,1, got {value!r}"
        ) from None
    return out


def _ints(value: str) -> list[int]:
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise ValueError(f"must be comma-separated integers such as 1,2,5, got {value!r}") from None


#: ``fwlab export-playground FILE.html`` (argtypes: the validate rules' names are taken here)
command = argtypes.Command(
    "export-playground",
    lambda args: run_cli(args),  # defined below
    [
        argtypes.Argument(
            ["file"], type=argtypes.path_type, metavar="FILE.html", help="the page to write"
        ),
        argtypes.Option(
            ["--loss", "loss"], type=argtypes.choice(loss_names()), default="rosenbrock",
            help="toy loss",
        ),
        argtypes.Option(
            ["--deltas", "deltas"], type=argtypes.checked(_floats, "floats"), default=None,
            help="δ values (default: ×¼..×4 the loss's δ)",
        ),
        argtypes.Option(
            ["--Ks", "Ks"], type=argtypes.checked(_ints, "ints"), default=list(DEFAULT_KS),
            help="K values",
        ),
        argtypes.Option(
            ["--ps", "ps"], type=argtypes.checked(_floats, "floats"), default=list(DEFAULT_PS),
            help="p values (inf ok)",
        ),
        argtypes.Option(
            ["--lr", "lr"], type=argtypes.nonnegative_float, default=0.5,
            help="η, the outer step",
        ),
        argtypes.Option(
            ["--steps", "steps"], type=argtypes.positive_int, default=60, help="outer steps T"
        ),
    ],
    show_default=True,
)  # fmt: skip


def run_cli(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    path = export_playground(
        args.file,
        args.loss,
        deltas=args.deltas,
        Ks=args.Ks,
        ps=args.ps,
        lr=args.lr,
        steps=args.steps,
    )  # fmt: skip  (failures: one line, fwlab.util.failure)
    n = len(args.deltas or default_deltas(args.loss)) * len(args.Ks) * len(args.ps)
    size = path.stat().st_size / 1e6
    print(f"{path}: {n} precomputed settings, {size:.1f} MB, {time.perf_counter() - t0:.1f} s")
    return 0
