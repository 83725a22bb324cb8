"""Run many trainings in parallel: each in a supervised child that trains in a jail and evaluates outside it."""

from __future__ import annotations

import contextlib
import os
import time

from eureka.procs import Child, ChildDied, send_json
from eureka.train.job import run_job
from eureka.train.result import DoneFn, ProgressFn, TrainResult, finite
from eureka.train.runner import TrainSpec


def _job_main(conn, spec: TrainSpec) -> None:
    """Child (trusted): train in a jail, evaluate outside it; send progress and the result as JSON."""
    def report(steps: int) -> None:
        with contextlib.suppress(Exception):  # progress is best effort
            send_json(conn, {"progress": int(steps)})

    send_json(conn, {"result": run_job(spec, report).to_dict(snapshots=True)})


def crash_result(spec: TrainSpec, message: str) -> TrainResult:
    return TrainResult.crashed(spec.job_id, message)


def sanitize_result(spec: TrainSpec, raw: object) -> TrainResult:
    """A job's result from its (trusted) supervising process; a malformed one is a crash."""
    if not isinstance(raw, dict) or raw.get("job_id") != spec.job_id:
        return crash_result(spec, "the training process sent no result")
    return TrainResult.from_dict(raw)


class LocalExecutor:
    """Up to ``max_workers`` trainings at once, each in its own walled process.

    A job that exceeds ``timeout_s`` is killed; a job whose process dies (out of memory,
    segfault) is reported as ``TrainingCrash``; the others go on. Results are JSON from
    the child, checked field by field (``sanitize_result``).
    """

    def __init__(self, max_workers: int = 0, timeout_s: float = 3600.0):
        self.max_workers = max_workers or os.cpu_count() or 1
        self.timeout_s = timeout_s

    def run(self, specs: list[TrainSpec], on_progress: ProgressFn | None = None,
            on_done: DoneFn | None = None) -> list[TrainResult]:
        """Train every spec; return results in the order of ``specs``."""
        pending = list(specs)
        running: dict[str, tuple[TrainSpec, Child]] = {}
        results: dict[str, TrainResult] = {}
        try:
            while pending or running:
                while pending and len(running) < self.max_workers:
                    spec = pending.pop(0)
                    if spec.out_dir:
                        os.makedirs(spec.out_dir, exist_ok=True)
                    running[spec.job_id] = (spec, Child(_job_main, spec, name=f"eureka-train-{spec.job_id}"))
                for job_id, (spec, child) in list(running.items()):
                    result = self._poll(spec, child, on_progress)
                    if result is None:
                        continue
                    child.kill()
                    self._restore(spec)
                    del running[job_id]
                    results[job_id] = result
                    if on_done is not None:
                        on_done(job_id, result)
                if running:
                    time.sleep(0.05)
        finally:
            for spec, child in running.values():
                child.kill()
                self._restore(spec)
        return [results[s.job_id] for s in specs]

    def _poll(self, spec: TrainSpec, child: Child, on_progress: ProgressFn | None) -> TrainResult | None:
        """Read what the child sent; return its result when it is done (or dead, or late)."""
        try:
            while child.poll(0):
                msg = child.recv()
                if isinstance(msg, dict) and "result" in msg:
                    return sanitize_result(spec, msg["result"])
                if isinstance(msg, dict) and on_progress is not None and finite(msg.get("progress")) is not None:
                    on_progress(spec.job_id, int(msg["progress"]))
        except ChildDied:
            return crash_result(spec, child.cause("the training process"))
        if not child.alive():
            if child.poll(0):
                return self._poll(spec, child, on_progress)
            return crash_result(spec, child.cause("the training process"))
        if child.elapsed() > self.timeout_s:
            return crash_result(spec, f"training did not finish within {self.timeout_s:g} s (trainer.timeout_s); killed")
        return None

    def shutdown(self) -> None:
        """Nothing to stop: every child ends with its training."""

    @staticmethod
    def _restore(spec: TrainSpec) -> None:
        """The jail's directory belonged to its uid: hand it back to this process's user, unreadable to others."""
        if spec.out_dir and os.geteuid() == 0:
            with contextlib.suppress(OSError):
                os.lchown(spec.out_dir, 0, 0)
                os.chmod(spec.out_dir, 0o755)
