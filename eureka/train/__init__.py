"""Training: one reward on one task (runner) and many in parallel (executors: local processes or Ray)."""

from eureka.train.executor import LocalExecutor
from eureka.train.runner import TrainSpec, run_training


def make_executor(cfg, timeout_s: float = 3600.0, log_dir=None):
    """The executor named by ``executor.name`` (``local`` or ``ray``), from ``ExecutorConfig``.

    ``log_dir``: where Ray's own logs go (``<run>/ray``), never the terminal.
    """
    if cfg.name == "ray":
        from eureka.train.ray_executor import RayExecutor

        ex = RayExecutor(cfg.address, int(cfg.num_cpus), float(cfg.cpus_per_task), float(cfg.gpus_per_task),
                         int(cfg.max_retries), timeout_s, log_dir=log_dir)
        ex.warm_up()  # the workers import torch while the run's critic starts
        return ex
    return LocalExecutor(int(cfg.max_workers), timeout_s)


__all__ = ["LocalExecutor", "TrainSpec", "make_executor", "run_training"]
