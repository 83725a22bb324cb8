"""Reward-hacking signals from the snapshots every backend records, and the reflection lines they become."""

from __future__ import annotations

from eureka.analyze import analyze
from eureka.analyze.hacking import correlation, from_metrics, signals
from eureka.train.result import Snapshot


def _snap(step: int, comps: dict[str, float], fitness: float | None, length: float | None) -> Snapshot:
    return Snapshot(step, episodes=5, fitness=fitness, episode_length=length,
                    components={k: {"mean": m, "std": 0.1, "min": m, "max": m} for k, m in comps.items()})


def test_episodes_that_collapse_under_a_negative_reward_are_early_termination():
    lengths = [71.0, 50.0, 30.0, 12.0, 7.0, 5.6, 5.6]
    snaps = [_snap(i, {"offset_penalty": -1.5, "fuel_penalty": -1.1}, 0.05, n) for i, n in enumerate(lengths)]
    r = analyze(snaps, 0.0, "share of steps near the beacon")
    assert r.has("early_termination")
    assert "Reward-hacking signals:" in r.text and "early termination" in r.text and "alive bonus" in r.text
    assert "71" in r.text and "5.6" in r.text  # it says from what to what
    assert r.to_dict()["signals"][0]["kind"] == "early_termination"


def test_short_episodes_that_solve_the_task_or_earn_a_positive_reward_are_not_flagged():
    lengths = [200.0, 150.0, 90.0, 60.0, 40.0]
    reaching_goal = [_snap(i, {"progress": -0.5}, 0.1 * i, n) for i, n in enumerate(lengths)]  # fitness rises
    positive = [_snap(i, {"upright": 1.0}, 0.0, n) for i, n in enumerate(lengths)]
    assert not analyze(reaching_goal, 0.4).has("early_termination")
    assert not analyze(positive, 0.0).has("early_termination")


def test_against_the_env_rewards_policies():
    snaps = [_snap(i, {"cost": -1.0}, 0.0, 6.0) for i in range(4)]  # short from the start: no own collapse
    assert not analyze(snaps, 0.0).has("early_termination")
    r = analyze(snaps, 0.0, reference_length=100.0)
    assert r.has("early_termination") and "env reward's policies" in r.text


def test_reward_that_rises_while_fitness_falls():
    snaps = [_snap(i, {"bonus": 0.2 * i, "other": 0.1 * i}, 10.0 - i, 50.0) for i in range(6)]
    r = analyze(snaps, 4.0)
    assert r.has("reward_up_fitness_down")
    assert "correlation over training -1.00" in r.text
    both_up = [_snap(i, {"bonus": 0.2 * i}, 1.0 + i, 50.0) for i in range(6)]
    assert not analyze(both_up, 6.0).has("reward_up_fitness_down")
    assert correlation([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) is None  # too few points to say


def test_a_component_that_dominates_the_sum():
    found = signals([{"big": {"mean": 50.0}, "small": {"mean": 0.5}, "tiny": {"mean": -0.2}}] * 3,
                    [10.0] * 3, [1.0] * 3)
    dom = [s for s in found if s.kind == "dominant_component"]
    assert dom and dom[0].component == "big" and "99%" in dom[0].text
    balanced = signals([{"a": {"mean": 1.0}, "b": {"mean": 0.8}}] * 3, [10.0] * 3, [1.0] * 3)
    assert not [s for s in balanced if s.kind == "dominant_component"]


def test_from_metrics_rows_like_metrics_jsonl():
    rows = [{"step": i, "fitness": 0.0, "episode_length": n, "components": {"c": {"mean": -1.0}}}
            for i, n in enumerate([80.0, 40.0, 10.0, 5.0])]
    assert [s.kind for s in from_metrics(rows)] == ["early_termination"]
