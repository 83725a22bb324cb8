"""Vector environments for a task, and real state batches for dry runs."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from eureka.tasks import Task

_PLAIN = (bool, int, float, complex, str, bytes, np.number, np.bool_, type(None))


def copy_info(info: dict) -> dict:
    """What ``copy.deepcopy`` makes of an info dict, without its per-object memo for plain values.

    Numbers, strings and the like are shared (they are immutable), arrays are copied, dicts are copied
    recursively, anything else (lists, tuples, objects) goes through ``copy.deepcopy``.
    """
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, _PLAIN):
            out[key] = value
        elif isinstance(value, np.ndarray) and value.dtype != object:
            out[key] = value.copy()
        elif type(value) is dict:
            out[key] = copy_info(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class _Infos(list):
    """DummyVecEnv's per-env info dicts. DummyVecEnv deep-copies them every step; this copies them
    the same way (``copy_info``) at a fraction of the cost, and without deepcopy's ``id()`` call per
    value, which the walls' audit hook would see (161 per vector step on hopper)."""

    def __deepcopy__(self, memo: dict) -> list[dict]:
        return [copy_info(info) for info in self]


def make_vec_env(task: Task, n_envs: int, seed: int, subprocess: bool = False) -> VecEnv:
    """``n_envs`` monitored copies of the task's env, seeded ``seed + i``."""

    def factory(i: int):
        def _make():
            env = Monitor(task.make_env())
            env.reset(seed=seed + i)
            env.action_space.seed(seed + i)
            return env
        return _make

    cls = SubprocVecEnv if subprocess else DummyVecEnv
    venv = cls([factory(i) for i in range(n_envs)])
    if isinstance(venv, DummyVecEnv):
        venv.buf_infos = _Infos(venv.buf_infos)
    venv.seed(seed)
    return venv


def sample_states(task: Task, n_envs: int = 8, steps: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    """Roll out random actions and return the extracted state batch (``n_envs * steps`` rows)."""
    venv = make_vec_env(task, n_envs, seed)
    rng = np.random.default_rng(seed)
    venv.action_space.seed(int(rng.integers(2**31)))
    obs = venv.reset()
    infos: list[dict] = [{} for _ in range(n_envs)]  # as in training: one dict per env (empty after reset)
    batches: dict[str, list[np.ndarray]] = {}
    for _ in range(steps):
        actions = np.stack([venv.action_space.sample() for _ in range(n_envs)])
        states = task.extract_state(torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(actions), infos)
        for k, v in states.items():
            batches.setdefault(k, []).append(v.detach().cpu().numpy().astype(np.float32))
        obs, _, _, infos = venv.step(actions)
    venv.close()
    return {k: np.concatenate(v, axis=0) for k, v in batches.items()}
