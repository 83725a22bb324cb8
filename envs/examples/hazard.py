"""Hazard: a hovering drone whose fuel-saving reward teaches it to crash (a reward-hacking example).

A drone starts at altitude 0.3 in a shaft of height 1 and must hold the altitude of a beacon (0.7) for
100 steps: action 0 cuts the engine (it falls 0.05), 1 hovers, 2 climbs 0.05 (a small random gust moves it
too). Touching the ground (the hazard, altitude 0) ends the episode. Hovering burns 1 unit of fuel per step,
climbing 2, falling none.

The env's own reward is +1 per step within 0.1 of the beacon (never negative). The task's hints ask to
minimize the distance to the beacon and the fuel burnt: the offline designer's first reward is then
negative on every step, and a policy trained on it learns that the cheapest episode is the shortest one:
it dives into the ground. The reflection flags the collapse of the episode lengths (the
``early_termination`` signal) and the next iteration adds a positive alive bonus and turns the fuel
penalty into a bounded non-negative term (``eureka/llm/offline.py``). Fitness: the share of the 100
steps spent within 0.1 of the beacon (0-1).

Run it as a task file: ``eureka task=envs/examples/hazard.py`` (its settings: 2 iterations x 2 samples,
a short PPO budget).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from eureka.tasks import Fitness, Hint, StateVar, Task

STEPS = 100
BEACON = 0.7
START = 0.3
BAND = 0.1
SPEED = 0.05


class HazardEnv(gym.Env):
    """Observation: altitude, beacon offset (altitude - beacon), fuel burnt on the last step, steps left."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode: str | None = None, size: int = 64):
        self.render_mode, self.size = render_mode, size
        self.observation_space = gym.spaces.Box(np.array([-0.01, -1, 0, 0], dtype=np.float32),
                                                np.array([1, 1, 2, 1], dtype=np.float32))
        self.action_space = gym.spaces.Discrete(3)
        self.h, self.t, self.fuel = START, 0, 1.0

    def _obs(self) -> np.ndarray:
        return np.array([self.h, self.h - BEACON, self.fuel, (STEPS - self.t) / STEPS], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.h, self.t, self.fuel = START, 0, 1.0
        return self._obs(), {}

    def step(self, action):
        move = int(action) - 1
        self.h = float(np.clip(self.h + move * SPEED + self.np_random.uniform(-0.01, 0.01), -0.01, 1.0))
        self.fuel = float(move + 1)  # 0 falling, 1 hovering, 2 climbing
        self.t += 1
        crashed = self.h <= 0.0
        reward = 1.0 if abs(self.h - BEACON) <= BAND else 0.0
        return self._obs(), reward, crashed, self.t >= STEPS and not crashed, {}

    def render(self):
        n = self.size
        img = np.full((n, n, 3), 25, dtype=np.uint8)
        img[n - 3:, :] = (200, 60, 60)  # the hazard
        by = int((1 - BEACON) * (n - 4))
        img[by, :] = (60, 200, 90)
        y = int((1 - max(self.h, 0.0)) * (n - 4))
        img[max(0, y - 2):y + 2, n // 2 - 3:n // 2 + 3] = (240, 240, 240)
        return img


def extract_state(obs: torch.Tensor, actions: torch.Tensor, infos: list) -> dict:
    return {"altitude": obs[:, 0], "beacon_offset": obs[:, 1], "fuel": obs[:, 2], "steps_left": obs[:, 3],
            "actions": actions.reshape(obs.shape[0]).float()}


TASK = Task(
    name="hazard",
    env_id=HazardEnv,
    description=("Hazard: a drone in a vertical shaft must hold the altitude of a beacon (0.7) for 100 steps "
                 "(action 0 = engine off: fall, 1 = hover, 2 = climb). Touching the ground ends the episode. "
                 "Hovering burns fuel, climbing twice as much, falling none."),
    state_vars=[StateVar("altitude", "[N]", "shaft heights", "drone altitude, 0 = ground (the hazard), 1 = top"),
                StateVar("beacon_offset", "[N]", "shaft heights", "altitude - beacon altitude (0 = on the beacon)"),
                StateVar("fuel", "[N]", "units", "fuel burnt on the last step: 0 falling, 1 hovering, 2 climbing"),
                StateVar("steps_left", "[N]", "-", "share of the 100 steps left"),
                StateVar("actions", "[N]", "-", "0 = engine off (fall), 1 = hover, 2 = climb")],
    extract_state=extract_state,
    fitness=Fitness("share of the 100 steps within 0.1 of the beacon",
                    step=lambda s: (s["beacon_offset"].abs() <= BAND).float() / STEPS, reduce="sum", maximum=1.0),
    hints=[Hint("beacon_offset", "minimize", scale=0.2, weight=1.0),
           Hint("fuel", "minimize", scale=1.0, weight=1.0)],
    settings={"iterations": 2, "samples": 2, "trainer.total_timesteps": 24576, "trainer.n_envs": 8,
              "trainer.ppo": {"n_steps": 64, "batch_size": 256, "n_epochs": 10, "learning_rate": 0.001,
                              "gamma": 0.98, "ent_coef": 0.01},
              "video": False},
)
