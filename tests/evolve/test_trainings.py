"""Every training of a run goes through ``Trainings``: specs, the reporter's hooks, the executor, the record."""

from eureka.config import typed
from eureka.evolve import Candidate, EurekaLoop, Reporter
from eureka.evolve.trainings import Trainings
from eureka.store import RunStore, read_jsonl
from tests.evolve.test_loop import make_cfg
from tests.evolve.test_loop_logic import StubExecutor


class Hooks(Reporter):
    def __init__(self):
        self.calls: list[tuple] = []

    def training_started(self, job_id, total_steps):
        self.calls.append(("started", job_id, total_steps))

    def training_progress(self, job_id, steps):
        self.calls.append(("progress", job_id, steps))

    def job_done(self, job_id, result):
        self.calls.append(("done", job_id, result.fitness))


def test_a_shown_training_is_announced_run_finished_and_recorded(tmp_path):
    hooks, stub = Hooks(), StubExecutor(lambda sp: 7.0)
    t = Trainings(typed(make_cfg()), stub, RunStore(tmp_path), hooks)
    spec = t.spec("j1", "candidate", 3, None, tmp_path / "j1", total_timesteps=100)
    assert (spec.job_id, spec.seed, spec.total_timesteps, spec.n_envs) == ("j1", 3, 100, 2)
    (r,) = t.run([spec])
    assert r.fitness == 7.0 and [c[0] for c in hooks.calls] == ["started", "progress", "done"]
    assert hooks.calls[0][2] == 128  # the steps it really runs: whole rollouts of n_steps x n_envs
    assert [row["result"]["job_id"] for row in read_jsonl(tmp_path / "trainings.jsonl")] == ["j1"]


def test_quiet_trainings_report_progress_only(tmp_path):
    hooks = Hooks()
    t = Trainings(typed(make_cfg()), StubExecutor(lambda sp: 1.0), RunStore(tmp_path), hooks)
    t.run([t.spec("q", "candidate", 0, None, tmp_path / "q")], shown=False)
    assert [c[0] for c in hooks.calls] == ["progress"] and t.run([]) == []


def test_again_reuses_the_budget_of_the_first_training(tmp_path):
    t = Trainings(typed(make_cfg()), StubExecutor(lambda sp: 1.0), RunStore(tmp_path), Reporter())
    c = Candidate("c", 0, 0, reward_path=str(tmp_path / "r.py"))
    c.record_seed(0, 1.0, 300)
    sp = t.again(c, 7919, "seed")
    assert (sp.job_id, sp.seed, sp.total_timesteps, sp.reward_path) == ("c_seed7919", 7919, 300, c.reward_path)
    assert sp.out_dir == str(tmp_path / "candidates" / "c" / "seed7919")


def test_every_training_of_a_run_goes_through_the_collaborator(tmp_path):
    cfg = make_cfg(iterations=1, samples=2, eval={"seeds": [1], "num_seeds": 1, "baselines": True})
    stub = StubExecutor(lambda sp: 10.0)
    loop = EurekaLoop(cfg, tmp_path, executor=stub, session=None)
    seen = []
    run = loop.trainings.run

    def spy(specs, shown=True):
        seen.extend(sp.job_id for sp in specs)
        return run(specs, shown)

    loop.trainings.run = spy  # type: ignore[method-assign]
    loop.run()
    searched = {"iter0_sample0", "iter0_sample1"}
    assert {sp.job_id for sp in stub.specs} == searched | set(seen)  # the search's, and every other one through run
    assert {"best_seed1", "env_seed1", "sparse_seed1"} <= set(seen) and any("_seed7919" in j for j in seen)


class SpareStub(StubExecutor):
    """A stub that also takes spare work (as ``LocalExecutor.prefetch``), noting when each batch was handed over."""

    def __init__(self, fitness):
        super().__init__(fitness)
        self.prefetched: list = []
        self.handed: list[tuple[list[str], list[str]]] = []  # per call: (job ids trained before it, its job ids)

    def prefetch(self, specs):
        self.handed.append(([s.job_id for s in self.specs], [s.job_id for s in specs]))
        self.prefetched.extend(specs)


def test_the_final_trainings_are_handed_over_as_spare_work_as_soon_as_they_are_known(tmp_path):
    cfg = make_cfg(samples=2, eval={"seeds": [1, 2], "baselines": True})
    stub = SpareStub(lambda sp: {"candidate": 300.0, "env": 400.0, "sparse": 10.0}[sp.mode])
    EurekaLoop(cfg, tmp_path, executor=stub).run()
    (before_search, baselines), (before_confirm, best) = stub.handed
    assert before_search == [] and baselines == ["env_seed1", "sparse_seed1", "env_seed2", "sparse_seed2"]
    # the chosen reward's final re-trainings: after the search, before its confirmation on held-out seeds
    assert best == ["best_seed1", "best_seed2"]
    assert before_confirm and not any("confirm" in j or j.startswith("best_") for j in before_confirm)
    assert any("confirm" in s.job_id for s in stub.specs)
    asked = {s.job_id: s for s in stub.specs}
    assert all(asked[s.job_id] == s for s in stub.prefetched)  # the final evaluation asks for the very same specs
    assert asked["best_seed1"].reward_path and asked["best_seed1"].mode == "candidate"
    # a resumed run hands over only what is not recorded yet
    again = SpareStub(lambda sp: 1.0)
    resumed = Trainings(typed(cfg), again, RunStore(tmp_path), Reporter())
    resumed.prefetch([*stub.prefetched, resumed.spec("env_seed3", "env", 3, None, tmp_path / "x")])
    assert [s.job_id for s in again.prefetched] == ["env_seed3"]


def test_without_baselines_only_the_final_re_trainings_are_spare_work(tmp_path):
    stub = SpareStub(lambda sp: 300.0)
    EurekaLoop(make_cfg(samples=2), tmp_path, executor=stub).run()  # make_cfg: eval.baselines=false
    assert [ids for _, ids in stub.handed] == [["best_seed0"]]
    assert not any(s.mode in ("env", "sparse") for s in stub.specs)
