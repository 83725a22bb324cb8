"""The one child-process supervisor: start, messages, poll, timeout, kill, exit code to a cause.

Children are forked from a forkserver that has already imported torch, Gymnasium and SB3,
so a new worker costs milliseconds instead of a cold Python start, and no child inherits
the main process's threads, run state or secrets: the forkserver is started from an
environment reduced to an allow-list (``eureka.sandbox.jail.TRUSTED_ENV_ALLOW``). Every child asks the kernel to kill it when
its parent (the forkserver) dies, and the forkserver exits when the main process dies, so
no child outlives the run, even after ``kill -9`` of the main process. Children ignore
Ctrl-C (the main process ends them), so an interrupted run prints no worker tracebacks.

Messages from a child to its parent are JSON, never pickles: a child may have run
candidate code, and unpickling what it sends would hand that code the parent.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.context import BaseContext
from typing import Any

PRELOAD = ["eureka.critic.worker", "eureka.train.runner", "eureka.train.preload"]
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
_ctx: BaseContext | None = None
_start_lock = threading.Lock()


class ChildDied(RuntimeError):
    """The child ended (or broke its pipe) before it answered."""


@contextlib.contextmanager
def _without_secrets():
    """The environment reduced to an allow-list while a child process starts (no secret under any name)."""
    from eureka.sandbox.jail import allowed_env

    saved = dict(os.environ)
    keep = allowed_env(saved, tuple(n for n in os.environ.get("EUREKA_ENV_ALLOW", "").split(",") if n))
    os.environ.clear()
    os.environ.update(keep)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def keep_env(names: list[str]) -> None:
    """Name environment variables the trusted processes keep (``sandbox.env_allow``, so jails can be given
    them): set before the forkserver starts, whose environment every child inherits."""
    if names:
        os.environ["EUREKA_ENV_ALLOW"] = ",".join(names)


def context() -> BaseContext:
    """The multiprocessing context every eureka child process is started from (the first call starts the
    forkserver, whose imports take seconds in the background; the first child waits for them)."""
    global _ctx
    if _ctx is None:
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering in every child
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        from multiprocessing import forkserver

        with _start_lock, _without_secrets():
            forkserver.ensure_running()
        _ctx = ctx
    return _ctx


def start(proc) -> None:
    """Start ``proc`` without making the child re-import the parent's ``__main__``.

    Children only need the eureka modules their target lives in; re-running a
    user's script (or the CLI) in every worker would be slow and, for scripts
    without a ``__main__`` guard, wrong.
    """
    main = sys.modules.get("__main__")
    with _start_lock, _without_secrets():
        saved: dict[str, Any] = {k: main.__dict__[k] for k in ("__file__", "__spec__")
                                 if main is not None and k in main.__dict__}
        try:
            for k in saved:
                if k == "__spec__":
                    main.__dict__[k] = None
                else:
                    del main.__dict__[k]
            proc.start()
        finally:
            if main is not None:
                main.__dict__.update(saved)


def send_json(conn, obj: Any) -> None:
    """Child side: send ``obj`` to the parent as JSON."""
    conn.send_bytes(json.dumps(obj, default=str).encode())


def recv_json(conn, limit: int = MAX_MESSAGE_BYTES) -> Any:
    """Parent side: the next JSON message (never a pickle: the sender may have run candidate code).

    Raises ``EOFError``/``OSError`` when the sender is gone, ``ValueError`` for a malformed message.
    """
    return json.loads(conn.recv_bytes(limit))


def _release_forkserver() -> None:
    """Drop this child's copy of the forkserver's keep-alive pipe.

    Every forkserver child inherits it (to fork further children), and while any copy is
    open the forkserver never notices that the main process died. Our children fork
    nothing, so they let go: the forkserver exits with the main process, and the kernel
    then ends each child (``die_with_parent``).
    """
    from multiprocessing import forkserver

    server: Any = forkserver._forkserver  # private
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None


def _child_entry(target: Callable, conn, args: tuple) -> None:
    from eureka.sandbox.walls import die_with_parent

    _release_forkserver()
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    target(conn, *args)


def death_cause(exitcode: int | None, what: str = "the child process") -> str:
    """A child's exit code as a sentence."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        cause = {"SIGKILL": " (killed: out of memory, or by the supervisor)",
                 "SIGXCPU": " (CPU time limit)",
                 "SIGXFSZ": " (file size limit, or its directory outgrew its disk quota)",
                 "SIGSYS": " (a forbidden system call)"}.get(name, "")
        return f"{what} died with {name}{cause}"
    return f"{what} exited with code {exitcode} before reporting a result"


class Child:
    """A supervised child running ``target(conn, *args)``.

    The parent sends picklable requests (``send``); the child answers with JSON
    (``send_json``), read here by ``recv``. ``kill`` ends it; ``cause`` explains a death.
    """

    def __init__(self, target: Callable, *args: Any, name: str = "eureka-child"):
        ctx: Any = context()  # a forkserver context (BaseContext's stubs have no Process)
        self.conn, child_conn = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_child_entry, args=(target, child_conn, args), daemon=True, name=name)
        start(self.proc)
        child_conn.close()
        self.started = time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.is_alive()

    def send(self, obj: Any) -> None:
        """Send a request to the child (raises ``ChildDied`` when it is gone)."""
        try:
            self.conn.send(obj)
        except (BrokenPipeError, EOFError, OSError) as exc:
            raise ChildDied(str(exc)) from None

    def poll(self, timeout: float = 0.0) -> bool:
        """Whether a message (or the end of the pipe) is waiting."""
        try:
            return self.conn.poll(timeout)
        except (OSError, ValueError):
            return True

    def recv(self) -> Any:
        """The next message (JSON), or ``ChildDied`` when the child ended without one."""
        try:
            data = self.conn.recv_bytes(MAX_MESSAGE_BYTES)
        except (EOFError, OSError) as exc:
            self.proc.join(timeout=2)
            raise ChildDied(str(exc)) from None
        try:
            return json.loads(data)
        except ValueError:
            raise ChildDied("the child sent a malformed message") from None

    def wait(self, timeout: float) -> Any:
        """The next message within ``timeout`` s; ``TimeoutError`` or ``ChildDied`` otherwise."""
        if not self.poll(timeout):
            raise TimeoutError(f"no answer within {timeout:g} s")
        return self.recv()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the child has used so far."""
        try:
            fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError, TypeError):
            return 0.0

    def cause(self, what: str = "the child process") -> str:
        self.proc.join(timeout=2)
        return death_cause(self.proc.exitcode, what)

    def kill(self) -> None:
        """End the child now and reap it."""
        with contextlib.suppress(Exception):
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join(timeout=5)
        with contextlib.suppress(Exception):
            self.conn.close()


def _call_target(conn, fn: Callable, args: tuple, kwargs: dict) -> None:
    try:
        send_json(conn, {"ok": True, "value": fn(*args, **kwargs)})
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        send_json(conn, {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]})


def run_in_child(fn: Callable, *args: Any, timeout: float = 300.0, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` in a supervised child; return its (JSON) result or raise ``RuntimeError``.

    A crash (segfault in a renderer, out of memory) or a hang only costs the child.
    """
    label = getattr(fn, "__name__", "child")
    child = Child(_call_target, fn, args, kwargs, name=f"eureka-{label}")
    try:
        msg = child.wait(timeout)
    except TimeoutError:
        raise RuntimeError(f"{label} did not finish within {timeout:g} s") from None
    except ChildDied:
        raise RuntimeError(child.cause(label)) from None
    finally:
        child.kill()
    if not isinstance(msg, dict) or not msg.get("ok"):
        raise RuntimeError(str(msg.get("error") if isinstance(msg, dict) else msg)[:2000])
    return msg["value"]
