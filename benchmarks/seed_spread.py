"""Seed spread: one reward trained on several seeds under config variants, side by side.

    python benchmarks/seed_spread.py --seeds 11-18 --variant trainer.normalize=true \\
        --variant trainer.normalize=false -- task=pendulum
    python benchmarks/seed_spread.py --reward path/to/reward.py --seeds 0-4 -- task=hopper
    python benchmarks/seed_spread.py --reward sparse --seeds 0,1,2 -- task=cartpole trainer.total_timesteps=20000

The reward is the env's own (``env``, default), the task fitness paid as a sparse reward (``sparse``), or a
reward file (a candidate's ``reward.py``, run in its jail like any candidate). Each ``--variant`` is a set of
overrides (space-separated) on top of the ones after ``--``; every variant trains on the same seeds, one
after the other in the same executor, so their figures are side by side. It prints, per variant, the fitness
on each seed, mean ± std, the IQM with its 95% bootstrap interval, and how many seeds reached ``--success``
(default: half the best value seen); with two variants or more, the probability that the last one beats the
first (a seed of each drawn at random), with its interval. Backends side by side, at one budget:

    python benchmarks/seed_spread.py --seeds 0-4 --variant trainer.backend=sb3 --variant trainer.backend=vector \\
        -- task=hopper

This is how a trainer setting is judged before it becomes a task's default: a setting that makes half the
trainings fail shows as a split, not as a lower mean.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import config  # noqa: E402
from eureka.analyze.stats import bootstrap_ci, iqm, probability_of_improvement  # noqa: E402
from eureka.evolve import EurekaLoop  # noqa: E402


def parse_seeds(text: str) -> list[int]:
    """``"11-18"`` or ``"0,1,2"`` (or both: ``"0,5-7"``) as a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return seeds


def train_variant(cfg, reward: str, seeds: list[int], out: Path) -> list[float | None]:
    """The fitness of ``reward`` trained on each seed under the composed config ``cfg`` (None: that training
    failed, and stderr says why)."""
    loop = EurekaLoop(cfg, out, session=None)
    mode, path = (reward, None) if reward in ("env", "sparse") else ("candidate", str(Path(reward).resolve()))
    try:
        specs = [loop.spec(f"{mode}_seed{s}", mode, s, path, out / f"seed{s}") for s in seeds]
        results = {r.job_id: r for r in loop.executor.run(specs)}
    finally:
        loop.executor.shutdown()
    fitness: list[float | None] = []
    for s in seeds:
        r = results.get(f"{mode}_seed{s}")
        if r is None or r.fitness is None:
            why = f"{r.error_class}: {r.message}" if r is not None and r.failure else "no result"
            print(f"  seed {s}: the training failed: {why}", file=sys.stderr)
        fitness.append(r.fitness if r is not None else None)
    return fitness


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reward", default="env", help="env, sparse, or a reward file")
    p.add_argument("--seeds", default="0-4", help="seeds: 0,1,2 or 11-18")
    p.add_argument("--variant", action="append", default=[],
                   help="overrides for one variant (space-separated); repeat for more (default: one, none)")
    p.add_argument("--success", type=float, default=None, help="a seed at or above this counts as a success")
    args = p.parse_args(argv[:cut])
    base = argv[cut + 1:]
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError:
        p.error(f"--seeds {args.seeds}: give seeds as 0,1,2 or 11-18")
    if args.reward not in ("env", "sparse") and not Path(args.reward).is_file():
        p.error(f"--reward {args.reward}: not env, sparse, or a reward file that exists")
    variants = args.variant or [""]
    configs = []
    for variant in variants:  # every variant's config is checked before any training
        try:
            configs.append(config([*base, *variant.split()]))
        except Exception as e:  # Hydra's composition errors: a wrong key or value, said in one line
            p.error(f"overrides {' '.join([*base, *variant.split()])}: {type(e).__name__}: {e}")
    out = Path(tempfile.mkdtemp(prefix="eureka-seed-spread-"))
    rows = []
    for k, (variant, cfg) in enumerate(zip(variants, configs, strict=True)):
        t0 = time.time()
        values = train_variant(cfg, args.reward, seeds, out / f"variant{k}")
        rows.append((variant or "(as configured)", values, time.time() - t0))
    done = [v for _, vals, _ in rows for v in vals if v is not None]
    success = args.success if args.success is not None else (max(done) / 2 if done and max(done) > 0 else None)
    print(f"reward {args.reward}, seeds {seeds}, base overrides {' '.join(base) or '(none)'}")
    for name, vals, wall in rows:
        ok = [v for v in vals if v is not None]
        per_seed = ", ".join("failed" if v is None else f"{v:.4g}" for v in vals)
        stats = f"{np.mean(ok):.4g} ± {np.std(ok):.3g}" if ok else "-"
        hits = f"; {sum(v >= success for v in ok)}/{len(vals)} seeds >= {success:.4g}" if success is not None else ""
        lo, hi = bootstrap_ci(iqm, [[v] for v in ok])
        robust = f"; IQM {iqm(ok):.4g} [{lo:.4g}, {hi:.4g}]" if ok and lo is not None else ""
        print(f"  {name}: {stats} (n={len(ok)}{hits}{robust}) per seed [{per_seed}] ({wall:.0f} s)")
    if len(rows) >= 2:  # the last variant against the first, seed against seed drawn at random
        first, last = ([v for v in vals if v is not None] for vals in (rows[0][1], rows[-1][1]))
        p_imp = probability_of_improvement(last, first)
        if p_imp is not None:
            lo, hi = bootstrap_ci(probability_of_improvement, [[v] for v in last], [[v] for v in first])
            print(f"  P({rows[-1][0]} > {rows[0][0]}) = {p_imp:.2f} [{lo:.2f}, {hi:.2f}] (95% bootstrap interval)")
    print(f"command: python benchmarks/seed_spread.py --reward {args.reward} --seeds {args.seeds} "
          + "".join(f"--variant '{v}' " for v in args.variant) + ("-- " + " ".join(base) if base else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
