"""Gymnasium's Reacher-v5 as a eureka task, with its settings inside: the whole experiment in one file.

Copy it anywhere and run it (no config file, no PYTHONPATH):

    eureka-check-task reacher.py          # shapes, dtypes, fitness, a short training
    eureka task=reacher.py                # the search with the settings below; runs go to outputs/reacher/<time>
    eureka task=reacher.py trainer.ppo.n_steps=128 iterations=1   # the command line overrides any setting

Reacher-v5: a two-joint arm on a table moves its fingertip to a random target; 50 steps per episode.
Its observation (10 numbers): cos and sin of both joint angles, the target's x, y, both joint velocities,
and the fingertip's position minus the target's (x, y).
"""

import torch

from eureka.tasks import Fitness, Hint, StateVar, Task


def extract_state(obs: torch.Tensor, actions: torch.Tensor, infos: list) -> dict:
    to_target = obs[:, 8:10]
    return {
        "distance": torch.linalg.vector_norm(to_target, dim=-1),
        "fingertip_to_target": to_target,
        "joint_angles": torch.atan2(obs[:, 2:4], obs[:, 0:2]),
        "joint_velocity": obs[:, 6:8],
        "target_position": obs[:, 4:6],
        "actions": actions.reshape(obs.shape[0], 2).float(),
    }


TASK = Task(
    name="reacher",
    env_id="Reacher-v5",
    description=(
        "A two-jointed robot arm on a table. Move the fingertip onto the target (a random point within 0.2 m "
        "of the base) and keep it there, using little torque. Each episode lasts 50 steps; what counts is how "
        "close the fingertip is at the end."
    ),
    state_vars=[
        StateVar("distance", "[N]", "m", "distance from the fingertip to the target"),
        StateVar("fingertip_to_target", "[N, 2]", "m", "fingertip position minus target position (x, y)"),
        StateVar("joint_angles", "[N, 2]", "rad", "angles of the shoulder and elbow joints"),
        StateVar("joint_velocity", "[N, 2]", "rad/s", "angular velocities of both joints"),
        StateVar("target_position", "[N, 2]", "m", "the target's position (x, y)"),
        StateVar("actions", "[N, 2]", "-", "torques applied to both joints, each in [-1, 1]"),
    ],
    extract_state=extract_state,
    # the final distance, negated so that higher is better: 0 is the fingertip on the target
    fitness=Fitness("minus the fingertip's distance to the target at the episode's end (m)",
                    step=lambda s: -s["distance"], reduce="last", maximum=0.0),
    hints=[
        Hint("distance", "minimize", scale=0.1),
        Hint("distance", "target", target=0.0, scale=0.02, weight=0.5),
        Hint("actions", "minimize", scale=1.0, weight=0.05),
    ],
    # the run's settings, keys as on the command line (eureka --help; every key: eureka/config.py)
    settings={
        "iterations": 3,
        "samples": 4,
        "loop": {"target_fitness": -0.01},   # stop the search once the fingertip ends within 1 cm
        "eval": {"num_seeds": 2},
        "trainer": {
            "algo": "ppo",
            "total_timesteps": 200_000,
            "n_envs": 8,
            "normalize": True,
            "ppo": {"n_steps": 256, "batch_size": 256, "n_epochs": 10, "learning_rate": 3e-4,
                    "gamma": 0.99, "gae_lambda": 0.95},
        },
    },
)
