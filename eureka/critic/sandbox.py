"""A warm pool of sandbox workers: CPU-time limits per check, a wall-clock backstop, hard kills."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import asdict

import numpy as np

from eureka.config import SandboxConfig
from eureka.errors import (
    RewardRuntimeError,
    RewardTimeout,
    error_from_child,
)
from eureka.procs import Child, ChildDied

# the limits applied to every sandbox worker: ``sandbox.*`` of the config, defaults in eureka/config.py
SandboxLimits = SandboxConfig


class _Worker:
    def __init__(self, limits: SandboxLimits):
        from eureka.critic.worker import worker_main

        self.child = Child(worker_main, asdict(limits), name="eureka-sandbox")
        self.walls: list[str] = []
        self.jail: dict | None = None  # what the first jail reported of itself (namespaces, uid, limits)
        self.ready = False

    def wait_ready(self, timeout: float) -> None:
        if self.ready:
            return
        try:
            msg = self.child.wait(timeout)
        except TimeoutError:
            self.kill()
            raise RuntimeError("sandbox worker did not start in time") from None
        except ChildDied:
            self.kill()
            raise RuntimeError(f"sandbox worker failed to start: {self.child.cause('it')}") from None
        if msg.get("status") != "ready":
            self.kill()
            raise RuntimeError(f"sandbox worker failed to start: {msg.get('message')}")
        self.walls = [str(w) for w in msg["walls"]]
        self.jail = msg.get("jail") if isinstance(msg.get("jail"), dict) else None
        self.ready = True

    def kill(self) -> None:
        self.child.kill()  # its jail dies with it (parent-death signal); the jail's scratch is a tmpfs


def _from_worker(msg: object) -> dict:
    """Keep only known, bounded fields of a worker's answer (the worker ran candidate code)."""
    if not isinstance(msg, dict) or msg.get("status") != "ok":
        return {"status": "rejected", **error_from_child(msg).to_dict()}
    out: dict = {"status": "ok"}
    comps = msg.get("components")
    out["components"] = [str(c)[:64] for c in comps][:32] if isinstance(comps, list) else []
    for key in ("reward_mean", "reward_std", "call_ms"):
        v = msg.get(key)
        out[key] = float(v) if isinstance(v, (int, float)) else None
    means = msg.get("component_means")
    out["component_means"] = {str(k)[:64]: float(v) for k, v in list(means.items())[:32]
                              if isinstance(v, (int, float))} if isinstance(means, dict) else {}
    return out


class SandboxPool:
    """Dry-run candidate code in warm, locked-down worker processes.

    A worker that failed in any way is killed and replaced, so no state
    survives from one candidate to the next.
    """

    def __init__(self, limits: SandboxLimits | None = None):
        self.limits = limits or SandboxLimits()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(max(1, self.limits.workers)):
            self._idle.put(_Worker(self.limits))

    @property
    def walls(self) -> list[str]:
        w = self._idle.get()
        try:
            w.wait_ready(self.limits.start_timeout_s)
            return list(w.walls)
        finally:
            self._idle.put(w)

    @property
    def jail(self) -> dict | None:
        """What a check's jail reported of itself (namespaces, uid, limits), bounded."""
        w = self._idle.get()
        try:
            w.wait_ready(self.limits.start_timeout_s)
            from eureka.sandbox.jail import bounded_report

            return bounded_report(w.jail)
        finally:
            self._idle.put(w)

    def warm_up(self) -> None:
        """Block until every worker is ready."""
        workers = [self._idle.get() for _ in range(max(1, self.limits.workers))]
        try:
            for w in workers:
                w.wait_ready(self.limits.start_timeout_s)
        finally:
            for w in workers:
                self._idle.put(w)

    def run(self, code: str, states: dict[str, np.ndarray], calls: int = 3) -> dict:
        """Dry-run ``code`` on ``states``; return the worker's result dict (adds ``check_ms``)."""
        if self._closed:
            raise RuntimeError("sandbox pool is closed")
        t0 = time.perf_counter()
        worker = self._idle.get()
        recycle = True  # a worker is replaced only when it failed itself (its checks run in jails of their own)
        try:
            worker.wait_ready(self.limits.start_timeout_s)
            worker.child.send({"code": code, "states": states, "calls": calls})
            if worker.child.poll(self.limits.timeout_s + 30):  # the worker's own backstop comes first
                result = _from_worker(worker.child.recv())
                recycle = False
            else:
                result = {"status": "rejected", **RewardTimeout(
                    f"the reward did not return within {self.limits.timeout_s:g} s of wall-clock time; "
                    "the check was killed").to_dict()}
        except ChildDied:
            result = {"status": "rejected", **RewardRuntimeError(
                f"sandbox: the critic's worker ended ({worker.child.cause('it')})").to_dict()}
        finally:
            if recycle:
                worker.kill()
                worker = _Worker(self.limits)
            self._idle.put(worker)
        result["check_ms"] = 1000 * (time.perf_counter() - t0)
        return result

    def close(self) -> None:
        """Stop all workers."""
        self._closed = True
        while not self._idle.empty():
            w = self._idle.get_nowait()
            try:
                w.child.send(None)
            except ChildDied:
                pass
            w.kill()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
