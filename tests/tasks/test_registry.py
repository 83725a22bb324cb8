import pytest
import torch

from eureka import tasks
from eureka.errors import UnknownTaskError
from eureka.reward import sample_states

EXPECTED = {
    "cartpole": ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity", "actions"],
    "pendulum": ["theta", "cos_theta", "sin_theta", "angular_velocity", "actions"],
    "mountain_car": ["position", "velocity", "actions"],
    "acrobot": ["theta1", "theta2", "angular_velocity1", "angular_velocity2", "tip_height", "actions"],
}


def test_builtin_tasks_and_state_names():
    assert set(EXPECTED) <= set(tasks.list_tasks())
    for name, names in EXPECTED.items():
        assert tasks.make(name).state_names == names


def test_typo_suggests_closest():
    with pytest.raises(UnknownTaskError, match="Did you mean 'cartpole'"):
        tasks.make("cartpol")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_states_are_batched_float_and_fitness_is_per_env(name):
    task = tasks.make(name)
    states = sample_states(task, n_envs=3, steps=4, seed=1)
    assert set(states) == set(EXPECTED[name])
    for v in states.values():
        assert v.shape == (12,) and v.dtype.name == "float32"
    fit = task.fitness.step({k: torch.as_tensor(v) for k, v in states.items()})
    assert fit.shape == (12,)


def test_pendulum_theta_is_zero_upright():
    task = tasks.make("pendulum")
    obs = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    s = task.extract_state(obs, torch.zeros(2, 1), [])
    assert s["theta"][0] == 0.0 and abs(abs(float(s["theta"][1])) - 3.14159) < 1e-3


def test_task_file_registers(tmp_path):
    path = tmp_path / "my_task.py"
    path.write_text(
        "import torch\nfrom eureka.tasks import Task, StateVar, Fitness\n"
        "TASK = Task(name='my_cartpole', env_id='CartPole-v1', description='d',\n"
        "    state_vars=[StateVar('x')], extract_state=lambda o, a, i: {'x': o[:, 0]},\n"
        "    fitness=Fitness('len', step=lambda s: torch.ones_like(s['x'])))\n")
    task = tasks.make(str(path))
    assert task.name == "my_cartpole" and tasks.make("my_cartpole") is task


def test_a_task_file_imports_its_env_from_a_module_beside_it(tmp_path, monkeypatch):
    """Like pytest's rootdir: the task file's folder goes on sys.path (no PYTHONPATH=. needed)."""
    (tmp_path / "my_game.py").write_text(
        "import gymnasium as gym\nimport numpy as np\n\n"
        "class MyGame(gym.Env):\n"
        "    observation_space = gym.spaces.Box(-1, 1, (2,), dtype=np.float32)\n"
        "    action_space = gym.spaces.Discrete(2)\n\n"
        "    def reset(self, *, seed=None, options=None):\n"
        "        return np.zeros(2, dtype=np.float32), {}\n\n"
        "    def step(self, action):\n"
        "        return np.full(2, 0.5, dtype=np.float32), 0.0, True, False, {}\n")
    (tmp_path / "game_task.py").write_text(
        "import torch\nfrom my_game import MyGame\nfrom eureka.tasks import Task, StateVar, Fitness\n"
        "TASK = Task(name='my_game', env_id=MyGame, description='d', state_vars=[StateVar('x')],\n"
        "    extract_state=lambda o, a, i: {'x': o[:, 0]},\n"
        "    fitness=Fitness('x', step=lambda s: s['x']))\n")
    monkeypatch.chdir("/")
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".")])
    task = tasks.make(str(tmp_path / "game_task.py"))
    assert task.make_env().reset()[0].shape == (2,)
