"""An SB3 VecEnvWrapper that replaces the env's reward by a candidate's, for the whole batch at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from eureka.reward.scorer import FOLD_COLUMNS, MODES, RewardScorer
from eureka.tasks import Task

__all__ = ["FOLD_COLUMNS", "MODES", "RewardWrapper"]


class RewardWrapper(RewardScorer, VecEnvWrapper):
    """An SB3 VecEnvWrapper that scores every step with a ``RewardScorer`` (see there for the modes).

    The env's reward is kept in ``info["env_reward"]``, and with ``info_components`` the
    components in ``info["reward_components"]`` (off by default: it costs a copy per step).
    With ``defer`` (PPO, see ``eureka.train.deferred``) ``step`` returns placeholder zeros and
    keeps the step; ``flush`` later scores all kept steps at once, which makes the reward call's
    per-call cost nearly vanish.
    """

    def __init__(self, venv: VecEnv, task: Task, mode: str = "candidate", reward_fn: Callable | None = None,
                 params: list[str] | None = None, path: str | Path = "", device: str = "cpu",
                 info_components: bool = False, defer: bool = False):
        space = venv.observation_space
        self.hidden = int(task.hidden_obs)
        if self.hidden:
            assert isinstance(space, gym.spaces.Box)  # hidden columns: a Box observation (Task.hidden_obs)
            space = gym.spaces.Box(space.low[self.hidden:], space.high[self.hidden:],
                                   dtype=space.dtype)
        VecEnvWrapper.__init__(self, venv, observation_space=space)
        if defer and info_components:
            raise ValueError("defer and info_components exclude each other: the components come after the step")
        RewardScorer.__init__(self, task, venv.num_envs, mode, reward_fn, params, path, device, info_components)
        self.defer = defer
        self._actions: np.ndarray | None = None

    def reset(self):
        self.restart_episodes()
        return self._policy_obs(self.venv.reset())

    def _policy_obs(self, obs):
        return obs[:, self.hidden:] if self.hidden else obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions
        self.venv.step_async(actions)

    def _terminal_obs(self, obs, done_idx, infos):
        if done_idx.size == 0 or not isinstance(obs, np.ndarray):
            return obs
        fixed = obs.copy()
        for i in done_idx:
            term = infos[i].get("terminal_observation")
            if term is not None:
                fixed[i] = term
        return fixed

    def step_wait(self):
        obs, env_rewards, dones, infos = self.venv.step_wait()
        done_idx = np.flatnonzero(dones)
        assert self._actions is not None  # step_async came first
        self.keep(self._terminal_obs(obs, done_idx, infos), self._actions, dones, infos, env_rewards)
        if self.defer:
            rewards = np.zeros(self.n, dtype=np.float32)
        else:
            rewards = self.flush()[0][0]
        env_list = np.asarray(env_rewards).tolist()
        for i, info in enumerate(infos):
            info["env_reward"] = env_list[i]
        if self.hidden:
            for j in done_idx:
                if infos[j].get("terminal_observation") is not None:
                    infos[j]["terminal_observation"] = infos[j]["terminal_observation"][self.hidden:]
        return self._policy_obs(obs), rewards, dones, infos
