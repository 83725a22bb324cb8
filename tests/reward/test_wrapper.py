import numpy as np
import pytest

from eureka.errors import NonFiniteReward
from eureka.reward import RewardWrapper, make_vec_env
from eureka.reward.compiled import load_reward

GOOD = ("import torch\nfrom typing import Dict, Tuple\n\n@torch.jit.script\n"
        "def compute_reward(pole_angle: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:\n"
        "    upright = 2.0 - pole_angle.abs()\n    return upright, {'upright': upright}\n")


def _wrapper(tmp_path, task, code: str, n: int, **kw) -> RewardWrapper:
    """A candidate-mode wrapper over ``n`` seeded envs with the reward ``code``."""
    path = tmp_path / "reward.py"
    path.write_text(code)
    fn, params = load_reward(path)
    return RewardWrapper(make_vec_env(task, n, 0), task, "candidate", fn, params, path, **kw)


def _rollout(wrapper, steps):
    wrapper.reset()
    out = []
    for _ in range(steps):
        actions = np.array([wrapper.action_space.sample() for _ in range(wrapper.num_envs)])
        out.append(wrapper.step(actions))
    return out


def test_candidate_reward_replaces_env_reward_for_the_batch(tmp_path, cartpole):
    wrapper = _wrapper(tmp_path, cartpole, GOOD, 4, info_components=True)
    for _obs, rewards, _dones, infos in _rollout(wrapper, 60):
        assert rewards.shape == (4,) and rewards.dtype == np.float32
        assert all(1.7 < r <= 2.0 for r in rewards)  # |angle| <= 0.21 even at termination
        assert all(info["env_reward"] == 1.0 for info in infos)
        assert np.allclose([i["reward_components"]["upright"] for i in infos], rewards)
    assert wrapper.episode_fitness, "episodes finished"
    assert wrapper.episode_fitness == [float(x) for x in wrapper.episode_lengths]  # cartpole fitness = length
    stats = wrapper.pop_component_stats()
    assert set(stats) == {"upright"} and 1.7 < stats["upright"]["mean"] <= 2.0


def test_component_stats_are_exact_across_folds_and_pops(tmp_path, cartpole):
    """Statistics are computed in batches of FOLD_COLUMNS values: they must equal numpy's over every step."""
    from eureka.reward.wrapper import FOLD_COLUMNS

    code = GOOD.replace("{'upright': upright}", "{'upright': upright, 'angle': pole_angle}")
    wrapper = _wrapper(tmp_path, cartpole, code, 3, info_components=True)
    for steps in (FOLD_COLUMNS // 3 * 2 + 37, 5):
        seen = {"upright": [], "angle": []}
        for _obs, _r, _d, infos in _rollout(wrapper, steps):
            for k in seen:
                seen[k] += [i["reward_components"][k] for i in infos]
        stats = wrapper.pop_component_stats()
        assert set(stats) == set(seen)
        for k, values in seen.items():
            v = np.asarray(values, dtype=np.float64)
            assert stats[k]["mean"] == pytest.approx(v.mean(), rel=1e-6, abs=1e-9)
            assert stats[k]["std"] == pytest.approx(v.std(), rel=1e-4, abs=1e-7)
            assert (stats[k]["min"], stats[k]["max"]) == pytest.approx((v.min(), v.max()))
    assert wrapper.pop_component_stats() == {}


def test_sparse_mode_pays_fitness_at_episode_end(cartpole):
    wrapper = RewardWrapper(make_vec_env(cartpole, 2, 0), cartpole, "sparse")
    for _, rewards, dones, _ in _rollout(wrapper, 80):
        assert (rewards[~dones] == 0).all()
        assert (rewards[dones] > 0).all()


def test_nan_mid_training_is_classified_with_the_step(tmp_path, cartpole):
    wrapper = _wrapper(tmp_path, cartpole, "import torch\ndef compute_reward(pole_angle):\n"
                       "    r = torch.where(pole_angle.abs() > 0.1, pole_angle / 0.0, pole_angle)\n"
                       "    return r * 0.0, {'r': r}\n", 2)
    with pytest.raises(NonFiniteReward, match="training step"):
        _rollout(wrapper, 200)


def test_huge_finite_rewards_are_not_taken_for_inf(tmp_path, cartpole):
    """The fast NaN check sums the rewards: a float32 sum would overflow; finite rewards must pass."""
    wrapper = _wrapper(tmp_path, cartpole, "import torch\ndef compute_reward(pole_angle):\n"
                       "    r = pole_angle * 0.0 + 3.0e38\n    return r, {'r': r}\n", 4)
    for _obs, rewards, _dones, _infos in _rollout(wrapper, 10):
        assert np.isfinite(rewards).all() and (rewards > 1e38).all()  # their float32 sum is inf


def test_a_component_that_changes_shape_later_is_a_shape_error(tmp_path, cartpole):
    """Only the first calls validate every component; a later odd one is still a RewardShapeError."""
    from eureka.errors import RewardShapeError

    wrapper = _wrapper(tmp_path, cartpole, "import torch\ncalls = [0]\ndef compute_reward(pole_angle):\n"
                       "    calls[0] += 1\n    c = pole_angle if calls[0] < 20 else pole_angle[:1]\n"
                       "    return pole_angle, {'c': c}\n", 4)
    with pytest.raises(RewardShapeError, match="training step 80 .*'c': \\[1\\]"):
        _rollout(wrapper, 40)


def _twins(tmp_path, task, code: str, n: int):
    """The same candidate reward in a per-step wrapper and a deferred one, over identically seeded envs."""
    return [_wrapper(tmp_path, task, code, n, defer=defer) for defer in (False, True)]


def test_deferred_scoring_equals_per_step_scoring(tmp_path, cartpole):
    """Blocks of any length (flushed every 7 steps here) give the rewards, fitness and statistics of per-step calls."""
    code = GOOD.replace("{'upright': upright}", "{'upright': upright, 'angle': pole_angle}")
    step_w, deferred = _twins(tmp_path, cartpole, code, 3)
    step_w.reset(), deferred.reset()
    rng = np.random.default_rng(0)
    per_step, placeholders, blocks, dones_seen = [], [], [], []
    for t in range(200):
        actions = rng.integers(0, 2, 3)
        per_step.append(step_w.step(actions)[1])
        _, r, d, _ = deferred.step(actions)
        placeholders.append(r)
        dones_seen.append(d)
        if t % 7 == 6:
            blocks.append(deferred.flush())
    blocks.append(deferred.flush())
    assert deferred.flush()[0].shape == (0, 3)  # nothing kept twice
    assert not np.any(placeholders)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in blocks]), np.stack(per_step))
    np.testing.assert_array_equal(np.concatenate([b[1] for b in blocks]), np.stack(dones_seen))
    assert deferred.episode_fitness == step_w.episode_fitness and len(step_w.episode_fitness) > 5
    assert deferred.episode_lengths == step_w.episode_lengths
    a, b = step_w.pop_component_stats(), deferred.pop_component_stats()
    assert a.keys() == b.keys() == {"upright", "angle"}
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-12)


def test_deferred_nan_names_the_step_it_happened_at(tmp_path, cartpole):
    code = ("import torch\ndef compute_reward(pole_angle):\n"
            "    r = torch.where(pole_angle.abs() > 0.1, pole_angle / 0.0, pole_angle)\n    return r, {'r': r}\n")
    step_w, deferred = _twins(tmp_path, cartpole, code, 2)
    step_w.reset(), deferred.reset()
    with pytest.raises(NonFiniteReward) as per_step:
        for _ in range(300):
            step_w.step(np.ones(2, dtype=np.int64))
    steps = step_w.steps
    for _ in range(steps // 2 + 10):  # past the bad step, then one call for all of them
        deferred.step(np.ones(2, dtype=np.int64))
    with pytest.raises(NonFiniteReward) as later:
        deferred.flush()
    assert f"training step {steps}" in str(per_step.value) and f"training step {steps}" in str(later.value)


def test_step_infos_are_copied_like_deepcopy(cartpole):
    """make_vec_env copies each step's infos as deepcopy would (cheaper): equal values, nothing shared
    that can change, and a later step never alters the infos handed out earlier."""
    import copy

    from eureka.reward.vecenv import copy_info

    info = {"x": 1.5, "flag": False, "arr": np.arange(3.0), "nested": {"l": [1, {"a": np.ones(2)}], "n": None},
            "t": (1, [2]), "s": "text"}
    mine, theirs = copy_info(info), copy.deepcopy(info)
    assert mine.keys() == theirs.keys() and mine["x"] == 1.5 and mine["s"] == "text"
    np.testing.assert_array_equal(mine["arr"], info["arr"])
    assert mine["arr"] is not info["arr"] and mine["nested"]["l"] is not info["nested"]["l"]
    assert mine["nested"]["l"][1]["a"] is not info["nested"]["l"][1]["a"] and mine["t"][1] is not info["t"][1]
    venv = make_vec_env(cartpole, 2, 0)
    venv.reset()
    infos = venv.step(np.zeros(2, dtype=np.int64))[3]
    assert type(infos) is list and infos == list(venv.buf_infos)  # the same values ...
    assert all(a is not b for a, b in zip(infos, venv.buf_infos, strict=True))  # ... in dicts of their own


def test_fitness_reduced_at_the_episodes_end(cartpole):
    """``reduce="last"``: an episode's fitness is its final step's value (that step's terminal observation)."""
    import dataclasses

    from eureka.tasks import Fitness

    task = dataclasses.replace(cartpole, fitness=Fitness("final cart position", step=lambda s: s["cart_position"],
                                                         reduce="last"))
    wrapper = RewardWrapper(make_vec_env(task, 2, 0), task, "env")
    expected = []
    for _, _, dones, infos in _rollout(wrapper, 120):
        expected += [float(infos[i]["terminal_observation"][0]) for i in np.flatnonzero(dones)]
    assert len(expected) >= 3 and len(set(expected)) == len(expected)
    assert wrapper.episode_fitness == pytest.approx(expected, abs=1e-6)
    deferred = RewardWrapper(make_vec_env(task, 2, 0), task, "env", defer=True)
    _rollout(deferred, 120)
    deferred.flush()
    assert deferred.episode_fitness == wrapper.episode_fitness
