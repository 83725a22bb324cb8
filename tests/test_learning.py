"""One real learning run: the default offline search on cartpole reaches the task's maximum."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_offline_cartpole_reaches_475(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "eureka.cli", "iterations=2", "samples=2", "eval.baselines=false",
                           "eval.seeds=[0,1]", f"hydra.run.dir={out}"], capture_output=True, text=True,
                          timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    # the search found a reward that reaches the maximum on the seeds that chose it ...
    assert summary["best_selection_fitness"] >= 475, summary["iterations"]
    # ... and it learns on seeds that played no part in choosing it (what the search reports as its fitness)
    held_out = summary["best_confirmed"]
    assert summary["best_fitness"] == held_out["mean"] >= 380, held_out
    # ... and so it does on the final seeds: the same estimate, on two fresh seeds. A searched cartpole reward
    # reaches 475 on ~half of its seeds at this budget (60 seeds of one, benchmarks/results/vector_backend.md,
    # stop 38), so one final training at 475 is a coin: the bar is the held-out one
    assert summary["final_eval"]["mean"] >= 380, summary["final_eval"]


@pytest.mark.slow
def test_the_vector_backend_learns_cartpole(tmp_path):
    """Batched PPO on EnvPool with the task's vector settings, the env's own reward, in-process: it learns to
    balance (a random policy survives ~22 steps)."""
    from eureka.cli import compose_configs
    from eureka.config import typed
    from eureka.train import run_training, train_spec

    [cfg] = compose_configs(["task=cartpole", "trainer.backend=vector", "trainer.total_timesteps=163840"])
    spec = train_spec(typed(cfg), job_id="v", mode="env", seed=0, out_dir=str(tmp_path / "v"), tensorboard=False)
    result = run_training(spec)
    assert result.ok, result.failure
    assert result.fitness >= 300, [s.fitness for s in result.snapshots]
