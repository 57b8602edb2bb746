"""``fwlab export-playground`` (fwlab/app/playground_export.py): the frames hold the playground's
own
trace data for every (δ, K, p); the page works offline in headless Chromium and its sliders
change the plotted trajectory."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fwlab.app.cli import main
from fwlab.app.playground_export import export_playground, playground_figure
from fwlab.toy import trajectory
from tests.browser_tools import CHROMIUM_ARGS, chromium, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "test-output" / "export_playground.png"
GRID = dict(deltas=[0.1, 0.3, 0.9], Ks=[1, 5], ps=[1.0, math.inf], steps=8)


def test_one_frame_per_setting_with_the_playgrounds_trajectory():
    fig = playground_figure("himmelblau", **GRID, lr=0.7, grid=20)
    assert len(fig.frames) == 3 * 2 * 2
    names = [f.name for f in fig.frames]
    assert names[0] == "delta|0|K|0|p|0" and len(set(names)) == 12
    metas = [t.meta for t in fig.data]
    frame = next(f for f in fig.frames if f.name == "delta|2|K|1|p|1")
    fw = trajectory("himmelblau", lr=0.7, delta=0.9, K=5, p=math.inf, steps=8)
    path = frame.data[frame.traces.index(metas.index("path:fw"))]
    np.testing.assert_allclose(path.x, fw.iterates[:, 0], rtol=1e-4)
    np.testing.assert_allclose(path.y, fw.iterates[:, 1], rtol=1e-4)
    inner = frame.data[frame.traces.index(metas.index("inner"))]
    assert len(inner.x) == 8 * 5  # steps × K inner points
    assert "δ = 0.9, K = 5, p = ∞" in frame.layout.title.text
    assert [s.name for s in fig.layout.sliders] == ["delta", "K", "p"]
    assert [s.label for s in fig.layout.sliders[2].steps] == ["1", "∞"]
    assert [s.active for s in fig.layout.sliders] == [1, 1, 1]  # starts in the middle
    # the starting figure is the middle frame
    middle = next(f for f in fig.frames if f.name == "delta|1|K|1|p|1")
    got = fig.data[metas.index("path:fw")]
    want = middle.data[middle.traces.index(metas.index("path:fw"))]
    np.testing.assert_allclose(got.x, want.x, rtol=1e-4)


@pytest.mark.parametrize(
    "grid, match",
    [
        (dict(deltas=[]), "deltas must hold at least one value"),
        (dict(Ks=[0]), "^K must be an integer >= 1, got 0; pass e.g. K=1$"),
        (dict(ps=[0.5]), "^p must be a number >= 1 or 'inf', got 0.5; pass e.g. p=2$"),
        (dict(deltas=[-1.0]), "^delta must be a finite number > 0, got -1.0; pass e.g. delta=1$"),
    ],
)
def test_bad_grids_are_refused(grid, match):
    with pytest.raises(ValueError, match=match):
        playground_figure("quadratic", **{**GRID, **grid})


def test_cli_writes_the_page_and_refuses_bad_paths(tmp_path, capsys):
    out = tmp_path / "page.html"
    assert main(["export-playground", str(out), "--loss", "quadratic", "--deltas", "0.2,0.5",
                 "--Ks", "1,3", "--ps", "2,inf", "--steps", "4"]) == 0  # fmt: skip
    assert "8 precomputed settings" in capsys.readouterr().out
    page = out.read_text()
    assert page.count('"name":"delta|') == 8 and "<script src=" not in page
    assert main(["export-playground", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["export-playground", str(tmp_path / "page.txt"), "--steps", "2"]) == 2
    assert "must be an .html file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export-playground", str(out), "--Ks", "1,two"])
    assert "comma-separated integers" in capsys.readouterr().err


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_exported_page_works_offline_in_chromium_and_its_sliders_move(tmp_path):
    executable = chromium()
    page_file = export_playground(tmp_path / "playground.html", "rosenbrock", **GRID)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
            page = context.new_page()
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            page.wait_for_function(
                "() => { const gd = document.getElementById('fwlab-playground');"
                " return gd && gd._transitionData && gd._transitionData._frames.length === 12; }",
                timeout=60_000,
            )
            path_index = page.evaluate(
                "() => document.getElementById('fwlab-playground').data"
                ".findIndex(t => t.meta === 'path:fw')"
            )
            read = (
                "i => { const t = document.getElementById('fwlab-playground').data[i];"
                " return JSON.stringify([Array.from(t.x), Array.from(t.y)]); }"
            )
            title = page.locator(".gtitle")
            seen = [page.evaluate(read, path_index)]
            assert "δ = 0.3, K = 5, p = ∞" in title.text_content()  # the middle of each slider
            for n, (step, text) in enumerate([(0, "δ = 0.1,"), (0, "K = 1,"), (0, "p = 1,")]):
                slider = page.locator("g.slider-group").nth(n)
                box = slider.locator("rect.slider-tick-rect").nth(step).bounding_box()
                rail = slider.locator("rect.slider-rail-touch-rect").bounding_box()
                page.mouse.click(box["x"] + box["width"] / 2, rail["y"] + rail["height"] / 2)
                page.wait_for_function(
                    "t => document.querySelector('.gtitle').textContent.includes(t)",
                    arg=text,
                    timeout=30_000,
                )
                seen.append(page.evaluate(read, path_index))
                assert seen[-1] != seen[-2], f"slider {n} did not change the trajectory"
            assert "δ = 0.1, K = 1, p = 1," in title.text_content()
            page.mouse.move(5, 5)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()
    assert not errors, errors
    assert all(u.startswith("file://") for u in requests), requests  # nothing fetched
    xs, ys = json.loads(seen[-1])
    fw = trajectory("rosenbrock", lr=0.5, delta=0.1, K=1, p=1.0, steps=8)
    np.testing.assert_allclose(xs, fw.iterates[:, 0], rtol=1e-4)
    np.testing.assert_allclose(ys, fw.iterates[:, 1], rtol=1e-4)
    assert SCREENSHOT.stat().st_size > 10_000
