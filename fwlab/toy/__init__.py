"""2-D toy losses, optimizer trajectories and one trust-region step solved three ways (exact,
projected gradient, Frank-Wolfe) for the trust-region playground."""

from fwlab.toy.losses import LOSSES, ToyLoss, get_loss, loss_names
from fwlab.toy.trajectory import METHODS, Trajectory, lmo_2d, playground_trajectories, trajectory
from fwlab.toy.trust_region import (
    StepZoom,
    exact_step,
    frank_wolfe_steps,
    fw_gap,
    p_norm,
    project_ball,
    projected_gradient_steps,
    step_zoom,
)

__all__ = [
    "LOSSES",
    "METHODS",
    "StepZoom",
    "ToyLoss",
    "Trajectory",
    "exact_step",
    "frank_wolfe_steps",
    "fw_gap",
    "get_loss",
    "lmo_2d",
    "loss_names",
    "p_norm",
    "playground_trajectories",
    "project_ball",
    "projected_gradient_steps",
    "step_zoom",
    "trajectory",
]
