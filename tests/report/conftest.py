"""One small real run (video on, two final seeds, both baselines) shared by the report tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["iterations=2", "samples=2", "trainer.total_timesteps=3000", "eval.episodes=3", "eval.seeds=[1,2]",
        "trainer.ppo.n_epochs=5", "video=true", "video_steps=100",
        # constant schedules: a policy saved with a lin_ schedule (a pickled closure) cannot be loaded by the
        # walled renderer today ("sandbox: 'code.__new__' is not allowed"), so it would have no video
        "trainer.ppo.learning_rate=0.001", "trainer.ppo.clip_range=0.2"]


def _env(out: Path) -> dict:
    root = str(Path(__file__).resolve().parents[2])  # this checkout, whatever is installed in the venv
    path = os.pathsep.join([root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    return {**os.environ, "EUREKA_CACHE_DIR": str(out.parent / "cache"), "COLUMNS": "160", "PYTHONPATH": path}


def real_run(out: Path, *extra: str) -> Path:
    """Run ``eureka`` with a tiny budget into ``out`` (the way a user does) and return ``out``. What it printed
    is kept beside it, in ``printed(out)``."""
    env = _env(out)
    proc = subprocess.run([sys.executable, "-m", "eureka.cli", *TINY, *extra, f"hydra.run.dir={out}"],
                          cwd=str(out.parent), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out.with_name(out.name + ".stdout").write_text(proc.stdout)
    out.with_name(out.name + ".stderr").write_text(proc.stderr)
    return out


def printed(out: Path) -> tuple[str, str]:
    """What the run into ``out`` printed: (stdout, stderr)."""
    return out.with_name(out.name + ".stdout").read_text(), out.with_name(out.name + ".stderr").read_text()


@pytest.fixture(scope="session")
def run_dir(offline_run: Path) -> Path:
    return offline_run
