"""What the browser tests share: the system Chromium (never downloaded), its flags, a free port.

Tests skip, with the reason, when Chromium or Python playwright is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from fwlab.plots.figure_files import find_browser
from tests.process_tools import dies_with_test

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# anywidget (0.9-0.11) gives each widget model 2 s, from the moment its comm opens in the page,
# to load its JavaScript module; past that, the model's `ready` promise is rejected and every
# later message from the kernel to that model is dropped. plotly's FigureWidget ships its 5 MB
# bundle inline, parsed once per figure: on 2 busy cores that takes longer than 2 s now and then,
# and the figure then never follows its sliders (the kernel side recomputes; the status line
# shows it). Measured before the explorer learnt to recover: with the deadline cut to 1 ms the
# explorer never redrew (1 of 1); at 120 s it redrew 8 of 8 under the same load; at 2 s it failed
# 2 of 6. So the tests set the deadline themselves instead of leaving it to the machine's load:
# the Voila test makes the widgets created on load miss it (the explorer must recover), the
# JupyterLab test lifts it (README: Troubleshooting).
ANYWIDGET_DEADLINE_MS = 2000
SET_ANYWIDGET_DEADLINE = """(() => {
  const timeout = AbortSignal.timeout.bind(AbortSignal);
  window.__anywidgetDeadlineMs = %d;
  AbortSignal.timeout = (ms) => timeout(ms === %d ? window.__anywidgetDeadlineMs : ms);
})()"""


def lift_anywidget_deadline(page, ms: int = 300_000) -> None:
    """Give anywidget models ``ms`` instead of 2 s to load their module on ``page`` (see above);
    call before the page loads. ``ms=1`` makes every model created on load miss it (the failure
    on a busy machine, at will); ``set_anywidget_deadline`` changes it later."""
    page.add_init_script(SET_ANYWIDGET_DEADLINE % (ms, ANYWIDGET_DEADLINE_MS))


def set_anywidget_deadline(page, ms: int) -> None:
    """The module deadline of the widgets the page creates from now on (after
    ``lift_anywidget_deadline``)."""
    page.evaluate(f"window.__anywidgetDeadlineMs = {int(ms)}")


def chromium() -> str:
    """The Chromium to drive (Debian's /usr/bin/chromium, or $BROWSER_PATH); skips if none."""
    path = find_browser()
    if path is None:
        pytest.skip("no Chromium: install Debian's `chromium` (bash .ci/setup --browser does)")
    return path


def sync_playwright():
    """playwright's ``sync_playwright`` (skips when Python playwright is not installed)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Python playwright is not installed (pip install playwright; no browser)")
    return sync_playwright()


@contextlib.contextmanager
def chromium_page(executable: str, viewport: tuple[int, int], errors: list[str]) -> Iterator[Any]:
    """A page of headless Chromium ``executable`` (:func:`chromium`), ``viewport`` (width,
    height) pixels, its uncaught JavaScript errors appended to ``errors``, anywidget's module
    deadline lifted before it loads (:func:`lift_anywidget_deadline`); the browser is closed
    after the block. Skips when Python playwright is missing."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.on("pageerror", lambda err: errors.append(str(err)))
            lift_anywidget_deadline(page)
            yield page
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(server, url: str, what: str, log_name: str, timeout: float = 120) -> None:
    """Return once ``url`` answers (any HTTP status); fail the test if ``server`` (a Popen)
    exits first or nothing answers within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            pytest.fail(f"{what} exited ({server.returncode}); see {log_name}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not answer within {timeout:.0f} s; see {log_name}")
            time.sleep(0.5)


def expect(locator, **kwargs):
    """playwright's ``expect``: assertions that re-query the locator until they hold.

    A plotly redraw may replace the node a locator found; polling one element handle would then
    wait for a detached node forever, so the browser tests wait through ``expect``.
    """
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator, **kwargs)


def press_until_changed(handle, key: str, title, before: str, *, presses: int = 20,
                        timeout_s: float = 150.0, batch_s: float = 10.0,
                        alternate: str | None = None) -> None:  # fmt: skip
    """Press ``key`` ``presses`` times on a slider's ``handle`` until the ``title`` locator no
    longer reads ``before`` (``""``: until there is a title with some text).

    On a loaded machine the page may drop key presses made before the widget's front end is
    wired to its kernel; a batch that changed nothing within ``batch_s`` seconds is pressed
    again, until ``timeout_s`` (then the last ``AssertionError`` is raised). With
    ``alternate``, batches alternate between ``key`` and it, so a slider that reached its end
    still sends new values (a selection slider has few: 20 presses can reach the end).
    """
    from playwright.sync_api import expect

    deadline = time.monotonic() + timeout_s
    keys = [key] if alternate is None else [key, alternate]
    batch = 0
    while True:
        handle.focus()
        for _ in range(presses):
            handle.press(keys[batch % len(keys)])
        batch += 1
        try:
            # plotly may replace the title's node on redraw: poll the locator, not one node
            if before:
                expect(title).not_to_have_text(before, timeout=int(batch_s * 1000))
            else:
                expect(title.first).to_have_text(re.compile(r"\S"), timeout=int(batch_s * 1000))
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


ROOT = Path(__file__).resolve().parents[1]


def _kernel_env() -> dict[str, str]:
    """The kernels import fwlab/widgets from this checkout, whatever is installed."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc`` and every process under it (a Jupyter server's kernels start sessions
    of their own, so its process group is not enough), then reap ``proc`` (the others are not
    its children: nothing here can wait for them, and SIGKILL cannot be ignored)."""
    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    proc.wait(30)


@contextlib.contextmanager
def jupyterlab(root: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab serving ``root`` on a free localhost port: ``(url, token)``; shut down after."""
    settings = tmp_path / "settings"
    # no "get Jupyter news?" toast over the page
    notification = (
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false"}))
    port, token = free_port(), secrets.token_hex(16)
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            "--LabApp.news_url=None",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            f"--ServerApp.token={token}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}",
        ],
        # kernels' connection files and the server's own info file: not in the user's runtime
        env={**_kernel_env(), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")},
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=dies_with_test,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/status?token={token}"
        wait_until_serving(server, url, "JupyterLab", log.name, timeout=120)
        yield f"http://127.0.0.1:{port}", token
    finally:
        # no graceful shutdown (it waits for each kernel to exit, seconds the tests do not
        # check): the server and its kernels are killed; their files are under tmp_path
        kill_tree(server)
        log.close()


@contextlib.contextmanager
def presented(notebook: Path, tmp_path: Path) -> Iterator[str]:
    """``fwlab present NOTEBOOK`` on a free port: its URL; stopped (with its kernels) after."""
    port = free_port()
    log = (tmp_path / "present.log").open("w")
    cmd = [sys.executable, "-m", "fwlab.app.cli", "present", str(notebook), "--no-browser",
           "--port", str(port)]  # fmt: skip
    env = {**_kernel_env(), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True, preexec_fn=dies_with_test)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/voila/static/"
        wait_until_serving(server, url, "fwlab present", log.name, timeout=90)
        yield f"http://127.0.0.1:{port}/"
    finally:
        kill_tree(server)  # fwlab present, voila and its kernels (no graceful stop: seconds)
        log.close()
