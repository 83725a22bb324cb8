"""The run says which walls are missing before any candidate code runs, and refuses LLM code without them.

Run the way users run it: the ``eureka`` console script in a subprocess, under a seccomp filter that
refuses namespaces (as a container's default profile does; ``tests/sandbox/no_namespaces.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from eureka import cli
from eureka.config import EurekaConfig
from eureka.sandbox.probe import missing_walls, startup_line
from tests.llm.fake_server import FakeOpenAI
from tests.test_cli_openai import run_eureka

pytestmark = pytest.mark.timeout(300)
LAUNCHER = [sys.executable, str(Path(__file__).with_name("no_namespaces.py"))]
NO_NS = "no PID/IPC/mount/network/UTS namespaces: unshare refused"


def sandbox_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("eureka: sandbox:")]


def test_this_machine_has_every_wall():
    assert missing_walls() == []  # else every other test here says nothing


def test_without_namespaces_llm_code_does_not_run(tmp_path):
    with FakeOpenAI() as server:
        proc = run_eureka(tmp_path, server.base_url, launcher=LAUNCHER)
        assert proc.returncode == cli.EXIT_WEAKER_WALLS, proc.stderr[-3000:]
        lines = sandbox_lines(proc.stdout + proc.stderr)
        assert len(lines) == 1 and NO_NS in lines[0] and "sandbox.allow_weaker=true" in lines[0], lines
        assert server.requests == []  # stopped before it asked the LLM for anything
    assert not (tmp_path / "run" / "candidates").exists()


@pytest.mark.e2e  # a real eureka run (trainings): make test, not test-fast
def test_without_namespaces_the_user_may_opt_in(tmp_path):
    with FakeOpenAI() as server:
        proc = run_eureka(tmp_path, server.base_url, "sandbox.allow_weaker=true", launcher=LAUNCHER)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = sandbox_lines(proc.stdout + proc.stderr)
    assert len(lines) == 1 and NO_NS in lines[0] and "runs anyway" in lines[0], lines
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed"
    walls = json.dumps(summary)
    assert '"seccomp"' in walls and '"pidns"' not in walls  # the walls that exist went up, no namespace


@pytest.mark.parametrize(("provider", "allow", "stops", "tail"), [
    ("offline", False, False, "the offline designer's code runs"),
    ("openai", False, True, "will not run here"),
    ("openai", True, False, "runs anyway"),
])
def test_the_gate_by_designer(monkeypatch, capsys, provider, allow, stops, tail):
    monkeypatch.setattr("eureka.sandbox.probe.missing_walls", lambda: [("Landlock", "the kernel has none")])
    cfg = EurekaConfig()
    cfg.llm.provider = provider
    cfg.sandbox.allow_weaker = allow
    if stops:
        with pytest.raises(SystemExit) as exit_:
            cli.sandbox_gate([cfg])
        assert exit_.value.code == cli.EXIT_WEAKER_WALLS
    else:
        cli.sandbox_gate([cfg])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Landlock: the kernel has none" in err and tail in err, err


def test_no_line_when_nothing_is_missing():
    assert startup_line([], True, False) == ""


UNPRIVILEGED = 65534  # nobody
TINY = ["iterations=1", "samples=2", "trainer.total_timesteps=256", "trainer.n_envs=2", "eval.episodes=1",
        "eval.baselines=false", "eval.seeds=[0]", "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64",
        "trainer.ppo.n_epochs=1", "video_steps=20"]
# As root, in a private mount namespace: the interpreter made reachable for the unprivileged user (it may live
# under a 0700 home, as a pyenv in /root does here: a tmpfs over that home, the interpreter's tree bound back),
# then the CLI started as that user, which then works through user namespaces as an ordinary user would.
AS_USER = r'''
set -e
mount --make-rprivate /
home="$1"; shift
if [ -n "$home" ]; then
  keep=$(mktemp -d); mount --bind "$home/.pyenv" "$keep"
  mount -t tmpfs -o mode=0755 tmpfs "$home"; mkdir "$home/.pyenv"; mount --bind "$keep" "$home/.pyenv"
fi
exec setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
'''


@pytest.mark.e2e  # a real eureka run (trainings and a video): make test, not test-fast
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("unshare"),
                    reason="dropping to another uid needs root, setpriv and unshare")
def test_the_cli_as_an_unprivileged_user(tmp_path):
    work = Path(tempfile.mkdtemp(prefix="eureka-unprivileged-"))  # pytest's tmp_path is root's, 0700
    try:
        os.chown(work, UNPRIVILEGED, UNPRIVILEGED)
        real = Path(os.path.realpath(sys.executable))
        home = next((str(p) for p in real.parents if (p / ".pyenv").is_dir() and not p.stat().st_mode & 0o001), "")
        eureka = Path(sys.executable).parent / "eureka"
        cmd = ["unshare", "-m", "sh", "-c", AS_USER, "as-user", home, str(eureka), "task=cartpole", *TINY,
               f"hydra.run.dir={work / 'run'}"]
        env = {"PATH": "/usr/bin:/bin", "EUREKA_CACHE_DIR": str(work / "cache"), "HOME": str(work)}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=280, cwd=work, env=env)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        assert sandbox_lines(proc.stdout + proc.stderr) == []  # every wall went up: nothing to say
        summary = json.loads((work / "run" / "summary.json").read_text())
        assert summary["status"] == "completed"
        text = json.dumps(summary)
        for wall in ("userns", "pidns", "netns", "landlock", "seccomp"):
            assert f'"{wall}"' in text, wall
        assert (work / "run" / "summary.json").stat().st_uid == UNPRIVILEGED
        assert list((work / "run" / "candidates").glob("*/rollout.mp4")), "no video made as that user"
    finally:
        shutil.rmtree(work, ignore_errors=True)
