"""Every training of a run goes through one object: ``Trainings``.

The search, racing, tuning, the confirmation on held-out seeds and the final re-training all ask it for
a spec (``eureka.train.train_spec``: the ``trainer.*`` settings, the backend included, chosen inside
``eureka.train``) and to run specs. It fires the reporter's hooks (``training_started``,
``training_progress``, ``job_done``), submits the specs to the executor, and records every result as it
arrives (the ``RecordingExecutor``: ``trainings.jsonl``, so ``resume=<run_dir>`` trains nothing twice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from eureka.config import EurekaConfig
from eureka.evolve.candidate import Candidate
from eureka.evolve.reporter import Reporter
from eureka.store import RunStore
from eureka.train import TrainSpec, train_spec
from eureka.train.bandit import bandit_allocation
from eureka.train.halving import rungs, successive_halving
from eureka.train.recording import RecordingExecutor
from eureka.train.result import Executor, TrainResult
from eureka.train.runner import rounded_timesteps


class Trainings:
    """Builds, announces, runs and records the trainings of one run (see the module docstring).

    ``executor`` trains (a ``LocalExecutor``, Ray, or a test's stub); it is wrapped in a
    ``RecordingExecutor`` writing in the run directory of ``store``. ``reporter`` receives the hooks.
    """

    def __init__(self, cfg: EurekaConfig, executor: Executor, store: RunStore, reporter: Reporter):
        self.cfg = cfg
        self.store = store
        self.executor = RecordingExecutor(executor, store.root)
        self.reporter = reporter

    def spec(self, job_id: str, mode: str, seed: int, reward_path: str | None, out_dir: Path,
             total_timesteps: int | None = None) -> TrainSpec:
        """What to train, from ``trainer.*``, ``sandbox.*`` and ``eval.episodes`` (``total_timesteps``: another budget)."""
        job = {} if total_timesteps is None else {"total_timesteps": int(total_timesteps)}
        return train_spec(self.cfg, job_id=job_id, mode=mode, seed=seed, reward_path=reward_path,
                          out_dir=str(out_dir), **job)

    def again(self, c: Candidate, seed: int, kind: str) -> TrainSpec:
        """``c`` trained once more on ``seed`` with the budget its first training got (``kind``: seed | confirm),
        in ``candidates/<id>/<kind><seed>/``."""
        sp = self.spec(f"{c.id}_{kind}{seed}", "candidate", seed, c.reward_path,
                       self.store.candidate_dir(c.id) / f"{kind}{seed}")
        return replace(sp, total_timesteps=next(iter(c.seed_steps.values()), sp.total_timesteps) or sp.total_timesteps)

    def announce(self, specs: list[TrainSpec]) -> None:
        """``training_started`` for each spec (with the steps it will really run)."""
        for sp in specs:
            self.reporter.training_started(sp.job_id, rounded_timesteps(sp))

    def run(self, specs: list[TrainSpec], shown: bool = True) -> list[TrainResult]:
        """Train ``specs`` (in parallel where the executor can); results in order. ``shown=False`` (the
        tuning's many short trials) reports progress only: no job is announced or finished on the display."""
        if not specs:
            return []
        if not shown:
            return self.executor.run(specs, self.reporter.training_progress)
        self.announce(specs)
        return self.executor.run(specs, self.reporter.training_progress, self.reporter.job_done)

    def prefetch(self, specs: list[TrainSpec]) -> None:
        """Train ``specs`` early, in slots the run would leave idle, where the executor can (see
        ``LocalExecutor.prefetch``); a later ``run`` of them takes the results."""
        self.executor.prefetch(specs)

    def search(self, specs: list[TrainSpec], score: Callable[[TrainResult], float]) -> list[TrainResult]:
        """An iteration's candidates: full budget each, or split by ``loop.allocation`` (successive halving
        with ``loop.early_stop``, or the UCB bandit), ranking by ``score``."""
        self.announce(specs)
        lc = self.cfg.loop
        es = lc.early_stop
        if lc.allocation == "bandit":
            b = lc.bandit
            return bandit_allocation(self.executor, specs, b.budget, b.chunk, b.c, b.parallel,
                                     self.reporter.training_progress, score=score)
        halving = es.enabled or lc.allocation == "halving"
        fractions = rungs(es.eta, es.min_fraction) if halving else [1.0]
        return successive_halving(self.executor, specs, fractions, es.eta, self.reporter.training_progress,
                                  score=score)

    def shutdown(self) -> None:
        """Release what the executor started."""
        self.executor.shutdown()


__all__ = ["Trainings"]
