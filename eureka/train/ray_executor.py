"""Trainings as Ray tasks: one task per training, on a local Ray or any Ray cluster.

``executor=ray`` with ``executor.address`` (``null``: a local Ray started by the run with
``executor.num_cpus``; ``auto`` or ``ray://host:10001`` for an existing cluster). Each Ray
task runs the training exactly as the local executor does, in a walled child process of
the Ray worker (same walls, same JSON result checked field by field), so reward code never
runs in the Ray worker itself, which holds Ray's sockets. Ray retries a task whose worker
died (``executor.max_retries``); results come back through Ray's object store. Install with
``pip install 'eureka-rl[ray]'``.
"""

from __future__ import annotations

import logging
import os
import time

from eureka.errors import ConfigError
from eureka.train.executor import LocalExecutor, crash_result, sanitize_result
from eureka.train.result import DoneFn, ProgressFn, TrainResult
from eureka.train.runner import TrainSpec


def train_in_walled_child(spec: TrainSpec, timeout_s: float) -> TrainResult:
    """The body of one Ray task: a walled child process trains ``spec`` (its answer is checked there)."""
    return LocalExecutor(1, timeout_s=timeout_s).run([spec])[0]


class RayExecutor:
    """Submit each spec as a Ray task; report results as they finish."""

    def __init__(self, address: str | None = None, num_cpus: int = 0, cpus_per_task: float = 1.0,
                 gpus_per_task: float = 0.0, max_retries: int = 3, timeout_s: float = 3600.0):
        try:
            import ray
        except ImportError:
            raise ConfigError("executor=ray needs Ray: pip install 'eureka-rl[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            from eureka.procs import _without_secrets

            with _without_secrets():  # Ray's processes (and so every task) start without secrets
                if address in (None, "", "local"):
                    ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                             log_to_driver=False, logging_level=logging.ERROR, configure_logging=False)
                else:
                    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, configure_logging=False)
        self._task = ray.remote(train_in_walled_child).options(
            num_cpus=cpus_per_task, num_gpus=gpus_per_task, max_retries=max_retries, retry_exceptions=False)
        self.timeout_s = timeout_s

    def run(self, specs: list[TrainSpec], on_progress: ProgressFn | None = None,
            on_done: DoneFn | None = None) -> list[TrainResult]:
        """Train every spec on Ray; return results in the order of ``specs``."""
        refs = {self._task.remote(spec, self.timeout_s): spec for spec in specs}
        for spec in specs:
            if on_progress is not None:
                on_progress(spec.job_id, 0)
        results: dict[str, TrainResult] = {}
        pending = list(refs)
        try:
            while pending:
                ready, pending = self.ray.wait(pending, num_returns=1, timeout=1.0)
                for ref in ready:
                    spec = refs[ref]
                    try:
                        raw = self.ray.get(ref)
                        result = raw if isinstance(raw, TrainResult) else sanitize_result(spec, raw)
                    except Exception as exc:  # noqa: BLE001 - a task Ray gave up on fails only its candidate
                        result = crash_result(spec, f"the Ray task failed: {type(exc).__name__}: {str(exc)[:300]}")
                    results[spec.job_id] = result
                    if on_progress is not None and result.steps:
                        on_progress(spec.job_id, int(result.steps))
                    if on_done is not None:
                        on_done(spec.job_id, result)
                time.sleep(0.01)
        finally:
            for ref in pending:
                self.ray.cancel(ref, force=True)
        return [results[s.job_id] for s in specs]

    def shutdown(self) -> None:
        """Stop the local Ray this executor started (a cluster given by address is left alone)."""
        if self.ray.is_initialized():
            self.ray.shutdown()
