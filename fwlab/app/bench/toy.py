"""The playground's recompute + redraw: FrankWolfe and the three baselines, trace data, one
``batch_update``."""

from __future__ import annotations

from typing import Any

from fwlab.app.bench.config import BenchConfig, _median, _timed


def bench_toy_recompute_ms(cfg: BenchConfig) -> tuple[float, dict[str, Any]]:
    """The playground's recompute + redraw, in milliseconds.

    What :meth:`widgets.TrajectoryExplorer.recompute` does, built from the same fwlab pieces
    (fwlab does not import ``widgets``): Frank-Wolfe and the three baselines through
    :func:`fwlab.toy.trajectory`, :func:`fwlab.plots.trajectory_trace_data`, and the update of
    every trace inside one ``batch_update`` of the figure (a ``go.Figure`` here: there is no
    widget front end to talk to).
    """
    from fwlab.plots import trajectory_figure, trajectory_trace_data
    from fwlab.toy import get_loss, trajectory

    spec = get_loss("rosenbrock")
    x0, lr, delta = spec.start, 0.5, spec.delta
    visible = {"gd": True, "ngd": True, "adam": True}

    def compute():
        fw = trajectory(spec, x0, method="fw", lr=lr, delta=delta, K=cfg.toy_K, steps=cfg.toy_steps)
        baselines = {
            "gd": trajectory(spec, x0, method="gd", lr=spec.gd_lr, steps=cfg.toy_steps),
            "ngd": trajectory(spec, x0, method="ngd", lr=lr, delta=delta, steps=cfg.toy_steps),
            "adam": trajectory(spec, x0, method="adam", lr=lr * delta, steps=cfg.toy_steps),
        }
        return fw, baselines

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
