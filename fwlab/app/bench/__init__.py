r"""``fwlab bench``: speed ratios of fwlab, measured side by side in one process.

Every figure is the **median over repeats**; within a repeat the two things compared run
interleaved (A, B, B, A, ...), or, for the closure overhead, the closure's calls are timed inside
the very step they belong to, so that the load of a shared machine hits both sides alike. Ratios
are what to read; the absolute milliseconds in ``meta.details`` depend on the machine and its
load.

======================== ================================================================ ======
key                      what it measures                                                 target
======================== ================================================================ ======
``fw_closure_overhead``  ``FrankWolfe.step(closure)`` / (K × the closure's own time): the ≤ 1.10
                         optimizer's own cost in closure mode (6×128 IndRNN, pixel-MNIST
                         shapes T = 784 × 1 feature, K = 5)
``fw_streaming_vs_adam`` optimizer-only time of one streaming ``step()`` (mean over the   ≤ 1.5
                         K calls of an outer step) / ``Adam(foreach=True).step()`` on the
                         same parameters and gradients; the K>1 mid-step and the K-th
                         step are in ``meta.details``
``indrnn_vs_rnn``        forward+backward of :class:`fwlab.models.IndRNN` /              ≤ 0.3
                         ``nn.RNN(nonlinearity="relu")``, one layer, B=32, T=784, H=128
                         (cuDNN's ``nn.RNN`` with ``--device cuda``)
``indrnn_memory_vs_rnn`` peak memory of the same forward+backward, IndRNN / nn.RNN: the   ≤ 1.0
                         largest total of tensor bytes allocated and not yet freed during
                         the call (CPU: the allocation and free events of
                         ``torch.profiler`` with ``profile_memory=True``; CUDA:
                         ``torch.cuda.max_memory_allocated`` above the bytes held before)
``indrnn6_step_ms``      one training step (forward, backward, gradient clamp ±10,       none
                         optimizer step) of the pixel-MNIST IndRNN model (6 × 128, BN,
                         dropout 0.1, T = 784, batch 64) under FrankWolfe K = 5 in
                         streaming mode (how ``fwlab train`` steps it), mean over the K
                         calls of an outer step, in ms (machine-bound: reported, not
                         judged; its ratio to Adam is)
``indrnn6_fw_vs_adam``   that step / the same step under Adam (same model and batches)   ≤ 1.10
``toy_recompute_ms``     the playground's recompute + redraw in ms: FW 100 steps × K=10, ≤ 50
                         the three baselines, trace data, one ``batch_update``
``notebooks_s``          seconds to execute every notebook of ``notebooks/`` with its    ≤ 300
                         defaults (papermill, kernel ``fwlab``); only with ``--notebooks``
======================== ================================================================ ======

Device: ``device="cuda"`` (``--device cuda``) runs the model figures (the first six) on the GPU,
timing with ``torch.cuda.synchronize()`` around every timed call; without CUDA it is refused at
once. The playground and the notebooks stay on the CPU.

Threads: by default the bench runs with ``torch.set_num_threads(1)``. On a small shared
machine two intra-op threads make tiny kernels (an optimizer step on 128×128 tensors) wait for
a descheduled worker, which turns a 0.3 ms Adam step into 40 ms at random; ``--threads`` changes
it.

Example:
    >>> r = run_bench(["toy_recompute_ms"], quick=True, repeats=1)
    >>> sorted(r), r["toy_recompute_ms"] > 0
    (['meta', 'toy_recompute_ms'], True)
"""

from fwlab.app.bench.cli import command, run_cli
from fwlab.app.bench.config import DEFAULT_KEYS, KEYS, TARGETS, BenchConfig
from fwlab.app.bench.indrnn import peak_bytes
from fwlab.app.bench.run import format_table, run_bench

__all__ = [
    "TARGETS",
    "KEYS",
    "DEFAULT_KEYS",
    "BenchConfig",
    "run_bench",
    "format_table",
    "peak_bytes",
    "command",
    "run_cli",
]
