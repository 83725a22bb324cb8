"""The loop's logic with a fast stub executor (no training): the five steps, stopping, seeds, feedback."""

import json

from eureka.errors import Failure, RewardRuntimeError
from eureka.evolve import EurekaLoop, Status
from eureka.train.result import Snapshot, TrainResult
from tests.evolve.test_loop import make_cfg

COMPONENTS = {"upright": {"mean": 1.0, "std": 0.1, "min": 0.5, "max": 1.5}}


class StubExecutor:
    """Returns ``fitness(spec)`` at once (a ``Failure`` makes the training fail); records every spec."""

    def __init__(self, fitness):
        self.fitness, self.specs = fitness, []

    def run(self, specs, on_progress=None, on_done=None):
        results = []
        for sp in specs:
            self.specs.append(sp)
            f = self.fitness(sp)
            if isinstance(f, Failure):
                result = TrainResult(sp.job_id, ok=False, failure=f)
            else:
                snaps = [Snapshot(sp.total_timesteps, episodes=3, fitness=f, episode_length=f, components=COMPONENTS)]
                result = TrainResult(sp.job_id, fitness=f, snapshots=snaps, steps=sp.total_timesteps,
                                     new_steps=sp.total_timesteps)
            if on_progress:
                on_progress(sp.job_id, sp.total_timesteps)
            if on_done:
                on_done(sp.job_id, result)
            results.append(result)
        return results


def test_target_fitness_stops_the_search_and_final_seeds_exclude_the_search_seed(tmp_path):
    cfg = make_cfg(iterations=3, samples=2, seed=7, loop={"target_fitness": 500.0},
                   eval={"seeds": None, "num_seeds": 2, "baselines": True})
    executor = StubExecutor(lambda sp: 500.0 if sp.mode == "candidate" else {"env": 480.0, "sparse": 20.0}[sp.mode])
    summary = EurekaLoop(cfg, tmp_path, executor=executor).run().to_dict()
    assert summary["status"] == "completed" and summary["best_fitness"] == 500.0
    assert [it["iteration"] for it in summary["iterations"]] == [0], "stopped after the first iteration"
    assert "target fitness 500 reached" in summary["message"] and "remaining 2 iteration(s)" in summary["message"]
    assert summary["search_seed"] == 7 and summary["final_eval"]["seeds"] == [8, 9]
    search = {sp.seed for sp in executor.specs if sp.job_id.startswith("iter") and "_confirm" not in sp.job_id}
    confirm = {sp.seed for sp in executor.specs if "_confirm" in sp.job_id}
    final = {sp.seed for sp in executor.specs if not sp.job_id.startswith("iter")}
    assert search == {7, 7 + 7919} and final == {8, 9}  # racing re-trained on a second search seed
    # the crowned reward is confirmed on loop.confirm=3 further search seeds: none chose it, none is a final seed
    assert confirm == {7 + 2 * 7919, 7 + 3 * 7919, 7 + 4 * 7919}
    assert summary["best_confirmed"]["seeds"] == sorted(confirm) and summary["best_selection_fitness"] == 500.0
    assert summary["search_seeds"] == [7, 7 + 7919] and not set(summary["search_seeds"]) & final
    assert summary["human_normalized_score"] == (500 - 20) / (480 - 20)
    assert summary["human_normalized_score_note"] is None  # baselines equal over seeds: no spread
    events = [json.loads(x)["event"] for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert "target_reached" in events and events[-1] == "run_finished"


def test_failures_keep_their_line_and_go_back_to_the_designer(tmp_path):
    def fitness(sp):
        if sp.job_id == "iter0_sample1":
            return Failure.of(RewardRuntimeError("index out of range at training step 96", line=3))
        return 100.0 if sp.job_id.startswith("iter") else 50.0

    loop = EurekaLoop(make_cfg(iterations=2, samples=2, loop={"target_fitness": None}), tmp_path,
                      executor=StubExecutor(fitness))
    summary = loop.run()
    first = {c.id: c for c in loop.candidates if c.iteration == 0}
    assert first["iter0_sample0"].status is Status.OK and first["iter0_sample0"].fitness == 100.0
    failed = first["iter0_sample1"]
    assert failed.status is Status.FAILED and failed.failure.line == 3 and failed.fitness is None
    assert "(line 3 of the reward code)" in failed.feedback()
    prompt = json.loads((tmp_path / "candidates" / "iter1_sample0" / "prompt.json").read_text())
    assert "[iter0_sample1] RewardRuntimeError (line 3 of the reward code)" in prompt[-1]["content"]
    # the analyze step gave the successful candidate a reflection, visible in the next prompt
    assert first["iter0_sample0"].reflection is not None and "upright" in prompt[-1]["content"]
    row = summary["iterations"][0]["candidates"][1]
    assert row["status"] == "failed" and row["line"] == 3 and row["error_class"] == "RewardRuntimeError"
    assert summary["status"] == "completed" and len(summary["iterations"]) == 2


def test_successive_halving_in_the_loop_with_a_stub(tmp_path):
    cfg = make_cfg(samples=4, trainer={"total_timesteps": 1000}, loop={"target_fitness": None, "early_stop": {
        "enabled": True, "eta": 2, "min_fraction": 0.25}}, eval={"baselines": False})
    executor = StubExecutor(lambda sp: float(int(sp.job_id[-1])) if sp.job_id.startswith("iter") else 1.0)
    summary = EurekaLoop(cfg, tmp_path, executor=executor).run().to_dict()
    rows = {r["id"]: r for r in summary["iterations"][0]["candidates"]}
    assert [rows[f"iter0_sample{k}"]["stopped_at"] for k in range(4)] == [250, 250, 500, None]
    assert summary["best_candidate"] == "iter0_sample3"
    resumed = [sp for sp in executor.specs if sp.resume]
    assert {sp.job_id for sp in resumed} == {"iter0_sample2", "iter0_sample3"}


def test_an_exhausted_token_budget_ends_the_search_cleanly(tmp_path):
    from eureka.errors import LLMBudgetExceeded
    from eureka.llm import OfflineDesigner

    class Budgeted(OfflineDesigner):
        def propose(self, request):
            if request.iteration == 1:
                raise LLMBudgetExceeded("token budget of 10 used up")
            return super().propose(request)

    summary = EurekaLoop(make_cfg(iterations=3, loop={"target_fitness": None}, eval={"baselines": False}), tmp_path,
                         designer=Budgeted(), executor=StubExecutor(lambda sp: 10.0)).run()
    assert summary["status"] == "completed" and "token budget" in summary["message"]
    assert len(summary["iterations"]) == 1


def test_a_resumed_run_counts_the_wall_time_of_its_earlier_processes(tmp_path):
    cfg = make_cfg(samples=2, eval={"seeds": [1], "baselines": False}, loop={"target_fitness": None})
    first = EurekaLoop(cfg, tmp_path, executor=StubExecutor(lambda sp: 1.0)).run().to_dict()
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "wall_time_s": 3600.0}))  # an hour went before
    again = EurekaLoop(cfg, tmp_path, executor=StubExecutor(lambda sp: 1.0)).run().to_dict()
    assert first["wall_time_s"] < 600 and 3600.0 <= again["wall_time_s"] < 3600.0 + 600
    fresh = EurekaLoop(cfg, tmp_path / "new", executor=StubExecutor(lambda sp: 1.0)).run().to_dict()
    assert fresh["wall_time_s"] < 600
