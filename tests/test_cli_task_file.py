"""A task file is a whole experiment: the README's Reacher file, copied outside the repo, through the real CLI."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.test_cli import run

REACHER = Path(__file__).resolve().parents[1] / "docs" / "examples" / "reacher.py"
TINY = ["samples=1", "trainer.total_timesteps=256", "trainer.n_envs=2", "eval.episodes=1", "eval.baselines=false",
        "eval.seeds=[0]", "video=false", "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64",
        "trainer.ppo.n_epochs=1"]


@pytest.fixture
def reacher(tmp_path) -> Path:
    path = tmp_path / "project" / "reacher.py"
    path.parent.mkdir()
    shutil.copy(REACHER, path)
    return path


def test_the_files_settings_apply_and_the_command_line_overrides_them(reacher, tmp_path):
    proc = run([f"task={reacher}", "trainer.ppo.n_steps=128", "trainer.ppo.clip_range=0.1", "iterations=1",
                "--cfg", "job"], tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["task"]["name"] == str(reacher)
    assert cfg["trainer"]["total_timesteps"] == 200_000 and cfg["trainer"]["normalize"] is True  # the file's
    assert cfg["loop"]["target_fitness"] == -0.01 and cfg["eval"]["num_seeds"] == 2
    assert cfg["trainer"]["ppo"]["batch_size"] == 256 and cfg["trainer"]["ppo"]["n_steps"] == 128  # overridden
    assert cfg["trainer"]["ppo"]["clip_range"] == 0.1 and cfg["iterations"] == 1  # added without '+'
    helped = run([f"task={reacher}", "--help"], tmp_path, timeout=120)
    assert helped.returncode == 0 and "reacher" in helped.stdout.split("== Defaults ==")[0]
    assert "total_timesteps: 200000" in helped.stdout and "target_fitness: -0.01" in helped.stdout


@pytest.mark.e2e  # a real eureka run
def test_a_task_file_runs_into_outputs_of_its_name(reacher, tmp_path):
    proc = run([f"task={reacher}", "iterations=1", *TINY], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (out,) = (tmp_path / "outputs" / "reacher").iterdir()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "reacher" and summary["status"] == "completed"
    assert -1.0 < summary["best_fitness"] <= 0.0  # minus the final distance (reduce="last"), in metres
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["trainer"]["normalize"] is True and saved["loop"]["target_fitness"] == -0.01


@pytest.mark.e2e  # a real eureka run
def test_own_config_dir_for_a_real_run(reacher, tmp_path):
    conf = tmp_path / "project" / "conf" / "task"
    conf.mkdir(parents=True)
    (conf / "my_reacher.yaml").write_text("# @package _global_\ntask:\n  name: reacher.py\niterations: 1\n")
    proc = run(["--config-dir", str(conf.parent), "task=my_reacher", *TINY], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (out,) = (tmp_path / "outputs" / "my_reacher").iterdir()
    assert yaml.safe_load((out / "config.yaml").read_text())["task"]["name"] == str(reacher)  # found beside conf/
    typo = run([f"--config-dir={conf.parent}", "task=my_reacherr"], tmp_path, timeout=60)
    assert typo.returncode == 2 and "Did you mean 'my_reacher'?" in typo.stderr


MISTAKES = [
    ('Hint("distance", "minimize"', 'Hint("distanse", "minimize"',
     "hint variable 'distanse' is not a state variable. Did you mean 'distance'?"),
    ('"minimize", scale=0.1', '"minimise", scale=0.1', "goal 'minimise' is not one of"),
    ('"total_timesteps": 200_000', '"total_timestep": 200_000',
     "settings: unknown config key 'trainer.total_timestep'. Did you mean 'trainer.total_timesteps'?"),
    ('"n_envs": 8', '"n_envs": "eight"', "settings: trainer.n_envs='eight': expected an integer"),
    ('"n_steps": 256', '"n_step": 256', "settings: trainer.ppo.n_step: not a keyword argument of SB3's PPO"),
    ('reduce="last"', 'reduce="final"', "fitness.reduce is 'final'; valid choices: sum, mean, max, last"),
]


@pytest.mark.parametrize("old,new,message", MISTAKES)
def test_mistakes_in_the_file_give_file_line_and_exit_2(old, new, message, reacher, tmp_path):
    text = reacher.read_text()
    reacher.write_text(text.replace(old, new))
    line = next(i for i, s in enumerate(reacher.read_text().splitlines(), 1) if new in s)
    proc = run([f"task={reacher}"], tmp_path, timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr
    where = proc.stderr.split(": ")[2]
    assert where.startswith(f"{reacher}:") and abs(int(where.rsplit(":", 1)[1]) - line) <= 1, proc.stderr


@pytest.mark.parametrize("arg,message", [
    ("trainer.ppo.n_stepz=3", "trainer.ppo.n_stepz: not a keyword argument of SB3's PPO. Did you mean 'n_steps'?"),
    ("trainer.n_env=3", "unknown config key 'trainer.n_env'. Did you mean 'trainer.n_envs'?"),
    ("trainer.n_envs=many", "trainer.n_envs=many: expected an integer >= 1"),
])
def test_wrong_overrides_of_a_task_file(arg, message, reacher, tmp_path):
    proc = run([f"task={reacher}", arg], tmp_path, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith(f"eureka: error: {message}")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_resume_makes_the_task_files_option_again(tmp_path):
    from eureka.cli import resume_args

    run_dir = tmp_path / "outputs" / "reacher" / "x"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["task=reacher", "++trainer.ppo.n_steps=64"]))
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"task": {"name": "/p/reacher.py"}, "iterations": 2}))
    assert resume_args([f"resume={run_dir}", "iterations=3"]) == [
        "task=/p/reacher.py", "++trainer.ppo.n_steps=64", "iterations=3", f"hydra.run.dir={run_dir}"]
