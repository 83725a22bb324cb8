"""The critic's worker: a warm, trusted process that runs each dry run in a fresh jail of its own.

The worker never loads candidate code. Each check runs in a jail forked from it
(``eureka.sandbox.jail``: its own namespaces and uid, critic profile: strict audit hook,
1 MB files, 64 open files, a memory limit), so no check runs where an earlier candidate's
code ran. Runaway code is judged by CPU time: a check gets ``cpu_s`` CPU seconds for all
its threads (``RLIMIT_CPU``, then SIGXCPU); the worker keeps a generous wall-clock
backstop. What a reward prints goes to a capped log in the jail's scratch, never to the
terminal.
"""

from __future__ import annotations

import shutil
import signal
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import torch

from eureka.errors import (
    ForbiddenCode,
    RewardError,
    RewardMemoryError,
    RewardRuntimeError,
    RewardTimeout,
)
from eureka.procs import death_cause, recv_json, send_json
from eureka.reward.compiled import call_reward, load_candidate, warm_up
from eureka.sandbox.jail import Jail, JailSpec, spawn
from eureka.sandbox.walls import capture_output


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


def _jail_spec(limits: dict) -> JailSpec:
    return JailSpec(kind="critic", memory_mb=int(limits.get("memory_mb", 1024)), cpu_s=float(limits.get("cpu_s", 5)),
                    max_file_mb=int(limits.get("max_file_mb", 1)),
                    max_open_files=int(limits.get("max_open_files", 64)), max_tasks=int(limits.get("max_tasks", 16)),
                    scratch_mb=int(limits.get("scratch_mb", 16)), strict_audit=True,
                    env_allow=list(limits.get("env_allow") or []))


def check_in_jail(conn, jail: Jail) -> None:
    """Inside a fresh jail: put up the walls, say ready, run the one check asked for, answer, end."""
    scratch = jail.scratch or "."
    warm_up(scratch)  # takes this process's copy-on-write faults now, not during the check
    walls = jail.lock_down()
    log = capture_output(Path(scratch) / "output.log", cap_bytes=64 * 1024)
    send_json(conn, {"status": "ready", "walls": walls, "jail": jail.report()})
    try:
        msg = conn.recv()  # pickled by the trusted worker that forked this jail, never by candidate code
    except (EOFError, OSError):
        return
    result = run_check(msg["code"], msg["states"], scratch, 0, msg.get("calls", 3))
    result["printed_bytes_dropped"] = log.dropped
    send_json(conn, result)


class _NextJail:
    """The jail the next check will run in, started ahead of time so a check does not wait for it."""

    def __init__(self, limits: dict):
        self.limits = limits
        self.proc = spawn(_jail_spec(limits), check_in_jail)
        self.ready: dict | None = None

    def wait_ready(self, timeout: float) -> dict:
        """The jail's ready message (walls and report); raises ``RuntimeError`` when it did not come up."""
        if self.ready is None:
            if not self.proc.conn.poll(timeout):
                self.proc.kill()
                raise RuntimeError("the critic's jail did not come up in time")
            try:
                self.ready = recv_json(self.proc.conn)
            except (EOFError, OSError, ValueError):
                code = self.proc.wait(5)
                raise RuntimeError(f"the critic's jail failed to start ({death_cause(code, 'it')})") from None
        return self.ready

    def check(self, request: dict, timeout: float) -> dict:
        """Send the check; return its answer, or the cause of the jail's death as a rejection (the caller
        ends the jail afterwards: ``proc.kill``)."""
        self.proc.conn.send(request)
        try:
            if self.proc.conn.poll(timeout):
                return recv_json(self.proc.conn)
            return {"status": "rejected", **RewardTimeout(
                f"the reward did not return within {timeout:g} s of wall-clock time; the check was killed").to_dict()}
        except (EOFError, OSError, ValueError):
            return death_error(self.proc.wait(5), self.limits)


def death_error(exitcode: int | None, limits: dict) -> dict:
    """A jail's death during a check, as a classified rejection."""
    sig = -exitcode if exitcode is not None and exitcode < 0 else None
    cpu_s = float(limits.get("cpu_s", 5))
    if sig == signal.SIGXCPU:
        err: RewardError = RewardTimeout(f"the reward used more than {cpu_s:g} CPU seconds (all its threads)")
    elif sig == signal.SIGKILL:
        err = RewardMemoryError("the check was killed (out of memory)")
    elif sig == signal.SIGXFSZ:
        err = ForbiddenCode("the reward tried to write a file")
    elif sig is not None:
        err = RewardRuntimeError(f"the check crashed with signal {signal.Signals(sig).name}")
    else:
        err = RewardRuntimeError(f"the check ended unexpectedly (exit code {exitcode})")
    return {"status": "rejected", **err.to_dict()}


def worker_main(conn, limits: dict) -> None:
    """A warm, trusted worker: never loads candidate code; runs each check in a fresh jail forked from itself.

    It imports torch and compiles one TorchScript reward of its own once, so every jail it
    forks starts warm; ``prepared`` jails (2) are kept started ahead, and a new one is
    started as soon as one is used, so a check seldom waits for its jail.
    """
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import tempfile
    from collections import deque

    warm = tempfile.mkdtemp(prefix="eureka-critic-warm-")
    start_timeout = float(limits.get("start_timeout_s", 120))
    try:
        warm_up(warm)
        jails = deque(_NextJail(limits) for _ in range(max(1, int(limits.get("prepared", 2)))))
        ready = jails[0].wait_ready(start_timeout)
    except Exception as exc:  # noqa: BLE001
        send_json(conn, {"status": "setup_failed", "message": f"{type(exc).__name__}: {exc}"})
        return
    finally:
        shutil.rmtree(warm, ignore_errors=True)
    send_json(conn, {"status": "ready", "walls": ready["walls"], "jail": ready.get("jail"), "workdir": None})
    backstop = float(limits.get("timeout_s", 60))
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if msg is None:
                return
            nxt = jails.popleft()
            try:
                nxt.wait_ready(start_timeout)
                result = nxt.check(msg, backstop)
            except RuntimeError as exc:
                result = {"status": "rejected", **RewardRuntimeError(f"sandbox: {exc}").to_dict()}
            try:
                send_json(conn, result)
            except (OSError, ValueError):
                return
            finally:
                nxt.proc.kill()  # after the answer: the next check does not wait for this jail's end
            jails.append(_NextJail(limits))  # prepared after the answer, while the run does other work
    finally:
        for j in jails:
            j.proc.kill()
