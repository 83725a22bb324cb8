"""summary.json is one schema: what ``to_dict`` writes, ``from_dict`` reads back into the same record, and files
written by older versions (keys missing) still load, their missing figures made from the rest."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

import pytest

from eureka.analyze import Reflection
from eureka.analyze.estimate import Estimate, Training, Verdict, estimate, verdict
from eureka.analyze.hacking import Signal
from eureka.errors import Failure, RewardSyntaxError, TrainingCrash
from eureka.evolve.candidate import Candidate, Status, TunedConstant, Tuning, place
from eureka.evolve.seedstats import FinalEvaluation, SeedStats
from eureka.evolve.summary import KEYS, Figures, Summary, load_summary
from eureka.llm.base import Usage


def state(s: Summary) -> dict:
    """The record's fields (the recorded figures aside) as plain values: candidates compare by their fields."""
    return {f.name: asdict(s)[f.name] for f in fields(Summary) if f.compare}


def candidates() -> list[Candidate]:
    a = Candidate("iter0_sample0", 0, 0, status=Status.OK, fitness=0.75, island=0, steps=2048,
                  seed_fitness={0: 0.5, 7919: 1.0}, seed_steps={0: 1024, 7919: 1024}, score=0.6, env_corr=0.4,
                  reflection=Reflection(signals=[Signal("early_termination", "")]))
    b = Candidate("iter0_sample1", 0, 1, status=Status.FAILED, island=1, steps=512, seed_fitness={0: None},
                  seed_steps={0: 512}, failure=Failure.of(TrainingCrash("the training process died")))
    c = Candidate("iter1_sample0", 1, 0, status=Status.REJECTED, parent="iter0_sample0",
                  failure=Failure.of(RewardSyntaxError("invalid syntax", line=3)))
    d = Candidate("iter1_tuned", 1, 2, status=Status.OK, fitness=0.9, parent="iter0_sample0", steps=2048,
                  seed_fitness={0: 0.8, 7919: 1.0}, seed_steps={0: 1024, 7919: 1024}, score=0.85, preference=0.3,
                  stopped_at=1024, tuning=Tuning([TunedConstant("K0", "1.0 * x", 1.0, 2.0)], 4, 8192, 2048,
                                                 [0, 7919], float("-inf"), 0.85, float("inf")))
    return [a, b, c, d]


def finished() -> Summary:
    cands = candidates()
    best = cands[3]
    best.reward_path = "/runs/x/candidates/iter1_tuned/reward.py"
    final = FinalEvaluation(SeedStats({1: 0.9, 2: 0.7, 3: None}), SeedStats({1: 0.6, 2: 0.65, 3: 0.7}),
                            SeedStats({1: 0.1, 2: 0.0, 3: 0.2}))
    return Summary("cartpole", "offline", "offline-synthesizer", "mean episode length / 500", 0, target_fitness=None,
                   status="completed", message="", best=best, candidates=cands,
                   population=["iter1_tuned", "iter0_sample0"], selection="fitness", feedback="fitness",
                   llm_usage=Usage(2, 100, 50, 0.0125, [{"iteration": 0, "prompt_tokens": 100, "completion_tokens": 50,
                                                         "usd": 0.0125, "cached": False}]),
                   final_seeds=[1, 2, 3], final=final, walls={"training": ["landlock", "seccomp"]},
                   jails={"training": {"uid": 65534}}, racing={"statistic": "lcb", "seeds": 2}, allocation="full",
                   confirmed=SeedStats({15838: 0.8, 23757: 0.85}), confirm_of="iter1_tuned", confirm_steps=2048,
                   wall_time_s=36.26, provenance={"eureka": {"version": "0.1.0"}})


def test_seed_stats_and_the_final_evaluation_round_trip():
    for st in (SeedStats({1: 0.5, 2: None, 3: 1.25}), SeedStats(), SeedStats({}, 0.4, 0.1)):
        assert SeedStats.from_dict(json.loads(json.dumps(st.to_dict()))) == st
    for fe in (finished().final, FinalEvaluation(SeedStats({4: 1.0}))):
        assert fe is not None
        assert FinalEvaluation.from_dict(json.loads(json.dumps(fe.to_dict([1, 2, 3])))) == fe
    assert FinalEvaluation.from_dict(FinalEvaluation().to_dict([1, 2])) is None  # not run yet: no figure


def test_estimate_verdict_and_usage_round_trip():
    est = estimate([Training(0, "selection", 0.9), Training(15838, "held_out", 0.0), Training(1, "final", 0.9),
                    Training(2, "final", None)])
    assert Estimate.from_dict(est.to_dict(), est.detail()) == est
    vs = verdict([0.9, 0.8, 0.85], [0.5, 0.6, 0.7])
    assert Verdict.from_dict(json.loads(json.dumps(vs.to_dict()))) == vs
    u = finished().llm_usage
    assert Usage.from_dict(json.loads(json.dumps(u.to_dict()))) == u


def test_a_candidates_row_reads_back_into_the_same_candidate():
    for c in candidates():
        back = Candidate.from_row(json.loads(json.dumps(c.row())), c.iteration)
        assert asdict(back) == asdict(c)
        assert back.row() == c.row()
    assert place("iter3_sample2") == (3, 2) and place("iter1_tuned") == (1, None) and place("best") == (None, None)


def test_the_summary_round_trips_through_its_json():
    s = finished()
    d = json.loads(json.dumps(s.to_dict()))
    assert list(d) == list(KEYS)
    back = Summary.from_dict(d)
    assert state(back) == state(s)  # from_dict(to_dict(x)) == x
    assert back.to_dict() == d  # and to_dict(from_dict(d)) == d
    assert back.figures() == Figures.of(s)  # the figures it recorded are the ones the record gives
    assert back.best is not None and back.best.id == "iter1_tuned" and back.best.reward_path == s.best.reward_path
    assert back.search_seed == 0 and back.final_seeds == [1, 2, 3] and back.confirm_steps == 2048


def test_a_live_summary_before_its_final_evaluation_round_trips():
    s = finished()
    s.status, s.final, s.confirmed, s.confirm_of, s.confirm_steps = "running", None, None, None, 0
    d = json.loads(json.dumps(s.to_dict()))
    back = Summary.from_dict(d)
    assert state(back) == state(s) and back.to_dict() == d
    assert back.figures().verdict.why == "the final evaluation has not run"


OLD = {  # summary.json as the first version wrote it (commit 55915d4): no racing, confirmation or estimate
    "task": "cartpole", "llm": "offline", "model": "offline-synthesizer", "status": "completed", "message": "",
    "best_fitness": 0.8, "best_candidate": "iter0_sample1", "best_reward_path": "/r/candidates/iter0_sample1/reward.py",
    "target_fitness": None,
    "iterations": [{"iteration": 0, "candidates": [
        {"id": "iter0_sample0", "status": "rejected", "error_class": "RewardSyntaxError", "line": 2, "fitness": None,
         "parent": None, "island": 0, "preference": None, "steps": 0, "stopped_at": None, "message": "bad"},
        {"id": "iter0_sample1", "status": "ok", "error_class": None, "line": None, "fitness": 0.8, "parent": None,
         "island": 0, "preference": None, "steps": 1024, "stopped_at": None, "message": ""}]}],
    "search_seed": 0,
    "final_eval": {"seeds": [1, 2], "per_seed": {"1": 0.7, "2": 0.9}, "mean": 0.8, "std": 0.1},
    "baselines": {"env_reward_fitness": 0.5, "sparse_fitness": 0.1,
                  "env_reward": {"seeds": [1, 2], "per_seed": {"1": 0.4, "2": 0.6}, "mean": 0.5, "std": 0.1},
                  "sparse": {"seeds": [1, 2], "per_seed": {"1": 0.1, "2": 0.1}, "mean": 0.1, "std": 0.0}},
    "human_normalized_score": 1.75, "human_normalized_score_note": None, "population": ["iter0_sample1"],
    "selection": "fitness", "feedback": "fitness",
    "llm_usage": {"requests": 1, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "usd": 0.0},
    "search_env_steps": 1024, "wall_time_s": 12.5, "fitness_metric": "episode length",
}


def test_a_summary_written_by_an_older_version_still_loads(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps(OLD))
    s = load_summary(tmp_path)
    assert s is not None and s.task == "cartpole" and s.status == "completed" and s.search_seed == 0
    assert [c.id for c in s.candidates] == ["iter0_sample0", "iter0_sample1"]
    rejected, best = s.candidates
    assert rejected.status == Status.REJECTED and rejected.error_class == "RewardSyntaxError" and rejected.line == 2
    assert s.best is best and best.fitness == 0.8 and best.reward_path.endswith("iter0_sample1/reward.py")
    assert best.seed_fitness == {} and best.sample == 1 and best.score is None  # keys it did not write: defaults
    assert s.racing == {} and s.allocation == "full" and s.confirmed is None and s.jails == {} and s.provenance == {}
    assert s.final is not None and s.final.best.per_seed == {1: 0.7, 2: 0.9} and s.final_seeds == [1, 2]
    assert s.llm_usage.requests == 1 and s.wall_time_s == 12.5
    fig = s.figures()
    assert fig.best_fitness == 0.8 and fig.human_normalized_score == 1.75 and fig.search_env_steps == 1024
    # the figures it did not record are made from the rest: every training of the chosen reward (its final
    # seeds here), and the verdict against the env reward
    assert fig.chosen is not None and [t.seed for t in fig.chosen.trainings] == [1, 2]
    assert fig.chosen.mean == pytest.approx(0.8) and fig.verdict.verdict == "tie"
    assert fig.search_seeds == []
    d = s.to_dict()
    assert list(d) == list(KEYS) and d["best_fitness"] == 0.8 and d["chosen_reward"]["n_trainings"] == 2


def test_a_summary_with_wrong_types_reads_as_defaults(tmp_path):
    s = Summary.from_dict({"iterations": "x", "final_eval": 3, "baselines": [1], "best_candidate": 5,
                           "search_seed": "seven", "llm_usage": None, "status": None, "wall_time_s": float("nan")})
    assert s.candidates == [] and s.best is None and s.final is None and s.search_seed is None
    assert s.status == "running" and s.wall_time_s == 0.0 and s.llm_usage == Usage()
    assert Summary.from_dict(None).task == "" and load_summary(tmp_path) is None
    (tmp_path / "summary.json").write_text("[1, 2")  # torn
    assert load_summary(tmp_path) is None
