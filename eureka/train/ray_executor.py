"""Trainings as Ray tasks: one task per training, on a local Ray or any Ray cluster, no shared file system.

``executor=ray`` with ``executor.address`` (``null``: a local Ray started by the run with
``executor.num_cpus``; ``auto`` or ``<head-ip>:6379`` / ``ray://host:10001`` for an existing cluster).

What travels through Ray's object store, and nothing else:

- to the task: the ``TrainSpec``, the reward's source, the task file when the task is one (``task=path.py``),
  and, when a training continues an earlier one (successive halving), that training's files;
- back to the driver: the ``TrainResult`` (checked field by field where it was produced) and the files
  the training wrote (policy weights, normalizer, metrics, TensorBoard logs, its output log), as bytes.

Each task trains in a fresh node-local temporary directory, in a walled child process of the Ray
worker (the same walls as the local executor), so reward code never runs in the Ray worker itself.
The worker packs the directory as hostile input (``eureka.train.transport.pack_dir``); the driver
checks it again before writing into the candidate's directory (``unpack_files``). The run
directory lives on the driver alone. Ray retries a task whose worker or node died
(``executor.max_retries``); a retried task starts again from what the driver sent, so a half-done
attempt leaves nothing behind. Videos are rendered on the driver from the returned policy.

On a GPU (``trainer.device=cuda``, or ``auto`` on a cluster with GPUs) each task asks for
``num_gpus=1/executor.per_gpu`` (``task_resources``; ``executor.gpus_per_task`` > 0 wins), so Ray places it on
a GPU node and sets ``CUDA_VISIBLE_DEVICES`` to its GPU; the walled training gets ``cuda:0`` of those.

Ray's own output never reaches the terminal: a local Ray logs into ``<run>/ray/`` (copied from
its short-path session directory when the run ends), and whatever ``ray.init`` prints goes to
``<run>/ray/driver.log``. Install with ``pip install 'eureka-rl[ray]'``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from eureka.errors import ConfigError
from eureka.train.executor import LocalExecutor, crash_result
from eureka.train.result import DoneFn, ProgressFn, TrainResult
from eureka.train.runner import TrainSpec
from eureka.train.transport import DRIVER_FILES, Limits, pack_dir, safe_relpath, unpack_files


def _write(root: Path, rel: str, data: bytes) -> None:
    """Write an input file so that the walled training (another uid) may continue it: the job's temp dir
    itself is private to this worker's uid, and the training reaches it only as its working directory."""
    path = root / rel
    for parent in reversed(path.relative_to(root).parents[:-1]):
        (root / parent).mkdir(exist_ok=True)
        os.chmod(root / parent, 0o777)
    path.write_bytes(data)
    os.chmod(path, 0o666)


def task_resources(cpus_per_task: float, gpus_per_task: float, per_gpu: int, device: str,
                   cluster_gpus: float) -> dict[str, float]:
    """What one training asks Ray for: ``num_cpus``, and ``num_gpus``: ``executor.gpus_per_task`` when set (> 0),
    else ``1 / executor.per_gpu`` for a training on a GPU (``trainer.device=cuda``, or ``auto`` on a cluster with
    GPUs: ``cluster_gpus``), else 0 (Ray then places it on any node, and it trains on the CPU)."""
    if gpus_per_task > 0:
        gpus = float(gpus_per_task)
    elif str(device).split(":", 1)[0] == "cuda" or (str(device) == "auto" and cluster_gpus > 0):
        gpus = 1.0 / max(1, int(per_gpu))
    else:
        gpus = 0.0
    return {"num_cpus": float(cpus_per_task), "num_gpus": gpus}


def _gpus_of_this_task() -> int:
    """GPUs Ray gave this task (it also set ``CUDA_VISIBLE_DEVICES`` to them); 0 outside Ray or without."""
    with contextlib.suppress(Exception):
        import ray

        return len(ray.get_gpu_ids())
    return 0


def train_on_node(spec: TrainSpec, reward: bytes | None, task_file: tuple[str, bytes] | None,
                  inputs: dict[str, bytes], timeout_s: float, niceness: int | None = None) -> dict:
    """The body of one Ray task: train ``spec`` in a node-local temp dir; return the result and the files.

    Runs in a Ray worker (eureka's code, no candidate code): the training runs in a walled child
    process (``LocalExecutor``), whose directory is then read as hostile input.
    """
    limits = Limits.for_training(spec.max_file_mb)
    _driver_priority(niceness)
    with tempfile.TemporaryDirectory(prefix=f"eureka-job-{re.sub(r'[^A-Za-z0-9_.-]', '_', spec.job_id)[:40]}-") as tmp:
        root = Path(tmp)
        out = root / "out"
        out.mkdir()
        for rel, data in inputs.items():
            if safe_relpath(rel) and isinstance(data, bytes):
                _write(out, rel, data)
        changes: dict = {"out_dir": str(out)}
        if reward is not None:
            (root / "reward.py").write_bytes(reward)
            changes["reward_path"] = str(root / "reward.py")
        if task_file is not None:
            name, data = task_file
            (root / "task").mkdir()
            (root / "task" / name).write_bytes(data)
            changes["task"] = str(root / "task" / name)
        local = dataclasses.replace(spec, **changes)
        # on a GPU the training gets cuda:0 of the GPUs Ray gave this task (CUDA_VISIBLE_DEVICES, passed to the child)
        result = LocalExecutor(1, timeout_s=timeout_s, gpus=_gpus_of_this_task()).run([local])[0]
        packed = pack_dir(out, limits, exclude=DRIVER_FILES, unchanged=inputs)
    node = None
    with contextlib.suppress(Exception):
        import ray

        node = ray.get_runtime_context().get_node_id()
    return {"result": result, "files": packed.files, "skipped": packed.skipped[:50], "node": node,
            "host": os.uname().nodename}


def _driver_priority(niceness: int | None) -> None:
    """Run at the driver's niceness, not Ray's +15 for workers (best effort: raising priority needs root);
    before the worker's forkserver starts, so that every training forked from it inherits it."""
    if niceness is None:
        return
    with contextlib.suppress(OSError):
        if os.getpriority(os.PRIO_PROCESS, 0) > niceness:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)


def warm_worker(niceness: int | None = None) -> str:
    """A Ray task that starts this worker's forkserver (torch, SB3 and Gymnasium imported) ahead of the trainings."""
    from eureka.procs import run_in_child

    _driver_priority(niceness)
    # a round trip through the forkserver: it imports its preload (torch, ...) after it started, so only a
    # first child proves it is ready (without it, the first training still waited ~5 s on a busy machine)
    run_in_child(os.getpid, timeout=300)
    return os.uname().nodename


def _inputs(spec: TrainSpec) -> dict[str, bytes]:
    """The files a continued training needs from its directory on the driver (none for a fresh one)."""
    if not spec.resume or not spec.out_dir or not Path(spec.out_dir).is_dir():
        return {}
    return pack_dir(spec.out_dir, Limits.for_training(spec.max_file_mb), exclude=DRIVER_FILES).files


def _task_file(spec: TrainSpec) -> tuple[str, bytes] | None:
    """A task given as a file (``task=path/to/my_task.py``) travels with the training."""
    path = Path(spec.task)
    if spec.task.endswith(".py") and path.is_file():
        return path.name, path.read_bytes()
    return None


@contextlib.contextmanager
def _quiet(log_file: Path | None):
    """Send what this process writes to fd 2 (Ray's notices, its children's stderr) to ``log_file``.

    Only stderr: the terminal's progress display writes to stdout meanwhile."""
    if log_file is None:
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(str(log_file), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 2)
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(fd)
        os.close(saved)


def _route_cluster_messages(log_file: Path) -> None:
    """Ray's driver prints the cluster's error messages ("(raylet) Raylet is terminated ...") on stdout from a
    background thread; send them to ``log_file`` instead (the run goes on: a lost node is Ray's to retry)."""
    try:
        import ray._private.worker as ray_worker
    except ImportError:
        return
    if not hasattr(ray_worker, "print_to_stdstream"):
        return

    def to_log(data: dict, ignore_prefix: bool = False) -> None:  # noqa: ARG001 - Ray's signature
        with contextlib.suppress(Exception), open(log_file, "a") as f:
            for line in data.get("lines") or []:
                f.write(f"({data.get('pid')}) {line}\n")

    ray_worker.print_to_stdstream = to_log


class RayExecutor:
    """Submit each spec as a Ray task; write each result's files into its directory on the driver."""

    def __init__(self, address: str | None = None, num_cpus: int = 0, cpus_per_task: float = 1.0,
                 gpus_per_task: float = 0.0, max_retries: int = 3, timeout_s: float = 3600.0,
                 log_dir: str | Path | None = None, per_gpu: int = 1, device: str = "cpu"):
        try:
            import ray
        except ImportError:
            raise ConfigError("executor=ray needs Ray: pip install 'eureka-rl[ray]'") from None
        self.ray = ray
        self.log_dir = Path(log_dir) if log_dir else None
        self.started_here = False
        self.temp_dir: str | None = None
        self.nodes: dict[str, str] = {}  # job id -> the Ray node id that produced its result
        if not ray.is_initialized():
            from eureka.procs import _without_secrets

            for name in ("ray", "ray._private.authentication.authentication_token_setup"):
                logging.getLogger(name).setLevel(logging.ERROR)
            quiet = self.log_dir / "driver.log" if self.log_dir else None
            local = address in (None, "", "local")
            # a local Ray's processes (and so every task) start without secrets; joining a cluster starts no
            # process here and may need the cluster's RAY_AUTH_TOKEN
            with _without_secrets() if local else contextlib.nullcontext(), _quiet(quiet):
                if local:
                    # short: Ray's socket paths live here (AF_UNIX paths may not exceed 107 bytes), so not $TMPDIR
                    self.temp_dir = tempfile.mkdtemp(prefix="eray-", dir="/tmp" if os.path.isdir("/tmp") else None)
                    # Ray lowers its workers' priority by 15 (worker_niceness): trainings would then lose every
                    # contended core to the run's other processes; they run at the driver's priority instead
                    ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                             log_to_driver=False, logging_level=logging.ERROR, configure_logging=False,
                             _temp_dir=self.temp_dir, _system_config={"worker_niceness": 0})
                    self.started_here = True
                else:
                    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, configure_logging=False)
            if quiet is not None:
                _route_cluster_messages(quiet)
            if self.log_dir is not None and self.temp_dir is not None:
                (self.log_dir / "where.txt").write_text(f"Ray's session directory while the run lasts: "
                                                        f"{self.temp_dir}\n")
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0.0)) if str(device) == "auto" and \
            gpus_per_task <= 0 else 0.0
        self.resources = task_resources(cpus_per_task, gpus_per_task, per_gpu, device, cluster_gpus)
        self._task = ray.remote(train_on_node).options(**self.resources, max_retries=max_retries,
                                                       retry_exceptions=False)
        self._warm = ray.remote(warm_worker).options(**self.resources, max_retries=0)
        self.timeout_s, self.cpus_per_task = timeout_s, float(cpus_per_task)
        self.niceness = os.getpriority(os.PRIO_PROCESS, 0)  # the trainings run at the driver's priority
        self._warming: list = []

    def warm_up(self, wait: bool = False) -> None:
        """Start as many Ray workers as trainings fit at once, each with its forkserver ready.

        Asynchronous by default (the run's first phase, the critic, overlaps with it); the first
        trainings then do not pay for importing torch in a fresh worker.
        """
        resources = self.ray.cluster_resources()
        cpus = float(resources.get("CPU", 1.0))
        per = self.cpus_per_task or 1.0
        fit = int(cpus // per)
        if self.resources["num_gpus"] > 0:  # trainings on GPUs: as many at once as the GPUs hold
            fit = min(fit, int(float(resources.get("GPU", 0.0)) / self.resources["num_gpus"] + 1e-9))
        self._warming = [self._warm.remote(self.niceness)  # type: ignore[call-arg]
                         for _ in range(max(1, fit))]
        if wait:
            with contextlib.suppress(Exception):
                self.ray.get(self._warming, timeout=300)

    def submit(self, spec: TrainSpec):
        """Start one training on the cluster; return its object ref."""
        reward = Path(spec.reward_path).read_bytes() if spec.reward_path and Path(spec.reward_path).is_file() \
            else None
        return self._task.remote(spec, reward, _task_file(spec), _inputs(spec), self.timeout_s, self.niceness)

    def receive(self, spec: TrainSpec, ref) -> TrainResult:
        """The result of one finished task, its files written into ``spec.out_dir`` (checked)."""
        try:
            answer = self.ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - a task Ray gave up on fails only its candidate
            return crash_result(spec, f"the Ray task failed: {type(exc).__name__}: {str(exc)[:300]}")
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, TrainResult):
            return crash_result(spec, "the Ray task returned no training result")
        result.job_id = spec.job_id
        refused: list[str] = []
        if spec.out_dir:
            refused = unpack_files(answer.get("files"), spec.out_dir, Limits.for_training(spec.max_file_mb))
        self.nodes[spec.job_id] = str(answer.get("node"))
        if self.log_dir is not None:
            from eureka.store import append_jsonl

            with contextlib.suppress(OSError):
                append_jsonl(self.log_dir / "tasks.jsonl", {
                    "time": time.time(), "job_id": spec.job_id, "node": str(answer.get("node")),
                    "host": str(answer.get("host"))[:100], "ok": result.ok, "files": len(answer.get("files") or {}),
                    "skipped": [str(x)[:200] for x in (answer.get("skipped") or [])[:20]], "refused": refused[:20]})
        return result

    def run(self, specs: list[TrainSpec], on_progress: ProgressFn | None = None,
            on_done: DoneFn | None = None) -> list[TrainResult]:
        """Train every spec on Ray; return results in the order of ``specs``."""
        refs = {self.submit(spec): spec for spec in specs}
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
                    result = self.receive(spec, ref)
                    results[spec.job_id] = result
                    if on_progress is not None and result.steps:
                        on_progress(spec.job_id, int(result.steps))
                    if on_done is not None:
                        on_done(spec.job_id, result)
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    self.ray.cancel(ref, force=True)
        return [results[s.job_id] for s in specs]

    def shutdown(self) -> None:
        """Stop the local Ray this executor started (a cluster given by address is left alone); keep its logs."""
        if self.ray.is_initialized():
            quiet = self.log_dir / "driver.log" if self.log_dir else None
            with _quiet(quiet):
                self.ray.shutdown()
        if self.temp_dir is not None:
            if self.log_dir is not None:
                with contextlib.suppress(OSError):
                    logs = Path(self.temp_dir) / "session_latest" / "logs"
                    if logs.is_dir():
                        shutil.copytree(logs, self.log_dir / "logs", symlinks=True, dirs_exist_ok=True)
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None


def wait_for_nodes(ray, count: int, timeout_s: float = 60.0) -> list[dict]:
    """The cluster's live nodes, once there are ``count`` of them (for tests and scripts)."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [n for n in ray.nodes() if n.get("Alive")]
        if len(alive) >= count or time.monotonic() > deadline:
            return alive
        time.sleep(0.5)
