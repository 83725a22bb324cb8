"""A task file's ``settings``: the keys of the command line, nested or dotted, checked with file and line."""

from pathlib import Path

import pytest

from eureka.errors import TaskCheckError
from eureka.tasks import load_task_file
from eureka.tasks.settings import as_task_config, check_settings, nested

CARTPOLE = Path(__file__).resolve().parents[2] / "envs" / "cartpole.py"


def test_nested_and_dotted_keys_merge():
    assert nested({"trainer.algo": "sac", "trainer": {"n_envs": 4, "sac": {"tau": 0.01}}, "iterations": 2}) == \
        {"trainer": {"algo": "sac", "n_envs": 4, "sac": {"tau": 0.01}}, "iterations": 2}


def _task_file(tmp_path, settings: str) -> Path:
    path = tmp_path / "my_cartpole.py"  # a task name of its own per test (the registry is per process)
    text = CARTPOLE.read_text().replace('name="cartpole"', f'name="my_cartpole_{abs(hash(str(tmp_path)))}"')
    path.write_text(text.replace("    hints=[", f"    settings={settings},\n    hints=["))
    return path


def test_settings_become_the_tasks_config_option(tmp_path):
    path = _task_file(tmp_path, '{"iterations": 2, "trainer.ppo": {"n_steps": 64}, "loop": {"target_fitness": 400}}')
    task = load_task_file(path)[0]
    assert as_task_config(task, path) == {"iterations": 2, "trainer": {"ppo": {"n_steps": 64}},
                                          "loop": {"target_fitness": 400}, "task": {"name": str(path)}}


@pytest.mark.parametrize("settings,message", [
    ('{"trainer": {"total_timestep": 1}}', "unknown config key 'trainer.total_timestep'. Did you mean "
                                           "'trainer.total_timesteps'?"),
    ('{"iterations": "two"}', "settings: iterations='two': expected an integer"),
    ('{"trainer.ppo": {"n_stepz": 64}}', "trainer.ppo.n_stepz: not a keyword argument of SB3's PPO"),
    ('{"samples": 0}', "samples=0: must be an integer >= 1"),
    ('{"task": {"name": "x"}}', "settings cannot set 'task.name'"),
])
def test_wrong_settings_name_the_file_and_line(tmp_path, settings, message):
    path = _task_file(tmp_path, settings)
    with pytest.raises(TaskCheckError) as err:
        check_settings(load_task_file(path)[0])
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if "settings=" in s)
    assert str(err.value).startswith(f"{path}:{line}: task 'my_cartpole_") and message in str(err.value)
