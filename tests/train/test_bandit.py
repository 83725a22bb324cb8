"""Bandit allocation over any executor (a stub whose fitness grows with the steps a job got)."""

from eureka.train import TrainSpec
from eureka.train.bandit import bandit_allocation
from eureka.train.result import TrainResult


class Growing:
    """Fitness = rate[job] x steps the job has had so far; records (job, steps, resume) per call."""

    def __init__(self, rate):
        self.rate, self.had, self.calls = rate, {}, []

    def run(self, specs, on_progress=None, on_done=None):
        out = []
        for sp in specs:
            job = sp.job_id.split("_from")[0]
            self.calls.append((job, sp.total_timesteps, sp.resume))
            self.had[job] = self.had.get(job, 0) + sp.total_timesteps
            assert sp.job_id == (job if not sp.resume else f"{job}_from{self.had[job] - sp.total_timesteps}")
            ok = self.rate[job] is not None
            r = TrainResult(sp.job_id, ok=ok, fitness=self.rate[job] * self.had[job] if ok else None,
                            steps=self.had[job], snapshots=[{"step": self.had[job]}])
            if on_done:
                on_done(sp.job_id, r)
            out.append(r)
        return out


def test_the_budget_goes_to_the_arm_that_improves_and_is_recorded():
    specs = [TrainSpec(job_id=j, task="cartpole", total_timesteps=1000) for j in ("a", "b", "c", "d")]
    stub = Growing({"a": 1.0, "b": 0.1, "c": 0.2, "d": None})
    done = []
    results = bandit_allocation(stub, specs, budget=0.5, chunk=0.25, c=0.1, parallel=1,
                                on_done=lambda j, r: done.append(j))
    by = {r.job_id: r for r in results}
    assert [r.job_id for r in results] == ["a", "b", "c", "d"] and sorted(done) == ["a", "b", "c", "d"]
    assert stub.calls[:4] == [(j, 250, False) for j in "abcd"]  # one chunk each, fresh
    later = stub.calls[4:]
    assert later and all(resume for _, _, resume in later), "later chunks continue the saved policy"
    assert sum(n for _, n, _ in stub.calls) <= 0.5 * 4 * 1000
    assert by["a"].steps == 1000 and by["a"].steps > by["b"].steps  # the improving arm got its whole budget
    assert not by["d"].ok and "d" not in [j for j, _, _ in later]  # a failed arm leaves the race
    assert by["a"].snapshots == [{"step": s} for s in (250, 500, 750, 1000)]


def test_bandit_in_the_loop_records_the_steps_each_candidate_got(tmp_path):
    from eureka.evolve import EurekaLoop
    from tests.evolve.test_loop import make_cfg
    from tests.evolve.test_loop_logic import StubExecutor

    cfg = make_cfg(samples=4, trainer={"total_timesteps": 1000}, eval={"seeds": [1], "baselines": False},
                   loop={"target_fitness": None, "allocation": "bandit",
                         "bandit": {"budget": 0.5, "chunk": 0.25, "parallel": 2}})
    executor = StubExecutor(lambda sp: float(int(sp.job_id.split("sample")[1][0])) if "sample" in sp.job_id else 1.0)
    summary = EurekaLoop(cfg, tmp_path, executor=executor).run().to_dict()
    chunks = [sp for sp in executor.specs if sp.job_id.startswith("iter0") and "_seed" not in sp.job_id
              and "_confirm" not in sp.job_id]
    assert sum(sp.total_timesteps for sp in chunks) == 2000, "every chunk really trained (none taken for another)"
    assert summary["allocation"] == "bandit"
    rows = summary["iterations"][0]["candidates"]
    first = {r["id"]: r["seed_steps"]["0"] for r in rows}
    assert sum(first.values()) == 2000 and min(first.values()) >= 250
    assert any(sp.resume for sp in executor.specs)
