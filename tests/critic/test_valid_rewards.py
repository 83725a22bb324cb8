"""Realistic Eureka/IsaacGym-style locomotion rewards pass the whole critic (static checks + a dry run on
real MuJoCo states): the static checks that follow module values and format templates refuse none of them."""

from __future__ import annotations

import pytest

from eureka import tasks
from eureka.critic import Critic
from eureka.reward import sample_states

HOPPER_JIT = '''
import math
import torch
from typing import Dict, Tuple


@torch.jit.script
def upright_bonus(torso_angle: torch.Tensor, torso_height: torch.Tensor, min_height: float = 0.8) -> torch.Tensor:
    angle_ok = torch.exp(-torch.square(torso_angle) / (2.0 * (math.pi / 18.0) ** 2))
    height_ok = torch.sigmoid(10.0 * (torso_height - min_height))
    return angle_ok * height_ok


@torch.jit.script
def compute_reward(x_velocity: torch.Tensor, torso_height: torch.Tensor, torso_angle: torch.Tensor,
                   qvel: torch.Tensor, actions: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    # temperature parameters
    forward_temp: float = 1.0
    energy_temp: float = 0.001

    forward_reward = torch.tanh(forward_temp * x_velocity)
    healthy = upright_bonus(torso_angle, torso_height)
    joint_speed = torch.norm(qvel[:, 3:], p=2, dim=-1)
    energy_penalty = -energy_temp * torch.sum(actions ** 2, dim=-1)
    smoothness = -0.01 * torch.clamp(joint_speed, max=10.0)
    total = forward_reward + 0.5 * healthy + energy_penalty + smoothness
    return total, {"forward_reward": forward_reward, "healthy": healthy, "energy_penalty": energy_penalty,
                   "smoothness": smoothness}
'''

ANT_NUMPY_F = '''
import numpy as np
import torch
import torch.nn.functional as F
from typing import Dict, Tuple

TARGET_HEIGHT = 0.55
UP_WEIGHTS = np.array([0.0, 0.0, 1.0], dtype=np.float32)
HEADING_TOLERANCE = float(np.cos(np.deg2rad(30.0)))


def heading_term(torso_up: torch.Tensor) -> torch.Tensor:
    return F.relu(torso_up - HEADING_TOLERANCE) / (1.0 - HEADING_TOLERANCE)


def compute_reward(x_velocity: torch.Tensor, y_velocity: torch.Tensor, torso_height: torch.Tensor,
                   torso_up: torch.Tensor, contact_forces: torch.Tensor,
                   actions: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    progress = x_velocity - 0.5 * y_velocity.abs()
    upright = heading_term(torso_up) * float(UP_WEIGHTS[2])
    height = torch.exp(-((torso_height - TARGET_HEIGHT) ** 2) / 0.02)
    contact_cost = -5e-4 * torch.clamp(contact_forces, -1.0, 1.0).pow(2).sum(dim=-1)
    action_cost = -0.005 * torch.linalg.vector_norm(actions, dim=-1) ** 2
    components = {"progress": progress, "upright": upright, "height": height, "contact_cost": contact_cost,
                  "action_cost": action_cost}
    for name in list(components):
        components["{}_clipped".format(name)] = torch.clamp(components[name], -10.0, 10.0)
    total = torch.stack([components[f"{k}_clipped"] for k in ("progress", "upright", "height", "contact_cost",
                                                              "action_cost")], dim=0).sum(dim=0)
    return total, {k: v for k, v in components.items() if not k.endswith("_clipped")}
'''

PENDULUM_TYPING = '''
import math as m
import typing

import torch


def angle_normalize(theta: torch.Tensor) -> torch.Tensor:
    return torch.remainder(theta + m.pi, 2 * m.pi) - m.pi


def compute_reward(theta: torch.Tensor, angular_velocity: torch.Tensor,
                   actions: torch.Tensor) -> typing.Tuple[torch.Tensor, typing.Dict[str, torch.Tensor]]:
    err = angle_normalize(theta)
    upright = torch.cos(err)
    near_top = torch.where(err.abs() < m.radians(10.0), torch.ones_like(err), torch.zeros_like(err))
    spin = -0.1 * angular_velocity ** 2
    effort = -0.001 * actions ** 2
    return upright + near_top + spin + effort, {"upright": upright, "near_top": near_top, "spin": spin,
                                                "effort": effort}
'''


@pytest.mark.parametrize("task_name,code", [("hopper", HOPPER_JIT), ("ant", ANT_NUMPY_F),
                                            ("pendulum", PENDULUM_TYPING)], ids=["hopper", "ant", "pendulum"])
def test_realistic_reward_passes_the_critic(task_name, code, pool):
    task = tasks.make(task_name)
    critic = Critic(task.state_names, sample_states(task, n_envs=4, steps=16, seed=0), pool)
    verdict = critic.check_code(code)
    assert verdict.ok, verdict.feedback()
    assert len(verdict.components) >= 4
