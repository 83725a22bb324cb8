"""Racing: verdicts from several search seeds, ranked by a lower confidence bound (stub executor, no training)."""

import json
import math

import pytest

from eureka.errors import ConfigError
from eureka.evolve import EurekaLoop
from eureka.evolve.racing import lcb, pooled_std, precise, search_seeds
from tests.evolve.test_loop import make_cfg
from tests.evolve.test_loop_logic import StubExecutor


def test_lcb_charges_for_spread_and_few_seeds():
    assert lcb([1.0, 1.0]) == 1.0
    assert lcb([2.0, 0.0]) == pytest.approx(1.0 - math.sqrt(2) / math.sqrt(2))
    assert lcb([1.0], pooled=0.5) == 0.5 and lcb([1.0]) == 1.0
    assert lcb([1.0, None]) == -math.inf
    # the spread of two seeds is shrunk towards the pooled spread
    assert lcb([1.0, 1.0], pooled=1.0) < 1.0
    assert pooled_std([[1.0, 3.0], [5.0], [None]]) == pytest.approx(math.sqrt(2.0))


def test_search_seeds_skip_final_seeds():
    assert search_seeds(0, 3, [1, 2, 3]) == [0, 7919, 15838]
    assert search_seeds(0, 2, [7919]) == [0, 15838]
    assert search_seeds(1, 2, [1, 2]) == [7920, 15839]


def test_bad_racing_config_is_refused():
    from eureka.evolve.racing import Racer

    with pytest.raises(ConfigError, match="min_seeds"):
        Racer.from_config(make_cfg(loop={"racing": {"min_seeds": 1}}))


def test_a_candidate_lucky_on_one_seed_does_not_become_best(tmp_path):
    """sample0 is lucky on the first seed (100, then 10); sample1 is steady (60, 60): sample1 wins."""
    def fitness(sp):
        if sp.mode != "candidate":
            return 1.0
        lucky = sp.job_id.startswith("iter0_sample0")
        return (100.0 if sp.seed == 0 else 10.0) if lucky else 60.0

    cfg = make_cfg(samples=2, seed=0, eval={"seeds": [1, 2], "baselines": False}, loop={"target_fitness": None})
    executor = StubExecutor(fitness)
    summary = EurekaLoop(cfg, tmp_path, executor=executor).run().to_dict()
    assert summary["best_candidate"] == "iter0_sample1"
    rows = {r["id"]: r for r in summary["iterations"][0]["candidates"]}
    assert rows["iter0_sample0"]["search_seeds"] == {"0": 100.0, "7919": 10.0}
    assert rows["iter0_sample1"]["search_seeds"] == {"0": 60.0, "7919": 60.0}
    assert rows["iter0_sample0"]["fitness"] == 55.0 and rows["iter0_sample0"]["score"] < rows["iter0_sample1"]["score"]
    assert summary["best_search_seeds"] == {"0": 60.0, "7919": 60.0}
    final = {sp.seed for sp in executor.specs if sp.job_id.startswith("best")}
    assert final == {1, 2} and not final & set(summary["search_seeds"])
    assert summary["racing"]["statistic"].startswith("lcb") and summary["iterations"][0]["ran_share"] == 1.0


def test_no_best_and_no_parent_on_one_seed(tmp_path):
    """Re-training on the second seed fails for everyone: nobody is eligible, so no best and no parent."""
    from eureka.errors import Failure, RewardRuntimeError

    def fitness(sp):
        if sp.seed != 0:
            return Failure.of(RewardRuntimeError("nan on this seed"))
        return 50.0

    cfg = make_cfg(iterations=2, samples=2, seed=0, eval={"seeds": [1], "baselines": False},
                   loop={"target_fitness": None})
    loop = EurekaLoop(cfg, tmp_path, executor=StubExecutor(fitness))
    summary = loop.run().to_dict()
    assert summary["status"] == "all_failed" and summary["best_candidate"] is None
    assert all(c.parent is None for c in loop.candidates), "a one-seed candidate parented nobody"


def test_racing_off_is_one_seed(tmp_path):
    cfg = make_cfg(samples=2, seed=3, eval={"seeds": [4], "baselines": False},
                   loop={"target_fitness": None, "racing": {"enabled": False}})
    executor = StubExecutor(lambda sp: 5.0)
    summary = EurekaLoop(cfg, tmp_path, executor=executor).run().to_dict()
    assert {sp.seed for sp in executor.specs if sp.job_id.startswith("iter") and "_confirm" not in sp.job_id} == {3}
    assert summary["best_candidate"] == "iter0_sample0" and summary["search_seeds"] == [3]


def test_bad_bandit_and_tuning_values_are_refused_before_any_work():
    from eureka.evolve.racing import Racer

    with pytest.raises(ConfigError, match="loop.bandit.chunk"):
        Racer.from_config(make_cfg(loop={"allocation": "bandit", "bandit": {"chunk": 1.5}}))
    with pytest.raises(ConfigError, match="loop.tuning.trials"):
        Racer.from_config(make_cfg(loop={"tuning": {"enabled": True, "trials": 1}}))


def test_a_second_run_in_the_same_directory_trains_nothing_again(tmp_path):
    """Resume replays the recorded trainings: racing's re-trainings, bandit chunks and tuning trials included."""
    from eureka.errors import Failure, TrainingCrash

    cfg = make_cfg(iterations=2, samples=3, seed=0, trainer={"total_timesteps": 1000},
                   eval={"seeds": [1], "baselines": False},
                   loop={"target_fitness": None, "allocation": "bandit",
                         "tuning": {"enabled": True, "trials": 4}})

    def fitness(sp):
        return 10.0 + (sp.seed % 7) + sp.total_timesteps / 1000 + len(sp.job_id) % 5

    first = StubExecutor(fitness)
    a = EurekaLoop(cfg, tmp_path, executor=first).run().to_dict()
    assert any("_trial" in sp.job_id for sp in first.specs) and any("_from" in sp.job_id for sp in first.specs)
    again = StubExecutor(lambda sp: Failure.of(TrainingCrash(f"{sp.job_id} trained twice")))
    b = EurekaLoop(cfg, tmp_path, executor=again).run().to_dict()
    assert again.specs == [] and b["best_candidate"] == a["best_candidate"]
    assert b["iterations"] == a["iterations"] and b["search_env_steps"] == a["search_env_steps"]


def _lucky(sp):
    """sample1 wins on the seeds that choose (9.0) and is 1.0 on every other seed; the rest are 2.0 everywhere."""
    if "sample1" in sp.job_id:
        return 1.0 if "_confirm" in sp.job_id else 9.0
    return 2.0


def test_the_reported_best_is_measured_on_seeds_that_did_not_choose_it(tmp_path):
    cfg = make_cfg(samples=3, seed=0, eval={"seeds": [1], "baselines": False}, loop={"target_fitness": None})
    executor = StubExecutor(_lucky)
    summary = EurekaLoop(cfg, tmp_path, executor=executor).run().to_dict()
    assert summary["best_candidate"] == "iter0_sample1" and summary["best_selection_fitness"] == 9.0
    conf = summary["best_confirmed"]
    chose = {int(s) for s in summary["best_search_seeds"]}
    assert conf["candidate"] == "iter0_sample1" and len(conf["seeds"]) == 3
    assert not set(conf["seeds"]) & (chose | {1}), "held-out seeds: neither selection nor final seeds"
    assert summary["best_fitness"] == conf["mean"] == 1.0, "the search reports the held-out mean, not the lucky one"
    events = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["mean"] for e in events if e["event"] == "confirmed"] == [1.0]


def test_confirmation_off_or_failed_keeps_the_selection_fitness_and_says_why(tmp_path):
    from eureka.errors import Failure

    summary = EurekaLoop(make_cfg(samples=3, eval={"seeds": [1], "baselines": False},
                                  loop={"target_fitness": None, "confirm": {"seeds": 0}}),
                         tmp_path / "off", executor=StubExecutor(_lucky)).run().to_dict()
    assert summary["best_confirmed"] is None and summary["best_fitness"] == 9.0

    def broken(sp):
        return Failure("TrainingCrash", "out of memory") if "_confirm" in sp.job_id else _lucky(sp)

    loop = EurekaLoop(make_cfg(samples=3, eval={"seeds": [1], "baselines": False}, loop={"target_fitness": None}),
                      tmp_path / "failed", executor=StubExecutor(broken))
    said: list[str] = []
    loop.reporter.message = said.append  # type: ignore[method-assign]
    summary = loop.run().to_dict()
    assert summary["status"] == "completed" and summary["final_eval"]["mean"] is not None
    assert summary["best_confirmed"]["per_seed"] == {str(s): None for s in summary["best_confirmed"]["seeds"]}
    assert summary["best_fitness"] == 9.0 and any("3 of 3 training(s) failed" in m and "out of memory" in m
                                                  for m in said)


def test_bad_confirm_values_are_refused():
    for bad in ({"seeds": -1}, {"seeds": 4, "max_seeds": 3}, {"rse": -0.1}):
        with pytest.raises(ConfigError, match="loop.confirm: seeds="):
            EurekaLoop(make_cfg(loop={"confirm": bad}), "/tmp/never")


def test_precise_wants_a_standard_error_within_rse_of_the_mean():
    assert precise([2.0, 2.1, 1.9], 0.1) and not precise([1.5, 2.3, 4.9], 0.1)
    assert not precise([2.0], 0.1) and not precise([None, 2.0], 0.1) and precise([None, 2.0, 2.0], 0.0)
    assert precise([0.0, 0.0], 0.1) and not precise([-0.1, 0.1], 0.5)


def test_a_noisy_best_is_confirmed_on_more_seeds_until_precise_or_at_the_cap(tmp_path):
    import itertools

    noisy = itertools.cycle([1.0, 5.0, 1.0, 1.0, 1.2, 0.9, 1.1])

    def fitness(sp):
        return next(noisy) if "_confirm" in sp.job_id else (9.0 if "sample1" in sp.job_id else 2.0)

    cfg = make_cfg(samples=3, eval={"seeds": [1], "baselines": False},
                   loop={"target_fitness": None, "confirm": {"seeds": 3, "max_seeds": 6, "rse": 0.1}})
    batches: list[int] = []

    class Batches(StubExecutor):
        def run(self, specs, on_progress=None, on_done=None):
            if any("_confirm" in sp.job_id for sp in specs):
                batches.append(len(specs))
            return super().run(specs, on_progress, on_done)

    summary = EurekaLoop(cfg, tmp_path, executor=Batches(fitness)).run().to_dict()
    conf = summary["best_confirmed"]
    # 1, 5, 1: se 1.33 on a mean of 2.33 -> two more (1, 1.2): se 0.79 on 1.84 -> one more, the cap (0.9)
    assert list(conf["per_seed"].values()) == [1.0, 5.0, 1.0, 1.0, 1.2, 0.9]
    assert summary["best_fitness"] == pytest.approx(10.1 / 6)
    assert batches == [3, 2, 1]
    steady = StubExecutor(lambda sp: 2.0 if "_confirm" in sp.job_id else (9.0 if "sample1" in sp.job_id else 2.0))
    summary = EurekaLoop(cfg, tmp_path / "steady", executor=steady).run().to_dict()
    assert len(summary["best_confirmed"]["seeds"]) == 3  # precise at once: no more seeds

