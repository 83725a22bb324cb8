"""Process start-up shared by the sandbox and the trainers.

Children are forked from a forkserver that has already imported torch,
Gymnasium and SB3, so a new worker costs milliseconds instead of a cold
Python start, and no child inherits the main process's threads or run state.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
from multiprocessing.context import BaseContext

PRELOAD = ["eureka.critic.worker", "eureka.train.runner"]
_ctx: BaseContext | None = None


def context() -> BaseContext:
    """The multiprocessing context every eureka child process is started from."""
    global _ctx
    if _ctx is None:
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering in every child
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        _ctx = ctx
    return _ctx


_start_lock = threading.Lock()


def start(proc) -> None:
    """Start ``proc`` without making the child re-import the parent's ``__main__``.

    Children only need the eureka modules their target lives in; re-running a
    user's script (or the CLI) in every worker would be slow and, for scripts
    without a ``__main__`` guard, wrong.
    """
    main = sys.modules.get("__main__")
    with _start_lock:
        saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
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


def _child_main(conn, fn, args, kwargs) -> None:
    try:
        conn.send(("ok", fn(*args, **kwargs)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def run_in_child(fn, *args, timeout: float = 300.0, **kwargs):
    """Run ``fn(*args, **kwargs)`` in a child process; return its result or raise ``RuntimeError``.

    A crash (segfault in a renderer, out of memory) or a hang only costs the child.
    """
    ctx = context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(child, fn, args, kwargs), daemon=True)
    start(proc)
    child.close()
    try:
        if not parent.poll(timeout):
            raise RuntimeError(f"{getattr(fn, '__name__', 'child')} did not finish within {timeout:g} s")
        try:
            status, value = parent.recv()
        except EOFError:
            proc.join(timeout=5)
            raise RuntimeError(f"{getattr(fn, '__name__', 'child')} died (exit code {proc.exitcode})") from None
        if status != "ok":
            raise RuntimeError(value)
        return value
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=5)
        parent.close()
