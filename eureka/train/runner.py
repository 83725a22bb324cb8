"""Train one policy on one reward (candidate, env's own, or sparse fitness) and measure its fitness.

Runs inside a child process started by an executor; everything it needs is in
a picklable ``TrainSpec`` and everything it returns is a plain dict.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from eureka import tasks
from eureka.errors import RewardError, TrainingCrash
from eureka.reward.vecenv import make_vec_env
from eureka.reward.watchdog import CallWatchdog
from eureka.reward.wrapper import RewardWrapper
from eureka.train.deferred import RolloutVecNormalize, defer_rewards
from eureka.train.result import TrainResult

ALGOS = {"ppo": PPO, "sac": SAC}
ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "elu": torch.nn.ELU}


@dataclass
class TrainSpec:
    """What to train: one reward on one task with one seed."""

    job_id: str
    task: str
    mode: str = "candidate"  # candidate | env | sparse
    reward_path: str | None = None
    algo: str = "ppo"
    total_timesteps: int = 50_000
    n_envs: int = 8
    seed: int = 0
    device: str = "cpu"
    hyperparams: dict = field(default_factory=dict)
    normalize: bool = False
    eval_episodes: int = 10
    log_points: int = 10
    out_dir: str | None = None
    tensorboard: bool = True
    resume: bool = False  # continue the policy saved in out_dir (successive halving's later rungs)
    subproc_envs: bool = False  # SubprocVecEnv instead of DummyVecEnv
    memory_mb: int = 4096  # address space the walled training process may add (then RewardMemoryError)
    max_file_mb: int = 256  # largest file it may write
    call_timeout_s: float = 2.0  # CPU seconds per reward call (then RewardTimeout with the step)
    first_call_cpu_s: float = 5.0  # for the first 3 calls (TorchScript compiles on them)
    network_namespace: bool = True
    drop_privileges: bool = True


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` when available, else ``cpu``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingCrash("trainer.device=cuda but no CUDA device is available")
    return device


def _schedule(value):
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


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
    return ALGOS[algo].load(source, custom_objects=custom, **kwargs)


def build_kwargs(hyperparams: dict) -> dict:
    """Turn YAML hyperparameters into SB3 keyword arguments (``lin_`` schedules, activations)."""
    kwargs = {k: _schedule(v) for k, v in hyperparams.items()}
    pk = dict(kwargs.get("policy_kwargs") or {})
    if isinstance(pk.get("activation_fn"), str):
        pk["activation_fn"] = ACTIVATIONS[pk["activation_fn"]]
    if "net_arch" in pk and isinstance(pk["net_arch"], dict):
        pk["net_arch"] = {k: list(v) for k, v in pk["net_arch"].items()}
    elif "net_arch" in pk:
        pk["net_arch"] = list(pk["net_arch"])
    if pk:
        kwargs["policy_kwargs"] = pk
    return kwargs


def rounded_timesteps(spec: TrainSpec) -> int:
    """The env steps SB3 really runs for ``spec.total_timesteps``: whole rollouts of ``n_steps * n_envs``
    (PPO; SB3's default n_steps is 2048), whole vector steps of ``n_envs`` (SAC)."""
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
        row = {"step": int(t), "episodes": len(eps),
               "fitness": float(np.mean(eps)) if eps else None,
               "episode_length": float(np.mean(lens)) if lens else None,
               "components": self.wrapper.pop_component_stats()}
        self.snapshots.append(row)
        for k, v in row["components"].items():
            self.logger.record(f"reward/{k}", v["mean"])
        if row["fitness"] is not None:
            self.logger.record("fitness/train", row["fitness"])
            self.logger.record("train/episode_length", row["episode_length"])
        if self.metrics_path is not None:
            with self.metrics_path.open("a") as f:
                f.write(json.dumps(row) + "\n")


def evaluate_fitness(model, task, episodes: int, seed: int, normalizer: VecNormalize | None = None,
                     device: str = "cpu") -> tuple[list[float], list[int]]:
    """Run the deterministic policy for ``episodes`` episodes; return per-episode fitness and lengths."""
    n = max(1, min(episodes, 8))
    venv = make_vec_env(task, n, seed + 10_000)
    wrapper = RewardWrapper(venv, task, mode="env", device=device, info_components=False)
    env = wrapper
    if normalizer is not None:
        env = VecNormalize(wrapper, training=False, norm_reward=False)
        env.obs_rms = normalizer.obs_rms
    quota = np.array([(episodes + i) // n for i in range(n)])
    counts = np.zeros(n, dtype=int)
    fitness: list[float] = []
    lengths: list[int] = []
    obs = env.reset()
    while (counts < quota).any():
        before = len(wrapper.episode_fitness)
        actions, _ = model.predict(obs, deterministic=True)
        obs, _, dones, _ = env.step(actions)
        new_f = wrapper.episode_fitness[before:]
        new_l = wrapper.episode_lengths[before:]
        for j, i in enumerate(np.flatnonzero(dones)):
            if counts[i] < quota[i]:
                fitness.append(new_f[j])
                lengths.append(new_l[j])
                counts[i] += 1
    env.close()
    return fitness, lengths


def put_up_walls(spec: TrainSpec, out_dir: Path | None) -> tuple[list[str], str | None]:
    """Walls for this training process; return them and the path to load the candidate from.

    Everything the training needs is imported and the env is built before this; the
    candidate's file is read now and loaded from the private temp dir afterwards. The
    process then works in ``out_dir`` (its only writable directory besides the temp dir).
    """
    import os

    import torch.utils.tensorboard  # noqa: F401 - lazily imported by SB3's logger; import before the walls

    from eureka.sandbox.walls import (
        WallSpec,
        apply_walls,
        capture_output,
        private_tmpdir,
        warm_up_torchscript,
    )

    code = Path(spec.reward_path).read_text() if spec.mode == "candidate" and spec.reward_path else None
    tmp = private_tmpdir("training")
    warm_up_torchscript(tmp)
    writable = [str(out_dir)] if out_dir is not None else []
    if out_dir is not None:
        os.chdir(out_dir)
    walls = apply_walls(WallSpec(kind="training", writable=writable, memory_mb=spec.memory_mb,
                                 max_file_mb=spec.max_file_mb, network_namespace=spec.network_namespace,
                                 drop_privileges=spec.drop_privileges))
    capture_output(Path(tmp if out_dir is None else ".") / "output.log")
    path = None
    if code is not None:
        path = str(Path(tmp) / "reward.py")
        Path(path).write_text(code)
    return walls, path


def run_training(spec: TrainSpec, progress: Callable[[int], None] | None = None) -> TrainResult:
    """Train and evaluate in this process, unwalled (tests, trusted rewards); always return a ``TrainResult``."""
    return TrainResult.from_dict(run_training_raw(spec, progress))


def run_training_raw(spec: TrainSpec, progress: Callable[[int], None] | None = None,
                     emit: Callable[[dict], None] | None = None) -> dict:
    """Train and evaluate; always return the result as a JSON-able dict (``status`` ok or failed),
    what an executor's child sends to its parent (which turns it into a ``TrainResult``).

    With ``emit`` (in an executor's child process) the process first puts up the walls
    (``eureka.sandbox.walls``), a watchdog ends it with ``RewardTimeout`` through ``emit``
    when one reward call runs too long, and the result holds the walls that were up.
    Without it (tests, in-process use) nothing is walled: only for trusted rewards.
    """
    t0 = time.time()
    torch.set_num_threads(1)
    out_dir = Path(spec.out_dir).resolve() if spec.out_dir else None
    result = {"job_id": spec.job_id, "spec": asdict(spec), "status": "ok", "error_class": None,
              "message": "", "fitness": None, "eval_fitness": [], "eval_lengths": [], "snapshots": [], "walls": []}
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
        if emit is not None:
            result["walls"], reward_path = put_up_walls(spec, out_dir)
            out_dir = Path(".") if out_dir is not None else None
        metrics_path = out_dir / "metrics.jsonl" if out_dir is not None else None
        if metrics_path is not None and not spec.resume:
            metrics_path.write_text("")
        fn = params = None
        if spec.mode == "candidate":
            from eureka.sandbox.walls import load_candidate

            fn, params = load_candidate(reward_path)
        if spec.algo == "sac" and not hasattr(venv.action_space, "low"):
            raise TrainingCrash(f"SAC needs continuous actions; task '{task.name}' has "
                                f"{type(venv.action_space).__name__} actions (use trainer.algo=ppo)")
        wrapper = RewardWrapper(venv, task, mode=spec.mode, reward_fn=fn, params=params,
                                path=reward_path or "", device=device)
        defer = spec.algo == "ppo"  # rewards once per rollout (train/deferred.py)
        if emit is not None and spec.mode == "candidate":
            wrapper.watchdog = CallWatchdog(spec.call_timeout_s, _aborter(spec, result, out_dir, emit, t0),
                                            first_calls_s=spec.first_call_cpu_s)
        tb = str(out_dir / "tb") if (out_dir is not None and spec.tensorboard) else None
        saved = out_dir / "policy.zip" if out_dir is not None else None
        if spec.resume and saved is not None and saved.exists():
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
        model.learn(total_timesteps=spec.total_timesteps, callback=callback, progress_bar=False,
                    reset_num_timesteps=start == 0)
        wrapper.flush()  # steps of a rollout cut short, if any: their episodes still count
        result["env_reward_corr"] = wrapper.env_correlation()
        if callback.snapshots and callback.snapshots[-1]["step"] < model.num_timesteps:
            callback.snapshot()
        normalizer = env if isinstance(env, VecNormalize) else None
        fit, lens = evaluate_fitness(model, task, spec.eval_episodes, spec.seed, normalizer, device)
        result.update(fitness=float(np.mean(fit)) if fit else float("nan"), eval_fitness=fit, eval_lengths=lens,
                      steps=int(model.num_timesteps), new_steps=int(model.num_timesteps - start))
        if out_dir is not None:
            model.save(out_dir / "policy.zip")
            if normalizer is not None:
                normalizer.save(str(out_dir / "vecnormalize.pkl"))
        env.close()
    except RewardError as err:
        result.update(status="failed", **{k: v for k, v in err.to_dict().items()})
    except Exception as exc:  # noqa: BLE001 - a crashed training must not stop the run
        result.update(status="failed", error_class="TrainingCrash", message=f"{type(exc).__name__}: {exc}",
                      hint=TrainingCrash.hint)
    if callback is not None:
        result["snapshots"] = callback.snapshots
    return _finish(result, out_dir, t0)


def _finish(result: dict, out_dir: Path | None, t0: float) -> dict:
    if result["fitness"] is not None and not math.isfinite(result["fitness"]):
        result["fitness"] = None
    result["wall_time_s"] = time.time() - t0
    if out_dir is not None:
        (out_dir / "fitness.json").write_text(json.dumps(
            {k: result.get(k) for k in ("status", "fitness", "eval_fitness", "eval_lengths", "error_class",
                                        "message", "steps", "wall_time_s", "walls")}, indent=2))
    return result


def _aborter(spec: TrainSpec, result: dict, out_dir: Path | None, emit: Callable[[dict], None], t0: float):
    """What the watchdog does when a reward call overruns: report RewardTimeout and end the process."""
    import os

    from eureka.errors import RewardTimeout

    def abort(step: int, cpu_s: float) -> None:
        err = RewardTimeout(f"one reward call used {cpu_s:.1f} CPU seconds at training step {step} (limit "
                            f"{spec.call_timeout_s:g} s per call, sandbox.call_timeout_s); training stopped")
        result.update(status="failed", fitness=None, **err.to_dict())
        try:
            emit({"result": _finish(result, out_dir, t0)})
        finally:
            os._exit(3)

    return abort
