import numpy as np
import pytest

from eureka.errors import NonFiniteReward
from eureka.reward import RewardWrapper, make_vec_env
from eureka.reward.compiled import load_reward

GOOD = ("import torch\nfrom typing import Dict, Tuple\n\n@torch.jit.script\n"
        "def compute_reward(pole_angle: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:\n"
        "    upright = 2.0 - pole_angle.abs()\n    return upright, {'upright': upright}\n")


def _rollout(wrapper, steps):
    wrapper.reset()
    out = []
    for _ in range(steps):
        actions = np.array([wrapper.action_space.sample() for _ in range(wrapper.num_envs)])
        out.append(wrapper.step(actions))
    return out


def test_candidate_reward_replaces_env_reward_for_the_batch(tmp_path, cartpole):
    path = tmp_path / "reward.py"
    path.write_text(GOOD)
    fn, params = load_reward(path)
    wrapper = RewardWrapper(make_vec_env(cartpole, 4, 0), cartpole, "candidate", fn, params, path)
    for _obs, rewards, _dones, infos in _rollout(wrapper, 60):
        assert rewards.shape == (4,) and rewards.dtype == np.float32
        assert all(1.7 < r <= 2.0 for r in rewards)  # |angle| <= 0.21 even at termination
        assert all(info["env_reward"] == 1.0 for info in infos)
        assert np.allclose([i["reward_components"]["upright"] for i in infos], rewards)
    assert wrapper.episode_fitness, "episodes finished"
    assert wrapper.episode_fitness == [float(x) for x in wrapper.episode_lengths]  # cartpole fitness = length
    stats = wrapper.pop_component_stats()
    assert set(stats) == {"upright"} and 1.7 < stats["upright"]["mean"] <= 2.0


def test_sparse_mode_pays_fitness_at_episode_end(cartpole):
    wrapper = RewardWrapper(make_vec_env(cartpole, 2, 0), cartpole, "sparse")
    for _, rewards, dones, _ in _rollout(wrapper, 80):
        assert (rewards[~dones] == 0).all()
        assert (rewards[dones] > 0).all()


def test_nan_mid_training_is_classified_with_the_step(tmp_path, cartpole):
    path = tmp_path / "reward.py"
    path.write_text("import torch\ndef compute_reward(pole_angle):\n"
                    "    r = torch.where(pole_angle.abs() > 0.1, pole_angle / 0.0, pole_angle)\n"
                    "    return r * 0.0, {'r': r}\n")
    fn, params = load_reward(path)
    wrapper = RewardWrapper(make_vec_env(cartpole, 2, 0), cartpole, "candidate", fn, params, path)
    with pytest.raises(NonFiniteReward, match="training step"):
        _rollout(wrapper, 200)
