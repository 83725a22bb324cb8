"""The sandbox worker: a process that dry-runs candidate rewards behind the walls.

The walls are the same as in every process that runs candidate code
(``eureka.sandbox.walls.apply_walls``, critic profile: strict audit hook, 1 MB files,
64 open files, a memory limit per worker). Runaway code is judged by CPU time: each
check gets ``cpu_s`` CPU seconds (``RLIMIT_CPU``, then SIGXCPU); the parent keeps a
generous wall-clock backstop. What a reward prints goes to a capped log in the worker's
private directory, never to the terminal.
"""

from __future__ import annotations

import os
import resource
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

from eureka.errors import ForbiddenCode, RewardError, RewardRuntimeError
from eureka.procs import send_json
from eureka.reward.compiled import call_reward
from eureka.sandbox.walls import (
    WallSpec,
    admin,
    apply_walls,
    capture_output,
    load_candidate,
    private_tmpdir,
    warm_up_torchscript,
)


def apply_limits(limits: dict, workdir: str) -> list[str]:
    """Lock this worker down; return the list of walls that are in place."""
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    warm_up_torchscript(workdir)
    os.chdir(workdir)
    return apply_walls(WallSpec(
        kind="critic", writable=[workdir], memory_mb=int(limits.get("memory_mb", 1024)),
        max_file_mb=int(limits.get("max_file_mb", 1)), max_open_files=int(limits.get("max_open_files", 64)),
        network_namespace=bool(limits.get("network_namespace", True)),
        drop_privileges=bool(limits.get("drop_privileges", True)), strict_audit=True))


def run_check(code: str, states: dict[str, np.ndarray], workdir: str, index: int, calls: int = 3) -> dict:
    """Load ``code`` and call it on ``states``; return an ok or rejected result dict."""
    path = Path(workdir) / f"reward_{index}.py"
    try:
        path.write_text(code)
        fn, params = load_candidate(path)
        batch = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in states.items()}
        times = []
        for _ in range(max(1, calls)):
            t0 = time.perf_counter()
            reward, components = call_reward(fn, params, batch, path)
            times.append(time.perf_counter() - t0)
        return {"status": "ok", "components": sorted(components),
                "reward_mean": float(reward.mean()), "reward_std": float(reward.std()),
                "component_means": {k: float(v.mean()) for k, v in components.items()},
                "call_ms": 1000 * float(np.median(times))}
    except RewardError as err:
        return {"status": "rejected", **err.to_dict()}
    except PermissionError as exc:
        return {"status": "rejected", **ForbiddenCode(str(exc)).to_dict()}
    except BaseException as exc:  # noqa: BLE001
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return {"status": "rejected", **RewardRuntimeError(f"sandbox: {tb}").to_dict()}


def worker_main(conn, limits: dict) -> None:
    """Serve dry-run requests from ``conn`` until it closes (answers are JSON)."""
    workdir = private_tmpdir("sandbox")
    try:
        walls = apply_limits(limits, workdir)
        log = capture_output(Path(workdir) / "output.log", cap_bytes=64 * 1024)
    except Exception as exc:  # noqa: BLE001
        send_json(conn, {"status": "setup_failed", "message": f"{type(exc).__name__}: {exc}"})
        return
    send_json(conn, {"status": "ready", "walls": walls, "workdir": workdir})
    index = 0
    cpu_s = float(limits.get("cpu_s", 5))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index += 1
        used = resource.getrusage(resource.RUSAGE_SELF)
        spent = used.ru_utime + used.ru_stime
        with admin():
            resource.setrlimit(resource.RLIMIT_CPU, (int(spent + cpu_s) + 1, resource.RLIM_INFINITY))
        result = run_check(msg["code"], msg["states"], workdir, index, msg.get("calls", 3))
        result["printed_bytes_dropped"] = log.dropped
        try:
            send_json(conn, result)
        except (OSError, ValueError):
            return
