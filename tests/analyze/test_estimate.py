"""The chosen reward's one estimate over all its trainings, and the verdict against the env reward."""

from __future__ import annotations

import numpy as np

from eureka.analyze.estimate import Training, describe_outcomes, estimate, split, verdict


def _trainings(values: list[float | None], roles: list[str]) -> list[Training]:
    return [Training(i, r, v) for i, (v, r) in enumerate(zip(values, roles, strict=True))]


def test_a_bimodal_outcome_is_said_in_words_and_its_interval_is_wide():
    vals = [0.9, 0.9, 0.0, 0.0, 0.0, 0.9, 0.9]
    roles = ["selection", "selection", "held_out", "held_out", "held_out", "final", "final"]
    est = estimate(_trainings(vals, roles))
    assert est.words == "4 of 7 trainings reached 0.9; 3 ended at 0"
    assert est.bimodal
    assert est.n_trainings == 7 and abs(est.mean - np.mean(vals)) < 1e-12
    lo, hi = est.ci
    assert lo < est.mean < hi and hi - lo > 0.3  # the interval shows the uncertainty of a 4:3 split
    d = est.to_dict()
    assert set(d) == {"mean", "ci", "n_trainings", "values"}  # the names scripts outside the repository read
    assert est.detail()["bimodal"] and est.detail()["by_role"] == {"selection": 2, "held_out": 3, "final": 2}
    assert d["values"][2] == {"seed": 2, "role": "held_out", "fitness": 0.0}


def test_equal_values_give_a_point_interval_and_no_split():
    est = estimate(_trainings([500.0] * 5, ["selection", "selection", "final", "final", "final"]))
    assert est.ci == (500.0, 500.0) and not est.bimodal
    assert est.words == "all 5 trainings at 500"


def test_spread_out_values_are_a_range_and_failures_are_counted():
    assert split([1.0, 2.0, 3.0, 4.0]) is None
    text = describe_outcomes([1.0, 2.0, 3.0, 4.0], failed=1)
    assert text.startswith("4 trainings between 1 and 4") and text.endswith("1 failed")
    assert estimate([Training(0, "final", None)]).mean is None


def test_verdict_tie_win_loss():
    # overlapping: the interval of P(chosen > env) contains 0.5
    tie = verdict([2.9, 1.2, 3.1], [2.5, 2.0, 2.8])
    assert tie.verdict == "tie" and tie.ci[0] <= 0.5 <= tie.ci[1]
    # equal everywhere (a solved cartpole against a solved baseline) is a tie, not a win
    assert verdict([500.0, 500.0, 500.0], [500.0, 500.0, 500.0]).verdict == "tie"
    win = verdict([10.0 + i for i in range(6)], [float(i) for i in range(6)])
    assert win.verdict == "win" and win.p == 1.0 and win.ci[0] > 0.5
    loss = verdict([float(i) for i in range(6)], [10.0 + i for i in range(6)])
    assert loss.verdict == "loss" and loss.ci[1] < 0.5
    none = verdict([1.0, 2.0], [])
    assert none.verdict is None and "baseline" in none.why
    assert "TIE" in tie.line() and "P(chosen > env reward)" in tie.line()


def test_two_final_seeds_are_too_few_to_call_a_win():
    v = verdict([0.9, 0.9], [0.6, 0.7])
    assert v.p == 1.0 and v.verdict == "tie" and "too few final trainings" in v.why


def test_the_vectorised_bootstraps_agree_with_the_rliable_style_ones():
    from eureka.analyze.estimate import bootstrap_mean, bootstrap_poi
    from eureka.analyze.stats import bootstrap_ci, probability_of_improvement

    x, y = [0.1, 0.5, 0.9, 0.95, 0.3, 0.0, 0.7], [0.4, 0.6, 0.2, 0.8]
    ref = bootstrap_ci(lambda v: float(np.mean(v)), [[v] for v in x], reps=4000)
    assert np.allclose(bootstrap_mean(x), ref, atol=0.05)
    ref = bootstrap_ci(probability_of_improvement, [[v] for v in x], [[v] for v in y], reps=4000)
    assert np.allclose(bootstrap_poi(x, y), ref, atol=0.08)
