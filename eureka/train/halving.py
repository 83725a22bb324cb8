"""Successive halving: train every spec for a fraction of its budget, continue the best, up to the full budget.

It needs only an executor and the rungs: each rung trains the survivors up to the
rung's share of the budget (continuing their saved policies), ranks them by fitness
and keeps the best ``1/eta`` for the next rung.
"""

from __future__ import annotations

import math
from dataclasses import replace

from eureka.train.result import DoneFn, Executor, ProgressFn, TrainResult
from eureka.train.runner import TrainSpec


def rungs(eta: float = 2.0, min_fraction: float = 0.25) -> list[float]:
    """Budget fractions of the rungs: ``min_fraction``, ``min_fraction * eta``, ... up to 1.0."""
    out, frac = [], float(min_fraction)
    while frac < 1.0 - 1e-9:
        out.append(frac)
        frac *= float(eta)
    return out + [1.0]


def _fitness(r: TrainResult) -> float:
    return r.fitness if r.ok and r.fitness is not None else -math.inf


def successive_halving(executor: Executor, specs: list[TrainSpec], fractions: list[float], eta: float = 2.0,
                       on_progress: ProgressFn | None = None, on_done: DoneFn | None = None) -> list[TrainResult]:
    """Train ``specs`` by successive halving over ``fractions``; return their final results in order.

    A result dropped after a rung has ``stopped_at`` set (its fitness is the one measured then);
    with ``fractions == [1.0]`` this is one plain ``executor.run``.
    """
    if not specs:
        return []
    final: dict[str, TrainResult] = {}
    earlier: dict[str, TrainResult] = {}
    alive = list(specs)

    def budget(sp: TrainSpec, r: int) -> int:
        return int(round(sp.total_timesteps * fractions[r])) if r >= 0 else 0

    def finish(job_id: str, result: TrainResult) -> None:
        final[job_id] = earlier[job_id].merged(result) if job_id in earlier else result
        if on_done is not None:
            on_done(job_id, final[job_id])

    for r in range(len(fractions)):
        last = r == len(fractions) - 1
        rung = [replace(sp, total_timesteps=budget(sp, r) - budget(sp, r - 1), resume=r > 0) for sp in alive]

        def done(job_id: str, result: TrainResult, last: bool = last) -> None:
            if last or not result.ok:
                finish(job_id, result)
            else:
                earlier[job_id] = earlier[job_id].merged(result) if job_id in earlier else result

        executor.run(rung, on_progress, done)
        if last:
            break
        ranked = sorted((sp for sp in alive if sp.job_id not in final), key=lambda sp: -_fitness(earlier[sp.job_id]))
        keep = max(1, math.ceil(len(ranked) / eta))
        for sp in ranked[keep:]:
            result = earlier.pop(sp.job_id)
            result.stopped_at = budget(sp, r)
            finish(sp.job_id, result)
        alive = ranked[:keep]
    return [final[sp.job_id] for sp in specs]


__all__ = ["rungs", "successive_halving"]
