"""Limits a jail cannot lift from inside: CPU, memory outside the address space, disk, a foreign-arch call.

Each test runs a small job in a real jail (``eureka.sandbox.jail.spawn``), with the walls up, doing
what hostile code did to get past the limits; runaway code is judged by the CPU time it used.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
import resource
import signal
import threading
import time

import pytest

from eureka.procs import death_cause, recv_json, send_json
from eureka.sandbox.jail import JailSpec, spawn

pytestmark = pytest.mark.timeout(120)


def _run(spec: JailSpec, job, timeout: float = 60.0) -> tuple[dict | None, int | None]:
    """Run ``job(jail)`` in a jail; its JSON answer (None when it sent none) and the jail's exit code."""

    def target(conn, jail) -> None:
        jail.lock_down()
        send_json(conn, job(jail))

    proc = spawn(spec, target)
    try:
        msg = recv_json(proc.conn) if proc.conn.poll(timeout) else None
    except (EOFError, OSError):
        msg = None
    code = proc.wait(timeout)
    proc.kill()
    return msg, code


def _try(fn) -> str:
    try:
        fn()
        return "done"
    except (OSError, ValueError) as exc:
        return type(exc).__name__


def test_a_job_cannot_raise_its_own_limits(tmp_path):
    def job(_jail) -> dict:
        out = {}
        for name, res in (("cpu", resource.RLIMIT_CPU), ("as", resource.RLIMIT_AS), ("files", resource.RLIMIT_NOFILE),
                          ("fsize", resource.RLIMIT_FSIZE)):
            soft, hard = resource.getrlimit(res)
            out[name] = [hard != resource.RLIM_INFINITY,
                         _try(lambda r=res, h=hard: resource.setrlimit(r, (h + 1 << 20, h + 1 << 20))),
                         _try(lambda r=res: resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)))]
        return out

    msg, _ = _run(JailSpec(kind="training", writable=[str(tmp_path)], memory_mb=512, cpu_s=30), job)
    assert msg is not None
    for name, (finite, raise_hard, lift) in msg.items():
        assert finite and raise_hard == "ValueError" and lift == "ValueError", (name, msg)


def test_a_job_that_ignores_sigxcpu_still_ends_as_a_cpu_overrun(tmp_path):
    def job(_jail) -> dict:
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        t0 = time.process_time()
        while time.process_time() - t0 < 60:
            pass
        return {"escaped": time.process_time()}

    t0 = os.times()
    msg, code = _run(JailSpec(kind="critic", cpu_s=1), job)
    used = os.times().children_user + os.times().children_system - t0.children_user - t0.children_system
    assert msg is None and code == -signal.SIGXCPU, (msg, code)
    assert "CPU time limit" in death_cause(code)
    assert used < 6, used  # cpu_s=1, +1 s to SIGXCPU's grace, +start-up: never the 60 s it asked for


def test_memory_outside_the_address_space_is_refused(tmp_path):
    def job(_jail) -> dict:
        libc = ctypes.CDLL(None, use_errno=True)
        memfd = libc.syscall(319 if platform.machine() == "x86_64" else 279, b"x", 0)  # memfd_create
        out = {"memfd": memfd, "memfd_errno": ctypes.get_errno(), "os_memfd": _try(lambda: os.memfd_create("y"))}
        libc.shmget.restype = ctypes.c_int
        out["shmget"] = libc.shmget(0, ctypes.c_size_t(1 << 30), 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
        out["shmget_errno"] = ctypes.get_errno()
        out["posix_shm"] = _try(lambda: os.close(os.open("/dev/shm/eureka-test", os.O_CREAT | os.O_RDWR, 0o600)))
        return out

    msg, _ = _run(JailSpec(kind="training", writable=[str(tmp_path)], memory_mb=512), job)
    assert msg is not None
    assert msg["memfd"] == -1 and msg["os_memfd"] != "done", msg
    assert msg["shmget"] == -1, msg
    assert msg["posix_shm"] != "done", msg


def test_a_job_that_fills_its_directory_is_ended(tmp_path):
    def job(jail) -> dict:
        block = b"\0" * (1 << 20)
        for i in range(200):  # 200 files of 1 MB: each under the file size limit, together over the quota
            with open(f"f{i}", "wb") as f:
                f.write(block)
            time.sleep(0.01)
        return {"escaped": True}

    msg, code = _run(JailSpec(kind="training", writable=[str(tmp_path)], memory_mb=512, disk_mb=32), job)
    assert msg is None and code == -signal.SIGXFSZ, (msg, code)
    held = sum(p.stat().st_size for p in tmp_path.iterdir()) / 2**20
    assert held < 100, held  # 32 MB and what it wrote in the keeper's last 0.25 s


def test_many_empty_files_are_ended_too(tmp_path):
    def job(_jail) -> dict:
        for i in range(200_000):
            open(f"e{i}", "wb").close()
        return {"escaped": True}

    msg, code = _run(JailSpec(kind="training", writable=[str(tmp_path)], memory_mb=512, max_open_files=64), job)
    assert msg is None and code == -signal.SIGXFSZ, (msg, code)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="int 0x80 is x86's 32-bit system call")
def test_a_foreign_architecture_call_kills_the_whole_job_at_once(tmp_path):
    def job(_jail) -> dict:
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()  # a kill of one thread would hang
        code = b"\xb8\x14\x00\x00\x00\xcd\x80\xc3"  # mov eax, 20 (getpid); int 0x80; ret
        buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        buf.write(code)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        return {"escaped": ctypes.CFUNCTYPE(ctypes.c_int)(addr)()}

    t0 = time.monotonic()
    msg, code = _run(JailSpec(kind="training", writable=[str(tmp_path)], memory_mb=512), job, timeout=30)
    assert msg is None and code == -signal.SIGSYS, (msg, code)
    assert time.monotonic() - t0 < 15  # at once, not at the wall-clock backstop
    assert "forbidden system call" in death_cause(code)
