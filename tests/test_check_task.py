import subprocess
import sys

import pytest

from eureka.check_task import check_task

BROKEN = '''
import gymnasium as gym
import torch
from eureka.tasks import Fitness, StateVar, Task

def extract(obs, actions, infos):
    return {"angle": obs[:, 2], "speed": obs[:, 1:3], "extra": obs[:, 0]}

TASK = Task(name="broken_cartpole", env_id="CartPole-v1", description="balance",
            state_vars=[StateVar("angle"), StateVar("speed", "[N]"), StateVar("missing")],
            extract_state=extract, fitness=Fitness("len", step=lambda s: torch.ones(3)))
'''


@pytest.mark.e2e  # eureka-check-task trains: a real training
def test_example_game_passes(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "eureka.check_task", "catch"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "looks good" in proc.stdout


def test_broken_task_reports_each_problem(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text(BROKEN)
    rows = {check: (ok, detail) for check, ok, detail in check_task(str(path), render=False)}
    ok, detail = rows["state shapes and dtypes"]
    assert not ok
    assert "'missing' is declared but not returned" in detail
    assert "'speed' has shape [16, 2] but is declared [N]" in detail
    assert "returned but not declared: extra" in detail
    assert not rows["fitness step"][0] and "expected [16]" in rows["fitness step"][1]
    proc = subprocess.run([sys.executable, "-m", "eureka.check_task", str(path), "--no-render"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 1 and "problem(s)" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
