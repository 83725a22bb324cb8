"""One variant of reward_overhead.py, timed in a fresh child process (its own module so the child can import it).

Every PPO variant runs in a child of its own, so none of them inherits another's heap, threads or
caches: native and walled are measured under the same conditions.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf
from stable_baselines3 import PPO
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import SubprocVecEnv, VecNormalize

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


def variant_speed(task_name: str, variant: str, steps: int, reward_path: str, clock: str = "cpu",
                  cpu: int | None = None) -> dict:
    """See ``_measure``; ``walled`` runs in a jail of its own, exactly as a run's training does."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    if variant != "walled":
        return _measure(task_name, variant, steps, reward_path, clock, None)
    from eureka.procs import recv_json
    from eureka.sandbox.jail import JailSpec, spawn

    jail = spawn(JailSpec(kind="training", writable=[tempfile.mkdtemp()], memory_mb=4096), _walled,
                 task_name, steps, reward_path, clock)
    try:
        out = recv_json(jail.conn)
    finally:
        jail.wait(30)
        jail.kill()
    if "error" in out:
        raise RuntimeError(out["error"])
    return out


def _walled(conn, jail, task_name: str, steps: int, reward_path: str, clock: str) -> None:
    from eureka.procs import send_json

    try:
        send_json(conn, _measure(task_name, "walled", steps, reward_path, clock, jail))
    except BaseException as exc:  # noqa: BLE001
        send_json(conn, {"error": f"{type(exc).__name__}: {exc}"})


def _measure(task_name: str, variant: str, steps: int, reward_path: str, clock: str, jail) -> dict:
    """PPO steps per second (CPU seconds of this process by default) of one variant, as ``speed``, and the
    share of the training thread's CPU time spent in eureka's wrapper (``share``, None for native):

    native: the plain vector env; wrapper_env: RewardWrapper passing the env's reward (as the env-reward
    baseline trains); ours: the
    compiled candidate reward in this process (the code is ours, so trusted); watchdog: the same with
    the reward-call watchdog; walled: the training walls put up exactly as a run does, the reward loaded
    behind them, with the watchdog; ours_subproc: ``ours`` over a SubprocVecEnv; ours_per_step:
    ``ours`` with the reward called every step instead of once per rollout (as eureka did before).
    Every variant adds VecNormalize where the task's config has ``normalize: true``, as a run does.
    ``cpu``: run on that core only.
    """
    from eureka.reward.compiled import load_reward
    from eureka.reward.watchdog import CallWatchdog

    torch.set_num_threads(1)
    task = tasks.make(task_name)
    n_envs, kwargs, normalize = ppo_kwargs(task_name)
    if variant == "ours_subproc":  # forked env processes: the task's module (loaded from its file) is inherited
        venv = SubprocVecEnv([_env_factory(task, i) for i in range(n_envs)], start_method="fork")
        venv.seed(0)
    else:
        venv = make_vec_env(task, n_envs, 0)
    path = Path(reward_path)
    if variant == "walled":
        from eureka.reward.compiled import load_candidate
        from eureka.train.runner import TrainSpec, put_up_walls

        spec = TrainSpec(job_id="bench", task=task_name, reward_path=reward_path, memory_mb=4096)
        _, path = put_up_walls(spec, jail)
        fn, params = load_candidate(path)
    elif variant != "native" and variant != "wrapper_env":
        fn, params = load_reward(path, trusted=True)
    wrapper = None
    if variant == "wrapper_env":
        venv = wrapper = RewardWrapper(venv, task, mode="env")
    elif variant != "native":
        venv = wrapper = RewardWrapper(venv, task, mode="candidate", reward_fn=fn, params=params, path=path)
        if variant in ("watchdog", "walled"):
            venv.watchdog = CallWatchdog(2.0, lambda *_: None)
    deferred = wrapper is not None and variant != "ours_per_step"  # as in a run: PPO defers
    if normalize:
        venv = (RolloutVecNormalize if deferred else VecNormalize)(venv, norm_obs=True, norm_reward=True)
    spent = _time_wrapper(wrapper, deferred) if wrapper is not None else None
    model = PPO("MlpPolicy", venv, seed=0, device="cpu", verbose=0, **kwargs)
    if deferred:
        assert defer_rewards(model, wrapper)
    now = time.process_time if clock == "cpu" else time.perf_counter
    t0, cpu0 = now(), time.thread_time()
    model.learn(total_timesteps=steps)
    speed = model.num_timesteps / (now() - t0)
    return {"speed": speed, "share": spent[0] / (time.thread_time() - cpu0) if spent else None}


def _env_factory(task, i: int):
    """The i-th env of ``ours_subproc``, as ``make_vec_env`` makes it (monitored, seeded ``i``)."""
    def make():
        env = Monitor(task.make_env())
        env.reset(seed=i)
        env.action_space.seed(i)
        return env
    return make


def _time_wrapper(wrapper: RewardWrapper, deferred: bool) -> list[float]:
    """Add up the CPU time the training thread spends in the wrapper's own work (its ``step_wait`` minus the
    simulator's, and ``flush`` when deferred) into the returned cell. Measured inside one run, so
    the share of the run it makes up does not move with the machine's load."""
    spent = [0.0]

    def timed(fn, sign: float):
        def call():
            t = time.thread_time()
            out = fn()
            spent[0] += sign * (time.thread_time() - t)
            return out
        return call

    wrapper.venv.step_wait = timed(wrapper.venv.step_wait, -1.0)
    wrapper.step_wait = timed(wrapper.step_wait, 1.0)
    if deferred:
        wrapper.flush = timed(wrapper.flush, 1.0)
    return spent
