"""Acrobot-v1: swing a two-link chain's tip above a line. Fitness: success rate."""

import torch

from eureka.tasks import Fitness, Hint, StateVar, Task


def extract_state(obs: torch.Tensor, actions: torch.Tensor, infos: list) -> dict:
    cos1, sin1, cos2, sin2 = obs[:, 0], obs[:, 1], obs[:, 2], obs[:, 3]
    return {
        "theta1": torch.atan2(sin1, cos1),
        "theta2": torch.atan2(sin2, cos2),
        "angular_velocity1": obs[:, 4],
        "angular_velocity2": obs[:, 5],
        "tip_height": -cos1 - (cos1 * cos2 - sin1 * sin2),
        "actions": actions.reshape(obs.shape[0]).float(),
    }


TASK = Task(
    name="acrobot",
    env_id="Acrobot-v1",
    description=(
        "Two links hang from a fixed pivot; only the joint between them is actuated (torque -1, 0 or +1 "
        "for actions 0, 1, 2). Swing the free end up so that tip_height > 1.0 (the episode then ends "
        "with success). Episodes last at most 500 steps."
    ),
    state_vars=[
        StateVar("theta1", "[N]", "rad", "angle of the first link, 0 = hanging down, wrapped to [-pi, pi]"),
        StateVar("theta2", "[N]", "rad", "angle of the second link relative to the first"),
        StateVar("angular_velocity1", "[N]", "rad/s", "angular velocity of the first link"),
        StateVar("angular_velocity2", "[N]", "rad/s", "angular velocity of the second link"),
        StateVar("tip_height", "[N]", "link lengths", "height of the free end above the pivot, in [-2, 2]; "
                 "goal: > 1.0"),
        StateVar("actions", "[N]", "-", "action taken: 0, 1, 2 = torque -1, 0, +1"),
    ],
    extract_state=extract_state,
    fitness=Fitness("success rate (episodes whose tip rises above 1.0 before 500 steps)",
                    step=lambda s: (s["tip_height"] > 1.0).float(), reduce="max", maximum=1.0),
    hints=[
        Hint("tip_height", "maximize", scale=2.0),
    ],
)
