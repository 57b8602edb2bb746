"""Figures as files (fwlab/plots/figure_files.py): every figure function of fwlab.plots saves as
PNG, SVG, HTML and JSON; errors name the problem. PNG/SVG need the system Chromium (skipped,
with the reason, when there is none; never downloaded)."""

from __future__ import annotations

import inspect
import json
import os
import re

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from torch.nn import functional as F

from fwlab import plots
from fwlab.data import load_task
from fwlab.plots import figure_files
from fwlab.plots.figure_files import find_browser, save_figure, save_figures
from fwlab.toy import figures as toy_figures
from fwlab.toy import step_zoom, trajectory
from fwlab.toy.lesson import k_sweep
from fwlab.train import TrainConfig, TrajectoryRecorder, build_model, fit, get_method
from fwlab.train.landscape import landscape

pytestmark = pytest.mark.slow


def _landscape():
    data = load_task("adding", seq_len=6, n_train=64, n_test=16, seed=0)
    method = get_method("fw_k5").replace(K=2, p=2.0, scope="global", outer="sgd")
    config = TrainConfig(hidden_size=4, batch_size=16, steps=6, lr=0.5, delta=0.5)
    model = build_model(method, data, config)
    rec = TrajectoryRecorder(inner=True)
    fit(method, data, config, model=model, callbacks=[rec], progress=False)
    return landscape(model, rec, data.test.tensors, F.mse_loss, resolution=3, threads=1)


def _history():
    data = load_task("adding", seq_len=6, n_train=64, n_test=16, seed=0)
    return fit(get_method("fw_k1"), data, TrainConfig(hidden_size=4, batch_size=16, steps=4),
               progress=False)  # fmt: skip


#: one small call of every figure function of fwlab.plots
BUILDERS = {
    "lmo_ball_figure": lambda: plots.lmo_ball_figure(grad=(1.0, 0.4), radius=0.5),
    "trajectory_figure": lambda: plots.trajectory_figure(
        "himmelblau", trajectory("himmelblau", lr=0.8, delta=0.4, K=2, steps=5), grid=30
    ),
    "table_figure": lambda: plots.table_figure(
        [
            dict(
                label="Frank-Wolfe K=5",
                task="har2",
                data="basicmotions",
                best_acc=80.0,
                final_acc=75.0,
                paper_acc=94.11,
            )
        ]  # fmt: skip
    ),
    "landscape_figure": lambda: plots.landscape_figure(_landscape()),
    "training_figure": lambda: plots.training_figure({"Frank-Wolfe K=1": _history()}),
    "seed_bands_figure": lambda: plots.seed_bands_figure(
        {
            "live": {"runs": {"fw_k1": {20: _history()}}},
            "recorded": {"runs": {"fw_k1": {10: _history(), 11: _history()}}},
        },
        ["fw_k1"],
        hlines=[(1 / 6, "plateau")],
    ),  # fmt: skip
    "tuning_figure": lambda: _tuning_figure(),
}


def _tuning_figure():
    from fwlab.experiments.tuning import select

    rows = [dict(run="sgd", lr=lr, seed=s, valid_loss=v) for lr, s, v in
            [(0.1, 1, 0.5), (0.1, 2, 0.7), (1.0, 1, 0.2), (1.0, 2, float("nan"))]]  # fmt: skip
    table = dict(rows=rows, runs=["sgd"], lrs=[0.1, 1.0], seeds=[1, 2], fixed_lr=0.1,
                 metric={"key": "valid_loss", "higher_is_better": False})  # fmt: skip
    sel = select(rows, runs=["sgd"], lrs=[0.1, 1.0], seeds=[1, 2], reporting_seeds=[0])
    return plots.tuning_figure(table, sel, labels={"sgd": "BPTT+Adam"})


#: and of fwlab.toy.figures (the lesson's figures)
TOY_BUILDERS = {
    "step_zoom_figure": lambda: toy_figures.step_zoom_figure(
        step_zoom("rosenbrock", delta=0.5, p=2, K=4), 2
    ),
    "lmo_figure": lambda: toy_figures.lmo_figure(30.0, 1.0),
    "k_sweep_figure": lambda: toy_figures.k_sweep_figure(
        k_sweep(
            "quadratic",
            trajectory("quadratic", lr=0.5, delta=0.2, K=2, steps=5).centers,
            delta=0.5,
            p=2,
            Ks=(1, 2),
        )  # fmt: skip
    ),
    "paths_figure": lambda: toy_figures.paths_figure(
        "quadratic", {"K=2": trajectory("quadratic", lr=0.5, delta=0.2, K=2, steps=5)}
    ),
    "lr_delta_figure": lambda: toy_figures.lr_delta_figure(
        {"K = 1": np.array([[1.0, 2.0], [3.0, 4.0]])}, [0.1, 1.0], [0.1, 1.0]
    ),
    "lines_figure": lambda: toy_figures.lines_figure(
        [1, 2, 3],
        {"a": [1.0, 0.5, 0.7], "b": [1.0, 0.9, 0.8]},
        x_title="K",
        y_title="length",
        highlight="a",
        log_y=True,
    ),  # fmt: skip
}


def figure_functions(module) -> set[str]:
    return {
        name
        for name, obj in vars(module).items()
        if name.endswith("_figure")
        and not name.startswith(("_", "style_"))
        and inspect.isfunction(obj)
        and obj.__module__.startswith(module.__name__)
    }


@pytest.fixture(scope="module")
def figures():
    return {name: build() for name, build in {**BUILDERS, **TOY_BUILDERS}.items()}


def test_the_builders_cover_every_figure_function():
    assert set(BUILDERS) == figure_functions(plots)
    assert set(TOY_BUILDERS) == figure_functions(toy_figures)


def test_every_figure_saves_as_html_and_json_offline(figures, tmp_path):
    for name, fig in figures.items():
        html = save_figure(fig, tmp_path / f"{name}.html").read_text()
        assert "Plotly.newPlot" in html and len(html) > 3_000_000  # plotly.js inlined ...
        assert not re.search(r"<script[^>]*\bsrc=", html)  # ... nothing fetched
        back = pio.read_json(save_figure(fig, tmp_path / f"{name}.json"))
        assert [t.type for t in back.data] == [t.type for t in fig.data]
        assert len(back.data) == len(fig.data) > 0


def test_every_figure_saves_as_svg_and_png_with_the_system_browser(figures, tmp_path):
    if find_browser() is None:
        pytest.skip("no Chrome/Chromium (install Debian's chromium or set BROWSER_PATH)")
    paths = {tmp_path / f"{name}.svg": fig for name, fig in figures.items()}
    paths[tmp_path / "training.png"] = figures["training_figure"]
    written = save_figures(paths, scale=1)
    assert written == list(paths)
    for path in written[:-1]:
        svg = path.read_text()
        assert svg.startswith("<svg") and "</svg>" in svg and len(svg) > 2000, path
    png = written[-1].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (700, 560)  # the training figure's height, kaleido's width
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_save_errors_name_the_problem(tmp_path, monkeypatch):
    fig = go.Figure(go.Scatter(y=[1, 2]))
    with pytest.raises(ValueError, match=r"suffix must be one of \.png"):
        save_figure(fig, tmp_path / "fig.jpeg2")
    with pytest.raises(TypeError, match="must be a plotly figure"):
        save_figure({"data": []}, tmp_path / "fig.html")
    (tmp_path / "dir.svg").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save_figure(fig, tmp_path / "dir.svg")
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chrome"))
    with pytest.raises(RuntimeError, match="needs Chrome or Chromium.*BROWSER_PATH"):
        save_figure(fig, tmp_path / "fig.png")
    with pytest.raises(RuntimeError, match="needs Chrome or Chromium"):
        save_figures({tmp_path / "a.html": fig, tmp_path / "b.svg": fig})
    assert not (tmp_path / "a.html").exists()  # checked before anything is written
    save_figure(fig, tmp_path / "ok.html")  # HTML needs no browser
    json.loads(save_figure(fig, tmp_path / "ok.json").read_text())


class _FakeJavascriptError(RuntimeError):
    """What kaleido raises when its renderer is called in the tab's blank page."""


@pytest.mark.parametrize("ours", [True, False], ids=["fwlab-browser", "caller-browser"])
def test_kaleidos_page_race_is_retried_once(monkeypatch, ours):
    """Retried once: in a new browser when fwlab started the browser, in the same one when the
    caller did (its options stay); a second miss raises with the first as its context."""
    import kaleido

    calls = {"to_image": 0, "start": 0, "stop": 0}
    monkeypatch.setattr(kaleido._global_server, "is_running", lambda: not ours)
    monkeypatch.setattr(kaleido, "start_sync_server", lambda **_: calls.__setitem__(
        "start", calls["start"] + 1))  # fmt: skip
    monkeypatch.setattr(kaleido, "stop_sync_server", lambda **_: calls.__setitem__(
        "stop", calls["stop"] + 1))  # fmt: skip
    monkeypatch.setattr(figure_files, "_need_browser", lambda fmt: None)
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 0]))

    def flaky(fig, **kwargs):
        calls["to_image"] += 1
        if calls["to_image"] == 1:
            raise _FakeJavascriptError("{'description': 'ReferenceError: kaleido_scopes is "
                                       "not defined\\n    at <anonymous>:1:26'}")  # fmt: skip
        return b"\x89PNG drawn"

    monkeypatch.setattr(pio, "to_image", flaky)
    assert figure_files.figure_bytes(fig, "png") == b"\x89PNG drawn"
    # fwlab's browser: started, restarted once (stop + start), stopped; the caller's: untouched
    expected = {"start": 2, "stop": 2} if ours else {"start": 0, "stop": 0}
    assert calls == {"to_image": 2, **expected}
    assert not figure_files._SERVER["ours"]

    def always(fig, **kwargs):
        calls["to_image"] += 1
        raise _FakeJavascriptError(f"ReferenceError: kaleido_scopes is not defined ({calls})")

    calls.update(to_image=0)
    monkeypatch.setattr(pio, "to_image", always)
    with pytest.raises(_FakeJavascriptError, match="kaleido_scopes") as second:
        figure_files.figure_bytes(fig, "png")
    assert calls["to_image"] == 2 and "kaleido_scopes" in str(second.value.__context__)

    def other(fig, **kwargs):
        raise ValueError("another kaleido error")

    calls.update(start=0, stop=0)
    monkeypatch.setattr(pio, "to_image", other)
    with pytest.raises(ValueError, match="another kaleido error"):  # not retried
        figure_files.figure_bytes(fig, "png")
    assert calls["start"] == calls["stop"] == (1 if ours else 0)  # only the block's own browser
