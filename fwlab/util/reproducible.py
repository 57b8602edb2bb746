r"""Reproducible mode: the same bits on any x86-64 machine with the same torch (and libc).

A CPU training run's floating-point results depend on which kernels run, and torch, MKL and
oneDNN pick their kernels from the machine's instruction set (and thread count). Measured on an
AMD EPYC with AVX-512 (:mod:`fwlab.experiments.bitcheck`; README, "Evidence"), the
choices that change the bits of a short training run are:

* ATen's CPU capability (``ATEN_CPU_CAPABILITY``): ``default`` (scalar) against ``avx2``/
  ``avx512`` changes BPTT+Adam's losses on the adding task from batch 3 (``avx2`` against
  ``avx512`` alone changed none of the runs measured);
* MKL's code branch (``MKL_CBWR``): its Conditional Numerical Reproducibility branch
  ``COMPATIBLE`` against MKL's own choice changes Frank-Wolfe K=1's losses (adding task, T=100,
  hidden 128) from batch 7; MKL documents ``COMPATIBLE`` (SSE2 without the approximate
  rcpps/rsqrtps) as the branch that gives the same results on Intel and non-Intel processors,
  and the only one besides ``AUTO`` that non-Intel processors support
  (``MKL_ENABLE_INSTRUCTIONS`` changed nothing on this AMD processor);
* oneDNN's instruction set (``ONEDNN_MAX_CPU_ISA``): ``AVX2`` against ``AVX512_CORE`` changes an
  LSTM's losses on BasicMotions from batch 14 (torch runs ``nn.LSTM`` through oneDNN);
* the thread count (reductions split across threads).

The mode pins each of them: ``ATEN_CPU_CAPABILITY=default``, ``MKL_CBWR=COMPATIBLE``, one
thread (``OMP_NUM_THREADS=MKL_NUM_THREADS=1``, ``torch.set_num_threads(1)``) and oneDNN switched
off (``torch.backends.mkldnn.enabled = False``). The environment variables must be set before
torch is imported (ATen and MKL read them once), so the mode is asked for before Python
starts: ``FWLAB_REPRODUCIBLE=1`` in the environment, or ``fwlab train/record ...
--reproducible``, which the ``fwlab`` command reads before it imports torch. :func:`activate`
then checks that the process really runs pinned (and sets the thread count and oneDNN), and
refuses with the fix when it does not. It costs speed: on the machine above, in CPU seconds per
batch, 1.6x for the adding task's vanilla RNN, 2.3x for pixel MNIST's, 3.0x for the 2-layer
IndRNN (ATen's scalar elementwise kernels), and about 2.5-3.5x for an LSTM (wall time; oneDNN's
LSTM is the fast path it gives up).

What it cannot pin: the libc's scalar math functions (``tanhf``, ``expf``) that ATen's
``default`` capability calls, so provenance records the libc version beside torch's.

Example:
    >>> requested({"FWLAB_REPRODUCIBLE": "1"}), requested({})
    (True, False)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence

__all__ = [
    "FLAG",
    "PINNED",
    "KERNEL_VARIABLES",
    "requested",
    "enter_from_argv",
    "problems",
    "activate",
]

#: the environment variable that asks for the mode ("1")
FLAG = "FWLAB_REPRODUCIBLE"

#: what the mode sets before torch is imported
PINNED: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

#: environment variables that change which CPU kernels torch, MKL, oneDNN or OpenBLAS run (or
#: how many threads they use); provenance records each one's value (``None``: unset), and every
#: other variable that starts with ``OPENBLAS_``, ``MKL_``, ``DNNL_``, ``ONEDNN_`` or ``KMP_``
KERNEL_VARIABLES = (
    FLAG,
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_DEBUG_CPU_TYPE",
    "MKL_NUM_THREADS",
    "MKL_DYNAMIC",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "ONEDNN_CPU_ISA_HINTS",
    "DNNL_CPU_ISA_HINTS",
    "ONEDNN_DEFAULT_FPMATH_MODE",
    "DNNL_DEFAULT_FPMATH_MODE",
    "OMP_NUM_THREADS",
    "OMP_DYNAMIC",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_VERBOSE",
    "GOTO_NUM_THREADS",
    "TORCH_MKLDNN_MATMUL_MIN_DIM",
)
KERNEL_PREFIXES = ("OPENBLAS_", "MKL_", "DNNL_", "ONEDNN_", "KMP_")


def requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``FWLAB_REPRODUCIBLE`` asks for the mode (``1``, ``true`` or ``yes``)."""
    env = os.environ if environ is None else environ
    return env.get(FLAG, "").strip().lower() in ("1", "true", "yes")


def enter_from_argv(argv: Sequence[str], environ: MutableMapping[str, str] | None = None) -> bool:
    """Called by the ``fwlab`` command before it imports torch: when ``argv`` holds
    ``--reproducible`` (or the environment already asks for the mode), set the pinned variables
    in ``environ`` (default ``os.environ``, which the libraries loaded later read). Returns
    whether the mode is on. Nothing is changed when torch is already imported: :func:`activate`
    then reports what is not pinned."""
    env = os.environ if environ is None else environ
    if "--reproducible" not in argv and not requested(env):
        return False
    if "torch" not in sys.modules:
        env.update(PINNED)
        env[FLAG] = "1"
    return True


def problems(environ: Mapping[str, str] | None = None) -> list[str]:
    """What keeps this process from running in the mode (empty: it does). Imports torch."""
    import torch

    env = os.environ if environ is None else environ
    found = [
        f"{name}={env.get(name)!r} (the mode needs {value!r})"
        for name, value in PINNED.items()
        if env.get(name) != value
    ]
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != PINNED["ATEN_CPU_CAPABILITY"].upper():
        found.append(f"torch runs CPU capability {capability} (the mode needs DEFAULT)")
    return found


def activate(environ: Mapping[str, str] | None = None) -> None:
    """Run this process in the mode: check the pinned environment and torch's capability, then
    set one thread and switch oneDNN off.

    Raises:
        RuntimeError: something read when torch started is not pinned (the message says what
            and how to start the process instead).
    """
    found = problems(environ)
    if found:
        raise RuntimeError(
            "reproducible mode must be chosen before torch is imported, and this process runs "
            f"{'; '.join(found)}; start it as `FWLAB_REPRODUCIBLE=1 python ...` or run the fwlab "
            "command with --reproducible as its own process"
        )
    import torch

    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
