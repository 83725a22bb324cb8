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
FOLD_COLUMNS = 4096  # component values (steps x envs) kept before their statistics are folded in


class RewardWrapper(VecEnvWrapper):
    """Compute rewards and the task fitness for a vector env.

    mode ``candidate`` uses ``reward_fn``; ``env`` keeps the env's own reward;
    ``sparse`` pays each episode's fitness at its last step and 0 otherwise.
    The env's reward is kept in ``info["env_reward"]``, and with ``info_components`` the
    components in ``info["reward_components"]`` (off by default: it costs a copy per step).
    Finished episodes' fitness values collect in ``episode_fitness``; component statistics
    collect until ``pop_component_stats``.

    With ``defer`` (PPO, see ``eureka.train.deferred``) ``step`` returns placeholder zeros and
    keeps the step; ``flush`` later scores all kept steps at once: one state extraction, fitness
    and reward call on the ``steps x envs`` states of a whole rollout (rows step-major: row
    ``t * num_envs + env``) instead of one per step, which makes their per-call cost nearly vanish.
    """

    def __init__(self, venv: VecEnv, task: Task, mode: str = "candidate", reward_fn: Callable | None = None,
                 params: list[str] | None = None, path: str | Path = "", device: str = "cpu",
                 info_components: bool = False, defer: bool = False):
        space = venv.observation_space
        self.hidden = int(task.hidden_obs)
        if self.hidden:
            space = gym.spaces.Box(space.low[self.hidden:], space.high[self.hidden:], dtype=space.dtype)
        super().__init__(venv, observation_space=space)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if mode == "candidate" and reward_fn is None:
            raise ValueError("mode 'candidate' needs a reward_fn")
        if defer and info_components:
            raise ValueError("defer and info_components exclude each other: the components come after the step")
        self.task, self.mode, self.reward_fn = task, mode, reward_fn
        self.params, self.path, self.device = params or [], Path(path), torch.device(device)
        self.info_components, self.defer = info_components, defer
        self.watchdog = None  # a CallWatchdog in walled training processes (see reward/watchdog.py)
        self.n = venv.num_envs
        self._actions: np.ndarray | None = None
        self._kept: list[tuple] = []  # (reward obs, actions, dones, infos, env rewards) of steps not yet scored
        self._ep_sum = np.zeros(self.n)
        self._ep_max = np.full(self.n, -np.inf)
        self._ep_last = np.zeros(self.n)  # this step's fitness values (reduce "last": the episode's final one)
        self._ep_len = np.zeros(self.n, dtype=np.int64)
        self.episode_fitness: list[float] = []
        self.episode_lengths: list[int] = []
        self.steps = 0
        self._names: tuple[str, ...] = ()
        self._rows: list[torch.Tensor] = []  # this component set's [K, B] blocks not yet folded into _acc
        self._columns = 0  # values per component in _rows
        self._acc: torch.Tensor | None = None  # per component: sum, sum of squares, min, max
        self._count = 0
        self._pending: dict[str, dict[str, float]] = {}  # finished stats of a previous component set
        self._checked = 0
        self._corr = np.zeros(6)  # n, sums of candidate r, env r, r^2, env r^2, r * env r (env_correlation)

    def env_correlation(self) -> float | None:
        """Pearson correlation of the candidate's reward with the env's own over every scored step (None
        when either is constant or nothing was scored): Eureka's check that a reward points the env's way."""
        n, sx, sy, sxx, syy, sxy = self._corr
        if n < 2:
            return None
        vx, vy = sxx / n - (sx / n) ** 2, syy / n - (sy / n) ** 2
        if vx <= 1e-12 * max(1.0, sxx / n) or vy <= 1e-12 * max(1.0, syy / n):
            return None
        return float(np.clip((sxy / n - sx * sy / n / n) / np.sqrt(vx * vy), -1.0, 1.0))

    def reset(self):
        self._kept = []
        self._ep_sum[:] = 0
        self._ep_max[:] = -np.inf
        self._ep_len[:] = 0
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
        self.steps += self.n
        done_idx = np.flatnonzero(dones)
        step = (self._terminal_obs(obs, done_idx, infos), self._actions, dones, infos, env_rewards)
        if self.defer:
            self._kept.append(step)
            rewards = np.zeros(self.n, dtype=np.float32)
        else:
            with torch.inference_mode():
                rewards = self._score(*((x,) for x in step))[0][0]
        env_list = np.asarray(env_rewards).tolist()
        for i, info in enumerate(infos):
            info["env_reward"] = env_list[i]
        if self.hidden:
            for i in done_idx:
                if infos[i].get("terminal_observation") is not None:
                    infos[i]["terminal_observation"] = infos[i]["terminal_observation"][self.hidden:]
        return self._policy_obs(obs), rewards, dones, infos

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """Score the steps kept since the last flush, in one go: fitness bookkeeping, rewards, components.

        Returns ``(rewards, dones)``, both ``[T, N]`` for the ``T`` steps (``T = 0`` when none are kept).
        """
        kept, self._kept = self._kept, []
        if not kept:
            return np.zeros((0, self.n), dtype=np.float32), np.zeros((0, self.n), dtype=bool)
        with torch.inference_mode():  # no autograd bookkeeping: a tenth less per small op
            return self._score(*zip(*kept, strict=True))

    def _score(self, obs, actions, dones, infos, env_rewards) -> tuple[np.ndarray, np.ndarray]:
        """Fitness bookkeeping and rewards of ``T`` kept steps (each argument a tuple of ``T`` per-step values).

        The training hot path: every torch call here costs a few microseconds per call.
        """
        T, n = len(obs), self.n
        obs_t = torch.as_tensor(np.concatenate(obs) if T > 1 else obs[0], dtype=torch.float32, device=self.device)
        act_t = torch.as_tensor(np.concatenate(actions) if T > 1 else actions[0], device=self.device)
        states = self.task.extract_state(obs_t, act_t, [i for step in infos for i in step] if T > 1 else infos[0])
        fit = self.task.fitness.step(states).numpy(force=True).reshape(T, n)  # added into float64 sums
        done = (np.stack(dones) if T > 1 else np.asarray(dones[0])[None]).astype(bool, copy=False)
        rewards = np.zeros((T, n), dtype=np.float32) if self.mode == "sparse" else None
        for t in range(T):
            self._ep_sum += fit[t]
            if self.task.fitness.reduce == "max":
                np.maximum(self._ep_max, fit[t], out=self._ep_max)
            self._ep_last = fit[t]
            self._ep_len += 1
            if done[t].any():
                done_idx = np.flatnonzero(done[t])
                ep_values = self._finish_episodes(done_idx)
                if rewards is not None:
                    rewards[t, done_idx] = ep_values
        if self.mode == "env":
            rewards = np.asarray(np.stack(env_rewards) if T > 1 else np.asarray(env_rewards[0])[None], dtype=np.float32)
        elif self.mode == "candidate":
            rewards = self._candidate_rewards(states, T, infos[-1])
            env = np.asarray(np.stack(env_rewards) if T > 1 else env_rewards[0], dtype=np.float64).reshape(T, n)
            r = rewards.astype(np.float64)
            if np.isfinite(env).all():
                self._corr += (r.size, r.sum(), env.sum(), (r * r).sum(), (env * env).sum(), (r * env).sum())
        return rewards, done

    def _candidate_rewards(self, states: dict[str, torch.Tensor], T: int, last_infos: list[dict]) -> np.ndarray:
        if self.watchdog is not None:
            self.watchdog.begin(self.steps)
        reward_t, components = call_reward(self.reward_fn, self.params, states, self.path, step=self.steps,
                                           validate=self._checked < 3, finite=False)
        if self.watchdog is not None:
            self.watchdog.end()
        self._checked += 1
        rewards = reward_t.numpy(force=True).astype(np.float32).reshape(T, self.n)
        if not math.isfinite(rewards.sum(dtype=np.float64)):  # float32 values cannot overflow it
            first = int(np.flatnonzero(~np.isfinite(rewards).all(axis=1))[0])
            check_finite(reward_t, components, self.steps - (T - 1 - first) * self.n)  # that step's number
        self._record(components, T * self.n)
        if self.info_components:  # never deferred: T == 1
            lists = {k: v.tolist() for k, v in components.items()}
            for i, info in enumerate(last_infos):
                info["reward_components"] = {k: v[i] for k, v in lists.items()}
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
        elif reduce == "last":
            values = self._ep_last[done_idx].astype(np.float64)
        else:
            raise ValueError(f"unknown fitness reduce '{reduce}'")
        self.episode_fitness.extend(values.tolist())
        self.episode_lengths.extend(self._ep_len[done_idx].tolist())
        self._ep_sum[done_idx] = 0
        self._ep_max[done_idx] = -np.inf
        self._ep_len[done_idx] = 0
        return values.astype(np.float32)

    def _record(self, components: dict[str, torch.Tensor], rows: int) -> None:
        """Keep these ``rows`` values of each component; their statistics are computed in batches (``_fold``)."""
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
        if row is None or row.shape != (len(names), rows):  # only the first calls check each component
            shapes = {k: list(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
                      for k, v in components.items()}
            raise RewardShapeError(f"at training step {self.steps} the components are not all tensors of shape "
                                   f"[{rows}]: {str(shapes)[:300]}")
        self._rows.append(row)
        self._columns += rows
        if self._columns >= FOLD_COLUMNS:
            self._fold()

    @torch.inference_mode()
    def _fold(self) -> None:
        """Merge the kept rows into the running sum, sum of squares, min and max per component."""
        if not self._rows:
            return
        stacked = torch.cat(self._rows, 1).detach().to(torch.float64)
        self._rows, self._columns = [], 0
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
