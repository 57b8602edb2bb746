"""A real Ctrl-C (SIGINT from another process) at an arbitrary moment of FrankWolfe training
never leaves a half-done outer step: afterwards the parameters and the optimizer state are
bit-identical to a replay of the outer steps that completed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

CHILD = r"""
import copy, json, signal, sys
import torch
from torch import nn
from fwlab.optim import FrankWolfe

torch.set_num_threads(1)
# a shell that starts jobs in the background (nohup, &, CI runners) makes them ignore SIGINT,
# and Python then installs no KeyboardInterrupt handler: restore the interactive behaviour
signal.signal(signal.SIGINT, signal.default_int_handler)
mode = None  # set by the loop below, read by outer_step


def build():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 1)).double()
    opt = FrankWolfe(model.parameters(), lr=0.05, delta=0.1, K=4, outer="adam")
    return model, opt


x = torch.randn(128, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
y = x.sum(1, keepdim=True).sin()


def loss_of(model):
    return ((model(x) - y) ** 2).mean()


def outer_step(model, opt):
    if mode == "closure":
        def closure():
            opt.zero_grad()
            loss = loss_of(model)
            loss.backward()
            return loss
        opt.step(closure)
    else:
        for _ in range(4):
            opt.zero_grad()
            loss_of(model).backward()
            opt.step()


for mode in sys.argv[1:]:  # one interpreter for every mode: torch starts once
    model, opt = build()
    inner_after = []
    for round in range(5):  # five interrupts, each at whatever moment the signal arrives
        print("ready", flush=True)
        try:
            for _ in range(100000):
                outer_step(model, opt)
        except KeyboardInterrupt:
            pass
        inner_after.append(opt.inner_step())  # closure mode: always 0, the step rolled back
        opt.reset_inner()  # streaming: the user's code may have been stopped mid-step
        # a SIGINT inside torch.no_grad()'s own exit (FrankWolfe.step is decorated with it)
        # can leave autograd off for the process: torch's context managers are not
        # signal-safe. That is torch's global state, not the optimizer's (fwlab's fit()
        # defers Ctrl-C to the end of the batch); the next round starts with it on
        torch.set_grad_enabled(True)
    done = opt.stats[0].get("step", 0)
    replay, ropt = build()
    for _ in range(done):
        outer_step(replay, ropt)
    same_params = all(torch.equal(a, b) for a, b in zip(model.parameters(), replay.parameters()))
    s1, s2 = opt.state_dict()["state"], ropt.state_dict()["state"]
    same_state = s1.keys() == s2.keys() and all(
        s1[i].keys() == s2[i].keys()
        and all(
            torch.equal(v, s2[i][k]) if torch.is_tensor(v) else v == s2[i][k]
            for k, v in s1[i].items()
        )
        for i in s1
    )
    print(json.dumps(dict(mode=mode, done=done, same_params=same_params, same_state=same_state,
                          inner_after=inner_after)), flush=True)
"""


MODES = ("closure", "streaming")


@pytest.fixture(scope="module")
def interrupted():
    """``{mode: result}``: one child process trains in each mode in turn and gets five SIGINTs
    per mode, each at a different delay after it said it was ready."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, *MODES],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    try:
        for _ in MODES:
            for delay in (0.31, 0.17, 0.43, 0.23, 0.37):
                assert proc.stdout.readline().strip() == "ready"
                time.sleep(delay)
                proc.send_signal(signal.SIGINT)
            lines.append(proc.stdout.readline())  # the mode's result, before the next mode
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    results = [json.loads(line) for line in lines]
    return {r.pop("mode"): r for r in results}


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_sigint_at_an_arbitrary_moment_leaves_a_replayable_state(interrupted, mode):
    result = interrupted[mode]
    assert result["done"] >= 5
    if mode == "closure":
        assert result["inner_after"] == [0] * 5
    assert result["same_params"] and result["same_state"], result
