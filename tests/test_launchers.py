"""Hydra launchers for sweeps of whole experiments: a real submitit_local multirun, and the cluster configs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.timeout(600), pytest.mark.e2e]  # real eureka runs: make test, not test-fast
EUREKA = [sys.executable, "-m", "eureka.cli"]


def test_submitit_local_multirun(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = tmp_path / "sweep"
    proc = subprocess.run(EUREKA + ["-m", "hydra/launcher=submitit_local", "seed=0,1", "iterations=1", "samples=1",
                                    "trainer.total_timesteps=256", "trainer.n_envs=2", "eval.episodes=1",
                                    "eval.baselines=false", "eval.seeds=[5]", "video=false",
                                    f"hydra.sweep.dir={sweep}"],
                          capture_output=True, text=True, timeout=500, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summaries = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/summary.json"))]
    assert len(summaries) == 2 and all(s["status"] == "completed" for s in summaries)


@pytest.mark.parametrize("launcher,needle", [
    ("slurm", "hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
    ("ray_cluster", "hydra_ray_launcher.ray_launcher.RayLauncher"),
])
def test_cluster_launcher_configs_compose(tmp_path, launcher, needle):
    proc = subprocess.run(EUREKA + ["--cfg", "hydra", f"hydra/launcher={launcher}"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert needle in proc.stdout
