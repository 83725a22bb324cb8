"""The loop driven from Python: early stopping, the example game, videos, all-failed runs."""

import json

import pytest
from omegaconf import OmegaConf

from eureka.cli import conf_dir
from eureka.evolve import EurekaLoop, human_normalized_score
from eureka.evolve.summary import SeedStats, denominator_note
from eureka.llm import Answer, Designer


def make_cfg(task="cartpole", **over):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose("config", overrides=[f"task={task}"])
    tiny = {"iterations": 1, "samples": 2, "video": False, "eval": {"episodes": 2, "seeds": [0], "baselines": False},
            "trainer": {"backend": "sb3", "total_timesteps": 512, "n_envs": 2, "tensorboard": False,
                        "ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1}}}
    return OmegaConf.merge(cfg, tiny, over)


@pytest.mark.e2e  # a real eureka run (real trainings)
def test_successive_halving_spends_fewer_steps(tmp_path):
    cfg = make_cfg(samples=4, loop={"early_stop": {"enabled": True, "eta": 2, "min_fraction": 0.5}},
                   trainer={"total_timesteps": 1024})
    loop = EurekaLoop(cfg, tmp_path)
    summary = loop.run()
    rows = summary["iterations"][0]["candidates"]
    stopped = [r for r in rows if r["stopped_at"]]
    full = [r for r in rows if not r["stopped_at"]]
    assert len(stopped) == 2 and len(full) == 2
    assert all(r["steps"] == 512 for r in stopped) and all(r["seed_steps"]["7919"] == 1024 for r in full)
    # racing re-trained the two survivors on a second search seed with the same budget (eval.seeds=[0] holds
    # seed 0, so the search seeds are 7919 and 15838)
    assert all(r["seed_steps"] == {"7919": 1024, "15838": 1024} and r["steps"] == 2048 for r in full)
    # plus the crowned reward confirmed on loop.confirm=3 held-out search seeds at the full budget
    assert summary["search_env_steps"] == 3 * 1024 + 2 * 1024 + 3 * 1024
    # continued trainings appended to the same metrics file
    lines = (tmp_path / "candidates" / full[0]["id"] / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 1024 and len(lines) >= 15


@pytest.mark.e2e  # a real eureka run (real trainings)
def test_example_game_loop_with_video(tmp_path):
    summary = EurekaLoop(make_cfg("catch", video=True, video_steps=30), tmp_path).run()
    assert summary["status"] == "completed" and summary["best_fitness"] is not None
    assert (tmp_path / "candidates" / summary["best_candidate"] / "rollout.mp4").stat().st_size > 0
    # the training measured how each reward correlates with the game's own reward (a float, through the walls)
    rows = summary["iterations"][0]["candidates"]
    assert all(isinstance(r["env_reward_corr"], float) and -1 <= r["env_reward_corr"] <= 1 for r in rows), rows


class NoCode(Designer):
    name, model = "test", "none"

    def propose(self, request):
        return [Answer("I would reward the pole for staying up.") for _ in range(request.n)]


def test_all_failed_run_ends_normally_with_the_errors_fed_back(tmp_path):
    summary = EurekaLoop(make_cfg(iterations=2), tmp_path, designer=NoCode()).run()
    assert summary["status"] == "all_failed" and summary["best_fitness"] is None
    assert all(c["error_class"] == "RewardSyntaxError" for it in summary["iterations"] for c in it["candidates"])
    prompt = json.loads((tmp_path / "candidates" / "iter1_sample0" / "prompt.json").read_text())
    assert "RewardSyntaxError" in prompt[-1]["content"]


def test_human_normalized_score():
    assert human_normalized_score(10.0, 5.0, 0.0) == 2.0
    assert human_normalized_score(1.0, -1.0, 2.0) == -1 / 3  # 'human' below 'sparse' is allowed
    assert human_normalized_score(1.0, 2.0, 2.0) is None
    assert human_normalized_score(None, 2.0, 1.0) is None


def test_a_small_denominator_is_flagged():
    env, sparse = SeedStats({1: 12.0, 2: 30.0}), SeedStats({1: 10.0, 2: 14.0})
    assert "twice the baselines' spread" in denominator_note(env, sparse)  # |21 - 12| = 9 < 2 * 9.2
    assert denominator_note(SeedStats({1: 500.0, 2: 480.0}), SeedStats({1: 9.0, 2: 11.0})) is None
    assert "one seed each" in denominator_note(SeedStats({1: 500.0}), SeedStats({1: 9.0}))
