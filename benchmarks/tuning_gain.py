"""What tuning gained on fresh seeds: each tuned reward of a run and its parent, re-trained side by side.

    python benchmarks/tuning_gain.py <run_dir> [--seeds 2000,2001,2002]

For every candidate of the run with a ``tuning`` record, the parent's reward and the tuned reward are
trained with the run's own trainer settings on seeds that neither the search nor the final evaluation used
(default 2000, 2001, 2002), and the script prints the constants before and after, the gain the search
measured on its own seeds, and the fitness of both on the fresh seeds (mean ± std, paired difference).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eureka.evolve import EurekaLoop  # noqa: E402
from eureka.evolve.summary import load_summary  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", nargs="?", help="a run with loop.tuning.enabled=true")
    p.add_argument("--seeds", default="2000,2001,2002")
    p.add_argument("--tiny", action="store_true", help="first run a tiny cartpole search with tuning (CI)")
    args = p.parse_args(argv)
    if args.tiny:
        from benchmarks._common import run_loop

        _, _, args.run_dir = run_loop(["task=cartpole", "iterations=1", "samples=2", "trainer.total_timesteps=512",
                                       "trainer.n_envs=2", "trainer.ppo.n_steps=64", "trainer.ppo.batch_size=64",
                                       "trainer.ppo.n_epochs=1", "eval.episodes=2", "eval.seeds=[1]",
                                       "eval.baselines=false", "video=false", "loop.tuning.enabled=true",
                                       "loop.tuning.trials=2", "loop.racing.enabled=false"])
    if not args.run_dir:
        p.error("give a run directory (or --tiny)")
    run = Path(args.run_dir)
    seeds = [int(s) for s in args.seeds.split(",")]
    summary = load_summary(run)
    if summary is None:
        p.error(f"{run}: no summary.json")
    cfg = OmegaConf.load(run / "config.yaml")
    tuned = [c for c in summary.candidates if c.tuning]
    if not tuned:
        print(f"{run}: no tuned candidate (loop.tuning.enabled=true?)")
        return 1
    used = set(summary.figures().search_seeds) | set(summary.final_seeds)
    if used & set(seeds):
        print(f"--seeds {seeds} overlap the run's search or final seeds {sorted(used)}")
        return 2
    out = Path(tempfile.mkdtemp(prefix="eureka-tuning-gain-"))
    loop = EurekaLoop(cfg, out, session=None)
    for child in tuned:
        parent = str(child.parent)
        specs = []
        for who in (parent, child.id):
            path = str(run / "candidates" / who / "reward.py")
            specs += [loop.spec(f"{who}_fresh{s}", "candidate", s, path, out / who / f"seed{s}") for s in seeds]
        results = {r.job_id: r.fitness for r in loop.executor.run(specs)}
        before = [results[f"{parent}_fresh{s}"] for s in seeds]
        after = [results[f"{child.id}_fresh{s}"] for s in seeds]
        t = child.tuning
        print(f"\n{child.id} (tuned from {parent}; {t.trials} trials, {t.steps:,} env steps, search seeds "
              f"{t.seeds}; gain there {t.gain:+.4g} on the racing statistic)")
        for c in t.constants:
            print(f"  {c.name:32s} {c.before:10.4g} -> {c.after:.4g}")
        ok = [(b, a) for b, a in zip(before, after, strict=True) if a is not None and b is not None]
        diff = [a - b for b, a in ok]
        print(f"  fresh seeds {seeds}: parent {_pm(before)}, tuned {_pm(after)}; paired gain "
              f"{np.mean(diff):+.4g} ± {np.std(diff):.3g}" if diff else "  a training failed")
    print(f"\ncommand: python benchmarks/tuning_gain.py {args.run_dir} --seeds {args.seeds}")
    loop.executor.shutdown()
    return 0


def _pm(v: list[float | None]) -> str:
    x = [a for a in v if a is not None]
    return f"{np.mean(x):.4g} ± {np.std(x):.3g} ({', '.join(f'{a:.4g}' for a in x)})" if x else "-"


if __name__ == "__main__":
    sys.exit(main())
