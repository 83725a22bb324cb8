"""Pendulum-v1: swing a pendulum up and hold it. Fitness: fraction of steps with |theta| < 0.2 rad."""

import torch

from eureka.tasks import Fitness, Hint, StateVar, Task


def extract_state(obs: torch.Tensor, actions: torch.Tensor, infos: list) -> dict:
    cos_theta, sin_theta = obs[:, 0], obs[:, 1]
    return {
        "theta": torch.atan2(sin_theta, cos_theta),
        "cos_theta": cos_theta,
        "sin_theta": sin_theta,
        "angular_velocity": obs[:, 2],
        "actions": actions.reshape(obs.shape[0], -1)[:, 0].float(),
    }


TASK = Task(
    name="pendulum",
    env_id="Pendulum-v1",
    description=(
        "An inverted pendulum hangs from a fixed pivot and starts at a random angle. The agent applies a "
        "torque in [-2, 2] N m at the pivot. Swing the pendulum up and keep it balanced upright "
        "(theta = 0). Episodes last 200 steps."
    ),
    state_vars=[
        StateVar("theta", "[N]", "rad", "pendulum angle, 0 = upright, wrapped to [-pi, pi]"),
        StateVar("cos_theta", "[N]", "-", "cos(theta), 1 when upright"),
        StateVar("sin_theta", "[N]", "-", "sin(theta)"),
        StateVar("angular_velocity", "[N]", "rad/s", "angular velocity, in [-8, 8]"),
        StateVar("actions", "[N]", "N m", "applied torque, in [-2, 2]"),
    ],
    extract_state=extract_state,
    fitness=Fitness("fraction of steps with |theta| < 0.2 rad",
                    step=lambda s: (s["theta"].abs() < 0.2).float(), reduce="mean", maximum=1.0),
    hints=[
        Hint("theta", "target", target=0.0, scale=1.0),
        Hint("angular_velocity", "minimize", scale=8.0, weight=0.1),
        Hint("actions", "minimize", scale=2.0, weight=0.01),
    ],
)
