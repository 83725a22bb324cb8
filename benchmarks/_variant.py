"""One variant of reward_overhead.py, timed in a fresh child process (its own module so the child can import it).

Every PPO variant runs in a child of its own, so none of them inherits another's heap, threads or
caches: native and walled are measured under the same conditions.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from eureka import tasks
from eureka.paths import conf_dir
from eureka.reward import RewardWrapper, make_vec_env
from eureka.train.deferred import RolloutVecNormalize, defer_rewards
from eureka.train.runner import build_kwargs

VARIANTS = ("native", "wrapper_env", "ours", "ours_per_step", "watchdog", "walled", "ours_subproc")


def ppo_kwargs(task_name: str) -> tuple[int, dict, bool]:
    """``n_envs``, the PPO keyword arguments and ``normalize`` (VecNormalize) of the task's config."""
    cfg = OmegaConf.load(conf_dir() / "task" / f"{task_name}.yaml")
    tr = cfg.trainer
    return (int(tr.n_envs), build_kwargs(OmegaConf.to_container(tr.get("ppo") or {}, resolve=True)),
            bool(tr.get("normalize", False)))


def variant_speed(task_name: str, variant: str, steps: int, reward_path: str, clock: str = "cpu") -> float:
    """PPO steps per second (CPU seconds of this process by default) of one variant:

    native: the plain vector env; wrapper_env: RewardWrapper passing the env's reward; ours: the
    compiled candidate reward in this process (the code is ours, so trusted); watchdog: the same with
    the reward-call watchdog; walled: the training walls put up exactly as a run does, the reward loaded
    behind them, with the watchdog; ours_subproc: ``ours`` over a SubprocVecEnv; ours_per_step:
    ``ours`` with the reward called every step instead of once per rollout (as eureka did before).
    Every variant adds VecNormalize where the task's config has ``normalize: true``, as a run does.
    """
    from eureka.reward.compiled import load_reward
    from eureka.reward.watchdog import CallWatchdog

    torch.set_num_threads(1)
    task = tasks.make(task_name)
    n_envs, kwargs, normalize = ppo_kwargs(task_name)
    venv = make_vec_env(task, n_envs, 0, subprocess=variant == "ours_subproc")
    path = Path(reward_path)
    if variant == "walled":
        from eureka.sandbox.walls import load_candidate
        from eureka.train.runner import TrainSpec, put_up_walls

        spec = TrainSpec(job_id="bench", task=task_name, reward_path=reward_path, memory_mb=4096)
        _, path = put_up_walls(spec, Path(tempfile.mkdtemp()))
        fn, params = load_candidate(path)
    elif variant != "native" and variant != "wrapper_env":
        fn, params = load_reward(path, trusted=True)
    wrapper = None
    if variant == "wrapper_env":
        venv = wrapper = RewardWrapper(venv, task, mode="env")
    elif variant != "native":
        venv = wrapper = RewardWrapper(venv, task, mode="candidate", reward_fn=fn, params=params, path=path)
        if variant in ("watchdog", "walled"):
            venv.watchdog = CallWatchdog(2.0, lambda step, cpu: None)
    deferred = wrapper is not None and wrapper.mode == "candidate" and variant != "ours_per_step"
    if normalize:
        venv = (RolloutVecNormalize if deferred else VecNormalize)(venv, norm_obs=True, norm_reward=True)
    model = PPO("MlpPolicy", venv, seed=0, device="cpu", verbose=0, **kwargs)
    if deferred:
        assert defer_rewards(model, wrapper)
    now = time.process_time if clock == "cpu" else time.perf_counter
    t0 = now()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (now() - t0)
