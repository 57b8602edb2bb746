"""The playground's recompute + redraw: FrankWolfe and the three baselines, trace data, one
``batch_update``."""

from __future__ import annotations

from typing import Any

from fwlab.app.bench.config import BenchConfig, _median, _timed


def bench_toy_recompute_ms(cfg: BenchConfig) -> tuple[float, dict[str, Any]]:
    """The playground's recompute + redraw, in milliseconds.

    What :meth:`widgets.TrajectoryExplorer.recompute` does, built from the same fwlab pieces
    (fwlab does not import ``widgets``): :func:`fwlab.toy.playground_trajectories`,
    :func:`fwlab.plots.trajectory_trace_data`, and the update of every trace inside one
    ``batch_update`` of the figure (a ``go.Figure`` here: there is no widget front end to talk to).
    """
    from fwlab.plots import trajectory_figure, trajectory_trace_data
    from fwlab.toy import get_loss, playground_trajectories

    spec = get_loss("rosenbrock")
    visible = {"gd": True, "ngd": True, "adam": True}

    def compute():
        return playground_trajectories(spec, lr=0.5, K=cfg.toy_K, steps=cfg.toy_steps)

    fw, baselines = compute()
    fig = trajectory_figure(spec, fw, baselines, visible=visible)
    traces = {t.meta: t for t in fig.data}

    def recompute() -> None:
        fw, baselines = compute()
        data = trajectory_trace_data(spec, fw, baselines, visible=visible)
        with fig.batch_update():
            for uid, props in data.items():
                traces[uid].update(props)

    recompute()
    per_repeat, compute_only = [], []
    for _ in range(cfg.repeats):
        per_repeat.append(_median([_timed(recompute) for _ in range(cfg.toy_calls)]))
        compute_only.append(_median([_timed(compute) for _ in range(cfg.toy_calls)]))
    details = {
        "compute_ms": 1e3 * _median(compute_only),
        "settings": f"rosenbrock, FW {cfg.toy_steps} steps x K={cfg.toy_K} + GD, NGD, Adam, "
        "trace data and one batch_update of a go.Figure",
    }
    return 1e3 * _median(per_repeat), details
