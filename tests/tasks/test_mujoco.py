import numpy as np
import pytest

from eureka import tasks
from eureka.check_task import check_task
from eureka.reward import RewardWrapper, make_vec_env, sample_states

MUJOCO = {"hopper": (11, 6), "walker2d": (17, 9), "half_cheetah": (17, 9), "ant": (105, 15),
          "humanoid": (348, 24)}


@pytest.mark.parametrize("name", sorted(MUJOCO))
def test_state_table_matches_extraction_and_policy_sees_the_default_observation(name):
    task = tasks.make(name)
    policy_dim, nq = MUJOCO[name]
    states = sample_states(task, n_envs=2, steps=3, seed=0)
    for var in task.state_vars:
        arr = states[var.name]
        assert arr.shape[0] == 6 and np.isfinite(arr).all()
        assert arr.ndim == (2 if "," in var.shape else 1), var
    assert states["qpos"].shape == (6, nq)
    for key in ("x_position", "x_velocity", "torso_height", "actions"):
        assert key in states
    wrapper = RewardWrapper(make_vec_env(task, 2, 0), task, mode="env")
    assert wrapper.observation_space.shape == (policy_dim,)
    assert wrapper.reset().shape == (2, policy_dim)


def test_hopper_fitness_is_forward_distance():
    task = tasks.make("hopper")
    wrapper = RewardWrapper(make_vec_env(task, 1, 0), task, mode="env")
    wrapper.reset()
    data = wrapper.venv.envs[0].unwrapped.data
    x0, x_before_last = data.qpos[0], data.qpos[0]
    while not wrapper.episode_fitness:
        x_before_last = data.qpos[0]
        wrapper.step(np.array([wrapper.action_space.sample()]))
    # sum of x_velocity * dt over the episode ~ the displacement (up to the last step's few mm)
    assert wrapper.episode_fitness[0] == pytest.approx(x_before_last - x0, abs=0.02)
    assert wrapper.episode_fitness[0] != 0.0


def test_check_task_passes_on_hopper():
    rows = check_task("hopper", train_steps=128, render=True)
    assert all(ok for _, ok, _ in rows), rows
