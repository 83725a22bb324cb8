"""The walled variant of reward_overhead.py, in its own module so the child process can import it."""

from __future__ import annotations

import tempfile
import time

import torch
from stable_baselines3 import PPO

from eureka import tasks
from eureka.reward import RewardWrapper, make_vec_env


def walled_speed(task_name: str, steps: int, reward_path: str, clock: str = "cpu") -> float:
    """PPO steps/s in a child process behind the training walls, with the reward-call watchdog."""
    from eureka.reward.watchdog import CallWatchdog
    from eureka.sandbox.walls import WallSpec, apply_walls, load_candidate

    torch.set_num_threads(1)
    task = tasks.make(task_name)
    from reward_overhead import ppo_kwargs

    n_envs, kwargs = ppo_kwargs(task_name)
    venv = make_vec_env(task, n_envs, 0)
    out = tempfile.mkdtemp()
    code = open(reward_path).read()
    apply_walls(WallSpec(kind="training", writable=[out], memory_mb=4096))
    reward_path = f"{tempfile.gettempdir()}/reward.py"  # the private temp dir of the walled process
    with open(reward_path, "w") as f:
        f.write(code)
    fn, params = load_candidate(reward_path)
    wrapper = RewardWrapper(venv, task, mode="candidate", reward_fn=fn, params=params, path=reward_path)
    wrapper.watchdog = CallWatchdog(2.0, lambda step, cpu: None)
    model = PPO("MlpPolicy", wrapper, seed=0, device="cpu", verbose=0, **kwargs)
    now = time.process_time if clock == "cpu" else time.perf_counter
    t0 = now()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (now() - t0)
