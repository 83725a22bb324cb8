"""Successive halving over any executor (here a stub that trains nothing)."""

from eureka.train import TrainSpec
from eureka.train.halving import rungs, successive_halving
from eureka.train.result import Snapshot, TrainResult


class Stub:
    def __init__(self):
        self.calls = []

    def run(self, specs, on_progress=None, on_done=None):
        self.calls.append([(sp.job_id, sp.total_timesteps, sp.resume) for sp in specs])
        out = []
        for sp in specs:
            k = int(sp.job_id[1:])
            ok = k != 1
            r = TrainResult(sp.job_id, ok=ok, fitness=float(k) if ok else None, snapshots=[Snapshot(len(self.calls))],
                            steps=sp.total_timesteps)
            if on_done:
                on_done(sp.job_id, r)
            out.append(r)
        return out


def test_rungs():
    assert rungs(2, 0.25) == [0.25, 0.5, 1.0]
    assert rungs(3, 0.1) == [0.1, 0.30000000000000004, 0.9000000000000001, 1.0]
    assert rungs(2, 1.0) == [1.0]


def test_successive_halving_keeps_the_best_and_continues_them():
    specs = [TrainSpec(job_id=f"j{k}", task="cartpole", total_timesteps=1000) for k in range(5)]
    stub, done = Stub(), []
    results = successive_halving(stub, specs, rungs(2, 0.25), eta=2, on_done=lambda j, r: done.append(j))
    assert stub.calls[0] == [(f"j{k}", 250, False) for k in range(5)]
    # j1 failed in the first rung; of the 4 others the best ceil(4/2) = 2 go on ...
    assert stub.calls[1] == [("j4", 250, True), ("j3", 250, True)]
    assert stub.calls[2] == [("j4", 500, True)]
    by_id = {r.job_id: r for r in results}
    assert [r.job_id for r in results] == [f"j{k}" for k in range(5)]
    assert not by_id["j1"].ok and by_id["j1"].stopped_at is None
    assert by_id["j0"].stopped_at == 250 and by_id["j2"].stopped_at == 250 and by_id["j3"].stopped_at == 500
    assert by_id["j4"].stopped_at is None and [s.step for s in by_id["j4"].snapshots] == [1, 2, 3]
    assert sorted(done) == sorted(by_id)


def test_one_rung_is_a_plain_run():
    specs = [TrainSpec(job_id=f"j{k}", task="cartpole", total_timesteps=100) for k in range(2)]
    stub = Stub()
    results = successive_halving(stub, specs, [1.0])
    assert stub.calls == [[("j0", 100, False), ("j1", 100, False)]]
    assert [r.stopped_at for r in results] == [None, None]


class CurveStub:
    """Each job's fitness curve: ``curves[job]`` (snapshots), its last value the evaluation."""

    def __init__(self, curves):
        self.curves, self.calls = curves, []

    def run(self, specs, on_progress=None, on_done=None):
        self.calls.append([sp.job_id for sp in specs])
        out = []
        for sp in specs:
            c = self.curves[sp.job_id]
            r = TrainResult(sp.job_id, fitness=c[-1], snapshots=[Snapshot(i, fitness=v) for i, v in enumerate(c)],
                            steps=sp.total_timesteps)
            if on_done:
                on_done(sp.job_id, r)
            out.append(r)
        return out


def test_a_training_that_never_moved_stops_in_the_first_rung():
    curves = {"a": [1.0, 5.0, 9.0], "b": [2.0, 2.0, 2.0], "c": [0.0, 1.0, 3.0], "d": [1.0, 2.0, 4.0]}
    specs = [TrainSpec(job_id=j, task="cartpole", total_timesteps=100) for j in curves]
    stub = CurveStub(curves)
    results = {r.job_id: r for r in successive_halving(stub, specs, [0.5, 1.0], eta=1.5)}
    # eta 1.5 would keep ceil(4 / 1.5) = 3, but flat 'b' is caught in the first rung
    assert stub.calls[1] == ["a", "d", "c"]
    assert "b" not in stub.calls[1] and results["b"].stopped_at == 50


def test_halving_ranks_by_the_given_score():
    curves = {"a": [1.0, 2.0, 9.0], "b": [1.0, 2.0, 3.0]}
    specs = [TrainSpec(job_id=j, task="cartpole", total_timesteps=100) for j in curves]
    stub = CurveStub(curves)
    successive_halving(stub, specs, [0.5, 1.0], eta=2, score=lambda r: -r.fitness)
    assert stub.calls[1] == ["b"]
