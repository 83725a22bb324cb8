import json

from eureka.train import LocalExecutor, TrainSpec, run_training

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
    assert result["status"] == "ok", result["message"]
    assert result["fitness"] == sum(result["eval_lengths"]) / 2
    lines = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) >= 4 and "upright" in lines[-1]["components"]
    assert json.loads((tmp_path / "a" / "fitness.json").read_text())["status"] == "ok"


def test_training_is_deterministic_under_a_seed(tmp_path):
    a = run_training(_spec(tmp_path, "x", mode="env", seed=3))
    b = run_training(_spec(tmp_path, "y", mode="env", seed=3))
    assert a["eval_fitness"] == b["eval_fitness"]
    assert [s["fitness"] for s in a["snapshots"]] == [s["fitness"] for s in b["snapshots"]]


def test_raising_reward_fails_only_its_candidate(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\ndef compute_reward(pole_angle):\n"
                   "    if bool((pole_angle.abs() > 0.15).any()):\n        raise ValueError('boom')\n"
                   "    return pole_angle, {}\n")
    good = tmp_path / "good.py"
    good.write_text(GOOD)
    sac_on_discrete = _spec(tmp_path, "sac", path=str(good), algo="sac")
    results = LocalExecutor(max_workers=2).run(
        [_spec(tmp_path, "bad", path=str(bad)), _spec(tmp_path, "good", path=str(good)), sac_on_discrete])
    bad_r, good_r, sac_r = results
    assert bad_r["status"] == "failed" and bad_r["error_class"] == "RewardRuntimeError"
    assert "boom" in bad_r["message"] and "training step" in bad_r["message"]
    assert good_r["status"] == "ok"
    assert sac_r["error_class"] == "TrainingCrash" and "continuous" in sac_r["message"]


def test_executor_survives_a_dying_and_a_hanging_process(tmp_path):
    die = tmp_path / "die.py"
    # passes no critic (uses nothing forbidden at load time here) but kills its training process
    die.write_text("import torch\nimport numpy as np\ndef compute_reward(pole_angle):\n"
                   "    x = torch.ones(1)\n    return x.expand(10**12).sum() * pole_angle, {}\n")
    good = tmp_path / "good.py"
    good.write_text(GOOD)
    results = LocalExecutor(max_workers=2, timeout_s=60).run(
        [_spec(tmp_path, "die", path=str(die)), _spec(tmp_path, "ok", path=str(good))])
    assert results[0]["status"] == "failed"
    assert results[1]["status"] == "ok"
    hang = LocalExecutor(max_workers=1, timeout_s=3).run(
        [TrainSpec(job_id="slow", task="cartpole", mode="env", total_timesteps=10**7, n_envs=1)])
    assert hang[0]["error_class"] == "TrainingCrash" and "did not finish" in hang[0]["message"]


def test_sac_on_continuous_actions_with_normalization(tmp_path):
    reward = tmp_path / "reward.py"
    reward.write_text("import torch\ndef compute_reward(theta, actions):\n    r = torch.cos(theta) - 0.01 * actions ** 2\n"
                      "    return r, {'upright': torch.cos(theta), 'effort': -0.01 * actions ** 2}\n")
    result = run_training(TrainSpec(job_id="sac", task="pendulum", reward_path=str(reward), algo="sac",
                                    total_timesteps=300, n_envs=1, normalize=True, eval_episodes=1,
                                    hyperparams={"learning_starts": 100, "batch_size": 32}, out_dir=str(tmp_path / "o")))
    assert result["status"] == "ok", result["message"]
    assert 0.0 <= result["fitness"] <= 1.0 and result["eval_lengths"] == [200]
    assert (tmp_path / "o" / "vecnormalize.pkl").exists()
