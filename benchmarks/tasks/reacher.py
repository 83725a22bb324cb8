"""Reacher-v5, added from a task file as a user would (not a built-in): ``task=benchmarks/tasks/reacher.py``.

A two-joint arm must bring its fingertip to a random target. Fitness: minus the mean distance between
fingertip and target over the episode (m; 0 is perfect, a still arm scores about -0.2).
Gymnasium's Reacher-v5 observation: cos(q1), cos(q2), sin(q1), sin(q2), target x, target y, dq1, dq2,
fingertip - target (x, y).
"""

import torch

from eureka.tasks import Fitness, Hint, StateVar, Task


def extract_state(obs: torch.Tensor, actions: torch.Tensor, infos: list) -> dict:
    delta = obs[:, 8:10]
    return {
        "fingertip_to_target": delta,
        "distance": torch.linalg.vector_norm(delta, dim=-1),
        "joint_angles": torch.atan2(obs[:, 2:4], obs[:, 0:2]),
        "joint_velocities": obs[:, 6:8],
        "target_position": obs[:, 4:6],
        "actions": actions.reshape(obs.shape[0], -1).float(),
    }


TASK = Task(
    name="reacher",
    env_id="Reacher-v5",
    description=("A two-joint robot arm in a plane must move its fingertip to a target placed at random in "
                 "reach, and keep it there. Actions are torques on the two joints, each in [-1, 1]. Episodes "
                 "last 50 steps."),
    state_vars=[
        StateVar("fingertip_to_target", "[N, 2]", "m", "fingertip position minus target position (x, y)"),
        StateVar("distance", "[N]", "m", "distance from fingertip to target"),
        StateVar("joint_angles", "[N, 2]", "rad", "angles of the two joints"),
        StateVar("joint_velocities", "[N, 2]", "rad/s", "angular velocities of the two joints"),
        StateVar("target_position", "[N, 2]", "m", "target position (x, y)"),
        StateVar("actions", "[N, 2]", "-", "joint torques applied, each in [-1, 1]"),
    ],
    extract_state=extract_state,
    fitness=Fitness("minus the mean fingertip-target distance over the episode (m)",
                    step=lambda s: -s["distance"], reduce="mean", maximum=0.0),
    hints=[Hint("distance", "minimize", scale=0.1), Hint("actions", "minimize", scale=1.0, weight=0.05)],
)
