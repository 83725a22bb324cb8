"""One reward trained with several seeds (``SeedStats``), and the final evaluation of the best reward against the
baselines (``FinalEvaluation``), with the human-normalized score; each as ``summary.json`` writes and reads it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from eureka.fields import items, mapping, num, per_seed, seeds


def human_normalized_score(f_method: float | None, f_env: float | None, f_sparse: float | None) -> float | None:
    """``(F_method - F_sparse) / |F_env - F_sparse|``; None when undefined (baselines equal)."""
    if f_method is None or f_env is None or f_sparse is None:
        return None
    denom = abs(f_env - f_sparse)
    if denom < 1e-9 * max(1.0, abs(f_env), abs(f_sparse)):
        return None
    return (f_method - f_sparse) / denom


def denominator_note(env: SeedStats, sparse: SeedStats) -> str | None:
    """A warning when ``|F_env - F_sparse|`` is small against the baselines' spread over seeds (else None).

    The score divides by that difference: when it is within twice the seed-to-seed standard deviation
    of the two baselines (combined), the score mostly measures noise.
    """
    if env.mean is None or sparse.mean is None:
        return None
    denom = abs(env.mean - sparse.mean)
    spread = math.hypot(env.std or 0.0, sparse.std or 0.0)
    if len(env.values) < 2 or len(sparse.values) < 2:
        return (f"|F_env - F_sparse| = {denom:.4g} from one seed each: its noise is unknown; use more "
                "eval.seeds before reading the score") if denom > 0 else None
    if denom < 2 * spread:
        return (f"|F_env - F_sparse| = {denom:.4g} is less than twice the baselines' spread over seeds "
                f"({spread:.4g}): the score is dominated by noise")
    return None


@dataclass
class SeedStats:
    """One reward trained with several seeds: the fitness per seed (None: that training failed), their mean and
    standard deviation.

    ``recorded_mean``/``recorded_std`` keep what a summary recorded when it holds the mean but no per-seed values
    (older or hand-written files); with per-seed values they stay None and the figures come from those values.
    """

    per_seed: dict[int, float | None] = field(default_factory=dict)
    recorded_mean: float | None = None
    recorded_std: float | None = None

    @property
    def values(self) -> list[float]:
        """The fitness of every seed that trained."""
        return [v for v in self.per_seed.values() if v is not None]

    @property
    def seeds(self) -> list[int]:
        """Every seed, trained or failed."""
        return list(self.per_seed)

    @property
    def mean(self) -> float | None:
        """The mean over the seeds that trained (the recorded mean when there are no per-seed values)."""
        vals = self.values
        return float(np.mean(vals)) if vals else self.recorded_mean

    @property
    def std(self) -> float | None:
        """The population standard deviation over the seeds that trained (or the recorded one)."""
        vals = self.values
        return float(np.std(vals)) if vals else self.recorded_std

    def merged(self, other: SeedStats) -> SeedStats:
        """These seeds, and those of ``other`` this record lacks (or holds as failed)."""
        per = dict(self.per_seed)
        for s, v in other.per_seed.items():
            if per.get(s) is None:
                per[s] = v
        return self if per == self.per_seed else SeedStats(per)

    def to_dict(self) -> dict:
        """Its JSON form (``from_dict`` reads it back): seeds, fitness per seed, mean and standard deviation."""
        return {"seeds": list(self.per_seed), "per_seed": {str(s): v for s, v in self.per_seed.items()},
                "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, d: object) -> SeedStats:
        """From ``to_dict``'s form (an older one too: ``seeds`` with a list of ``values``, or only the mean);
        ``seeds`` alone are not trainings (the summary's ``final_eval`` lists the final seeds before they train)."""
        rec = mapping(d)
        per = per_seed(rec.get("per_seed"))
        if not per and isinstance(rec.get("values"), list):
            per = {s: num(v) for s, v in zip(seeds(rec.get("seeds")), items(rec.get("values")), strict=False)}
        if per:
            return cls(per)
        return cls({}, num(rec.get("mean")), num(rec.get("std")))


@dataclass
class FinalEvaluation:
    """The best reward re-trained with each final seed, and the two baselines with the same seeds and budget."""

    best: SeedStats = field(default_factory=SeedStats)
    env_reward: SeedStats | None = None  # the env's own reward ("human")
    sparse: SeedStats | None = None  # the task fitness paid as a sparse reward at episode end

    @property
    def human_normalized_score(self) -> float | None:
        """``(F_best - F_sparse) / |F_env - F_sparse|`` over the final seeds' means (None without baselines)."""
        if self.env_reward is None or self.sparse is None:
            return None
        return human_normalized_score(self.best.mean, self.env_reward.mean, self.sparse.mean)

    @property
    def note(self) -> str | None:
        """A caution when the score's denominator is within the baselines' noise (``denominator_note``)."""
        if self.env_reward is None or self.sparse is None:
            return None
        return denominator_note(self.env_reward, self.sparse)

    def to_dict(self, seeds: list[int]) -> dict:
        """``summary.json``'s ``final_eval`` (with the final ``seeds``, trained or not yet) and ``baselines``."""
        env, sparse = self.env_reward, self.sparse
        return {"final_eval": {**self.best.to_dict(), "seeds": list(seeds)},
                "baselines": {"env_reward_fitness": env.mean if env else None,
                              "sparse_fitness": sparse.mean if sparse else None,
                              **({"env_reward": env.to_dict(), "sparse": sparse.to_dict()} if env and sparse else {})}}

    @classmethod
    def from_dict(cls, d: object) -> FinalEvaluation | None:
        """From ``to_dict``'s form (the summary's ``final_eval`` and ``baselines``); None when it holds no figure
        (the final evaluation has not run)."""
        rec = mapping(d)
        best = SeedStats.from_dict(rec.get("final_eval"))  # its "seeds" are the final seeds, trained or not
        base = mapping(rec.get("baselines"))
        env = _baseline(base, "env_reward", "env_reward_fitness")
        sparse = _baseline(base, "sparse", "sparse_fitness")
        if not best.per_seed and best.mean is None and env is None and sparse is None:
            return None
        return cls(best, env, sparse)


def _baseline(base: dict, key: str, mean_key: str) -> SeedStats | None:
    """One baseline of ``baselines``: its seeds, else the bare mean an older summary recorded, else None."""
    st = SeedStats.from_dict(base.get(key))
    if not st.per_seed and st.mean is None:
        mean = num(base.get(mean_key))
        return SeedStats({}, mean) if mean is not None else None
    return st


__all__ = ["FinalEvaluation", "SeedStats", "denominator_note", "human_normalized_score"]
