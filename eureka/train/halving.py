"""Successive halving: train every spec for a fraction of its budget, continue the best, up to the full budget.

It needs only an executor and the rungs: each rung trains the survivors up to the
rung's share of the budget (continuing their saved policies), ranks them by ``score``
(the loop passes the racing statistic of ``eureka.evolve.racing``, the same one the
population ranks by; by default the fitness) and keeps the best ``1/eta`` for the next rung.
A training whose fitness never moved during the first rung while another did better
(a reward under which the policy does not move, say) stops there whatever ``eta`` says.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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


def flat(r: TrainResult, tol: float = 1e-6) -> bool:
    """True when the fitness measured during the training (its snapshots and the evaluation) never moved."""
    curve = [s.fitness for s in r.snapshots if s.fitness is not None]
    if r.fitness is not None:
        curve.append(r.fitness)
    return len(curve) >= 3 and max(curve) - min(curve) <= tol * (1.0 + abs(max(curve)))


def successive_halving(executor: Executor, specs: list[TrainSpec], fractions: list[float], eta: float = 2.0,
                       on_progress: ProgressFn | None = None, on_done: DoneFn | None = None,
                       score: Callable[[TrainResult], float] | None = None) -> list[TrainResult]:
    """Train ``specs`` by successive halving over ``fractions``; return their final results in order.

    A result dropped after a rung has ``stopped_at`` set (its fitness is the one measured then);
    with ``fractions == [1.0]`` this is one plain ``executor.run``.
    """
    if not specs:
        return []
    key = score or _fitness
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
        ranked = sorted((sp for sp in alive if sp.job_id not in final), key=lambda sp: -key(earlier[sp.job_id]))
        keep = max(1, math.ceil(len(ranked) / eta))
        if r == 0 and ranked:  # a reward under which nothing moved is caught in the first rung
            top = key(earlier[ranked[0].job_id])
            moved = [sp for sp in ranked if not (flat(earlier[sp.job_id]) and key(earlier[sp.job_id]) < top)]
            keep = min(keep, max(1, len(moved)))
            ranked = moved + [sp for sp in ranked if sp not in moved]
        for sp in ranked[keep:]:
            result = earlier.pop(sp.job_id)
            result.stopped_at = budget(sp, r)
            finish(sp.job_id, result)
        alive = ranked[:keep]
    return [final[sp.job_id] for sp in specs]


__all__ = ["flat", "rungs", "successive_halving"]
