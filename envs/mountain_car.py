"""MountainCarContinuous-v0: drive an underpowered car up a hill. Fitness: success rate."""

import torch

from eureka.tasks import Fitness, Hint, StateVar, Task


def extract_state(obs: torch.Tensor, actions: torch.Tensor, infos: list) -> dict:
    return {
        "position": obs[:, 0],
        "velocity": obs[:, 1],
        "actions": actions.reshape(obs.shape[0], -1)[:, 0].float(),
    }


TASK = Task(
    name="mountain_car",
    env_id="MountainCarContinuous-v0",
    description=(
        "A car sits in a valley between two hills; its engine is too weak to drive straight up. The agent "
        "applies a force in [-1, 1]. Reach the flag on the right hilltop (position >= 0.45) by building "
        "momentum, rocking back and forth. Episodes last at most 999 steps."
    ),
    state_vars=[
        StateVar("position", "[N]", "-", "car position along the track, in [-1.2, 0.6]; goal at >= 0.45"),
        StateVar("velocity", "[N]", "-", "car velocity, in [-0.07, 0.07]"),
        StateVar("actions", "[N]", "-", "applied force, in [-1, 1]"),
    ],
    extract_state=extract_state,
    fitness=Fitness("success rate (episodes that reach position >= 0.45)",
                    step=lambda s: (s["position"] >= 0.45).float(), reduce="max", maximum=1.0),
    hints=[
        Hint("position", "maximize", scale=1.0),
        Hint("velocity", "maximize", scale=0.07, weight=0.5),
        Hint("actions", "minimize", scale=1.0, weight=0.01),
    ],
)
