"""rliable's statistics in numpy: IQM, probability of improvement, bootstrap intervals."""

import numpy as np
import pytest

from eureka.analyze.stats import bootstrap_ci, iqm, probability_of_improvement, stratified_ci


def test_iqm_drops_a_quarter_at_each_end():
    assert iqm([1, 2, 3, 4, 100, -100, 5, 6]) == pytest.approx(np.mean([2, 3, 4, 5]))
    assert iqm([3.0]) == 3.0 and iqm([]) is None


def test_probability_of_improvement_counts_ties_half():
    assert probability_of_improvement([2, 3], [1, 1]) == 1.0
    assert probability_of_improvement([1, 1], [1, 1]) == 0.5
    assert probability_of_improvement([0, 2], [1]) == 0.5
    assert probability_of_improvement([], [1]) is None


def test_bootstrap_intervals_cover_the_estimate_and_shrink_with_more_runs():
    rng = np.random.default_rng(0)
    small = [list(rng.normal(0, 1, 5)) for _ in range(3)]
    big = [list(rng.normal(0, 1, 5)) for _ in range(30)]
    lo_s, hi_s = bootstrap_ci(iqm, small)
    lo_b, hi_b = bootstrap_ci(iqm, big)
    assert lo_s <= iqm([v for g in small for v in g]) <= hi_s
    assert hi_b - lo_b < hi_s - lo_s
    better = [[v + 3 for v in g] for g in big]
    lo, hi = bootstrap_ci(probability_of_improvement, better, big)
    assert lo > 0.9  # clearly better: the whole interval is far above 0.5
    lo, hi = stratified_ci(lambda d: float(np.mean([iqm(v) for v in d.values()])), {"a": small, "b": big})
    assert lo < hi
