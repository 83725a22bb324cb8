"""The sandbox worker: a process that dry-runs candidate rewards under limits.

Walls, from the outside in: resource limits (address space, CPU seconds, file
size, open files, processes), its own network namespace when allowed (no
interfaces up), an unprivileged user when started as root, a private temp
dir as working directory, an audit hook that refuses writes outside it,
sockets, processes and native code, and restricted builtins in the reward
module itself. The parent adds a wall-clock timeout with a hard kill.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

from eureka.errors import ForbiddenCode, RewardError, RewardRuntimeError
from eureka.reward.compiled import call_reward, load_reward

CLONE_NEWNET = 0x40000000
NOBODY = 65534
_GATE = {"admin": False}  # True only while the worker itself (not a reward) adjusts its limits
_DENIED_EVENTS = ("socket.", "subprocess.", "os.system", "os.fork", "os.forkpty", "os.exec", "os.spawn",
                  "os.posix_spawn", "os.kill", "os.killpg", "ctypes.", "os.remove", "os.rename", "os.rmdir",
                  "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.symlink", "os.link", "os.setuid",
                  "shutil.", "pty.", "os.putenv", "os.unsetenv", "webbrowser.", "urllib.", "http.", "ftplib.",
                  "smtplib.", "telnetlib.", "os.startfile", "sys.addaudithook", "os.chdir", "os.listdir",
                  "os.scandir", "glob.", "os.walk", "resource.", "signal.", "fcntl.",
                  "code.", "cpython.run_")


def _libc_unshare(flags: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.unshare(flags) == 0
    except OSError:
        return False


def _vm_size_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _warm_up_torchscript(workdir: str) -> None:
    """Compile one scripted reward so TorchScript's lazy imports happen before the walls go up."""
    import numpy.ma  # noqa: F401 - imported lazily by torch.jit

    path = Path(workdir) / "warmup.py"
    path.write_text("import torch\nfrom typing import Dict, Tuple\n\n@torch.jit.script\n"
                    "def compute_reward(x: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:\n"
                    "    return x * 1.0, {'x': x}\n")
    fn, _ = load_reward(path)
    fn(torch.zeros(2))
    path.unlink()


def apply_limits(limits: dict, workdir: str) -> list[str]:
    """Lock this process down; return the list of walls that are in place."""
    walls = []
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    _warm_up_torchscript(workdir)
    os.chdir(workdir)
    if limits.get("network_namespace", True):
        if _libc_unshare(CLONE_NEWNET):
            walls.append("netns")
    mem = int(limits.get("memory_mb", 1024)) * 1024 * 1024
    if mem > 0:
        resource.setrlimit(resource.RLIMIT_AS, (_vm_size_bytes() + mem, resource.RLIM_INFINITY))
        walls.append("memory")
    fsize = int(limits.get("max_file_mb", 1)) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    nofile = int(limits.get("max_open_files", 64))
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    if os.geteuid() == 0 and limits.get("drop_privileges", True):
        os.chown(workdir, NOBODY, NOBODY)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        walls.append("nobody")
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    walls.append("nproc")
    root = os.path.realpath(workdir)
    denied = tuple(_DENIED_EVENTS)  # captured: rebinding the module global later changes nothing
    gate = _GATE

    def audit(event: str, args: tuple) -> None:
        if event == "open":
            path, mode = args[0], args[1]
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            if isinstance(mode, int):
                writing = bool(mode & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
            if writing and isinstance(path, (str, bytes)):
                p = os.path.realpath(os.fsdecode(path))
                if not (p == root or p.startswith(root + os.sep)):
                    raise PermissionError(f"sandbox: writing to {p} is not allowed")
            return
        if gate["admin"] and event.startswith("resource."):
            return
        if event.startswith(denied):
            raise PermissionError(f"sandbox: '{event}' is not allowed")

    sys.addaudithook(audit)
    walls.append("audit")
    return walls


def run_check(code: str, states: dict[str, np.ndarray], workdir: str, index: int, calls: int = 3) -> dict:
    """Load ``code`` and call it on ``states``; return an ok or rejected result dict."""
    path = Path(workdir) / f"reward_{index}.py"
    try:
        path.write_text(code)
        fn, params = load_reward(path)
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
    """Serve dry-run requests from ``conn`` until it closes."""
    workdir = tempfile.mkdtemp(prefix="eureka-sandbox-")
    try:
        walls = apply_limits(limits, workdir)
    except Exception as exc:  # noqa: BLE001
        conn.send({"status": "setup_failed", "message": f"{type(exc).__name__}: {exc}"})
        return
    conn.send({"status": "ready", "walls": walls, "pid": os.getpid(), "workdir": workdir})
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
        _GATE["admin"] = True
        resource.setrlimit(resource.RLIMIT_CPU, (int(spent + cpu_s) + 1, resource.RLIM_INFINITY))
        _GATE["admin"] = False
        result = run_check(msg["code"], msg["states"], workdir, index, msg.get("calls", 3))
        try:
            conn.send(result)
        except (OSError, ValueError):
            return
