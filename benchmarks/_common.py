"""Helpers shared by the benchmark scripts: compose the Hydra config and run the loop in-process."""

from __future__ import annotations

import tempfile
import time

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from eureka.evolve import EurekaLoop, Summary
from eureka.paths import conf_dir

# ``--tiny``: the smallest run that still goes through every stage (CI runs each benchmark this way, so none
# rots): TINY_STEPS steps per training, with these overrides.
TINY_STEPS = 512
TINY = ["trainer.n_envs=2", "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64", "trainer.ppo.n_epochs=1",
        "eval.episodes=2", "eval.seeds=[0]"]


def config(overrides: list[str], **merge):
    """The composed config for ``overrides`` (as on the command line), then ``merge`` on top."""
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose("config", overrides=overrides)
    return OmegaConf.merge(cfg, merge) if merge else cfg


def run_loop(overrides: list[str], **merge) -> tuple[Summary, float, str]:
    """Run one search; return (summary, wall seconds, run dir)."""
    run_dir = tempfile.mkdtemp(prefix="eureka-bench-")
    t0 = time.time()
    summary = EurekaLoop(config(overrides, **merge), run_dir).run()
    return summary, time.time() - t0, run_dir
