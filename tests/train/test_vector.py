"""The vectorized trainer (trainer.backend=vector): batched simulators, the task contract, PPO, the jail."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eureka import tasks
from eureka.errors import ConfigError
from eureka.reward.scorer import RewardScorer
from eureka.reward.vecenv import make_vec_env
from eureka.reward.wrapper import RewardWrapper
from eureka.train import LocalExecutor, TrainSpec, run_training
from eureka.train.vector.sims import EnvPoolSim, GymnasiumSim, choose_sim, make_sim

VEC = {"num_steps": 32, "update_epochs": 1, "num_minibatches": 2}
UPRIGHT = ("import torch\ndef compute_reward(pole_angle, cart_position):\n    r = 1.0 - pole_angle.abs()\n"
           "    return r, {'upright': r, 'centre': -0.1 * cart_position.abs()}\n")


def vspec(tmp_path, job_id, mode="candidate", path=None, **kw) -> TrainSpec:
    values = {"job_id": job_id, "task": "cartpole", "mode": mode, "reward_path": path, "backend": "vector",
              "total_timesteps": 256, "num_envs": 4, "vector": VEC, "eval_episodes": 2, "tensorboard": False,
              "out_dir": str(tmp_path / job_id)}
    values.update(kw)
    return TrainSpec(**values)


@pytest.mark.parametrize("name", ["hopper", "half_cheetah", "cartpole", "pendulum"])
def test_envpool_gives_the_observation_layout_gymnasium_gives(name):
    """EnvPool's batched env and Gymnasium's env agree on the observation the state extractor reads: same
    shape, and for MuJoCo the leading x position (hidden from the policy) is the env's own x_position."""
    task = tasks.make(name)
    assert choose_sim(task, "auto") == ("envpool", None)
    pool, gym_sim = EnvPoolSim(task, 3, seed=1), GymnasiumSim(task, 3, seed=1)
    assert pool.observation_space.shape == gym_sim.observation_space.shape
    obs = pool.reset()
    assert obs.shape == gym_sim.reset().shape
    if task.hidden_obs:
        import envpool

        env = envpool.make(task.env_id, env_type="gymnasium", num_envs=3, seed=1, **task.env_kwargs)
        env.reset()
        rng = np.random.default_rng(0)
        for _ in range(20):
            o, _, _, _, info = env.step(rng.uniform(-1, 1, (3, *env.action_space.shape)))
            states = task.extract_state(torch.as_tensor(o), torch.zeros(3, *env.action_space.shape), [{}] * 3)
            moved = info["elapsed_step"] > 0  # on its reset step EnvPool reports x_position 0
            np.testing.assert_allclose(states["x_position"].numpy()[moved], info["x_position"][moved], atol=1e-5)
        base = task.make_env()
        o, _ = base.reset(seed=0)
        o2, _, _, _, info = base.step(base.action_space.sample())
        states = task.extract_state(torch.as_tensor(o2[None]), torch.zeros(1, *base.action_space.shape), [{}])
        assert abs(float(states["x_position"][0]) - info["x_position"]) < 1e-5
    pool.close()
    gym_sim.close()


def test_the_same_states_give_the_same_reward_on_both_backends(tmp_path):
    """The SB3 path (RewardWrapper over a VecEnv) and the vector path (RewardScorer fed by a batched simulator)
    extract the same states and call the same reward on them: same rewards, same components."""
    from eureka.reward.compiled import load_candidate

    task = tasks.make("hopper")
    path = tmp_path / "r.py"
    path.write_text("import torch\ndef compute_reward(x_velocity, torso_height, actions, x_position):\n"
                    "    fwd = x_velocity + 0.1 * x_position\n    up = torch.exp(-(torso_height - 1.25) ** 2)\n"
                    "    cost = 0.001 * (actions ** 2).sum(-1)\n    return fwd + up - cost, {'fwd': fwd, 'up': up}\n")
    fn, params = load_candidate(str(path))
    venv = make_vec_env(task, 4, seed=0)
    sb3 = RewardWrapper(venv, task, mode="candidate", reward_fn=fn, params=params, path=str(path), defer=True)
    vec = RewardScorer(task, 4, mode="candidate", reward_fn=fn, params=params, path=str(path))
    sb3.reset()
    rng = np.random.default_rng(0)
    for _ in range(30):
        actions = rng.uniform(-1, 1, (4, 3)).astype(np.float32)
        sb3.step_async(actions)
        sb3.step_wait()
        obs, actions_kept, dones, infos, env_r, _ = sb3._kept[-1]
        vec.keep(obs, actions_kept, dones, [{}] * 4, env_r)
    r_sb3, d_sb3 = sb3.flush()
    r_vec, d_vec = vec.flush()
    np.testing.assert_array_equal(r_sb3, r_vec)
    np.testing.assert_array_equal(d_sb3, d_vec)
    assert sb3.pop_component_stats() == vec.pop_component_stats()
    venv.close()


def test_envpool_reset_steps_count_for_no_episode():
    """EnvPool resets a finished env on the next step: that step is no transition, so it adds nothing to the
    next episode. CartPole's fitness (steps survived) must then equal its env reward's return."""
    task = tasks.make("cartpole")
    sim = make_sim(task, 8, seed=0, sim="envpool")
    scorer = RewardScorer(task, 8, mode="env")
    sim.reset()
    returns, ret = [], np.zeros(8)
    saw_reset_step = False
    for _ in range(200):
        out = sim.step(np.random.default_rng(1).integers(0, 2, 8))
        saw_reset_step |= out.valid is not None
        scorer.keep(out.reward_obs, np.zeros(8), out.terminated | out.truncated, out.infos, out.env_reward, out.valid)
        ret += out.env_reward * (1 if out.valid is None else out.valid)
        for i in np.flatnonzero(out.terminated | out.truncated):
            returns.append(ret[i])
            ret[i] = 0
    scorer.flush()
    assert saw_reset_step and len(returns) >= 20
    assert scorer.episode_lengths == returns == scorer.episode_fitness
    sim.close()


def test_a_task_envpool_lacks_falls_back_with_one_line_and_trains(tmp_path):
    task = tasks.make("catch")  # a Python env of its own: not in EnvPool
    name, note = choose_sim(task, "auto")
    assert name == "gymnasium" and "catch" in note and "Gymnasium's vector env" in note and "\n" not in note
    with pytest.raises(ConfigError, match="trainer.sim=envpool"):
        choose_sim(task, "envpool")
    result = run_training(vspec(tmp_path, "c", mode="env", task="catch", total_timesteps=128))
    assert result.ok, result.failure
    assert result.steps == 128 and result.fitness is not None


def test_vector_training_writes_metrics_components_and_a_policy_the_evaluator_reads(tmp_path):
    path = tmp_path / "reward.py"
    path.write_text(UPRIGHT)
    result = run_training(vspec(tmp_path, "a", path=str(path), log_points=4, total_timesteps=512))
    assert result.ok, result.failure
    assert result.steps == 512 and len(result.eval_fitness) == 2
    assert result.fitness == sum(result.eval_lengths) / 2  # cartpole: fitness = steps survived
    lines = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) >= 4 and set(lines[-1]["components"]) == {"upright", "centre"}
    assert lines[-1]["components"]["centre"]["max"] <= 0
    out = tmp_path / "a"
    assert (out / "policy.safetensors").exists() and (out / "normalizer.npz").exists()
    from eureka.train.evaluator import evaluate_saved
    from eureka.train.runner import policy_settings

    spec = vspec(tmp_path, "a")
    fit, lens = evaluate_saved("cartpole", "ppo", policy_settings(spec), out, 2, 0)
    assert fit == result.eval_fitness  # the evaluator rebuilds the same policy from tensors alone


def test_vector_training_is_deterministic_under_a_seed(tmp_path):
    a = run_training(vspec(tmp_path, "x", mode="env", seed=3, sim="gymnasium"))
    b = run_training(vspec(tmp_path, "y", mode="env", seed=3, sim="gymnasium"))
    assert a.eval_fitness == b.eval_fitness
    assert [s.fitness for s in a.snapshots] == [s.fitness for s in b.snapshots]


def test_a_nan_reward_stops_the_vector_training_with_its_step(tmp_path):
    path = tmp_path / "nan.py"
    path.write_text("import torch\ndef compute_reward(pole_angle, calls=[0]):\n    calls[0] += 1\n"
                    "    r = torch.cos(pole_angle)\n    if calls[0] == 3:\n        r = r / 0.0 * 0.0\n"
                    "    return r, {'c': r}\n")
    result = run_training(vspec(tmp_path, "n", path=str(path), total_timesteps=1024))
    assert not result.ok and result.failure.error_class == "NonFiniteReward", result.failure
    assert "step" in result.failure.message


def test_halving_continues_a_vector_training_from_its_checkpoint(tmp_path):
    first = run_training(vspec(tmp_path, "h", mode="env", total_timesteps=256))
    more = run_training(vspec(tmp_path, "h", mode="env", total_timesteps=256, resume=True))
    assert first.ok and more.ok, (first.failure, more.failure)
    assert first.steps == 256 and more.steps == 512 and more.new_steps == 256


@pytest.mark.parametrize("sim", ["envpool", "gymnasium"])
def test_a_jailed_vector_training_is_judged_by_the_evaluator(tmp_path, sim):
    path = tmp_path / "reward.py"
    path.write_text(UPRIGHT)
    [r] = LocalExecutor(1, timeout_s=600).run([vspec(tmp_path, f"j{sim}", path=str(path), sim=sim)])
    assert r.ok, r.failure
    assert r.fitness is not None and r.fitness == sum(r.eval_lengths) / len(r.eval_lengths)
    assert r.walls and r.snapshots and r.snapshots[-1].components


def test_vector_config_errors_come_before_any_work():
    from eureka.cli import compose_configs, preflight

    for args, match in ((["trainer.backend=vector", "++trainer.vector.num_stepz=8"], "num_stepz"),
                        (["trainer.backend=vector", "trainer.algo=sac", "task=pendulum"], "PPO only"),
                        (["trainer.backend=vecter"], "trainer.backend"),
                        (["trainer.backend=vector", "trainer.num_envs=0"], "trainer.num_envs"),
                        (["trainer.backend=vector", "trainer.sim=envpool", "task=catch"], "trainer.sim=envpool")):
        with pytest.raises(ConfigError, match=match):
            for cfg in compose_configs(args):
                preflight(cfg)


def _policy_and_batch(discrete: bool):
    import gymnasium as gym

    from eureka.train.vector.policy import ActorCritic

    torch.manual_seed(0)
    space = gym.spaces.Discrete(3) if discrete else gym.spaces.Box(-1, 1, (2,), np.float32)
    policy = ActorCritic(4, space, init_log_std=-0.5)
    obs = torch.randn(32, 4)
    actions = torch.randint(0, 3, (32,)) if discrete else torch.randn(32, 2)
    return policy, obs, actions


@pytest.mark.parametrize("discrete", [False, True])
def test_the_written_out_log_probability_and_entropy_are_the_distributions(discrete):
    policy, obs, actions = _policy_and_batch(discrete)
    logp, entropy = policy.evaluate(obs, actions)
    dist = policy.distribution(obs)
    torch.testing.assert_close(logp, dist.log_prob(actions) if discrete else dist.log_prob(actions).sum(-1))
    expected = dist.entropy() if discrete else dist.entropy().sum(-1)
    torch.testing.assert_close(entropy, expected)


@pytest.mark.parametrize("discrete", [False, True])
def test_sampling_draws_what_the_distribution_draws(discrete):
    policy, obs, _ = _policy_and_batch(discrete)
    torch.manual_seed(3)
    drawn = policy.sample(obs)
    torch.manual_seed(3)
    torch.testing.assert_close(drawn, policy.distribution(obs).sample())


@pytest.mark.parametrize("discrete", [False, True])
def test_the_deterministic_action_is_the_distributions_mode_bit_for_bit(discrete):
    policy, obs, _ = _policy_and_batch(discrete)
    obs = torch.cat([obs, torch.zeros(1, obs.shape[1]), obs * 1e-7])  # near-ties between logits too
    with torch.no_grad():
        dist = policy.distribution(obs)
        mode = dist.probs.argmax(-1) if discrete else dist.mean
    actions, _ = policy.predict(obs.numpy(), deterministic=True)
    assert np.array_equal(actions, policy.to_env(mode).numpy().reshape(actions.shape))


def _autograd_ppo_loss(policy, obs, actions, old_logp, adv, ret, old_val, c, clip_vloss, ent_coef, vf_coef):
    """The clipped PPO loss as autograd sees it (CleanRL's, as PPO.update wrote it before it was written out)."""
    logp, entropy = policy.evaluate(obs, actions)
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - c, 1 + c)).mean()
    value = policy.value(obs)
    if clip_vloss:
        clipped = old_val + (value - old_val).clamp(-c, c)
        v_loss = 0.5 * torch.max((value - ret) ** 2, (clipped - ret) ** 2).mean()
    else:
        v_loss = 0.5 * ((value - ret) ** 2).mean()
    loss = pg - ent_coef * entropy.mean() + vf_coef * v_loss
    kl = ((ratio - 1) - log_ratio).mean()
    return loss, torch.stack((pg, v_loss, entropy.mean(), kl)).detach()


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("activation", ["tanh", "relu", "elu"])
@pytest.mark.parametrize("clip_vloss", [False, True])
@pytest.mark.parametrize("ent_coef", [0.01, 0.0])
def test_the_written_out_gradient_is_autograds(discrete, activation, clip_vloss, ent_coef):
    import gymnasium as gym

    from eureka.train.vector.grads import loss_actions, loss_and_grads
    from eureka.train.vector.policy import ActorCritic

    torch.manual_seed(0)
    space = gym.spaces.Discrete(3) if discrete else gym.spaces.Box(-1, 1, (2,), np.float32)
    policy = ActorCritic(5, space, hidden=(16, 8, 8), activation=activation, init_log_std=-0.3)
    for p in policy.critic[-1:].parameters():  # a critic that is not ~0 at the start, so values are clipped too
        torch.nn.init.normal_(p)
    obs = torch.randn(64, 5)
    actions = torch.randint(0, 3, (64,)) if discrete else torch.randn(64, 2)
    with torch.no_grad():
        old_logp = policy.evaluate(obs, actions)[0] + 0.3 * torch.randn(64)  # ratios inside and outside the clip
        old_val = policy.value(obs) + 0.3 * torch.randn(64)
    adv, ret = torch.randn(64), torch.randn(64)
    args = (0.2, clip_vloss, ent_coef, 0.5)
    loss, expected_stats = _autograd_ppo_loss(policy, obs, actions, old_logp, adv, ret, old_val, *args)
    expected = torch.autograd.grad(loss, list(policy.parameters()))
    for with_stats in (True, False):  # without the statistics (most minibatches), the same gradient
        for p in policy.parameters():
            p.grad = torch.full_like(p, float("nan"))  # every gradient must be written, none accumulated
        stats = loss_and_grads(policy, obs, loss_actions(policy, actions), old_logp, adv, ret, old_val, *args,
                               stats=with_stats)
        if with_stats:
            torch.testing.assert_close(stats, expected_stats)
        else:
            assert stats is None
        for (name, p), g in zip(policy.named_parameters(), expected, strict=True):
            torch.testing.assert_close(p.grad, g, msg=lambda m, name=name: f"{name}: {m}")


def test_flat_adam_takes_torchs_adam_step_after_the_same_clip():
    from torch import nn

    from eureka.train.vector.ppo import FlatAdam

    policy, obs, actions = _policy_and_batch(False)
    twin, _, _ = _policy_and_batch(False)
    ours = FlatAdam(list(policy.parameters()), lr=1e-2)
    theirs = torch.optim.Adam(twin.parameters(), lr=1e-2, eps=1e-5)
    for step in range(3):
        scale = 100.0 if step == 1 else 1.0  # the middle step's gradient is clipped
        ours.zero_grad()
        (policy.evaluate(obs, actions)[0].sum() * scale + policy.value(obs).sum()).backward()
        ours.step(0.5)
        theirs.zero_grad()
        (twin.evaluate(obs, actions)[0].sum() * scale + twin.value(obs).sum()).backward()
        nn.utils.clip_grad_norm_(list(twin.parameters()), 0.5)
        theirs.step()
    for (name, a), b in zip(policy.state_dict().items(), twin.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_the_running_normalizer_matches_the_whole_datas_statistics_and_reloads():
    from eureka.train.vector.ppo import RunningNorm

    torch.manual_seed(1)
    norm = RunningNorm((3,))
    batches = [torch.randn(16, 3) * 5 + 2 for _ in range(40)]
    for x in batches:
        norm.update(x)
    data = torch.cat(batches).double()
    torch.testing.assert_close(norm.mean, data.mean(0), rtol=0, atol=1e-5)
    torch.testing.assert_close(norm.var, data.var(0, unbiased=False), rtol=1e-5, atol=1e-5)
    expected = ((data[:16] - data.mean(0)) / data.var(0, unbiased=False).sqrt()).float()
    torch.testing.assert_close(norm(batches[0]), expected, rtol=1e-4, atol=1e-4)
    fresh = RunningNorm((3,))
    fresh(batches[0])  # caches the initial statistics' shift and scale
    fresh.load_state_dict(norm.state_dict())
    torch.testing.assert_close(fresh(batches[0]), norm(batches[0]))
