"""Catch: a small arcade game written for eureka, as an example of a custom environment.

A paddle at the bottom of a 1 x 1 field moves left, stays or moves right
(actions 0, 1, 2) to catch balls that fall from the top with a random
sideways drift and bounce off the walls. Ten balls per episode; the env's own
reward is +1 per catch and -1 per miss. It has an rgb_array renderer (numpy
only, no display needed).

Registered as task ``catch``; fitness: balls caught per episode (0-10).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from eureka.tasks import Fitness, Hint, StateVar, Task

BALLS = 10
PADDLE_HALF = 0.1
PADDLE_SPEED = 0.05
FALL_SPEED = 0.04


class CatchEnv(gym.Env):
    """Catch falling balls with a paddle. Observation: paddle_x, ball_x, ball_y, ball_vx, last_event."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode: str | None = None, size: int = 96):
        self.render_mode, self.size = render_mode, size
        self.observation_space = gym.spaces.Box(np.array([0, 0, 0, -0.05, -1], dtype=np.float32),
                                                np.array([1, 1, 1, 0.05, 1], dtype=np.float32))
        self.action_space = gym.spaces.Discrete(3)
        self._state = np.zeros(5, dtype=np.float32)
        self.balls = 0

    def _new_ball(self) -> None:
        self._state[1] = self.np_random.uniform(0.05, 0.95)
        self._state[2] = 1.0
        self._state[3] = self.np_random.uniform(-0.02, 0.02)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._state[:] = 0
        self._state[0] = 0.5
        self.balls = 0
        self._new_ball()
        return self._state.copy(), {}

    def step(self, action):
        s = self._state
        s[0] = np.clip(s[0] + (int(action) - 1) * PADDLE_SPEED, 0.0, 1.0)
        s[1] += s[3]
        if s[1] < 0 or s[1] > 1:
            s[3] = -s[3]
            s[1] = np.clip(s[1], 0.0, 1.0)
        s[2] -= FALL_SPEED
        reward, s[4] = 0.0, 0.0
        if s[2] <= 0:
            caught = abs(s[1] - s[0]) <= PADDLE_HALF
            reward = 1.0 if caught else -1.0
            s[4] = reward
            self.balls += 1
            self._new_ball()
        terminated = self.balls >= BALLS
        return s.copy(), reward, terminated, False, {"balls": self.balls}

    def render(self):
        n = self.size
        img = np.full((n, n, 3), 20, dtype=np.uint8)
        px = int(self._state[0] * (n - 1))
        half = max(1, int(PADDLE_HALF * n))
        img[n - 4:n - 1, max(0, px - half):min(n, px + half + 1)] = (240, 240, 240)
        bx, by = int(self._state[1] * (n - 1)), int((1 - self._state[2]) * (n - 6))
        img[max(0, by - 2):by + 3, max(0, bx - 2):bx + 3] = (250, 80, 60)
        if self._state[4] != 0:
            img[:3, :] = (60, 220, 90) if self._state[4] > 0 else (220, 60, 60)
        return img


def extract_state(obs: torch.Tensor, actions: torch.Tensor, infos: list) -> dict:
    return {"paddle_x": obs[:, 0], "ball_x": obs[:, 1], "ball_height": obs[:, 2], "ball_vx": obs[:, 3],
            "ball_offset": obs[:, 1] - obs[:, 0], "last_event": obs[:, 4],
            "actions": actions.reshape(obs.shape[0]).float()}


TASK = Task(
    name="catch",
    env_id=CatchEnv,
    description=("Catch: move a paddle along the bottom of a 1 x 1 field (action 0 = left, 1 = stay, "
                 "2 = right) to catch ten balls that fall from the top with a sideways drift, bouncing off "
                 "the side walls. A ball is caught when it reaches the bottom within 0.1 of the paddle."),
    state_vars=[StateVar("paddle_x", "[N]", "field widths", "paddle centre, 0 = left wall, 1 = right wall"),
                StateVar("ball_x", "[N]", "field widths", "ball position across the field"),
                StateVar("ball_height", "[N]", "field heights", "ball height, 1 = top, 0 = bottom"),
                StateVar("ball_vx", "[N]", "field widths/step", "ball sideways velocity"),
                StateVar("ball_offset", "[N]", "field widths", "ball_x - paddle_x (0 = ball above the paddle)"),
                StateVar("last_event", "[N]", "-", "+1 on the step a ball was caught, -1 when missed, else 0"),
                StateVar("actions", "[N]", "-", "0 = left, 1 = stay, 2 = right")],
    extract_state=extract_state,
    fitness=Fitness("balls caught per episode (out of 10)", step=lambda s: (s["last_event"] > 0).float(),
                    reduce="sum", maximum=10.0),
    hints=[Hint("ball_offset", "target", target=0.0, scale=0.2, weight=0.1),
           Hint("last_event", "maximize", scale=1.0, weight=1.0)],
)
