"""What a result rests on: one estimate of the chosen reward from all its trainings, and a verdict against the
env reward.

- ``estimate``: every training of the chosen reward (the search seeds that selected it, the held-out seeds
  that confirmed it, the final seeds) pooled into one mean with a 95% percentile bootstrap interval of the
  mean (2000 resamples of the trainings with replacement, as ``eureka.analyze.stats.bootstrap_ci`` but
  vectorised: it runs at every summary write), plus the
  outcome in words ("4 of 7 trainings reached 0.9; 3 ended at 0") so a bimodal result is not read as
  certain. The selection seeds are biased upward (they chose the reward); their role is kept with each value.
- ``verdict``: ``P(chosen > env reward)``, the probability of improvement (rliable) of the chosen reward's
  final-seed trainings over the env reward's, with a 95% bootstrap interval (each side resampled apart);
  ``win`` when the interval lies above 0.5, ``loss`` below, ``tie`` whenever it contains 0.5, and also when
  either side has fewer than ``MIN_SEEDS`` trainings (a bootstrap of two values cannot show its uncertainty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from eureka.analyze.stats import probability_of_improvement
from eureka.fields import integer, items, mapping, num, text

REPS = 2000  # bootstrap resamples

MIN_SEEDS = 3  # final trainings on each side below which the verdict is a tie whatever the interval
ROLES = ("selection", "held_out", "final")  # what each training of the chosen reward served
CI_METHOD = "95% percentile bootstrap of the mean over trainings (2000 resamples)"
POI_METHOD = ("probability of improvement P(chosen > env) + P(equal)/2 over the final seeds' trainings, 95% "
              "percentile bootstrap (each side resampled apart, 2000 resamples)")


@dataclass
class Training:
    """One training of the chosen reward: its seed, what it served, and its fitness (None: it failed)."""

    seed: int
    role: str  # selection | held_out | final
    fitness: float | None

    def to_dict(self) -> dict:
        return {"seed": self.seed, "role": self.role, "fitness": self.fitness}

    @classmethod
    def from_dict(cls, d: object) -> Training | None:
        """From ``to_dict``'s form; None when it names no seed or no known role."""
        row = mapping(d)
        seed, role = integer(row.get("seed")), row.get("role")
        if seed is None or role not in ROLES:
            return None
        return cls(seed, str(role), num(row.get("fitness")))


def _interval(stats: np.ndarray) -> tuple[float, float]:
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return float(lo), float(hi)


def bootstrap_mean(values: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean over ``REPS`` resamples with replacement (vectorised)."""
    x = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(x.size, size=(REPS, x.size))
    return _interval(x[idx].mean(axis=1))


def bootstrap_poi(x: Sequence[float], y: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of ``P(X > Y) + P(X = Y)/2``, each side resampled apart (vectorised)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    xs = xa[rng.integers(xa.size, size=(REPS, xa.size))][:, :, None]
    ys = ya[rng.integers(ya.size, size=(REPS, ya.size))][:, None, :]
    return _interval((xs > ys).mean(axis=(1, 2)) + 0.5 * (xs == ys).mean(axis=(1, 2)))


def _g(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _level(vals: Sequence[float]) -> str:
    lo, hi = min(vals), max(vals)
    return _g(lo) if _g(lo) == _g(hi) else f"{_g(lo)}-{_g(hi)}"


def split(values: Sequence[float]) -> tuple[list[float], list[float]] | None:
    """The values cut at their largest gap, when that gap is at least half their range (two clusters, low and
    high); None when they do not separate so (fewer than 3 values, all equal, or spread out)."""
    x = sorted(float(v) for v in values)
    if len(x) < 3 or x[-1] - x[0] <= 1e-12 * max(1.0, abs(x[-1])):
        return None
    gaps = np.diff(x)
    i = int(np.argmax(gaps))
    if gaps[i] < 0.5 * (x[-1] - x[0]):
        return None
    return x[:i + 1], x[i + 1:]


def describe_outcomes(values: Sequence[float], failed: int = 0) -> str:
    """The trainings' outcomes in words: "4 of 7 trainings reached 0.9; 3 ended at 0", or their range."""
    x = [float(v) for v in values]
    n = len(x) + failed
    fail = f"; {failed} failed" if failed else ""
    if not x:
        return f"all {n} trainings failed" if n else "no training"
    parts = split(x)
    if parts is not None:
        low, high = parts
        return (f"{len(high)} of {n} trainings reached {_level(high)}; {len(low)} ended at {_level(low)}{fail}")
    if len(x) == 1:
        return f"1 training, at {_g(x[0])}{fail}"
    if _g(min(x)) == _g(max(x)):
        return f"all {len(x)} trainings at {_g(x[0])}{fail}"
    return f"{len(x)} trainings between {_g(min(x))} and {_g(max(x))} (median {_g(float(np.median(x)))}){fail}"


@dataclass
class Estimate:
    """The chosen reward's one estimate: mean and bootstrap interval over every training, each listed."""

    trainings: list[Training] = field(default_factory=list)
    mean: float | None = None
    ci: tuple[float | None, float | None] = (None, None)
    words: str = ""
    bimodal: bool = False  # the trainings split into two clusters of at least two each

    @property
    def values(self) -> list[float]:
        return [t.fitness for t in self.trainings if t.fitness is not None]

    @property
    def n_trainings(self) -> int:
        return len(self.values)

    def by_role(self) -> dict[str, int]:
        return {r: sum(1 for t in self.trainings if t.role == r and t.fitness is not None) for r in ROLES}

    def to_dict(self) -> dict:
        """``summary.json`` ``chosen_reward``: exactly these four keys (scripts outside the repository read them)."""
        return {"mean": self.mean, "ci": list(self.ci), "n_trainings": self.n_trainings,
                "values": [{"seed": t.seed, "role": t.role, "fitness": t.fitness} for t in self.trainings]}

    def detail(self) -> dict:
        """``summary.json`` ``chosen_reward_detail``: how the interval was made, the outcome in words, the split."""
        return {"method": CI_METHOD, "outcome": self.words, "bimodal": self.bimodal, "by_role": self.by_role()}

    @classmethod
    def from_dict(cls, chosen: object, detail: object = None) -> Estimate:
        """From ``to_dict`` and ``detail`` (``chosen_reward`` and ``chosen_reward_detail``) as recorded; where the
        detail is missing (an older summary) the words and the split are made again from the trainings."""
        d, det = mapping(chosen), mapping(detail)
        ts = [t for t in (Training.from_dict(r) for r in items(d.get("values"))) if t is not None]
        ci = items(d.get("ci"))
        lo, hi = (num(ci[0]) if ci else None), (num(ci[1]) if len(ci) > 1 else None)
        if "outcome" not in det:
            again = estimate(ts)
            return cls(ts, num(d.get("mean")), (lo, hi), again.words, again.bimodal)
        return cls(ts, num(d.get("mean")), (lo, hi), text(det.get("outcome")), det.get("bimodal") is True)


def estimate(trainings: Sequence[Training], seed: int = 0) -> Estimate:
    """Pool every training of the chosen reward into one mean with a bootstrap interval (see the module)."""
    ts = list(trainings)
    vals = [t.fitness for t in ts if t.fitness is not None]
    failed = sum(1 for t in ts if t.fitness is None)
    if not vals:
        return Estimate(ts, words=describe_outcomes([], failed))
    mean = float(np.mean(vals))
    ci: tuple[float | None, float | None] = bootstrap_mean(vals, seed) if len(vals) > 1 else (None, None)
    parts = split(vals)
    return Estimate(ts, mean, ci, describe_outcomes(vals, failed),
                    bimodal=parts is not None and min(len(parts[0]), len(parts[1])) >= 2)


@dataclass
class Verdict:
    """The chosen reward against the env reward over the final seeds: P(chosen > env), its interval, the word."""

    p: float | None = None
    ci: tuple[float | None, float | None] = (None, None)
    verdict: str | None = None  # win | tie | loss (None: no env baseline)
    n_chosen: int = 0
    n_env: int = 0
    why: str = ""

    def to_dict(self) -> dict:
        """``summary.json`` ``verdict_vs_env_detail`` (the word alone is ``verdict_vs_env``)."""
        return {"p_improvement": self.p, "ci": list(self.ci), "verdict": self.verdict, "n_chosen": self.n_chosen,
                "n_env": self.n_env, "method": POI_METHOD, "why": self.why}

    @classmethod
    def from_dict(cls, d: object) -> Verdict:
        """From ``to_dict``'s form (missing keys: no verdict)."""
        v = mapping(d)
        ci = items(v.get("ci"))
        word = v.get("verdict")
        return cls(num(v.get("p_improvement")), (num(ci[0]) if ci else None, num(ci[1]) if len(ci) > 1 else None),
                   word if isinstance(word, str) and word else None, integer(v.get("n_chosen")) or 0,
                   integer(v.get("n_env")) or 0, text(v.get("why")))

    def line(self) -> str:
        """One line for the terminal and the page."""
        if self.verdict is None:
            return f"no verdict against the env reward: {self.why}"
        lo, hi = self.ci
        ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else ""
        return (f"P(chosen > env reward) = {self.p:.2f}{ci} over {self.n_chosen} x {self.n_env} final trainings: "
                f"{self.verdict.upper()} ({self.why})")


def verdict(chosen: Sequence[float], env: Sequence[float], seed: int = 0) -> Verdict:
    """``win`` / ``tie`` / ``loss`` of ``chosen`` against ``env`` (final-seed fitnesses; see the module)."""
    x = [float(v) for v in chosen if v is not None]
    y = [float(v) for v in env if v is not None]
    if not x or not y:
        return Verdict(n_chosen=len(x), n_env=len(y),
                       why="no env reward baseline was trained (eval.baselines=false)" if not y
                       else "the chosen reward has no final training")
    p = probability_of_improvement(x, y)
    lo, hi = bootstrap_poi(x, y, seed)
    assert p is not None
    if lo <= 0.5 <= hi:
        word, why = "tie", "the interval contains 0.5: the difference is within the seed noise"
    elif min(len(x), len(y)) < MIN_SEEDS:
        # a bootstrap of 2 values cannot show its own uncertainty (2 x 2 separated trainings give [1, 1], while
        # the exact chance of such a separation with no difference at all is 1 in 6)
        word, why = "tie", (f"too few final trainings to call ({len(x)} x {len(y)}; a win or a loss needs at least "
                            f"{MIN_SEEDS} on each side: eval.num_seeds)")
    elif lo > 0.5:
        word, why = "win", "the interval lies above 0.5"
    else:
        word, why = "loss", "the interval lies below 0.5"
    return Verdict(p, (lo, hi), word, len(x), len(y), why)


__all__ = ["CI_METHOD", "bootstrap_mean", "bootstrap_poi", "Estimate", "POI_METHOD", "ROLES", "Training", "Verdict", "describe_outcomes", "estimate",
           "split", "verdict"]
