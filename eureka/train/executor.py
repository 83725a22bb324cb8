"""Run many trainings in parallel, each in its own supervised, walled child process."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time

from eureka.errors import Failure, error_from_child
from eureka.procs import Child, ChildDied, send_json
from eureka.sandbox.policy import MAX_COMPONENTS, valid_component_name
from eureka.train.result import DoneFn, ProgressFn, TrainResult
from eureka.train.runner import TrainSpec, run_training_raw


def _job_main(conn, spec: TrainSpec) -> None:
    """Child: train behind the walls; send progress and the result to the parent as JSON."""
    lock = threading.Lock()

    def emit(msg: dict) -> None:
        with lock:
            send_json(conn, msg)

    def report(steps: int) -> None:
        with contextlib.suppress(Exception):  # progress is best effort
            emit({"progress": int(steps)})

    emit({"result": run_training_raw(spec, report, emit=emit)})


def crash_result(spec: TrainSpec, message: str) -> TrainResult:
    return TrainResult.crashed(spec.job_id, message)


def _num(v: object) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _corr(v: object) -> float | None:
    """A correlation, or None when the child sent anything but a number in [-1, 1]."""
    x = _num(v)
    return x if x is not None and -1.0 <= x <= 1.0 else None


def _nums(v: object, limit: int = 10_000) -> list[float]:
    return [x for x in (_num(y) for y in v[:limit]) if x is not None] if isinstance(v, list) else []


def _snapshot(row: object) -> dict | None:
    if not isinstance(row, dict):
        return None
    comps = row.get("components") if isinstance(row.get("components"), dict) else {}
    clean = {}
    for name, stats in list(comps.items())[:MAX_COMPONENTS]:
        if valid_component_name(name) and isinstance(stats, dict):
            clean[name] = {k: _num(stats.get(k)) for k in ("mean", "std", "min", "max")}
    return {"step": int(_num(row.get("step")) or 0), "episodes": int(_num(row.get("episodes")) or 0),
            "fitness": _num(row.get("fitness")), "episode_length": _num(row.get("episode_length")),
            "components": clean}


def sanitize_result(spec: TrainSpec, raw: object) -> TrainResult:
    """Keep only known, typed, bounded fields of what a training child reported (it ran candidate code)."""
    if not isinstance(raw, dict):
        return crash_result(spec, "the training process sent no result")
    ok = raw.get("status") == "ok"
    return TrainResult(
        spec.job_id, ok=ok, fitness=_num(raw.get("fitness")) if ok else None,
        eval_fitness=_nums(raw.get("eval_fitness")), eval_lengths=[int(x) for x in _nums(raw.get("eval_lengths"))],
        snapshots=[s for s in (_snapshot(r) for r in (raw.get("snapshots") or [])[:1000]) if s],
        steps=int(_num(raw.get("steps")) or 0), new_steps=int(_num(raw.get("new_steps")) or 0),
        wall_time_s=_num(raw.get("wall_time_s")) or 0.0, env_corr=_corr(raw.get("env_reward_corr")),
        walls=[str(w)[:40] for w in raw.get("walls", [])[:20]] if isinstance(raw.get("walls"), list) else [],
        failure=None if ok else Failure.of(error_from_child(raw)))


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
                if isinstance(msg, dict) and on_progress is not None and _num(msg.get("progress")) is not None:
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
        """The walled child made its directory sticky and world-writable; close it again."""
        if spec.out_dir and os.geteuid() == 0:
            with contextlib.suppress(OSError):
                os.chmod(spec.out_dir, 0o755)
