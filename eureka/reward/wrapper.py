"""An SB3 VecEnvWrapper that replaces the env's reward by a candidate's, for the whole batch at once."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from eureka.errors import RewardShapeError
from eureka.reward.compiled import call_reward, check_finite
from eureka.sandbox.policy import MAX_COMPONENTS, valid_component_name
from eureka.tasks import Task

MODES = ("candidate", "env", "sparse")
FOLD_EVERY = 512  # steps of component rows kept before their statistics are folded in


class RewardWrapper(VecEnvWrapper):
    """Compute rewards and the task fitness for a vector env.

    mode ``candidate`` uses ``reward_fn``; ``env`` keeps the env's own reward;
    ``sparse`` pays each episode's fitness at its last step and 0 otherwise.
    The env's reward is kept in ``info["env_reward"]``, and with ``info_components`` the
    components in ``info["reward_components"]`` (off by default: it costs a copy per step).
    Finished episodes' fitness values collect in ``episode_fitness``; component statistics
    collect until ``pop_component_stats``.
    """

    def __init__(self, venv: VecEnv, task: Task, mode: str = "candidate", reward_fn: Callable | None = None,
                 params: list[str] | None = None, path: str | Path = "", device: str = "cpu",
                 info_components: bool = False):
        space = venv.observation_space
        self.hidden = int(task.hidden_obs)
        if self.hidden:
            space = gym.spaces.Box(space.low[self.hidden:], space.high[self.hidden:], dtype=space.dtype)
        super().__init__(venv, observation_space=space)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if mode == "candidate" and reward_fn is None:
            raise ValueError("mode 'candidate' needs a reward_fn")
        self.task, self.mode, self.reward_fn = task, mode, reward_fn
        self.params, self.path, self.device = params or [], Path(path), torch.device(device)
        self.info_components = info_components
        self.watchdog = None  # a CallWatchdog in walled training processes (see reward/watchdog.py)
        self.n = venv.num_envs
        self._actions: np.ndarray | None = None
        self._ep_sum = np.zeros(self.n)
        self._ep_max = np.full(self.n, -np.inf)
        self._ep_len = np.zeros(self.n, dtype=np.int64)
        self.episode_fitness: list[float] = []
        self.episode_lengths: list[int] = []
        self.steps = 0
        self._names: tuple[str, ...] = ()
        self._rows: list[torch.Tensor] = []  # this component set's [K, N] rows not yet folded into _acc
        self._acc: torch.Tensor | None = None  # per component: sum, sum of squares, min, max
        self._count = 0
        self._pending: dict[str, dict[str, float]] = {}  # finished stats of a previous component set
        self._checked = 0

    def reset(self):
        self._ep_sum[:] = 0
        self._ep_max[:] = -np.inf
        self._ep_len[:] = 0
        return self._policy_obs(self.venv.reset())

    def _policy_obs(self, obs):
        return obs[:, self.hidden:] if self.hidden else obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions
        self.venv.step_async(actions)

    def _terminal_obs(self, obs, dones, infos):
        idx = np.flatnonzero(dones)
        if idx.size == 0 or not isinstance(obs, np.ndarray):
            return obs
        fixed = obs.copy()
        for i in idx:
            term = infos[i].get("terminal_observation")
            if term is not None:
                fixed[i] = term
        return fixed

    def step_wait(self):
        obs, env_rewards, dones, infos = self.venv.step_wait()
        self.steps += self.n
        with torch.inference_mode():  # no autograd bookkeeping: a tenth less per small op
            rewards = self._rewards(obs, env_rewards, dones, infos)
        if self.hidden:
            for i in np.flatnonzero(dones):
                if infos[i].get("terminal_observation") is not None:
                    infos[i]["terminal_observation"] = infos[i]["terminal_observation"][self.hidden:]
        return self._policy_obs(obs), rewards, dones, infos

    def _rewards(self, obs, env_rewards, dones, infos) -> np.ndarray:
        """Fitness bookkeeping and this step's rewards; fills ``env_reward`` (and components) into ``infos``.

        The training hot path: every torch call here costs a few microseconds per step.
        """
        obs_t = torch.as_tensor(self._terminal_obs(obs, dones, infos), dtype=torch.float32, device=self.device)
        act_t = torch.as_tensor(self._actions, device=self.device)
        states = self.task.extract_state(obs_t, act_t, infos)
        fit = self.task.fitness.step(states).numpy(force=True)  # added into float64 sums
        self._ep_sum += fit
        if self.task.fitness.reduce == "max":
            np.maximum(self._ep_max, fit, out=self._ep_max)
        self._ep_len += 1
        done_idx = np.flatnonzero(dones)
        ep_values = self._finish_episodes(done_idx)

        components: dict[str, torch.Tensor] = {}
        if self.mode == "candidate":
            if self.watchdog is not None:
                self.watchdog.begin(self.steps)
            reward_t, components = call_reward(self.reward_fn, self.params, states, self.path, step=self.steps,
                                               validate=self._checked < 3, finite=False)
            if self.watchdog is not None:
                self.watchdog.end()
            self._checked += 1
            rewards = reward_t.numpy(force=True).astype(np.float32)
            if not math.isfinite(rewards.sum(dtype=np.float64)):  # float32 values cannot overflow it
                check_finite(reward_t, components, self.steps)
            self._record(components)
        elif self.mode == "sparse":
            rewards = np.zeros(self.n, dtype=np.float32)
            rewards[done_idx] = ep_values
        else:
            rewards = np.asarray(env_rewards, dtype=np.float32)
        env_list = np.asarray(env_rewards).tolist()
        comp_lists = {k: v.tolist() for k, v in components.items()} if self.info_components else {}
        for i, info in enumerate(infos):
            info["env_reward"] = env_list[i]
            if comp_lists:
                info["reward_components"] = {k: v[i] for k, v in comp_lists.items()}
        return rewards

    def _finish_episodes(self, done_idx: np.ndarray) -> np.ndarray:
        if done_idx.size == 0:
            return np.zeros(0, dtype=np.float32)
        reduce = self.task.fitness.reduce
        if reduce == "sum":
            values = self._ep_sum[done_idx]
        elif reduce == "mean":
            values = self._ep_sum[done_idx] / np.maximum(self._ep_len[done_idx], 1)
        elif reduce == "max":
            values = self._ep_max[done_idx]
        else:
            raise ValueError(f"unknown fitness reduce '{reduce}'")
        self.episode_fitness.extend(values.tolist())
        self.episode_lengths.extend(self._ep_len[done_idx].tolist())
        self._ep_sum[done_idx] = 0
        self._ep_max[done_idx] = -np.inf
        self._ep_len[done_idx] = 0
        return values.astype(np.float32)

    def _record(self, components: dict[str, torch.Tensor]) -> None:
        """Keep this step's components; their statistics are computed in batches (``_fold``)."""
        names = tuple(components)
        if names != self._names:
            bad = [k for k in names if not valid_component_name(k)]
            if bad or len(names) > MAX_COMPONENTS:
                what = f"{len(names)} components" if not bad else \
                    f"a component name of {len(str(bad[0]))} characters starting {str(bad[0])[:16]!r}"
                raise RewardShapeError(f"at training step {self.steps} the reward returned {what}; use at most "
                                       f"{MAX_COMPONENTS} components named by identifiers of <= 64 characters")
            self._flush_pending()
            self._names = names
        try:
            row = torch.stack(tuple(components.values()))
        except (RuntimeError, TypeError):
            row = None
        if row is None or row.shape != (len(names), self.n):  # only the first calls check each component
            shapes = {k: list(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                      for k, v in components.items()}
            raise RewardShapeError(f"at training step {self.steps} the components are not all tensors of shape "
                                   f"[{self.n}]: {str(shapes)[:300]}")
        self._rows.append(row)
        if len(self._rows) >= FOLD_EVERY:
            self._fold()

    @torch.inference_mode()
    def _fold(self) -> None:
        """Merge the kept rows into the running sum, sum of squares, min and max per component."""
        if not self._rows:
            return
        stacked = torch.cat(self._rows, 1).detach().to(torch.float64)
        self._rows = []
        row = torch.stack([stacked.sum(1), (stacked * stacked).sum(1), stacked.amin(1), stacked.amax(1)])
        if self._acc is None:
            self._acc, self._count = row, stacked.shape[1]
            return
        self._acc[:2] += row[:2]
        torch.minimum(self._acc[2], row[2], out=self._acc[2])
        torch.maximum(self._acc[3], row[3], out=self._acc[3])
        self._count += stacked.shape[1]

    def _flush_pending(self) -> None:
        self._fold()
        if self._acc is not None:
            acc = self._acc.cpu().tolist()
            for i, k in enumerate(self._names):
                mean = acc[0][i] / self._count
                self._pending[k] = {"mean": mean, "std": float(np.sqrt(max(acc[1][i] / self._count - mean * mean, 0.0))),
                                    "min": acc[2][i], "max": acc[3][i]}
        self._acc = None

    def pop_component_stats(self) -> dict[str, dict[str, float]]:
        """Mean/std/min/max of each component since the last call, then reset."""
        self._flush_pending()
        out, self._pending = self._pending, {}
        return out
