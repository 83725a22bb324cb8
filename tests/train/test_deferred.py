"""PPO with the reward called once per rollout trains exactly as with one call per step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from eureka import tasks
from eureka.llm.offline import CodeWriter, seed_genome
from eureka.reward import RewardWrapper, make_vec_env
from eureka.reward.compiled import load_reward
from eureka.train.deferred import RolloutVecNormalize, defer_rewards


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as in a training process: the bitwise comparisons must not hang on thread splits."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train(task, path, defer: bool, normalize: bool, steps: int, mode: str = "candidate"):
    fn, params = load_reward(path)
    calls = []

    def counted(**kw):
        calls.append(next(iter(kw.values())).shape[0])
        return fn(**kw)

    wrapper = RewardWrapper(make_vec_env(task, 4, 0), task, mode, counted if mode == "candidate" else None,
                            params, path)
    env = (RolloutVecNormalize if defer else VecNormalize)(wrapper) if normalize else wrapper
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu")
    if defer:
        assert defer_rewards(model, wrapper)
    model.learn(steps)
    return model, wrapper, calls


@pytest.mark.parametrize("name, normalize", [("cartpole", False), ("pendulum", True)])
def test_deferred_rewards_train_the_same_policy(tmp_path, name, normalize):
    """Pendulum's episodes end by time limit: PPO's value bootstrap on truncation is covered, and VecNormalize."""
    task = tasks.make(name)
    path = tmp_path / "reward.py"
    path.write_text(CodeWriter(task).code(seed_genome(task)))
    a, wa, calls_a = _train(task, path, False, normalize, 1280)
    b, wb, calls_b = _train(task, path, True, normalize, 1280)
    assert calls_a == [4] * 320 and calls_b == [256] * 5  # one call per step vs one per rollout of 64 x 4
    for p, q in zip(a.policy.parameters(), b.policy.parameters(), strict=True):
        assert torch.equal(p, q)
    np.testing.assert_array_equal(a.rollout_buffer.rewards, b.rollout_buffer.rewards)
    np.testing.assert_array_equal(a.rollout_buffer.advantages, b.rollout_buffer.advantages)
    assert wa.episode_fitness == wb.episode_fitness and wa.episode_fitness
    if normalize:
        assert a.get_vec_normalize_env().ret_rms.var == pytest.approx(b.get_vec_normalize_env().ret_rms.var, rel=0)


@pytest.mark.parametrize("name, normalize, mode", [("cartpole", False, "sparse"), ("pendulum", True, "env")])
def test_baselines_defer_alike(tmp_path, name, normalize, mode):
    """The env-reward and sparse-fitness baselines train on deferred rewards too: the same policy."""
    task = tasks.make(name)
    path = tmp_path / "reward.py"
    path.write_text(CodeWriter(task).code(seed_genome(task)))
    a, wa, _ = _train(task, path, False, normalize, 768, mode)
    b, wb, _ = _train(task, path, True, normalize, 768, mode)
    assert wb.defer and not wa.defer
    for p, q in zip(a.policy.parameters(), b.policy.parameters(), strict=True):
        assert torch.equal(p, q)
    np.testing.assert_array_equal(a.rollout_buffer.rewards, b.rollout_buffer.rewards)
    assert np.any(b.rollout_buffer.rewards) and wa.episode_fitness == wb.episode_fitness


def test_deferral_applies_only_where_rewards_can_wait(tmp_path, cartpole):
    path = tmp_path / "reward.py"
    path.write_text(CodeWriter(cartpole).code(seed_genome(cartpole)))
    fn, params = load_reward(path)
    plain = RewardWrapper(make_vec_env(cartpole, 2, 0), cartpole, "candidate", fn, params, path)
    per_step_norm = VecNormalize(plain)  # it scales rewards as they come: they cannot be placeholders
    assert not defer_rewards(PPO("MlpPolicy", per_step_norm, n_steps=16, batch_size=32, device="cpu"), plain)
    assert not plain.defer
    shown = RewardWrapper(make_vec_env(cartpole, 2, 0), cartpole, "candidate", fn, params, path, info_components=True)
    assert not defer_rewards(PPO("MlpPolicy", shown, n_steps=16, batch_size=32, device="cpu"), shown)
    with pytest.raises(ValueError, match="exclude each other"):
        RewardWrapper(make_vec_env(cartpole, 2, 0), cartpole, "candidate", fn, params, path, info_components=True,
                      defer=True)


def test_a_rollout_cut_short_still_counts_its_episodes(tmp_path, cartpole):
    """A callback that stops PPO mid-rollout leaves steps unscored: ``flush`` (the runner calls it after
    ``learn``) still scores them, so their finished episodes count."""
    from stable_baselines3.common.callbacks import BaseCallback

    class StopAt(BaseCallback):
        def _on_step(self) -> bool:
            return self.num_timesteps < 400

    path = tmp_path / "reward.py"
    path.write_text(CodeWriter(cartpole).code(seed_genome(cartpole)))
    fn, params = load_reward(path)
    wrapper = RewardWrapper(make_vec_env(cartpole, 4, 0), cartpole, "candidate", fn, params, path)
    model = PPO("MlpPolicy", wrapper, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    assert defer_rewards(model, wrapper)
    model.learn(2048, callback=StopAt())
    before = len(wrapper.episode_fitness)
    rewards, dones = wrapper.flush()
    assert rewards.shape == (36, 4) and model.num_timesteps == 400  # one rollout of 64 steps, then 36 of the next
    assert len(wrapper.episode_fitness) == before + int(dones.sum()) and dones.any()
    assert wrapper.flush()[0].shape == (0, 4)


def test_rollout_normalizer_scales_per_step_until_deferral(tmp_path, cartpole):
    """Where deferral does not apply (``defer_rewards`` returns False), RolloutVecNormalize is VecNormalize."""
    path = tmp_path / "reward.py"
    path.write_text(CodeWriter(cartpole).code(seed_genome(cartpole)))
    fn, params = load_reward(path)
    envs = [cls(RewardWrapper(make_vec_env(cartpole, 2, 0), cartpole, "candidate", fn, params, path))
            for cls in (VecNormalize, RolloutVecNormalize)]
    for env in envs:
        env.reset()
    for _ in range(30):
        plain, rollout = (env.step(np.ones(2, dtype=np.int64))[1] for env in envs)
        np.testing.assert_array_equal(plain, rollout)
    assert envs[0].ret_rms.var == pytest.approx(envs[1].ret_rms.var, rel=0) and envs[1].ret_rms.count > 1
