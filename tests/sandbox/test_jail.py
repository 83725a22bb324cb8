"""One jail per execution, tested with real processes and rewards that already escaped the static checks.

Every reward here climbs to Python's real builtins (the generator-frame climb the static
checks refuse), so only the jail stands in the way. Each test asserts an outcome (a victim
process unchanged, no IPC object left, a secret nowhere, a verdict equal to an independent
re-evaluation), not a mechanism.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from eureka.sandbox.jail import UID_BASE, UID_SLOTS
from eureka.train import LocalExecutor, TrainSpec
from tests.train.test_walled_training import reward
from tests.train.test_walled_training import spec as _spec


def spec(tmp_path: Path, name: str, path: str, **kw) -> TrainSpec:
    return dataclasses.replace(_spec(tmp_path, name, path), **kw)

ROOT = os.geteuid() == 0
pytestmark = pytest.mark.timeout(600)


def log_of(tmp_path: Path, name: str) -> str:
    p = tmp_path / "runs" / name / "output.log"
    return p.read_text() if p.exists() else ""


def processes_in(pid_ns: str) -> list[int]:
    """Host pids of the processes in the PID namespace ``pid_ns`` (``pid:[inode]``): none may outlive its run."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if os.readlink(p / "ns" / "pid") == pid_ns:
                    pids.append(int(p.name))
            except OSError:
                continue
    return pids


@pytest.mark.skipif(not ROOT, reason="uids of their own and a victim owned by root need root")
def test_siblings_cannot_see_or_touch_each_other_or_a_victim(tmp_path):
    victim = subprocess.Popen(["sleep", "120"])
    try:
        before = (os.getpriority(os.PRIO_PROCESS, victim.pid), os.sched_getaffinity(victim.pid),
                  __import__("resource").prlimit(victim.pid, __import__("resource").RLIMIT_AS))
        payload = f"""
os = real_import('os'); resource = real_import('resource')
seen = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
tries = {{}}
for name, fn in [('nice', lambda: os.setpriority(os.PRIO_PROCESS, {victim.pid}, 19)),
                 ('limit', lambda: resource.prlimit({victim.pid}, resource.RLIMIT_AS, (1 << 20, 1 << 20))),
                 ('affinity', lambda: os.sched_setaffinity({victim.pid}, {{0}})),
                 ('kill', lambda: os.kill({victim.pid}, 9)),
                 ('init_limit', lambda: resource.prlimit(1, resource.RLIMIT_AS, (1 << 20, 1 << 20))),
                 ('init_kill', lambda: os.kill(1, 9))]:
    tries[name] = attempt(fn)
real_builtins()['print']('SIBLING', seen, tries, os.getuid())
"""
        specs = [spec(tmp_path, n, reward(tmp_path, n, payload)) for n in ("a", "b")]
        results = LocalExecutor(2, timeout_s=300).run(specs)
        assert victim.poll() is None, "the victim was killed"
        after = (os.getpriority(os.PRIO_PROCESS, victim.pid), os.sched_getaffinity(victim.pid),
                 __import__("resource").prlimit(victim.pid, __import__("resource").RLIMIT_AS))
        assert after == before
    finally:
        victim.kill()
        victim.wait()
    uids, pid_ns = set(), set()
    for r, name in zip(results, ("a", "b"), strict=True):
        assert r.ok, r.failure
        line = [x for x in log_of(tmp_path, name).splitlines() if x.startswith("SIBLING")][0]
        assert "[1, 2]" in line, line  # only its own init and itself
        assert "'done'" not in line, line  # every attempt failed
        uids.add(r.jail["uid"])
        pid_ns.add(r.jail["namespaces"]["pid"])
    assert len(uids) == 2 and len(pid_ns) == 2, (uids, pid_ns)  # a uid and a PID namespace each
    assert all(UID_BASE <= u < UID_BASE + UID_SLOTS for u in uids)


def _ipc_lines(kind: str) -> list[str]:
    try:
        return Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
    except OSError:
        return []


def test_ipc_objects_die_with_the_jail(tmp_path):
    shm_before, msg_before = _ipc_lines("shm"), _ipc_lines("msg")
    dev_shm = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    payload = """
ctypes = real_import('ctypes'); os = real_import('os')
libc = ctypes.CDLL(None, use_errno=True)
shm = libc.shmget(0, 256 * 1024 * 1024, 0o1000 | 0o666)
msg = libc.msgget(0, 0o1000 | 0o666)
posix = attempt(lambda: real_builtins()['open']('/dev/shm/eureka-left-behind', 'w').write('x'))
real_builtins()['print']('IPC', shm, msg, posix)
"""
    r = LocalExecutor(1, timeout_s=300).run([spec(tmp_path, "ipc", reward(tmp_path, "ipc", payload))])[0]
    assert r.ok, r.failure
    line = [x for x in log_of(tmp_path, "ipc").splitlines() if x.startswith("IPC")][0]
    shm_id, msg_id = (int(x) for x in line.split()[1:3])
    assert shm_id == -1, line  # SysV shared memory is refused (RLIMIT_AS would not count it) ...
    assert msg_id >= 0, line  # ... a message queue it could make, inside its own IPC namespace ...
    assert _ipc_lines("shm") == shm_before and _ipc_lines("msg") == msg_before  # ... and none is left
    if os.path.isdir("/dev/shm"):
        assert set(os.listdir("/dev/shm")) <= dev_shm


def test_a_thread_bomb_is_capped_and_cpu_in_a_background_thread_ends_the_training(tmp_path):
    bomb = """
threading = real_import('threading'); time = real_import('time')
n = 0
try:
    for _ in range(2000):
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        n += 1
except BaseException as exc:
    real_builtins()['print']('THREADS', n, repr(exc).split('(')[0])
"""
    spinner = """
threading = real_import('threading')
if not real_builtins().get('_spinning'):
    real_builtins()['_spinning'] = True
    def spin():
        while True:
            pass
    threading.Thread(target=spin, daemon=True).start()
"""
    t0 = time.monotonic()
    specs = [spec(tmp_path, "bomb", reward(tmp_path, "bomb", bomb), total_timesteps=512),
             spec(tmp_path, "spin", reward(tmp_path, "spin", spinner), total_timesteps=100_000)]
    bomb_r, spin_r = LocalExecutor(2, timeout_s=300).run(specs)
    line = [x for x in log_of(tmp_path, "bomb").splitlines() if x.startswith("THREADS")][0]
    assert int(line.split()[1]) < 64, line  # at most the jail's task limit (sandbox max_tasks)
    assert bomb_r.ok or bomb_r.failure.error_class == "RewardRuntimeError", bomb_r.failure
    assert not spin_r.ok and spin_r.failure.error_class == "RewardTimeout", spin_r.failure
    assert "threads started by the reward" in spin_r.failure.message
    assert time.monotonic() - t0 < 250
    for r in (bomb_r, spin_r):
        if r.jail:
            assert not processes_in(r.jail["namespaces"]["pid"])


SCRIPT = """
import json, sys
from eureka.train import LocalExecutor, TrainSpec
spec = TrainSpec(**json.loads(sys.argv[1]))
r = LocalExecutor(1, timeout_s=300).run([spec])[0]
print(json.dumps({"ok": r.ok, "failure": r.failure.message if r.failure else None}))
"""


def test_a_jail_that_clears_its_parent_death_signal_still_dies_with_the_run(tmp_path):
    payload = """
ctypes = real_import('ctypes'); time = real_import('time')
res = ctypes.CDLL(None, use_errno=True).prctl(1, 0, 0, 0, 0)
ns = real_import('os').readlink('/proc/self/ns/pid')
real_builtins()['print']('PDEATHSIG', res, ctypes.get_errno(), ns, flush=True)
time.sleep(0.5)
"""
    s = spec(tmp_path, "orphan", reward(tmp_path, "orphan", payload), total_timesteps=1_000_000,
             call_timeout_s=30.0)
    args = {k: v for k, v in s.__dict__.items()}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, json.dumps(args)], cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 120
        while "PDEATHSIG" not in log_of(tmp_path, "orphan") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "PDEATHSIG" in log_of(tmp_path, "orphan")
        line = [x for x in log_of(tmp_path, "orphan").splitlines() if x.startswith("PDEATHSIG")][0]
        assert line.split()[1] == "-1", line  # refused
        ns = line.split()[3]
        assert processes_in(ns)  # the jail runs (init and job) ...
        proc.send_signal(signal.SIGKILL)  # ... when the run dies the hard way
        proc.wait()
        deadline = time.monotonic() + 15
        while processes_in(ns) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not processes_in(ns), "a jail outlived the run"
        out = (tmp_path / "runs" / "orphan")
        assert not any(p.name == "policy.safetensors" for p in out.iterdir())
    finally:
        proc.kill()


def test_secrets_and_other_files_stay_out_of_reach(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".netrc").write_text("machine x password home-canary-1")
    other = tmp_path / "runs" / "other"
    other.mkdir(parents=True)
    (other / "reward.py").write_text("# other-canary-2")
    (tmp_path / "runs" / "config.yaml").write_text("run-config-canary-3")
    loose = Path(f"/tmp/eureka-loose-{os.getpid()}.txt")
    loose.write_text("tmp-canary-4")
    loose.chmod(0o644)
    env = {**os.environ, "HOME": str(home), "DATABASE_URL": "postgres://u:env-canary-5@db/x",
           "MYSQL_PWD": "env-canary-6", "SENTRY_DSN": "https://env-canary-7@s/1",
           "OPENAI_BASE_URL": "http://user:env-canary-8@llm/v1", "OPENAI_API_KEY": "sk-env-canary-9"}
    paths = [str(home / ".netrc"), str(other / "reward.py"), str(tmp_path / "runs" / "config.yaml"), str(loose),
             "/proc/self/environ", "/proc/1/environ", "/proc/1/cmdline", "../other/reward.py", "../config.yaml"]
    payload = f"""
os = real_import('os')
found = [k + '=' + v for k, v in os.environ.items()]
for p in {paths!r}:
    try:
        found.append(real_builtins()['open'](p, 'rb').read().decode('latin-1'))
    except BaseException as exc:
        found.append(p + ' ' + repr(exc).split('(')[0])
try:
    found += os.listdir('/tmp') + os.listdir('/root') + os.listdir('..')
except BaseException as exc:
    found.append(repr(exc).split('(')[0])
real_builtins()['print']('FOUND', found)
"""
    s = spec(tmp_path, "snoop", reward(tmp_path, "snoop", payload))
    try:
        proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(s.__dict__)], env=env, capture_output=True,
                              text=True, timeout=400, cwd=Path(__file__).parents[2])
    finally:
        loose.unlink()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["ok"]
    log = log_of(tmp_path, "snoop")
    assert "FOUND" in log
    for canary in ("home-canary-1", "other-canary-2", "run-config-canary-3", "tmp-canary-4", "env-canary-5",
                   "env-canary-6", "env-canary-7", "env-canary-8", "sk-env-canary-9"):
        assert canary not in log, f"{canary} reached the jail"
    for p in (tmp_path / "runs" / "snoop").rglob("*"):
        if p.is_file():
            assert b"canary-" not in p.read_bytes(), f"a secret reached {p}"


FORGE = """
if real_builtins().get('_forged'):
    return torch.cos(pole_angle)
real_builtins()['_forged'] = True
gc = real_import('gc'); json = real_import('json')
forged = {'status': 'ok', 'fitness': 1e9, 'eval_fitness': [1e9], 'eval_lengths': [1], 'steps': 1}
real_builtins()['open']('fitness.json', 'w').write(json.dumps(forged))
for o in gc.get_objects():
    if real_builtins()['type'](o).__name__ == 'Connection':
        attempt(lambda: o.send_bytes(json.dumps({'result': forged}).encode()))
ev = real_import('eureka.train.evaluator')
ev.evaluate_policy = lambda *a, **k: ([1e9], [1])
"""


def _policy(algo: str, out: Path, env: gym.Env):
    from safetensors.torch import load_file
    from stable_baselines3 import PPO, SAC

    cls = (PPO if algo == "ppo" else SAC).policy_aliases["MlpPolicy"]
    policy = cls(env.observation_space, env.action_space, lambda _: 0.0)
    policy.load_state_dict(load_file(str(out / "policy.safetensors")))
    policy.set_training_mode(False)
    return policy


def _replay(algo: str, env_id: str, out: Path, episodes: int, seed: int, score) -> float:
    """Mean fitness of the saved weights in plain Gymnasium envs (no eureka code)."""
    values = []
    for i in range(episodes):
        env = gym.make(env_id)
        policy = _policy(algo, out, env)
        obs, _ = env.reset(seed=seed + 10_000 + i)
        steps = []
        done = False
        while not done:
            action, _ = policy.predict(obs, deterministic=True)
            obs, _, terminated, truncated, _ = env.step(action)
            steps.append(score(obs))
            done = terminated or truncated
        values.append(float(np.mean(steps)) if env_id.startswith("Pendulum") else float(len(steps)))
        env.close()
    return float(np.mean(values))


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_a_forged_fitness_is_not_the_verdict(tmp_path, algo):
    if algo == "ppo":
        s = spec(tmp_path, "forge", reward(tmp_path, "forge", FORGE), eval_episodes=2)
        env_id, score = "CartPole-v1", (lambda o: 1.0)
    else:
        from tests.train.test_walled_training import ESCAPE

        body = "\n".join("        " + line for line in FORGE.strip().splitlines())
        code = ESCAPE.replace("PAYLOAD", body).replace("pole_angle", "theta")
        path = tmp_path / "forge_sac.py"
        path.write_text(code)
        s = TrainSpec(job_id="forge", task="pendulum", reward_path=str(path), algo="sac", n_envs=1,
                      total_timesteps=300, eval_episodes=1, tensorboard=False,
                      hyperparams={"learning_starts": 100, "batch_size": 32}, out_dir=str(tmp_path / "runs" / "forge"))
        env_id, score = "Pendulum-v1", (lambda o: float(abs(math.atan2(float(o[1]), float(o[0]))) < 0.2))
    r = LocalExecutor(1, timeout_s=400).run([s])[0]
    assert r.ok, r.failure
    assert r.fitness is not None and r.fitness < 1e6
    assert r.fitness == pytest.approx(_replay(algo, env_id, Path(s.out_dir), s.eval_episodes, s.seed, score),
                                      abs=1e-6)
    saved = json.loads((Path(s.out_dir) / "fitness.json").read_text())
    assert saved["fitness"] == r.fitness and saved["fitness_source"].startswith("evaluator")


def test_names_planted_in_a_candidate_dir_end_only_that_candidate(tmp_path):
    from eureka.store import RunStore
    from eureka.store.safe import SafeWriteError

    canary = tmp_path / "outside.txt"
    canary.write_text("untouched")
    canary.chmod(0o666)
    payload = f"""
os = real_import('os')
attempt(lambda: os.mkdir('fitness.json'))
attempt(lambda: os.symlink({str(canary)!r}, 'reflection.txt'))
attempt(lambda: os.mkfifo('rollout.mp4'))
"""
    store = RunStore(tmp_path / "runs")
    good = tmp_path / "good.py"
    good.write_text("import torch\ndef compute_reward(pole_angle):\n    return torch.cos(pole_angle)\n")
    results = LocalExecutor(2, timeout_s=300).run([spec(tmp_path, "plant", reward(tmp_path, "plant", payload)),
                                                  spec(tmp_path, "fine", str(good))])
    plant, fine = results
    assert fine.ok, fine.failure
    d = tmp_path / "runs" / "plant"
    if d.joinpath("fitness.json").is_dir():  # the plant took: that candidate ends, classified
        assert not plant.ok and plant.failure.error_class == "TrainingCrash", plant
        assert "fitness.json" in plant.failure.message
    # the main process writes where the candidate planted a link: the link is replaced, not followed
    store.write_text(d / "reflection.txt", "reflection")
    assert canary.read_text() == "untouched"
    assert d.joinpath("reflection.txt").read_text() == "reflection" and not d.joinpath("reflection.txt").is_symlink()
    with pytest.raises(SafeWriteError):
        store.write_text(d / "fitness.json", "{}")
    if d.joinpath("rollout.mp4").exists():
        assert stat.S_ISFIFO(d.joinpath("rollout.mp4").lstat().st_mode)
        from eureka.store.safe import read_bytes

        with pytest.raises(OSError):
            read_bytes(d / "rollout.mp4")  # a fifo is refused at once, never waited on
    assert torch.get_num_threads() >= 1
