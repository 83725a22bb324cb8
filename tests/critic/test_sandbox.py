"""The sandbox walls, tested directly through ``SandboxPool.run`` (no static checks in front).

Reward modules get restricted builtins, so to test the walls behind them (the audit
hook, the unprivileged user, the network namespace) some payloads first climb out of
the reward module through a generator frame to the worker's real builtins; the static
checks reject that climb, but ``SandboxPool.run`` does not run them.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import time
from pathlib import Path

import numpy as np
import pytest

from eureka.critic import SandboxLimits, SandboxPool

N = 64
TIMEOUT_S = 3.0
STATES = {"pole_angle": np.linspace(-0.2, 0.2, N, dtype=np.float32),
          "cart_position": np.linspace(-1.0, 1.0, N, dtype=np.float32)}

VALID = '''
import torch
from typing import Dict, Tuple


@torch.jit.script
def compute_reward(pole_angle: torch.Tensor, cart_position: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    upright = torch.exp(-(pole_angle / 0.2) ** 2)
    centered = -0.1 * cart_position ** 2
    return upright + centered, {"upright": upright, "centered": centered}
'''

# Climbs from the reward module to the first caller frame that has the real builtins.
ESCAPE = '''
import torch


def real_builtins():
    def probe():
        yield gen.gi_frame.f_back
    gen = probe()
    frame = next(gen)
    while "open" not in frame.f_builtins:
        frame = frame.f_back
    return frame.f_builtins


def real_import(name):
    return real_builtins()["__import__"](name)

'''


def escape(body: str) -> str:
    """A reward whose body (indented 4 spaces, may use real_import/real_builtins) runs first."""
    return ESCAPE + "\ndef compute_reward(pole_angle):\n" + body + "\n    return torch.cos(pole_angle)\n"


@pytest.fixture(scope="module")
def pool():
    p = SandboxPool(SandboxLimits(workers=2, timeout_s=TIMEOUT_S, cpu_s=3.0))
    p.warm_up()
    yield p
    p.close()


@pytest.fixture
def target_dir():
    """A world-writable dir outside the sandbox: only the audit hook protects it."""
    d = Path(f"/tmp/eureka-sandbox-test-{os.getpid()}")
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def rejected(result: dict, error_class: str) -> dict:
    assert result["status"] == "rejected", result
    assert result["error_class"] == error_class, result
    assert result["message"], result
    return result


def test_walls_are_up(pool):
    walls = pool.walls
    for wall in ("audit", "memory", "rlimits", "landlock", "seccomp", "no-secrets", "builtins"):
        assert wall in walls, walls
    if os.geteuid() == 0:
        assert "netns" in walls, walls
        assert "own-uid" in walls, walls


def test_escape_reaches_real_builtins(pool):
    """The climb works (so the wall tests below really test the walls, not the climb)."""
    code = escape("    n = len(real_builtins()['open']('/etc/passwd').read())\n"
                  "    pole_angle = pole_angle * 0.0 + float(n)")
    result = pool.run(code, STATES)
    assert result["status"] == "ok", result
    assert result["reward_mean"] != pytest.approx(1.0)


def test_restricted_builtins_refuse_socket_import(pool):
    code = "import socket\nimport torch\n\ndef compute_reward(pole_angle):\n    return torch.cos(pole_angle)\n"
    result = rejected(pool.run(code, STATES), "ForbiddenCode")
    assert "socket" in result["message"]


def test_socket_connect_to_localhost_fails(pool):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.3)
    port = server.getsockname()[1]
    try:
        code = escape(f"    s = real_import('socket').socket()\n"
                      f"    s.settimeout(1.0)\n"
                      f"    s.connect(('127.0.0.1', {port}))\n"
                      f"    s.sendall(b'leak')")
        result = rejected(pool.run(code, STATES), "ForbiddenCode")
        assert "socket" in result["message"]
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()


def test_os_system_and_fork_are_refused(pool, target_dir):
    marker = target_dir / "system-ran"
    result = rejected(pool.run(escape(f"    real_import('os').system('touch {marker}')"), STATES),
                      "ForbiddenCode")
    assert "os.system" in result["message"]
    rejected(pool.run(escape("    real_import('os').fork()"), STATES), "ForbiddenCode")
    rejected(pool.run(escape("    real_import('subprocess').run(['true'])"), STATES), "ForbiddenCode")
    assert not marker.exists()


def test_writes_outside_the_workdir_are_refused(pool, target_dir):
    victim = target_dir / "victim.txt"
    victim.write_text("original")
    victim.chmod(0o666)
    for body in (f"    real_builtins()['open']('{victim}', 'w').write('pwned')",
                 f"    real_builtins()['open']('{target_dir / 'new.txt'}', 'x').write('pwned')",
                 f"    real_builtins()['open']('{target_dir}/../{target_dir.name}/new.txt', 'a')",
                 f"    real_import('os').remove('{victim}')",
                 f"    real_import('os').rename('{victim}', '{target_dir / 'moved.txt'}')"):
        result = rejected(pool.run(escape(body), STATES), "ForbiddenCode")
        assert "not allowed" in result["message"], result
    # numpy's C code loses the audit hook's PermissionError (SystemError: NULL without an
    # exception), so the class varies; the static checks refuse '.tofile' anyway. No file appears.
    result = pool.run(escape(f"    pole_angle.numpy().tofile('{target_dir / 'new.bin'}')"), STATES)
    assert result["status"] == "rejected", result
    assert result["error_class"] in ("ForbiddenCode", "RewardRuntimeError"), result
    assert victim.read_text() == "original"
    assert sorted(p.name for p in target_dir.iterdir()) == ["victim.txt"]


def test_runs_with_a_uid_of_its_own_without_network(pool):
    if os.geteuid() != 0:
        pytest.skip("a jail gets a uid of its own only when the pool starts as root")
    from eureka.sandbox.jail import UID_BASE, UID_SLOTS

    code = escape(f"    pole_angle = pole_angle * 0.0 + float({UID_BASE} <= real_import('os').getuid() < "
                  f"{UID_BASE + UID_SLOTS})")
    result = pool.run(code, STATES)
    assert result["status"] == "ok", result
    assert result["reward_mean"] == pytest.approx(np.cos(1.0), abs=1e-3)
    # In its own network namespace even loopback is down: nothing to connect to.
    code = escape("    n = len(real_builtins()['open']('/proc/self/net/dev').read().splitlines()) - 2\n"
                  "    pole_angle = pole_angle * 0.0 + float(n)")
    result = pool.run(code, STATES)
    assert result["status"] == "ok", result
    assert result["reward_mean"] == pytest.approx(np.cos(1.0), abs=1e-3)  # only 'lo'


def test_wall_clock_backstop_then_worker_is_recycled(pool):
    """A reward that blocks without using CPU is ended by the wall-clock backstop."""
    code = escape("    real_import('time').sleep(1000)")
    t0 = time.perf_counter()
    result = rejected(pool.run(code, STATES), "RewardTimeout")
    elapsed = time.perf_counter() - t0
    assert TIMEOUT_S - 0.1 <= elapsed <= TIMEOUT_S + 2.0, elapsed
    assert "wall-clock" in result["message"]
    for _ in range(3):  # both workers, including the fresh replacement
        ok = pool.run(VALID, STATES)
        assert ok["status"] == "ok", ok


def worker_pids(pool: SandboxPool) -> list[int]:
    return [w.child.pid for w in list(pool._idle.queue)]


def probe(expr: str) -> str:
    """A reward whose value is ``cos(expr)`` (``expr`` evaluated with the real builtins) for every state."""
    return escape(f"    pole_angle = pole_angle * 0.0 + float({expr})")


def test_each_check_runs_in_a_fresh_jail_of_its_own(pool):
    """No check runs where an earlier one ran: other namespaces, an empty scratch, unpoisoned modules."""
    pool.warm_up()
    before = worker_pids(pool)
    ns = "int(real_import('os').readlink('/proc/self/ns/{0}')[len('{0}:['):-1]) % 1000003"
    seen = {pool.run(probe(ns.format(kind)), STATES)["reward_mean"] for kind in ("pid", "pid", "pid", "ipc")}
    assert len(seen) == 4, seen  # four checks, four namespaces
    # A check that leaves a file in its scratch and poisons torch for whoever comes next ...
    poison = escape("    real_import('pathlib').Path(real_import('os').environ['TMPDIR'], 'mark').write_text('x')\n"
                    "    real_import('torch').exp = lambda x: x / 0.0\n"
                    "    real_builtins()['float'] = lambda x: 7.0")
    pool.run(poison, STATES)
    for _ in range(3):  # ... on both workers: nothing of it is there
        ok = pool.run(VALID, STATES)
        assert ok["status"] == "ok" and 0.1 < ok["reward_mean"] < 1.0, ok
        left = pool.run(probe("real_import('os').path.exists(real_import('os').environ['TMPDIR'] + '/mark')"), STATES)
        assert left["status"] == "ok" and left["reward_mean"] == pytest.approx(1.0), left  # cos(False)
    assert sorted(worker_pids(pool)) == sorted(before)  # the warm workers themselves were never touched


def test_cpu_limit_kills_busy_reward():
    limits = SandboxLimits(workers=1, timeout_s=20.0, cpu_s=1.0)
    with SandboxPool(limits) as cpu_pool:
        cpu_pool.warm_up()
        code = "import torch\n\ndef compute_reward(pole_angle):\n    while True:\n        pass\n"
        result = rejected(cpu_pool.run(code, STATES), "RewardTimeout")
        assert "CPU" in result["message"], result  # the 1 s CPU limit ended it, not the 20 s wall timeout
        assert cpu_pool.run(VALID, STATES)["status"] == "ok"


def test_warm_pool_latency_is_well_under_a_second(pool):
    pool.warm_up()
    for _ in range(2):
        assert pool.run(VALID, STATES)["status"] == "ok"
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        result = pool.run(VALID, STATES)
        times.append(time.perf_counter() - t0)
        assert result["status"] == "ok", result
        assert result["check_ms"] > 0
    assert statistics.median(times) < 0.5, times
