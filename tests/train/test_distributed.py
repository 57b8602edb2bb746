"""Data-parallel FrankWolfe (fwlab/train/distributed.py, examples/ddp_frank_wolfe.py).

The claim: under ``torchrun --nproc_per_node=2`` with DDP (gloo, CPU), each rank holding half of
every batch, FrankWolfe ends with the parameters of one process trained on the full batches, in
closure and streaming mode, with the sgd and the adam outer step.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fwlab.train.distributed import max_divergence, setup_distributed, shard

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ddp_frank_wolfe.py"
# the example is a script, not a module of fwlab: loaded from its file
_spec = importlib.util.spec_from_file_location("ddp_frank_wolfe", EXAMPLE)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)
CONFIGS, TinyRNN, make_batches = example.CONFIGS, example.TinyRNN, example.make_batches
run_config, train = example.run_config, example.train
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_shard_cuts_equal_contiguous_parts():
    batch = torch.arange(12).reshape(6, 2)
    parts = [shard(batch, r, 3) for r in range(3)]
    assert all(p.shape == (2, 2) for p in parts)
    assert torch.equal(torch.cat(parts), batch)
    assert torch.equal(shard(batch, 0, 1), batch)


@pytest.mark.parametrize(
    "n, rank, world, match",
    [
        (5, 0, 2, "not divisible"),
        (4, 2, 2, "rank < world"),
        (4, -1, 2, "rank"),
        (4, 0, 0, "world=0"),
    ],
)
def test_shard_errors(n, rank, world, match):
    with pytest.raises(ValueError, match=match):
        shard(torch.zeros(n), rank, world)


def test_setup_without_torchrun_is_a_single_process(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    assert setup_distributed() == (0, 1)
    assert not torch.distributed.is_initialized()
    assert max_divergence([torch.ones(3)]) == 0.0
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(RuntimeError, match="WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set"):
        setup_distributed()


def test_closure_and_streaming_walk_the_same_trajectory():
    # both modes draw one batch per gradient evaluation, in the same order
    for outer in ("sgd", "adam"):
        closure = run_config("closure", outer)
        streaming = run_config("streaming", outer)
        assert max_abs_diff(closure, streaming) <= 1e-12


def test_a_half_batch_alone_is_far_from_the_full_batch():
    # the comparison below can fail: without DDP's gradient averaging, a rank that sees only its
    # half of every batch ends far away from the full-batch reference
    full = run_config("closure", "sgd", dtype=torch.float32)
    torch.manual_seed(0)
    alone = TinyRNN()
    train(alone, make_batches(1, 5, 8), mode="closure", outer="sgd", rank=0, world=2)
    assert max_abs_diff(full, alone.state_dict()) > 1e-4


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process_full_batch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(EXAMPLE), "--out", str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 process(es)" in proc.stdout
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert len(ranks[0]) == len(DTYPES) * len(CONFIGS) == 8

    for dtype_name, dtype in DTYPES.items():
        torch.manual_seed(0)
        initial = TinyRNN().to(dtype).state_dict()
        for mode, outer in CONFIGS:
            key = f"{dtype_name}/{mode}-{outer}"
            reference = run_config(mode, outer, dtype=dtype)  # one process, full batches
            assert reference["rnn.weight_hh_l0"].dtype == dtype
            for r, got in enumerate(ranks):
                assert got[key]["rnn.weight_hh_l0"].dtype == dtype
                assert max_abs_diff(got[key], reference) <= 1e-6, (key, r)
            # the gradients were all-reduced, so both ranks took bit-identical steps
            assert max_abs_diff(ranks[0][key], ranks[1][key]) == 0.0, key
            assert max_abs_diff(reference, initial) > 1e-2, key  # it did train
