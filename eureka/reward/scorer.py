"""Rewards and the task fitness of batched steps: the part of a training that reads candidate rewards.

``RewardScorer`` is shared by every training backend: SB3's ``RewardWrapper`` (a VecEnvWrapper) and the
vectorized trainer (``eureka.train.vector``) hand it the steps they simulate; it extracts the task's named
states, calls the reward once on a whole batch (a step, or a whole rollout), keeps the fitness of finished
episodes, the component statistics and the reward's correlation with the env's own, and raises the classified
reward errors (NaN, shape, timeout through the watchdog).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from eureka.errors import RewardShapeError
from eureka.reward.compiled import call_reward, check_finite
from eureka.reward.watchdog import CallWatchdog
from eureka.sandbox.policy import MAX_COMPONENTS, valid_component_name
from eureka.tasks import Task

MODES = ("candidate", "env", "sparse")
FOLD_COLUMNS = 4096  # component values (steps x envs) kept before their statistics are folded in


class RewardScorer:
    """Score the steps of ``n`` batched environments for one task.

    mode ``candidate`` uses ``reward_fn``; ``env`` keeps the env's own reward;
    ``sparse`` pays each episode's fitness at its last step and 0 otherwise.
    Steps are kept with ``keep`` (the reward's view of the state after the step: a finished episode's
    last observation, not the next episode's first) and scored together by ``flush``: one state
    extraction, fitness and reward call on the ``steps x envs`` states (rows step-major: row
    ``t * n + env``). Finished episodes' fitness values collect in ``episode_fitness``; component
    statistics collect until ``pop_component_stats``.
    """

    def __init__(self, task: Task, n: int, mode: str = "candidate", reward_fn: Callable | None = None,
                 params: list[str] | None = None, path: str | Path = "", device: str = "cpu",
                 info_components: bool = False):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if mode == "candidate" and reward_fn is None:
            raise ValueError("mode 'candidate' needs a reward_fn")
        self.task, self.mode, self.reward_fn = task, mode, reward_fn
        self.params, self.path, self.device = params or [], Path(path), torch.device(device)
        self.info_components = info_components
        self.watchdog: CallWatchdog | None = None  # in walled training processes (see reward/watchdog.py)
        self.n = n
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

    def keep(self, obs: np.ndarray | torch.Tensor, actions: np.ndarray | torch.Tensor,
             dones: np.ndarray | torch.Tensor, infos: list[dict], env_rewards: np.ndarray | torch.Tensor,
             valid: np.ndarray | None = None) -> None:
        """Keep one batched step for the next ``flush`` (``obs``: the states after it, as the reward sees them;
        ``valid``: False for envs that only reset on this step, which count for no episode and no statistic).
        A sim on the device hands tensors (all of a step's batches tensors, ``valid`` None): they stay there
        until ``flush``."""
        self.steps += self.n
        self._kept.append((obs, actions, dones, infos, env_rewards, valid))

    def restart_episodes(self) -> None:
        """Forget the running episodes (their envs were reset) and any kept steps."""
        self._kept = []
        self._ep_sum[:] = 0
        self._ep_max[:] = -np.inf
        self._ep_len[:] = 0

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

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """Score the steps kept since the last flush, in one go: fitness bookkeeping, rewards, components.

        Returns ``(rewards, dones)``, both ``[T, N]`` for the ``T`` steps (``T = 0`` when none are kept).
        """
        kept, self._kept = self._kept, []
        if not kept:
            return np.zeros((0, self.n), dtype=np.float32), np.zeros((0, self.n), dtype=bool)
        with torch.inference_mode():  # no autograd bookkeeping: a tenth less per small op
            return self._score(*zip(*kept, strict=True))

    def _score(self, obs, actions, dones, infos, env_rewards, valid) -> tuple[np.ndarray, np.ndarray]:
        """Fitness bookkeeping and rewards of ``T`` kept steps (each argument a tuple of ``T`` per-step values).

        The training hot path: every torch call here costs a few microseconds per call.
        """
        T, n = len(obs), self.n
        if isinstance(obs[0], torch.Tensor):  # a sim on the device (WarpSim): one copy to the host per flush
            obs_t = torch.cat(obs).to(self.device, torch.float32)
            act_t = torch.cat(actions).to(self.device)
            dones = tuple(torch.stack(dones).cpu().numpy())
            env_rewards = tuple(torch.stack(env_rewards).to(torch.float64).cpu().numpy())
        else:
            obs_t = torch.as_tensor(np.concatenate(obs) if T > 1 else obs[0], dtype=torch.float32, device=self.device)
            act_t = torch.as_tensor(np.concatenate(actions) if T > 1 else actions[0], device=self.device)
        states = self.task.extract_state(obs_t, act_t, [i for step in infos for i in step] if T > 1 else infos[0])
        fit = self.task.fitness.step(states).numpy(force=True).reshape(T, n)  # added into float64 sums
        done = (np.stack(dones) if T > 1 else np.asarray(dones[0])[None]).astype(bool, copy=False)
        rewards = np.zeros((T, n), dtype=np.float32) if self.mode == "sparse" else None
        mask = None if all(v is None for v in valid) else \
            np.stack([np.ones(n, dtype=bool) if v is None else v for v in valid])
        for t in range(T):
            if mask is not None and not mask[t].all():  # envs that only reset on this step: no transition
                fit[t] = np.where(mask[t], fit[t], 0.0)
                self._ep_max = np.where(mask[t], np.maximum(self._ep_max, fit[t]), self._ep_max)
                self._ep_last = np.where(mask[t], fit[t], self._ep_last)
                self._ep_sum += fit[t]
                self._ep_len += mask[t]
            else:
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
            rewards = self._candidate_rewards(states, T, infos[-1], mask)
            env = np.asarray(np.stack(env_rewards) if T > 1 else env_rewards[0], dtype=np.float64).reshape(T, n)
            r = rewards.astype(np.float64)
            if mask is not None:
                r, env = r[mask], env[mask]
            if np.isfinite(env).all():
                self._corr += (r.size, r.sum(), env.sum(), (r * r).sum(), (env * env).sum(), (r * env).sum())
        assert rewards is not None
        return rewards, done

    def _candidate_rewards(self, states: dict[str, torch.Tensor], T: int, last_infos: list[dict],
                           mask: np.ndarray | None = None) -> np.ndarray:
        assert self.reward_fn is not None  # mode "candidate" has one (checked in __init__)
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
        if mask is not None and isinstance(components, dict):
            rows = torch.as_tensor(mask.reshape(-1), device=self.device)
            kept = int(rows.sum())
            components = {k: v[rows] if isinstance(v, torch.Tensor) and v.shape == (T * self.n,) else v
                          for k, v in components.items()}
            self._record(components, kept)
        else:
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
