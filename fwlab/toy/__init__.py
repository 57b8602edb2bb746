"""2-D toy losses and optimizer trajectories for the trust-region playground."""

from fwlab.toy.losses import LOSSES, ToyLoss, get_loss, loss_names
from fwlab.toy.trajectory import METHODS, Trajectory, lmo_2d, trajectory

__all__ = [
    "LOSSES",
    "METHODS",
    "ToyLoss",
    "Trajectory",
    "get_loss",
    "lmo_2d",
    "loss_names",
    "trajectory",
]
