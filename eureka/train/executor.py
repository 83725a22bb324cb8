"""Run training jobs in parallel child processes; survive hangs and crashes."""

from __future__ import annotations

import os
import queue
import signal
import time
from dataclasses import dataclass

from eureka.procs import context, start
from eureka.train.result import DoneFn, ProgressFn, TrainResult
from eureka.train.runner import TrainSpec, run_training


def _job_main(spec: TrainSpec, conn, progress_q) -> None:
    def report(steps: int) -> None:
        try:
            progress_q.put_nowait((spec.job_id, steps))
        except Exception:  # noqa: BLE001 - progress is best effort
            pass

    result = run_training(spec, report)
    conn.send(result)
    conn.close()


@dataclass
class _Running:
    spec: TrainSpec
    proc: object
    conn: object
    started: float


def _crash(spec: TrainSpec, message: str) -> TrainResult:
    return TrainResult.crashed(spec.job_id, message)


class LocalExecutor:
    """Up to ``max_workers`` trainings at once, each in its own process.

    A job that exceeds ``timeout_s`` is killed; a job whose process dies
    (out of memory, segfault) is reported as ``TrainingCrash``; the others go on.
    """

    def __init__(self, max_workers: int = 0, timeout_s: float = 3600.0):
        self.max_workers = max_workers or os.cpu_count() or 1
        self.timeout_s = timeout_s

    def run(self, specs: list[TrainSpec], on_progress: ProgressFn | None = None,
            on_done: DoneFn | None = None) -> list[TrainResult]:
        """Train every spec; return results in the order of ``specs``."""
        ctx = context()
        progress_q = ctx.Queue()
        pending = list(specs)
        running: list[_Running] = []
        results: dict[str, TrainResult] = {}

        def finish(job: _Running, result: TrainResult) -> None:
            results[job.spec.job_id] = result
            if on_done is not None:
                on_done(job.spec.job_id, result)

        try:
            while pending or running:
                while pending and len(running) < self.max_workers:
                    spec = pending.pop(0)
                    parent, child = ctx.Pipe(duplex=False)
                    proc = ctx.Process(target=_job_main, args=(spec, child, progress_q), daemon=True)
                    start(proc)
                    child.close()
                    running.append(_Running(spec, proc, parent, time.time()))
                self._drain(progress_q, on_progress)
                for job in list(running):
                    result = None
                    if job.conn.poll():
                        try:
                            result = job.conn.recv()
                        except (EOFError, OSError):
                            job.proc.join(timeout=5)
                            result = _crash(job.spec, self._death(job.proc.exitcode))
                    elif not job.proc.is_alive():
                        job.proc.join(timeout=1)
                        if job.conn.poll():
                            continue
                        result = _crash(job.spec, self._death(job.proc.exitcode))
                    elif time.time() - job.started > self.timeout_s:
                        job.proc.kill()
                        result = _crash(job.spec, f"training did not finish within {self.timeout_s:g} s; killed")
                    if result is not None:
                        job.proc.join(timeout=5)
                        job.conn.close()
                        running.remove(job)
                        finish(job, result)
                time.sleep(0.05)
            self._drain(progress_q, on_progress)
        finally:
            for job in running:
                job.proc.kill()
            progress_q.close()
        return [results[s.job_id] for s in specs]

    @staticmethod
    def _drain(progress_q, on_progress: ProgressFn | None) -> None:
        while True:
            try:
                job_id, steps = progress_q.get_nowait()
            except queue.Empty:
                return
            if on_progress is not None:
                on_progress(job_id, steps)

    @staticmethod
    def _death(exitcode: int | None) -> str:
        if exitcode is not None and exitcode < 0:
            name = signal.Signals(-exitcode).name
            cause = " (likely out of memory)" if name == "SIGKILL" else ""
            return f"the training process died with {name}{cause}"
        return f"the training process exited with code {exitcode} before reporting a result"
