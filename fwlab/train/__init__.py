"""Training: the paper's methods as presets, and ``fit`` with history, checkpoints and typed
callbacks (:class:`Callback`)."""

from fwlab.train.background import (
    BackgroundRun,
    RunControl,
    replay_callback,
    start_fit,
)
from fwlab.train.build import build_model, build_optimizer, build_scheduler
from fwlab.train.callbacks import Callback, FunctionCallback
from fwlab.train.checkpoint import load_checkpoint
from fwlab.train.config import TrainConfig
from fwlab.train.history import load_history, save_history
from fwlab.train.loop import fit
from fwlab.train.losses import evaluate, loss_kind
from fwlab.train.methods import METHODS, PAPER_RESULTS, TABLE_II, TABLE_III, Method, get_method
from fwlab.train.recorder import BallSpec, ParamSlice, TrajectoryRecorder
from fwlab.train.run import Run
from fwlab.train.tensorboard import TensorBoardLogger, load_histories, read_tensorboard_run

__all__ = [
    "BackgroundRun",
    "Callback",
    "FunctionCallback",
    "RunControl",
    "replay_callback",
    "start_fit",
    "METHODS",
    "PAPER_RESULTS",
    "TABLE_II",
    "TABLE_III",
    "BallSpec",
    "Method",
    "ParamSlice",
    "Run",
    "TrainConfig",
    "TrajectoryRecorder",
    "build_model",
    "build_optimizer",
    "build_scheduler",
    "evaluate",
    "fit",
    "get_method",
    "load_checkpoint",
    "loss_kind",
    "load_history",
    "save_history",
    "TensorBoardLogger",
    "load_histories",
    "read_tensorboard_run",
]
