"""A sweep ends with one comparison across its runs: IQM and bootstrap intervals over runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from eureka.report.sweep import compare, iqm, stratified_bootstrap


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)
    assert iqm([0, 0, 10, 10, 1000, -1000, 10, 0]) == pytest.approx(5.0)  # outliers do not count
    rng = np.random.default_rng(0)
    for n in (4, 8, 12, 40):  # rliable's IQM is scipy's trim_mean(x, 0.25): the middle half of the sorted runs
        x = rng.normal(size=n)
        assert iqm(x) == pytest.approx(np.sort(x)[n // 4: 3 * n // 4].mean())
    assert iqm([1, 2, 3, 4, 100]) == pytest.approx((0.75 * 2 + 3 + 0.75 * 4) / 2.5)  # fractional ends weighted


def test_bootstrap_interval_holds_the_estimate_and_narrows_with_more_runs():
    rng = np.random.default_rng(1)
    few, many = rng.normal(10, 2, 5), rng.normal(10, 2, 80)
    lo, hi = stratified_bootstrap([few], iqm)
    assert lo <= iqm(few) <= hi
    lo2, hi2 = stratified_bootstrap([many], iqm)
    assert hi2 - lo2 < hi - lo
    # stratified: each group keeps its size in every resample (a constant group stays constant)
    lo3, hi3 = stratified_bootstrap([np.full(4, 3.0), np.full(4, 3.0)], iqm)
    assert lo3 == hi3 == 3.0


def write_run(root, name, seed, task, final, best):
    d = root / name
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text(f"- seed={seed}\n- task={task}\n")
    (d / "summary.json").write_text(json.dumps({"status": "completed", "search_seed": seed, "best_fitness": best,
                                                "final_eval": {"mean": final}, "human_normalized_score": None}))
    return d


def test_compare_groups_runs_that_differ_in_their_seed(tmp_path):
    runs = [write_run(tmp_path, f"{i}_{t}", s, t, f, f + 1) for i, (s, t, f) in enumerate(
        [(0, "cartpole", 100.0), (1, "cartpole", 200.0), (2, "cartpole", 300.0), (0, "pendulum", 0.5),
         (1, "pendulum", 0.7)])]
    out = compare(runs, reps=500)
    assert set(out["groups"]) == {"task=cartpole", "task=pendulum"}
    cp = out["groups"]["task=cartpole"]["final"]
    assert cp["n"] == 3 and cp["seeds"] == [0, 1, 2] and cp["iqm"] == pytest.approx(200.0)
    assert cp["ci"][0] <= 200.0 <= cp["ci"][1]
    assert out["aggregate"]["final"]["n"] == 5 and "hns" not in out["groups"]["task=cartpole"]


@pytest.mark.e2e  # a real eureka multirun
@pytest.mark.timeout(900)
def test_a_multirun_over_seeds_ends_with_one_comparison(tmp_path):
    sweep = tmp_path / "sweep"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    proc = subprocess.run(
        [sys.executable, "-m", "eureka.cli", "-m", "seed=0,1", "iterations=1", "samples=1",
         "trainer.total_timesteps=512", "trainer.n_envs=2", "eval.episodes=1", "eval.num_seeds=1",
         "eval.baselines=false", "video=false", "executor.max_workers=1", f"hydra.sweep.dir={sweep}"],
        capture_output=True, text=True, timeout=850, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((sweep / "sweep.json").read_text())
    assert len(result["runs"]) == 2 and {r["seed"] for r in result["runs"]} == {0, 1}
    group = result["groups"]["all runs"]
    assert group["final"]["n"] == 2 and group["final"]["ci"][0] <= group["final"]["iqm"] <= group["final"]["ci"][1]
    assert "IQM" in (sweep / "sweep.md").read_text() and (sweep / "comparison.html").is_file()
    assert "statistics over runs" in proc.stdout
