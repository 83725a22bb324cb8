"""The walled variant of reward_overhead.py, in its own module so the child process can import it."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from stable_baselines3 import PPO

from eureka import tasks
from eureka.reward import RewardWrapper, make_vec_env


def walled_speed(task_name: str, steps: int, reward_path: str, clock: str = "cpu") -> float:
    """PPO steps/s in a child process behind the training walls (as a run puts them up), with the watchdog."""
    from reward_overhead import ppo_kwargs

    from eureka.reward.watchdog import CallWatchdog
    from eureka.sandbox.walls import load_candidate
    from eureka.train.runner import TrainSpec, put_up_walls

    torch.set_num_threads(1)
    task = tasks.make(task_name)
    n_envs, kwargs = ppo_kwargs(task_name)
    venv = make_vec_env(task, n_envs, 0)
    spec = TrainSpec(job_id="bench", task=task_name, reward_path=reward_path, memory_mb=4096)
    _, path = put_up_walls(spec, Path(tempfile.mkdtemp()))
    fn, params = load_candidate(path)
    wrapper = RewardWrapper(venv, task, mode="candidate", reward_fn=fn, params=params, path=path)
    wrapper.watchdog = CallWatchdog(2.0, lambda step, cpu: None)
    model = PPO("MlpPolicy", wrapper, seed=0, device="cpu", verbose=0, **kwargs)
    now = time.process_time if clock == "cpu" else time.perf_counter
    t0 = now()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (now() - t0)
