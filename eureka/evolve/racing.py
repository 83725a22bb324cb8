"""Racing: a candidate's verdict comes from several search seeds, ranked by a seed-robust statistic.

One training per candidate is mostly luck at small budgets, so the search would crown the luckiest
run. Here every candidate keeps its fitness per search seed (``Candidate.seed_fitness``); each
iteration re-trains the most promising candidates on fresh search seeds, and candidates are ranked by
a **lower confidence bound on the mean fitness over seeds** (``lcb``):

    LCB = mean - k * s / sqrt(n)

with ``n`` the candidate's seeds and ``s`` its seed-to-seed standard deviation, shrunk towards the
standard deviation pooled over every candidate trained on several seeds (two pseudo-degrees of
freedom of the pooled value: two seeds alone say little about a spread). A candidate with one seed
is penalised by the pooled spread alone. Why a lower bound and not the IQM: with the 2-3 seeds a
search can afford, the IQM is the mean (or the median) of those seeds and does not charge for
uncertainty at all; the LCB charges for both few seeds and a large spread, which is exactly what
separates a lucky candidate from a robust one.

Search seeds are ``seed, seed + 7919, seed + 2 * 7919, ...`` minus any final seed: search seeds and
final seeds never meet (with ``eval.seeds`` holding ``seed`` itself, the search starts at ``seed + 7919``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from eureka.config import RacingConfig
from eureka.errors import ConfigError

if TYPE_CHECKING:
    from eureka.evolve.candidate import Candidate
    from eureka.evolve.trainings import Trainings

SEED_STEP = 7919  # a prime: search seeds seed, seed + 7919, ... rarely meet anyone's hand-picked seeds


def seed_values(per_seed: dict[int, float | None]) -> list[float | None]:
    """The values of ``per_seed`` in seed order (None: the training on that seed failed)."""
    return [per_seed[s] for s in per_seed]


def pooled_std(groups: Iterable[list[float | None]]) -> float | None:
    """The within-candidate seed-to-seed standard deviation pooled over groups of >= 2 finite values."""
    ss, dof = 0.0, 0
    for vals in groups:
        v = [x for x in vals if x is not None and math.isfinite(x)]
        if len(v) >= 2:
            ss += float(np.var(v, ddof=1)) * (len(v) - 1)
            dof += len(v) - 1
    return math.sqrt(ss / dof) if dof else None


def lcb(values: list[float | None], k: float = 1.0, pooled: float | None = None, prior_dof: float = 2.0) -> float:
    """Lower confidence bound on the mean of ``values`` (see the module docstring); -inf when any seed failed."""
    if not values or any(v is None or not math.isfinite(v) for v in values):
        return -math.inf
    xs = [float(v) for v in values if v is not None]
    n = len(xs)
    mean = float(np.mean(xs))
    if n == 1:
        s = pooled or 0.0
    else:
        var = float(np.var(xs, ddof=1))
        s = math.sqrt(((n - 1) * var + prior_dof * pooled ** 2) / (n - 1 + prior_dof)) if pooled is not None \
            else math.sqrt(var)
    return mean - k * s / math.sqrt(n)


def precise(values: list[float | None], rse: float) -> bool:
    """The mean of the finite ``values`` has a standard error within ``rse`` of its magnitude (>= 2 values)."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    if len(xs) < 2:
        return False
    se = float(np.std(xs, ddof=1)) / math.sqrt(len(xs))
    return se <= rse * abs(float(np.mean(xs)))


def search_seeds(seed: int, count: int, final: Iterable[int]) -> list[int]:
    """The first ``count`` search seeds: ``seed, seed + 7919, ...`` skipping every final seed (so when
    ``eval.seeds`` holds ``seed`` itself, the search starts at ``seed + 7919``)."""
    final = {int(s) for s in final}
    out: list[int] = []
    j = 0
    while len(out) < count:
        s = int(seed) + SEED_STEP * j
        if s not in final:
            out.append(s)
        j += 1
    return out


def check_allocation_and_tuning(loop) -> None:
    """``loop.bandit`` and ``loop.tuning`` values a type cannot check; ``ConfigError`` naming key and range."""
    b, t = getattr(loop, "bandit", None), getattr(loop, "tuning", None)
    bad = []
    if b is not None and getattr(loop, "allocation", None) == "bandit":
        if not b.budget > 0:
            bad.append(f"loop.bandit.budget={b.budget}: must be > 0")
        if not 0 < b.chunk <= 1:
            bad.append(f"loop.bandit.chunk={b.chunk}: must be in (0, 1]")
        if b.parallel < 1 or b.c < 0:
            bad.append(f"loop.bandit.parallel={b.parallel}, c={b.c}: parallel >= 1 and c >= 0")
    if t is not None and t.enabled:
        if t.trials < 2:
            bad.append(f"loop.tuning.trials={t.trials}: CMA-ES needs >= 2 trials")
        if not t.ratio > 1 or not 0 < t.fraction <= 1 or t.seeds < 1 or t.max_params < 1 or not t.sigma > 0:
            bad.append(f"loop.tuning: ratio={t.ratio}, fraction={t.fraction}, seeds={t.seeds}, "
                       f"max_params={t.max_params}, sigma={t.sigma}; valid: ratio > 1, 0 < fraction <= 1, "
                       "seeds >= 1, max_params >= 1, sigma > 0")
    if bad:
        raise ConfigError("; ".join(bad))


@dataclass
class Racer:
    """The racing rules of one run (``loop.racing``): which seeds, how many, who gets them, how to rank."""

    seed: int
    final_seeds: list[int]
    enabled: bool = RacingConfig.enabled  # (the defaults live in eureka/config.py: RacingConfig)
    seeds: int = RacingConfig.seeds  # each iteration, the top candidates are trained until they have this many seeds
    top: int = RacingConfig.top  # how many of the best candidates are raced each iteration
    k: float = RacingConfig.k  # width of the lower confidence bound (in standard errors)
    min_seeds: int = RacingConfig.min_seeds  # seeds a candidate needs before it can be the best or a parent

    @classmethod
    def from_config(cls, cfg) -> Racer:
        """From ``loop.racing`` (disabled: one seed per candidate, ranked by its fitness); also checks
        ``loop.bandit`` and ``loop.tuning`` (``ConfigError`` before any work)."""
        from eureka.config import final_seeds

        check_allocation_and_tuning(cfg.loop)

        rc = getattr(cfg.loop, "racing", None)
        enabled = bool(rc.enabled) if rc is not None else False
        if not enabled:
            return cls(int(cfg.seed), final_seeds(cfg), enabled=False, seeds=1, top=0, k=0.0, min_seeds=1)
        assert rc is not None
        r = cls(int(cfg.seed), final_seeds(cfg), True, int(rc.seeds), int(rc.top), float(rc.k),
                int(rc.min_seeds))
        if r.seeds < r.min_seeds or r.min_seeds < 2 or r.top < 1:
            raise ConfigError(f"loop.racing: seeds={r.seeds}, min_seeds={r.min_seeds}, top={r.top}; valid: "
                              "top >= 1 and seeds >= min_seeds >= 2 (or loop.racing.enabled=false)")
        return r

    def describe(self) -> dict:
        """The rules, for ``summary.json``."""
        stat = f"lcb: mean - {self.k:g} * std / sqrt(seeds)" if self.enabled else "fitness of one seed"
        return {"enabled": self.enabled, "statistic": stat, "seeds": self.seeds, "top": self.top,
                "min_seeds": self.min_seeds, "final_seeds": list(self.final_seeds)}

    @property
    def first_seed(self) -> int:
        """The seed of every candidate's first training (``seed``, unless it is a final seed)."""
        return self.seed_list(1)[0]

    def seed_list(self, count: int) -> list[int]:
        """The first ``count`` search seeds (disjoint from the final seeds)."""
        return search_seeds(self.seed, count, self.final_seeds)

    def statistic(self, values: list[float | None], pooled: float | None) -> float:
        """The ranking statistic of a candidate with these per-seed values (disabled: their mean)."""
        if not self.enabled:
            v = [x for x in values if x is not None and math.isfinite(x)]
            return float(np.mean(v)) if v and len(v) == len(values) else -math.inf
        return lcb(values, self.k, pooled)

    def eligible(self, cand) -> bool:
        """Trained on enough seeds (and on none of them failed) to be the best or a parent."""
        vals = seed_values(getattr(cand, "seed_fitness", {}) or {})
        return len(vals) >= self.min_seeds and all(v is not None for v in vals)

    def next_seed(self, cand) -> int | None:
        """The next search seed ``cand`` has not been trained on (None when it has ``seeds`` already)."""
        have = getattr(cand, "seed_fitness", {}) or {}
        if len(have) >= self.seeds:
            return None
        return next(s for s in self.seed_list(len(have) + 1 + len(self.final_seeds)) if s not in have)

    def to_race(self, pool: list, pooled: float | None) -> list:
        """The candidates to train on one more seed now: the ``top`` best by the statistic that still lack seeds."""
        if not self.enabled:
            return []
        ranked = sorted(pool, key=lambda c: -self.statistic(seed_values(c.seed_fitness), pooled))
        ranked = [c for c in ranked if math.isfinite(self.statistic(seed_values(c.seed_fitness), pooled))]
        return [c for c in ranked[:self.top] if self.next_seed(c) is not None]


@dataclass
class Confirmation:
    """The crowned reward re-trained on held-out search seeds: fitness per seed, steps spent, failures."""

    per_seed: dict[int, float | None] = field(default_factory=dict)
    steps: int = 0
    failed: list[str] = field(default_factory=list)


def confirm_held_out(best: Candidate, racer: Racer, cc: Any, trainings: Trainings,
                     phase: Callable[[str], None]) -> Confirmation:
    """Re-train ``best`` on search seeds it was never trained on (``loop.confirm``, ``cc``): at least
    ``cc.seeds``, then two more at a time while the held-out mean's standard error exceeds ``cc.rse`` of its
    magnitude, up to ``cc.max_seeds``."""
    have = set(best.seed_fitness)
    held_out = [s for s in racer.seed_list(len(have) + cc.max_seeds) if s not in have][:cc.max_seeds]
    out = Confirmation()
    per = out.per_seed
    want = cc.seeds
    while len(per) < want:
        seeds = held_out[len(per):want]
        phase(f"confirming {best.id} on held-out search seed(s) {seeds} (it was chosen on seeds {sorted(have)})")
        results = trainings.run([trainings.again(best, s, "confirm") for s in seeds])
        for s, r in zip(seeds, results, strict=True):
            per[s] = r.fitness if r.ok else None
            out.steps += r.steps
            if not r.ok:
                out.failed.append(f"seed {s}: {r.error_class}: {r.message}")
        if any(v is not None for v in per.values()) and not precise(list(per.values()), cc.rse):
            want = min(cc.max_seeds, len(per) + 2)
    return out


__all__ = ["Confirmation", "Racer", "confirm_held_out", "lcb", "pooled_std", "precise", "search_seeds", "seed_values"]
