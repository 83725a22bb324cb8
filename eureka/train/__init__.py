"""Training: one reward on one task (runner) and many in parallel (executors: local processes or Ray)."""

from eureka.train.executor import LocalExecutor
from eureka.train.runner import TrainSpec, run_training


def make_executor(cfg, timeout_s: float = 3600.0):
    """The executor named by ``executor.name`` (``local`` or ``ray``)."""
    name = str(cfg.get("name", "local"))
    if name == "ray":
        from eureka.train.ray_executor import RayExecutor

        return RayExecutor(cfg.get("address"), int(cfg.get("num_cpus", 0) or 0), float(cfg.get("cpus_per_task", 1)),
                           float(cfg.get("gpus_per_task", 0)), int(cfg.get("max_retries", 3)), timeout_s)
    return LocalExecutor(int(cfg.get("max_workers", 0) or 0), timeout_s)


__all__ = ["LocalExecutor", "TrainSpec", "make_executor", "run_training"]
