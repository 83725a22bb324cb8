"""Training: one reward on one task (runner) and many in parallel (executor)."""

from eureka.train.executor import LocalExecutor
from eureka.train.runner import TrainSpec, run_training

__all__ = ["LocalExecutor", "TrainSpec", "run_training"]
