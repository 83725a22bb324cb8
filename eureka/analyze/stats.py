"""Seed-robust statistics as in rliable (Agarwal et al. 2021): IQM, bootstrap intervals, probability of improvement.

rliable 1.2 itself pins ``arch==5.3.0`` (which brings pandas, statsmodels and scipy) for its bootstrap; these
are the same definitions in numpy alone:

- ``iqm``: the interquartile mean, the mean of the middle 50% of the values (``scipy.stats.trim_mean(x, 0.25)``);
- ``bootstrap_ci``: a percentile interval from resampling runs with replacement. Values come in groups (one
  group per search run, its values one per final seed); resampling is two-level (groups, then values within
  each group), so the interval covers both the search's and the final training's seed noise. With a dict of
  tasks the resampling is stratified: each task is resampled apart, as rliable does across tasks;
- ``probability_of_improvement``: ``P(X > Y) + P(X = Y) / 2`` over all pairs of runs (the Mann-Whitney U
  statistic normalised), rliable's per-task probability of improvement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Groups = Sequence[Sequence[float]]


def iqm(values: Sequence[float]) -> float | None:
    """Interquartile mean: drop ``floor(n / 4)`` values at each end, average the rest."""
    x = np.sort(np.asarray([v for v in values if v is not None], dtype=float))
    if x.size == 0:
        return None
    cut = int(0.25 * x.size)
    return float(x[cut:x.size - cut].mean())


def flat(groups: Groups) -> list[float]:
    return [float(v) for g in groups for v in g if v is not None]


def probability_of_improvement(x: Sequence[float], y: Sequence[float]) -> float | None:
    """``P(X > Y) + 0.5 P(X = Y)`` for one run of each drawn at random (None when either is empty)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.size == 0 or ya.size == 0:
        return None
    gt = (xa[:, None] > ya[None, :]).mean()
    eq = (xa[:, None] == ya[None, :]).mean()
    return float(gt + 0.5 * eq)


def resample(groups: Groups, rng: np.random.Generator) -> list[list[float]]:
    """Two-level bootstrap resample: groups with replacement, then the values of each chosen group."""
    groups = [list(g) for g in groups if len([v for v in g if v is not None])]
    if not groups:
        return []
    out = []
    for i in rng.integers(len(groups), size=len(groups)):
        g = [v for v in groups[i] if v is not None]
        out.append([g[j] for j in rng.integers(len(g), size=len(g))])
    return out


def bootstrap_ci(stat: Callable[..., float | None], *samples: Groups, reps: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float | None, float | None]:
    """Percentile interval of ``stat(*flattened resamples)``; each sample (a list of groups) is resampled apart."""
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(reps):
        v = stat(*[flat(resample(s, rng)) for s in samples])
        if v is not None:
            vals.append(v)
    if not vals:
        return None, None
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def stratified_ci(stat: Callable[[dict[str, list[float]]], float | None], tasks: dict[str, Groups],
                  reps: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float | None, float | None]:
    """Percentile interval of an across-task statistic; every task is resampled apart (stratified bootstrap)."""
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(reps):
        v = stat({t: flat(resample(g, rng)) for t, g in tasks.items()})
        if v is not None:
            vals.append(v)
    if not vals:
        return None, None
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


__all__ = ["bootstrap_ci", "iqm", "probability_of_improvement", "resample", "stratified_ci"]
