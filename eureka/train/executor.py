"""Run many trainings in parallel: each in a supervised child that trains in a jail and evaluates outside it."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import statistics
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


@dataclasses.dataclass
class _Job:
    """A started training: its spec, its process, its GPU, and whether it is spare work nobody waits for yet."""

    spec: TrainSpec
    child: Child
    gpu: int | None
    spare: bool


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

    Spare work (``prefetch``: the final evaluation's baselines, which need nothing the search finds) fills the
    slots a ``run`` call leaves idle (the odd one out of three trainings on two workers); its processes go on
    between calls, and a later call that asks for the same spec takes the result.
    """

    def __init__(self, max_workers: int = 0, timeout_s: float = 3600.0, per_gpu: int = 1, gpus: int | None = None):
        self.max_workers = max_workers or os.cpu_count() or 1
        self.timeout_s = timeout_s
        self.per_gpu = max(1, int(per_gpu))
        self._gpus = gpus
        self._slots: GpuSlots | None = None
        self._jobs: dict[str, _Job] = {}  # started and not yet finished: this call's, and spare ones
        self._spare: list[TrainSpec] = []  # spare work not started yet (``prefetch``)
        self._spare_done: dict[str, tuple[TrainSpec, TrainResult]] = {}  # finished spare work, not asked for yet
        self._walls: list[float] = []  # how long each finished training's process ran

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

    def prefetch(self, specs: list[TrainSpec]) -> None:
        """Spare work: train ``specs`` (CPU trainings only) in slots that would otherwise stay idle during later
        ``run`` calls (never ahead of a training a call waits for). A later ``run`` of an equal spec takes its
        result, waits for it, or trains it then if it never started; ``shutdown`` drops what nobody asked for."""
        self._spare.extend(s for s in specs if not wants_gpu(s.device, self.gpus))

    def run(self, specs: list[TrainSpec], on_progress: ProgressFn | None = None,
            on_done: DoneFn | None = None) -> list[TrainResult]:
        """Train every spec; return results in the order of ``specs``."""
        results: dict[str, TrainResult] = {}
        pending: list[TrainSpec] = []
        mine: set[str] = set()  # this call's jobs that are running
        for spec in specs:
            done = self._spare_done.pop(spec.job_id, None)
            job = self._jobs.get(spec.job_id)
            self._spare = [s for s in self._spare if s.job_id != spec.job_id]  # not started: trained now, as asked
            if done is not None and done[0] == spec:
                results[spec.job_id] = done[1]
                if on_done is not None:
                    on_done(spec.job_id, done[1])
                continue
            if job is not None and job.spare:
                if job.spec == spec:
                    job.spare = False  # started as spare work: this call waits for it now
                    mine.add(spec.job_id)
                    continue
                self._end(job)  # spare work under this name, but not this spec: dropped
            pending.append(spec)
        try:
            while pending or mine:
                while pending and len(self._jobs) < self.max_workers:
                    if not self._start(pending[0], spare=False):
                        break  # every GPU slot is taken: the next training starts when one ends
                    mine.add(pending.pop(0).job_id)
                while not pending and self._spare and len(self._jobs) < self.max_workers and self._idles(mine):
                    self._start(self._spare.pop(0), spare=True)
                for job_id, job in list(self._jobs.items()):
                    result = self._poll(job.spec, job.child, None if job.spare else on_progress)
                    if result is None:
                        continue
                    self._walls.append(job.child.elapsed())
                    self._end(job)
                    if job.spare:
                        self._spare_done[job_id] = (job.spec, result)
                        continue
                    mine.discard(job_id)
                    results[job_id] = result
                    if on_done is not None:
                        on_done(job_id, result)
                if self._jobs:
                    time.sleep(0.05)
        except BaseException:
            self.shutdown()
            raise
        return [results[s.job_id] for s in specs]

    def _idles(self, mine: set[str]) -> bool:
        """Whether a free slot would idle long enough to take spare work: while this call's own trainings run on
        for at least half a typical training (the median of those finished so far; with none, yes). A spare
        started in the last moments of a call would only hold up the next call's trainings."""
        if not self._walls:
            return True
        typical = statistics.median(self._walls)
        left = max((typical - self._jobs[j].child.elapsed() for j in mine), default=0.0)
        return left >= 0.5 * typical

    def _start(self, spec: TrainSpec, spare: bool) -> bool:
        """Start ``spec`` in its own process (False: it needs a GPU slot and none is free)."""
        if self._slots is None and wants_gpu(spec.device, 1):
            self._slots = GpuSlots(self.gpus, self.per_gpu)  # kept across calls: spare work may hold a slot
        placed = self.place(spec, self._slots or GpuSlots(0))
        if placed is None:
            return False
        started, gpu = placed
        if started.out_dir:
            os.makedirs(started.out_dir, exist_ok=True)
        env = None if gpu is None else {"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}
        child = Child(_job_main, started, env, name=f"eureka-train-{spec.job_id}")
        self._jobs[spec.job_id] = _Job(spec, child, gpu, spare)
        return True

    def _end(self, job: _Job) -> None:
        """``job``'s process is done with (or given up): kill it, free its slot, give its directory back."""
        job.child.kill()
        self._restore(job.spec)
        self._jobs.pop(job.spec.job_id, None)
        if job.gpu is not None and self._slots is not None:
            self._slots.release(job.gpu)

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
        """Stop what still runs (spare work nobody asked for; every other child ends with its ``run`` call)."""
        for job in list(self._jobs.values()):
            self._end(job)
        self._spare.clear()
        self._spare_done.clear()

    @staticmethod
    def _restore(spec: TrainSpec) -> None:
        """The jail's directory belonged to its uid: hand it back to this process's user, unreadable to others."""
        if spec.out_dir and os.geteuid() == 0:
            with contextlib.suppress(OSError):
                os.lchown(spec.out_dir, 0, 0)
                os.chmod(spec.out_dir, 0o755)
