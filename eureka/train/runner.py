"""Train one policy on one reward (candidate, env's own, or sparse fitness).

Runs inside a jail started by ``eureka.train.job`` (everything it needs is in a picklable
``TrainSpec`` and everything it returns is a plain dict); the policy's fitness is then
measured outside the jail by ``eureka.train.evaluator``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from eureka import config, tasks
from eureka.config import EvalConfig, SandboxConfig, TrainerConfig, sb3_class
from eureka.errors import RewardError, TrainingCrash
from eureka.reward.vecenv import make_vec_env
from eureka.reward.watchdog import CallWatchdog
from eureka.reward.wrapper import RewardWrapper
from eureka.train.deferred import RolloutVecNormalize, defer_rewards
from eureka.train.evaluator import evaluate_policy, save_policy
from eureka.train.process import _aborter, _finish, _thread_ids, new_result, put_up_walls, resolve_device  # noqa: F401 - put_up_walls, resolve_device: importable from here
from eureka.train.result import TrainResult
from eureka.train.sb3_args import ACTIVATIONS, build_kwargs  # noqa: F401 - ACTIVATIONS: importable from here as before

ALGOS = {name: sb3_class(name) for name in config.ALGOS}  # the list of algorithms: eureka/config.py
_T, _S, _E = TrainerConfig, SandboxConfig, EvalConfig  # the defaults live in eureka/config.py


@dataclass
class TrainSpec:
    """What to train: one reward on one task with one seed.

    Runs build it from the configuration (``eureka.train.train_spec``); its defaults are the config's own
    (``eureka/config.py``), so code that builds one by hand trains as a run would.
    """

    job_id: str
    task: str
    mode: str = "candidate"  # candidate | env | sparse
    reward_path: str | None = None
    backend: str = _T.backend  # sb3 | vector (eureka/train/vector)
    algo: str = _T.algo
    total_timesteps: int = _T.total_timesteps
    n_envs: int = _T.n_envs
    seed: int = 0
    device: str = _T.device
    hyperparams: dict = field(default_factory=dict)
    normalize: bool = _T.normalize
    eval_episodes: int = _E.episodes
    log_points: int = 10
    out_dir: str | None = None
    tensorboard: bool = _T.tensorboard
    resume: bool = False  # continue the policy saved in out_dir (successive halving's later rungs)
    subproc_envs: bool = _T.subproc_envs
    memory_mb: int = _T.memory_mb  # address space the jailed training may add (then RewardMemoryError)
    max_file_mb: int = _T.max_file_mb  # largest file it may write
    call_timeout_s: float = _S.call_timeout_s  # CPU seconds per reward call (then RewardTimeout with the step)
    first_call_cpu_s: float = _S.cpu_s  # for the first 3 calls
    network_namespace: bool = _S.network_namespace
    drop_privileges: bool = _S.drop_privileges
    cpu_s: float = _S.training_cpu_s  # CPU seconds for the whole training, all threads
    max_tasks: int = _S.training_max_tasks  # threads the training's jail may have in all
    scratch_mb: int = _S.training_scratch_mb  # the jail's private tmpfs
    env_allow: list = field(default_factory=list)  # variables passed into the jail besides the allow-list
    sim: str = _T.sim  # vector backend: auto | envpool | gymnasium
    num_envs: int = _T.num_envs  # vector backend: batch of environments
    sim_threads: int = _T.sim_threads  # vector backend: EnvPool threads
    vector: dict = field(default_factory=dict)  # vector backend: PPOSettings overrides


def policy_settings(spec: TrainSpec) -> dict:
    """What the evaluator and the renderer need to rebuild ``spec``'s policy (its architecture settings)."""
    if spec.backend == "vector":
        from eureka.train.vector.policy import arch
        from eureka.train.vector.ppo import PPOSettings

        return {"backend": "vector", **arch(asdict(PPOSettings.from_dict(dict(spec.vector))))}
    return spec.hyperparams


def _constant(value: float):
    return lambda _progress: value


# Saved policies hold their schedules as pickled functions (code objects): never unpickle those.
# A policy file is written by a process that ran candidate code; code objects from it are refused.
NO_CODE_OBJECTS = {"learning_rate": 0.0, "lr_schedule": _constant(0.0), "clip_range": _constant(0.2),
                   "clip_range_vf": None}


def load_model(algo: str, source, hyperparams: dict | None = None, **kwargs):
    """Load a saved SB3 model without unpickling its schedules (``custom_objects``).

    For continued training, pass the run's ``hyperparams``: their schedules are rebuilt here.
    """
    custom = dict(NO_CODE_OBJECTS)
    built = build_kwargs(hyperparams or {})
    for key in ("learning_rate", "clip_range", "clip_range_vf"):
        if key in built:
            value = built[key]
            custom[key] = value
            if key == "learning_rate":
                custom["lr_schedule"] = value if callable(value) else _constant(float(value))
    return ALGOS[algo].load(source, custom_objects=custom, **kwargs)  # type: ignore[attr-defined]


def rounded_timesteps(spec: TrainSpec) -> int:
    """The env steps SB3 really runs for ``spec.total_timesteps``: whole rollouts of ``n_steps * n_envs``
    (PPO; SB3's default n_steps is 2048), whole vector steps of ``n_envs`` (SAC)."""
    if spec.backend == "vector":
        from eureka.train.vector.trainer import rollout_size

        chunk = rollout_size(spec)
    else:
        chunk = spec.n_envs * (int(spec.hyperparams.get("n_steps", 2048)) if spec.algo == "ppo" else 1)
    return -(-spec.total_timesteps // chunk) * chunk


class _Monitor(BaseCallback):
    """Progress reports, ~``log_points`` metric snapshots (JSONL + TensorBoard)."""

    def __init__(self, wrapper: RewardWrapper, spec: TrainSpec, progress: Callable[[int], None] | None,
                 metrics_path: Path | None):
        super().__init__()
        self.wrapper, self.spec, self.progress = wrapper, spec, progress
        self.metrics_path = metrics_path
        self.every = max(spec.total_timesteps // max(spec.log_points, 1), 1)
        self.next_log = self.every
        self.next_progress = 0
        self.snapshots: list[dict] = []
        self._seen_eps = 0
        self.start = 0

    def _on_training_start(self) -> None:
        self.start = self.num_timesteps
        self.next_log = self.start + self.every
        self.next_progress = self.start

    def _on_step(self) -> bool:
        t = self.num_timesteps
        if self.progress is not None and t >= self.next_progress:
            self.progress(t - self.start)
            self.next_progress = t + max(self.spec.total_timesteps // 100, 256)
        if t >= self.next_log:
            self.snapshot()
            self.next_log += self.every
        return True

    def snapshot(self) -> None:
        t = self.num_timesteps
        eps = self.wrapper.episode_fitness[self._seen_eps:]
        lens = self.wrapper.episode_lengths[self._seen_eps:]
        self._seen_eps = len(self.wrapper.episode_fitness)
        components = self.wrapper.pop_component_stats()
        row = {"step": int(t), "episodes": len(eps),
               "fitness": float(np.mean(eps)) if eps else None,
               "episode_length": float(np.mean(lens)) if lens else None,
               "components": components}
        self.snapshots.append(row)
        for k, v in components.items():
            self.logger.record(f"reward/{k}", v["mean"])
        if row["fitness"] is not None:
            self.logger.record("fitness/train", row["fitness"])
            self.logger.record("train/episode_length", row["episode_length"])
        if self.metrics_path is not None:
            with self.metrics_path.open("a") as f:
                f.write(json.dumps(row) + "\n")


def run_training(spec: TrainSpec, progress: Callable[[int], None] | None = None) -> TrainResult:
    """Train and evaluate in this process, unwalled (tests, trusted rewards); always return a ``TrainResult``."""
    return TrainResult.from_dict(run_training_raw(spec, progress))


def run_training_raw(spec: TrainSpec, progress: Callable[[int], None] | None = None,
                     emit: Callable[[dict], None] | None = None, jail=None) -> dict:
    """Train; always return the result as a JSON-able dict (``status`` ok or failed): the JSON form of a
    ``TrainResult`` that a jailed training sends across the process boundary (``eureka.train.job``). Code in this
    process calls ``run_training``, which reads it into the ``TrainResult`` at once.

    In a jail (``jail`` and ``emit`` given, see ``eureka.train.job``) the process first puts
    up the walls, a watchdog ends it with ``RewardTimeout`` through ``emit`` when one reward
    call runs too long, and it saves the policy's weights for the evaluator but does not
    evaluate them itself: whatever it reports is untrusted. Without a jail (tests,
    in-process use, trusted rewards only) nothing is walled and the policy is evaluated here.
    """
    if spec.backend == "vector":  # the one place a backend is chosen
        from eureka.train.vector.trainer import run_vector_training

        return run_vector_training(spec, progress, emit, jail)
    t0 = time.time()
    torch.set_num_threads(1)
    out_dir = Path(spec.out_dir).resolve() if spec.out_dir else None
    result = new_result(spec)
    callback = None
    reward_path = spec.reward_path
    try:
        task = tasks.make(spec.task)
        device = resolve_device(spec.device)
        if spec.algo not in ALGOS:
            raise TrainingCrash(f"unknown trainer.algo '{spec.algo}'; use one of {', '.join(ALGOS)}")
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
        venv = make_vec_env(task, spec.n_envs, spec.seed, subprocess=spec.subproc_envs)
        if jail is not None:
            result["walls"], reward_path = put_up_walls(spec, jail)
            out_dir = Path(".") if out_dir is not None else None
        metrics_path = out_dir / "metrics.jsonl" if out_dir is not None else None
        if metrics_path is not None and not spec.resume:
            metrics_path.write_text("")
        fn = params = None
        own_threads = _thread_ids()  # the training's own threads: any other one is the reward's
        if spec.mode == "candidate":
            from eureka.reward.compiled import load_candidate

            fn, params = load_candidate(reward_path or "")
        if spec.algo == "sac" and not hasattr(venv.action_space, "low"):
            raise TrainingCrash(f"SAC needs continuous actions; task '{task.name}' has "
                                f"{type(venv.action_space).__name__} actions (use trainer.algo=ppo)")
        wrapper = RewardWrapper(venv, task, mode=spec.mode, reward_fn=fn, params=params,
                                path=reward_path or "", device=device)
        defer = spec.algo == "ppo"  # rewards once per rollout (train/deferred.py)
        if emit is not None and jail is not None and spec.mode == "candidate":
            wrapper.watchdog = CallWatchdog(spec.call_timeout_s, _aborter(spec, result, out_dir, emit, t0),
                                            first_calls_s=spec.first_call_cpu_s, trusted_tids=own_threads)
        tb = str(out_dir / "tb") if (out_dir is not None and spec.tensorboard) else None
        saved = out_dir / "policy.zip" if out_dir is not None else None
        if spec.resume and saved is not None and saved.exists():
            assert out_dir is not None
            norm = out_dir / "vecnormalize.pkl"
            env = VecNormalize.load(str(norm), wrapper) if spec.normalize and norm.exists() else wrapper
            model = load_model(spec.algo, str(saved), spec.hyperparams, env=env, device=device, tensorboard_log=tb)
            start = model.num_timesteps
        else:
            normalizer_class = RolloutVecNormalize if defer else VecNormalize
            env = normalizer_class(wrapper, norm_obs=True, norm_reward=True) if spec.normalize else wrapper
            model = ALGOS[spec.algo]("MlpPolicy", env, seed=spec.seed, device=device, verbose=0,
                                     tensorboard_log=tb, **build_kwargs(spec.hyperparams))
            start = 0
        if defer:
            defer_rewards(model, wrapper)
        callback = _Monitor(wrapper, spec, progress, metrics_path)
        t_learn = time.time()
        model.learn(total_timesteps=spec.total_timesteps, callback=callback, progress_bar=False,
                    reset_num_timesteps=start == 0)
        result["learn_time_s"] = time.time() - t_learn  # simulation, reward and updates (benchmarks/trainer_throughput.py)
        wrapper.flush()  # steps of a rollout cut short, if any: their episodes still count
        result["env_reward_corr"] = wrapper.env_correlation()
        if callback.snapshots and callback.snapshots[-1]["step"] < model.num_timesteps:
            callback.snapshot()
        normalizer = env if isinstance(env, VecNormalize) else None
        result.update(steps=int(model.num_timesteps), new_steps=int(model.num_timesteps - start))
        if out_dir is not None:
            model.save(out_dir / "policy.zip")  # for continued training (halving), loaded only in a jail
            if normalizer is not None:
                normalizer.save(str(out_dir / "vecnormalize.pkl"))
            save_policy(model.policy, normalizer.obs_rms if normalizer is not None else None, out_dir,
                        normalizer.clip_obs if normalizer is not None else 10.0,
                        normalizer.epsilon if normalizer is not None else 1e-8, spec.algo, spec.hyperparams)
        if jail is None:  # trusted, in-process use: evaluate here (a jail's training leaves it to the evaluator)
            stats = None if normalizer is None else {
                "mean": normalizer.obs_rms.mean, "var": normalizer.obs_rms.var,  # type: ignore[attr-defined]
                "clip_obs": normalizer.clip_obs, "epsilon": normalizer.epsilon}
            fit, lens = evaluate_policy(model.policy, task, spec.eval_episodes, spec.seed, stats, device)
            result.update(fitness=float(np.mean(fit)) if fit else float("nan"), eval_fitness=fit, eval_lengths=lens)
        env.close()
    except RewardError as err:
        result.update(status="failed", **{k: v for k, v in err.to_dict().items()})
    except Exception as exc:  # noqa: BLE001 - a crashed training must not stop the run
        result.update(status="failed", error_class="TrainingCrash", message=f"{type(exc).__name__}: {exc}",
                      hint=TrainingCrash.hint)
    if callback is not None:
        result["snapshots"] = callback.snapshots
    return _finish(result, out_dir, t0, jailed=jail is not None)
