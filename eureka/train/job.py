"""One training job: train in a jail of its own, then measure the verdict outside it.

``run_job`` runs in a trusted process (an executor's child, a Ray task's child,
``eureka-check-task``): it starts the training in a jail (``eureka.sandbox.jail``), passes
the jail's progress on, keeps what the jail reports as untrusted (bounded, checked field by
field, marked ``reported_*``), and, once the jail has ended, evaluates the saved weights
itself (``eureka.train.evaluator``): that evaluation is the only ``fitness``. The trusted
process never loads anything a candidate wrote but tensors and plain arrays.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from eureka.errors import Failure, TrainingCrash, error_from_child
from eureka.procs import death_cause, recv_json, send_json
from eureka.sandbox.jail import Jail, JailSpec, bounded_report, cuda_access, cuda_device_nodes, spawn
from eureka.store.safe import SafeWriteError, write_file
from eureka.train.result import Snapshot, TrainResult, _corr, finite
from eureka.train.runner import TrainSpec, policy_settings, run_training_raw


def trains_on_cuda(device: str, dev: str = "/dev") -> bool:
    """Whether a training with ``trainer.device=device`` may use CUDA here: ``cuda[:i]``, or ``auto`` with a CUDA
    build of torch on a machine with NVIDIA device nodes. Asks no CUDA API: this process forks the jail, and a
    CUDA driver initialized here (``torch.cuda.is_available()`` calls ``cuInit``) would fail in the jail."""
    device = str(device)
    if device == "auto":
        import torch

        return torch.version.cuda is not None and bool(cuda_device_nodes(dev))
    return device.split(":", 1)[0] == "cuda"


def jail_spec(spec: TrainSpec, dev: str = "/dev", ldconfig: str | None = None) -> JailSpec:
    """The jail of one training (its own directory is the only one it may write). On CUDA it may also use the
    NVIDIA device nodes and read the driver's libraries (``cuda_access``; ``dev`` and ``ldconfig`` for tests),
    and nothing else more."""
    devices: list[str] = []
    readable: list[str] = []
    if trains_on_cuda(spec.device, dev):
        devices, readable = cuda_access(dev, ldconfig)
    return JailSpec(kind="training", writable=[str(Path(spec.out_dir).resolve())] if spec.out_dir else [],
                    readable=readable, memory_mb=spec.memory_mb, cpu_s=spec.cpu_s, max_file_mb=spec.max_file_mb,
                    max_open_files=256, max_tasks=spec.max_tasks, scratch_mb=spec.scratch_mb,
                    env_allow=list(spec.env_allow), devices=devices)


def _train_in_jail(conn, jail: Jail, spec: TrainSpec) -> None:
    """Inside the jail: train, send progress and the (untrusted) result as JSON."""
    def emit(msg: dict) -> None:
        send_json(conn, msg)

    def report(steps: int) -> None:
        try:
            emit({"progress": int(steps)})
        except (OSError, ValueError):
            pass

    result = run_training_raw(spec, report, emit=emit, jail=jail)
    result["jail"] = jail.report()
    emit({"result": result})




def sanitize_reported(spec: TrainSpec, raw: object) -> TrainResult:
    """What a jailed training reported, kept to known, typed, bounded fields; ``fitness`` stays empty
    (only the evaluator sets it)."""
    if not isinstance(raw, dict):
        return TrainResult.crashed(spec.job_id, "the training process sent no result")
    ok = raw.get("status") == "ok"
    snaps = [s for s in (Snapshot.from_dict(r) for r in (raw.get("snapshots") or [])[:1000]) if s]
    curve = [s.fitness for s in snaps if s.fitness is not None]
    return TrainResult(
        spec.job_id, ok=ok, snapshots=snaps, steps=int(finite(raw.get("steps")) or 0),
        new_steps=int(finite(raw.get("new_steps")) or 0),
        walls=[str(w)[:40] for w in raw.get("walls", [])[:24]] if isinstance(raw.get("walls"), list) else [],
        reported_fitness=curve[-1] if curve else None, jail=bounded_report(raw.get("jail")),
        env_corr=_corr(raw.get("env_reward_corr")),  # reported: informs the reflection and the report only
        learn_time_s=finite(raw.get("learn_time_s")),  # reported: the trainer's own timing, for the benchmarks
        failure=None if ok else Failure.of(error_from_child(raw)))


def run_job(spec: TrainSpec, progress: Callable[[int], None] | None = None) -> TrainResult:
    """Train ``spec`` in a jail, then evaluate the saved policy here; always return a ``TrainResult``."""
    from eureka.train.evaluator import evaluate_saved

    t0 = time.time()
    if spec.out_dir:
        os.makedirs(spec.out_dir, exist_ok=True)
    jail = spawn(jail_spec(spec), _train_in_jail, spec)
    raw = None  # the last result the jail sent: only read once the jail has ended, and never trusted
    try:
        while True:
            if not jail.conn.poll(0.2):
                if jail.alive() or jail.conn.poll(0):
                    continue
                break
            try:
                msg = recv_json(jail.conn)
            except (EOFError, OSError):
                break
            except ValueError:
                raw = {"status": "failed", "error_class": "TrainingCrash",
                       "message": "the training process sent a malformed message"}
                continue
            if isinstance(msg, dict) and "result" in msg:
                raw = msg["result"]
            elif isinstance(msg, dict) and progress is not None and finite(msg.get("progress")) is not None:
                progress(int(msg["progress"]))
        code = jail.wait(30)
    finally:
        jail.kill()
    if raw is None:
        result = TrainResult.crashed(spec.job_id, death_cause(code, "the training process"))
    else:
        result = sanitize_reported(spec, raw)
    if result.ok:
        t_eval = time.time()
        try:
            fit, lens = evaluate_saved(spec.task, spec.algo, policy_settings(spec), spec.out_dir or ".",
                                       spec.eval_episodes, spec.seed)
            result.eval_fitness, result.eval_lengths = fit, lens
            result.fitness = finite(sum(fit) / len(fit)) if fit else None
        except TrainingCrash as err:
            result.fail(Failure.of(err))
        except Exception as exc:  # noqa: BLE001 - a policy that cannot be evaluated ends this candidate only
            result.fail(Failure.of(TrainingCrash(f"evaluating the saved policy failed: {type(exc).__name__}: {exc}")))
        result.eval_time_s = time.time() - t_eval
    result.wall_time_s = time.time() - t0
    if spec.out_dir:
        record_verdict(Path(spec.out_dir), result)
    return result


def record_verdict(out_dir: Path, result: TrainResult) -> None:
    """Write ``fitness.json`` (the evaluator's verdict) into a directory a candidate wrote in, safely."""
    data = dict(result.to_dict(), fitness_source="evaluator (saved weights, fresh envs)",
                reported_fitness=result.reported_fitness)
    try:
        write_file(out_dir, "fitness.json", json.dumps(data, indent=2))
    except SafeWriteError as exc:
        result.fail(Failure.of(TrainingCrash(str(exc))))
