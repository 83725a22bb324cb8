"""Training: one reward on one task (runner) and many in parallel (executors: local processes or Ray)."""

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from eureka.config import EurekaConfig, ExecutorConfig
from eureka.train.executor import LocalExecutor
from eureka.train.result import Executor
from eureka.train.runner import TrainSpec, run_training


def make_executor(cfg: ExecutorConfig, timeout_s: float = 3600.0, log_dir: str | Path | None = None,
                  device: str = "auto") -> Executor:
    """The executor named by ``executor.name`` (``local`` or ``ray``), from ``ExecutorConfig``; ``device``:
    ``trainer.device`` (on cuda, ``executor.per_gpu`` trainings share a GPU).

    ``log_dir``: where Ray's own logs go (``<run>/ray``), never the terminal.
    """
    if cfg.name == "ray":
        from eureka.train.ray_executor import RayExecutor

        ex = RayExecutor(cfg.address, cfg.num_cpus, cfg.cpus_per_task, cfg.gpus_per_task, cfg.max_retries, timeout_s,
                         log_dir=log_dir, per_gpu=cfg.per_gpu, device=str(device))
        ex.warm_up()  # the workers import torch while the run's critic starts
        return ex
    return LocalExecutor(cfg.max_workers, timeout_s, per_gpu=cfg.per_gpu)


def train_spec(cfg: EurekaConfig, **job: Any) -> TrainSpec:
    """One training of ``cfg``'s task: every ``trainer.*`` key ``TrainSpec`` has by that name, the algorithm's
    SB3 arguments, the reward-call and jail limits of ``sandbox.*`` (``training_*``) and ``eval.episodes``; ``job`` (``job_id``, ``mode``,
    ``seed``, ``reward_path``, ``out_dir``, or any field to differ) on top. On a GPU simulation (``trainer.sim``
    resolves to ``warp`` on ``cuda``, decided on this machine) ``num_envs`` is ``trainer.gpu_num_envs`` when set, and ``trainer.gpu_vector`` overrides
    ``trainer.vector``'s keys."""
    t, sb = cfg.trainer, cfg.sandbox
    names = {f.name for f in fields(TrainSpec)}
    spec: dict[str, Any] = {k: v for k, v in asdict(t).items() if k in names}
    if t.backend == "vector" and (t.gpu_num_envs > 0 or t.gpu_vector):  # on a GPU simulation: the GPU settings
        from eureka.train.process import resolve_device
        from eureka.train.vector.sims import simulates_on_gpu, training_num_envs

        device = resolve_device(str(t.device))
        spec["num_envs"] = training_num_envs(t, cfg.task.name, device)
        if t.gpu_vector and simulates_on_gpu(t, cfg.task.name, device):
            spec["vector"] = {**t.vector, **t.gpu_vector}
    spec.update(task=cfg.task.name, hyperparams=dict(getattr(t, t.algo)), eval_episodes=cfg.eval.episodes,
                call_timeout_s=sb.call_timeout_s, first_call_cpu_s=sb.cpu_s, network_namespace=sb.network_namespace,
                drop_privileges=sb.drop_privileges, env_allow=list(sb.env_allow), cpu_s=sb.training_cpu_s,
                max_tasks=sb.training_max_tasks, scratch_mb=sb.training_scratch_mb)
    return TrainSpec(**{**spec, **job})


__all__ = ["LocalExecutor", "TrainSpec", "make_executor", "run_training", "train_spec"]
