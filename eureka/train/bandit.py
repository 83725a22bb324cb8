"""Bandit allocation (ORSO-style): split an iteration's training budget online across its candidates.

Every candidate is an arm. Each one first trains one chunk (``chunk`` x its budget); then, until the
iteration's budget is spent, the ``parallel`` arms with the highest upper confidence bound continue
from their saved state (``TrainSpec.resume``) for one more chunk each:

    UCB = normalised latest score + c * sqrt(ln(pulls of all arms) / pulls of this arm)

(scores normalised to [0, 1] over the arms, so ``c`` does not depend on the task's fitness scale).
An arm never trains beyond its own ``total_timesteps``; a failed training leaves the race. Unlike
successive halving, no arm is ever dropped for good: a slow starter can still be picked up when
the leaders stall, and the budget goes where the fitness grows (ORSO, Zhang et al. 2024).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from eureka.train.result import DoneFn, Executor, ProgressFn, TrainResult
from eureka.train.runner import TrainSpec


@dataclass
class Arm:
    spec: TrainSpec
    result: TrainResult | None = None
    steps: int = 0  # env steps asked for so far
    pulls: int = 0

    @property
    def alive(self) -> bool:
        return self.result is None or self.result.ok


def _fitness(r: TrainResult) -> float:
    return r.fitness if r.ok and r.fitness is not None else -math.inf


def ucb(arms: list[Arm], score: Callable[[TrainResult], float], c: float) -> dict[str, float]:
    """The upper confidence bound of every live arm that can still train (``job_id`` -> value)."""
    live = [a for a in arms if a.alive and a.result is not None and a.steps < a.spec.total_timesteps]
    vals = {a.spec.job_id: score(a.result) for a in live if a.result is not None}
    finite = [v for v in vals.values() if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    total = sum(a.pulls for a in arms)
    out = {}
    for a in live:
        v = vals[a.spec.job_id]
        norm = (v - lo) / (hi - lo) if math.isfinite(v) and hi > lo else (0.5 if math.isfinite(v) else 0.0)
        out[a.spec.job_id] = norm + c * math.sqrt(math.log(max(total, 2)) / max(a.pulls, 1))
    return out


def bandit_allocation(executor: Executor, specs: list[TrainSpec], budget: float = 0.5, chunk: float = 0.25,
                      c: float = 1.0, parallel: int = 2, on_progress: ProgressFn | None = None,
                      on_done: DoneFn | None = None,
                      score: Callable[[TrainResult], float] | None = None) -> list[TrainResult]:
    """Train ``specs`` within ``budget x len(specs) x total_timesteps`` env steps, chunk by chunk, by UCB.

    Returns one result per spec, in order; each result's ``steps`` is what that candidate got.
    """
    if not specs:
        return []
    key = score or _fitness
    arms = [Arm(sp) for sp in specs]
    limit = sum(int(budget * sp.total_timesteps) for sp in specs)

    def size(a: Arm) -> int:
        return max(1, min(int(round(chunk * a.spec.total_timesteps)), a.spec.total_timesteps - a.steps))

    def pull(batch: list[Arm]) -> None:
        # a continued chunk is its own job (``<job>_from<steps>``): a recording executor keys trainings by job,
        # budget and continuation, and two equal chunks of one arm must not look like the same training
        run = [replace(a.spec, job_id=a.spec.job_id if a.pulls == 0 else f"{a.spec.job_id}_from{a.steps}",
                       total_timesteps=size(a), resume=a.pulls > 0) for a in batch]
        progress = None if on_progress is None else \
            (lambda job, steps: on_progress(job.split("_from")[0], steps))
        results = executor.run(run, progress)
        for a, sp, r in zip(batch, run, results, strict=True):
            a.steps += sp.total_timesteps
            a.pulls += 1
            merged = a.result.merged(r) if a.result is not None and r.ok else r
            merged = replace(merged, job_id=a.spec.job_id)
            a.result = replace(merged, steps=max(merged.steps, a.steps)) if merged.ok else merged

    pull(arms)  # one chunk each
    while sum(a.steps for a in arms) < limit:
        bounds = ucb(arms, key, c)
        if not bounds:
            break
        picks = sorted(bounds, key=lambda j: -bounds[j])[:max(1, parallel)]
        batch, left = [], limit - sum(a.steps for a in arms)
        for a in arms:
            if a.spec.job_id in picks and left > 0:
                batch.append(a)
                left -= size(a)
        if not batch:
            break
        pull(batch)
    out: list[TrainResult] = []
    for a in arms:
        r = a.result if a.result is not None else TrainResult.crashed(a.spec.job_id, "never trained")
        if on_done is not None:
            on_done(a.spec.job_id, r)
        out.append(r)
    return out


__all__ = ["bandit_allocation", "ucb"]
