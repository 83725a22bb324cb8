import json

from eureka.train import TrainSpec, run_training

GOOD = ("import torch\ndef compute_reward(pole_angle):\n    r = 1.0 - pole_angle.abs()\n"
        "    return r, {'upright': r}\n")
PPO = {"n_steps": 32, "batch_size": 64, "n_epochs": 2, "learning_rate": "lin_0.001"}


def _spec(tmp_path, job_id, mode="candidate", path=None, **kw):
    return TrainSpec(job_id=job_id, task="cartpole", mode=mode, reward_path=path, total_timesteps=640,
                     n_envs=2, hyperparams=PPO, eval_episodes=2, out_dir=str(tmp_path / job_id), **kw)


def test_training_writes_metrics_and_fitness(tmp_path):
    path = tmp_path / "reward.py"
    path.write_text(GOOD)
    result = run_training(_spec(tmp_path, "a", path=str(path), log_points=4))
    assert result.ok, result.failure
    assert result.fitness == sum(result.eval_lengths) / 2
    lines = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) >= 4 and "upright" in lines[-1]["components"]
    assert json.loads((tmp_path / "a" / "fitness.json").read_text())["status"] == "ok"


def test_training_is_deterministic_under_a_seed(tmp_path):
    a = run_training(_spec(tmp_path, "x", mode="env", seed=3))
    b = run_training(_spec(tmp_path, "y", mode="env", seed=3))
    assert a.eval_fitness == b.eval_fitness
    assert [s.fitness for s in a.snapshots] == [s.fitness for s in b.snapshots]


def test_sac_on_continuous_actions_with_normalization(tmp_path):
    reward = tmp_path / "reward.py"
    reward.write_text("import torch\ndef compute_reward(theta, actions):\n    r = torch.cos(theta) - 0.01 * actions ** 2\n"
                      "    return r, {'upright': torch.cos(theta), 'effort': -0.01 * actions ** 2}\n")
    result = run_training(TrainSpec(job_id="sac", task="pendulum", reward_path=str(reward), algo="sac",
                                    total_timesteps=300, n_envs=1, normalize=True, eval_episodes=1,
                                    hyperparams={"learning_starts": 100, "batch_size": 32}, out_dir=str(tmp_path / "o")))
    assert result.ok, result.failure
    assert 0.0 <= result.fitness <= 1.0 and result.eval_lengths == [200]
    assert (tmp_path / "o" / "vecnormalize.pkl").exists()
