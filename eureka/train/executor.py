"""Run many trainings in parallel: each in a supervised child that trains in a jail and evaluates outside it."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time

from eureka.procs import Child, ChildDied, send_json
from eureka.train.job import run_job
from eureka.train.result import DoneFn, ProgressFn, TrainResult, finite
from eureka.train.runner import TrainSpec


def _job_main(conn, spec: TrainSpec, env: dict[str, str | None] | None = None) -> None:
    """Child (trusted): train in a jail, evaluate outside it; send progress and the result as JSON.

    ``env``: variables to set (None: to remove) before anything starts CUDA: the executor's current
    ``CUDA_VISIBLE_DEVICES`` (the forkserver's copy may be older: a Ray worker gets its GPUs per task)."""
    for key, value in (env or {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

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


def wants_gpu(device: str, gpus: int) -> bool:
    """Whether a training with ``trainer.device=device`` trains on a GPU where ``gpus`` GPUs are visible."""
    device = str(device)
    return device.split(":", 1)[0] == "cuda" or (device == "auto" and gpus > 0)


class GpuSlots:
    """At most ``per_gpu`` trainings on each of ``gpus`` GPUs; a new one goes to the least-loaded GPU."""

    def __init__(self, gpus: int, per_gpu: int = 1):
        self.per_gpu = max(1, int(per_gpu))
        self.load = [0] * max(0, int(gpus))

    @property
    def capacity(self) -> int:
        return self.per_gpu * len(self.load)

    def take(self) -> int | None:
        """The GPU index a new training gets (None: every GPU is full)."""
        if not self.load or min(self.load) >= self.per_gpu:
            return None
        i = self.load.index(min(self.load))
        self.load[i] += 1
        return i

    def release(self, i: int) -> None:
        self.load[i] = max(0, self.load[i] - 1)


def _gpu_count() -> int:
    """GPUs torch sees here (0 without CUDA, or with a CPU build of torch): NVML's count where it answers, which
    leaves the CUDA driver uninitialized in this process (``torch.cuda.device_count``)."""
    import torch

    return int(torch.cuda.device_count())


class LocalExecutor:
    """Up to ``max_workers`` trainings at once, each in its own walled process.

    A training on a GPU (``trainer.device`` ``cuda``, or ``auto`` where a GPU is visible) also takes a slot:
    at most ``per_gpu`` trainings on each of the ``gpus`` GPUs (default: those torch sees), so
    ``per_gpu x gpus`` at once (and no more than ``max_workers`` when that is set); each gets the least-loaded
    GPU as ``cuda:<i>`` (of the GPUs ``CUDA_VISIBLE_DEVICES`` lets this process see), in its own process (its own
    CUDA context).

    A job that exceeds ``timeout_s`` is killed; a job whose process dies (out of memory,
    segfault) is reported as ``TrainingCrash``; the others go on. Results are JSON from
    the child, checked field by field (``sanitize_result``).
    """

    def __init__(self, max_workers: int = 0, timeout_s: float = 3600.0, per_gpu: int = 1, gpus: int | None = None):
        self.max_workers = max_workers or os.cpu_count() or 1
        self.timeout_s = timeout_s
        self.per_gpu = max(1, int(per_gpu))
        self._gpus = gpus

    @property
    def gpus(self) -> int:
        if self._gpus is None:
            self._gpus = _gpu_count()
        return self._gpus

    def place(self, spec: TrainSpec, slots: GpuSlots) -> tuple[TrainSpec, int | None] | None:
        """``spec`` as it starts now (on a GPU: ``device`` ``cuda:<i>``) and its GPU, or None when it must wait
        for a GPU slot. A CPU training needs no slot."""
        if not wants_gpu(spec.device, self.gpus):
            return spec, None
        if self.gpus == 0:  # trainer.device=cuda without a GPU: the training says so itself (TrainingCrash)
            return spec, None
        gpu = slots.take()
        if gpu is None:
            return None
        return dataclasses.replace(spec, device=f"cuda:{gpu}"), gpu

    def run(self, specs: list[TrainSpec], on_progress: ProgressFn | None = None,
            on_done: DoneFn | None = None) -> list[TrainResult]:
        """Train every spec; return results in the order of ``specs``."""
        pending = list(specs)
        running: dict[str, tuple[TrainSpec, Child]] = {}
        on_gpu: dict[str, int] = {}  # job id -> its GPU
        slots = GpuSlots(self.gpus if any(wants_gpu(s.device, 1) for s in specs) else 0, self.per_gpu)
        results: dict[str, TrainResult] = {}
        try:
            while pending or running:
                while pending and len(running) < self.max_workers:
                    placed = self.place(pending[0], slots)
                    if placed is None:
                        break  # every GPU slot is taken: the next training starts when one ends
                    pending.pop(0)
                    spec, gpu = placed
                    if spec.out_dir:
                        os.makedirs(spec.out_dir, exist_ok=True)
                    env = None
                    if gpu is not None:
                        on_gpu[spec.job_id] = gpu
                        env = {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}
                    running[spec.job_id] = (spec, Child(_job_main, spec, env, name=f"eureka-train-{spec.job_id}"))
                for job_id, (spec, child) in list(running.items()):
                    result = self._poll(spec, child, on_progress)
                    if result is None:
                        continue
                    child.kill()
                    self._restore(spec)
                    del running[job_id]
                    if job_id in on_gpu:
                        slots.release(on_gpu.pop(job_id))
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
