"""Mistakes a user makes on the command line or in a task file: one line, exit code 2, before any work."""

import subprocess
import sys
import textwrap

import pytest

EUREKA = [sys.executable, "-m", "eureka.cli"]

GOOD_TASK = '''
import torch
from eureka.tasks import Fitness, StateVar, Task

def extract_state(obs, actions, infos):
    return {"angle": obs[:, 2], "speed": obs[:, 1]}

TASK = Task(name="{name}", env_id="CartPole-v1", description="balance the pole",
            state_vars=[StateVar("angle"), StateVar("speed")], extract_state=extract_state,
            fitness=Fitness("steps", step=lambda s: torch.ones_like(s["angle"])))
'''


def run(args, cwd, timeout=120):
    return subprocess.run(EUREKA + args, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def one_line_exit_2(proc, *needles, run_dir=None):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eureka: error: "), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    if run_dir is not None:
        assert not run_dir.exists(), "no run directory for a config mistake"
    return lines[0]


@pytest.mark.parametrize("args,needles", [
    (["trainer.algo=sacc"], ["trainer.algo=sacc", "valid choices: ppo, sac", "Did you mean 'sac'?"]),
    (["trainer.algo=sac"], ["trainer.algo=sac", "Discrete(2)", "valid choices for this task: ppo"]),
    (["trainer.device=cuda"], ["trainer.device=cuda", "auto, cpu"]),
    (["iterations=-1"], ["iterations=-1", "integer >= 1"]),
    (["samples=abc"], ["samples=abc", "expected an integer >= 1"]),
    (["samples=0"], ["samples=0", "integer >= 1"]),
    (["loop.population=0"], ["loop.population=0", "integer >= 1"]),
    (["eval.seeds=[]"], ["eval.seeds=[]", "at least one seed"]),
    (["feedback=web", "feedback.host=203.0.113.1"], ["feedback.port=8765", "no free port in 8765-8814"]),
    (["loop.selection=vibes"], ["loop.selection=vibes", "fitness, preference, mixed"]),
    (["+trainer.ppo.n_stepz=32"], ["trainer.ppo.n_stepz", "Did you mean 'n_steps'?"]),
])
def test_config_mistakes_stop_before_any_work(args, needles, tmp_path):
    out = tmp_path / "run"
    one_line_exit_2(run(args + [f"hydra.run.dir={out}"], tmp_path), *needles, run_dir=out)


def test_a_task_file_that_fails_to_import(tmp_path):
    path = tmp_path / "my_task.py"
    path.write_text("import torch\nfrom eureka.tasks import Task\n\nTASK = Task(name='x',\n")
    line = one_line_exit_2(run([f"task={path}", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path),
                           f"{path}:4", "SyntaxError", run_dir=tmp_path / "run")
    assert "failed to import" in line


BROKEN = {
    "shape_n_by_1": ('"angle": obs[:, 2]', '"angle": obs[:, 2:3]',
                     ["state variable 'angle' has shape [8, 1] but is declared [N]", ":6:"]),
    "list": ('"angle": obs[:, 2]', '"angle": obs[:, 2].tolist()',
             ["'angle' must be a torch.Tensor of shape [N], got list", ":6:"]),
    "not_a_dict": ('return {"angle": obs[:, 2], "speed": obs[:, 1]}', 'return [obs[:, 2], obs[:, 1]]',
                   ["extract_state must return a dict", ":6:"]),
    "env_id": ('env_id="CartPole-v1"', 'env_id="CartPoleee-v1"', ["gym.make('CartPoleee-v1') failed", ":8:"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_task_is_found_before_the_search(case, tmp_path):
    """The task's own checks run first (in process here; the CLI test below runs the real command)."""
    from eureka import tasks
    from eureka.check import preflight
    from eureka.errors import TaskCheckError

    old, new, needles = BROKEN[case]
    path = tmp_path / f"{case}.py"
    source = GOOD_TASK.replace("{name}", f"broken_{case}")
    assert old in source
    path.write_text(source.replace(old, new))
    with pytest.raises(TaskCheckError) as info:
        preflight(tasks.make(str(path)))
    message = str(info.value)
    assert message.startswith(f"{path}:") and f"task 'broken_{case}'" in message and "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)


def test_broken_tasks_on_the_command_line(tmp_path):
    """An [N, 1] state and an env whose reset raises (in a module beside the task file): exit 2, one line."""
    shape = tmp_path / "shape_task.py"
    shape.write_text(GOOD_TASK.replace("{name}", "shape_task").replace('"angle": obs[:, 2]', '"angle": obs[:, 2:3]'))
    one_line_exit_2(run([f"task={shape}", f"hydra.run.dir={tmp_path / 'a'}"], tmp_path),
                    f"{shape}:6", "'angle' has shape [8, 1] but is declared [N]", run_dir=tmp_path / "a")
    game = tmp_path / "games" / "my_game.py"
    game.parent.mkdir()
    game.write_text(textwrap.dedent('''
        import gymnasium as gym

        class BrokenEnv(gym.Env):
            observation_space = gym.spaces.Box(-1, 1, (4,))
            action_space = gym.spaces.Discrete(2)

            def reset(self, *, seed=None, options=None):
                raise RuntimeError("the level file is missing")
    '''))
    task = game.parent / "reset_task.py"
    task.write_text(GOOD_TASK.replace("{name}", "reset_task").replace('env_id="CartPole-v1"', "env_id=BrokenEnv")
                    .replace("from eureka.tasks", "from my_game import BrokenEnv\nfrom eureka.tasks"))
    one_line_exit_2(run([f"task={task}", f"hydra.run.dir={tmp_path / 'b'}"], tmp_path),
                    f"{game}:9", "env.reset() of BrokenEnv() raised RuntimeError: the level file is missing",
                    run_dir=tmp_path / "b")


@pytest.mark.e2e  # eureka-check-task trains: a real training
def test_a_task_whose_env_lives_in_its_own_file(tmp_path):
    """README's 'Add your environment': task file + game module side by side, run from another folder."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    game = (root / "envs" / "examples" / "catch.py").read_text()
    folder = tmp_path / "my_project"
    folder.mkdir()
    (folder / "my_catch.py").write_text(game[:game.index("TASK = Task(")])
    (folder / "my_task.py").write_text(
        "import torch\nfrom my_catch import CatchEnv, extract_state\nfrom eureka.tasks import Fitness, StateVar, Task\n"
        "TASK = Task(name='my_catch', env_id=CatchEnv, description='catch the balls',\n"
        "            state_vars=[StateVar(n) for n in ('paddle_x', 'ball_x', 'ball_height', 'ball_vx', 'ball_offset',"
        " 'last_event', 'actions')],\n"
        "            extract_state=extract_state,\n"
        "            fitness=Fitness('balls caught', step=lambda s: (s['last_event'] > 0).float(), maximum=10.0))\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check = subprocess.run([sys.executable, "-m", "eureka.check_task", str(folder / "my_task.py"), "--no-render",
                            "--steps", "128"], capture_output=True, text=True, timeout=300, cwd=elsewhere)
    assert check.returncode == 0 and "looks good" in check.stdout, check.stdout + check.stderr
    out = tmp_path / "run"
    # the task file has no trainer settings: SB3's PPO defaults would train a whole 2048-step rollout per env,
    # 10 epochs, in each of the run's trainings
    proc = run([f"task={folder / 'my_task.py'}", "iterations=1", "samples=1", "trainer.total_timesteps=256",
                "trainer.n_envs=2", "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64", "trainer.ppo.n_epochs=1",
                "eval.episodes=1", "eval.baselines=false", "eval.num_seeds=1", "video=false",
                f"hydra.run.dir={out}"], elsewhere, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "my_catch" and summary["status"] == "completed"
    assert summary["final_eval"]["seeds"] == [1] and summary["search_seed"] == 0
