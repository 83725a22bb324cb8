"""Small things a newcomer met (issue 31): --help offers only what the command line accepts, a relative task
path works for eureka-check-task as for eureka, no dependency banner or log line on the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "envs" / "examples"


def _env() -> dict:
    path = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "160"}


def test_help_shows_only_settings_the_command_line_accepts():
    out = subprocess.run([sys.executable, "-m", "eureka.cli", "--help"], capture_output=True, text=True,
                         env=_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    assert "== Defaults ==" in out.stdout and "total_timesteps" in out.stdout
    assert "api_key" not in out.stdout
    refused = subprocess.run([sys.executable, "-m", "eureka.cli", "llm.api_key=sk-x"], capture_output=True,
                             text=True, env=_env(), timeout=120)
    assert refused.returncode == 2  # ... and this is why --help must not offer it


@pytest.mark.e2e  # eureka-check-task trains: a real training
def test_check_task_takes_a_relative_task_path_from_the_tasks_folder():
    out = subprocess.run([sys.executable, "-m", "eureka.check_task", "hazard.py", "--steps", "128", "--no-render"],
                         cwd=EXAMPLES, capture_output=True, text=True, env=_env(), timeout=300)
    assert "task file not found" not in out.stdout + out.stderr
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "a trivial reward trains" in out.stdout and "looks good" in out.stdout


@pytest.mark.e2e  # a real eureka run
def test_no_dependency_banner_or_log_line_on_the_terminal(tmp_path):
    """pygame's banner (a task that imports pygame) and matplotlib's log lines stay off the terminal; what a
    task file prints while it is checked before the run goes to the run's log."""
    task = tmp_path / "noisy_task.py"
    task.write_text((EXAMPLES / "hazard.py").read_text().replace('name="hazard"', 'name="noisy"')
                    .replace("import gymnasium as gym", "import gymnasium as gym\nimport pygame  # noqa: F401\n\n"
                             "print('Hello from a task file')"))
    env = {**_env(), "MPLCONFIGDIR": str(tmp_path / "mpl")}  # an empty matplotlib cache: a new fontManager
    run = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "eureka.cli", f"task={task}", "iterations=1", "samples=1",
                          "trainer.total_timesteps=512", "eval.seeds=[1]", "eval.baselines=false", "loop.racing.enabled=false",
                          "loop.confirm.seeds=0", f"hydra.run.dir={run}"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    terminal = out.stdout + out.stderr
    assert "pygame" not in terminal.lower() and "Hello from the pygame community" not in terminal
    assert "fontManager" not in terminal and "INFO" not in terminal
    log = (run / "eureka.log").read_text()
    assert "Hello from a task file" in log and "generated new fontManager" in log
