"""Successive halving vs full training of every candidate, same seeds, offline designer.

    python benchmarks/early_stop.py [--task hopper] [--iterations 2] [--samples 4] [--steps 200000]
    python benchmarks/early_stop.py --tiny      # cartpole, 1 iteration x 4 samples, 512 steps (CI)

Prints total env steps spent on the search and the best fitness for both settings
(loop.early_stop.enabled=false / true with eta 2, min_fraction 0.25).
"""

from __future__ import annotations

import argparse

from _common import TINY, TINY_STEPS, run_loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="a tiny cartpole run (checks that the script runs)")
    args = parser.parse_args()
    if args.tiny:
        args.task, args.iterations, args.samples, args.steps = "cartpole", 1, 4, TINY_STEPS
    base = [f"task={args.task}", f"iterations={args.iterations}", f"samples={args.samples}", f"seed={args.seed}",
            f"trainer.total_timesteps={args.steps}", "video=false", "eval.baselines=false", "eval.seeds=[0]",
            "trainer.tensorboard=false"] + (TINY if args.tiny else [])
    rows = []
    for enabled in (False, True):
        summary, wall, run_dir = run_loop(base + [f"loop.early_stop.enabled={str(enabled).lower()}"])
        fits = [c.fitness for c in summary.candidates if c.fitness is not None]
        fig, best = summary.figures(), summary.best
        final = summary.final.best.mean if summary.final else None
        rows.append((enabled, fig.search_env_steps, fig.best_fitness, best.id if best else None, final, wall,
                     len(fits), run_dir))
        print(f"early_stop={enabled}: search env steps {fig.search_env_steps:,}, best fitness "
              f"{fig.best_fitness:.3f} ({best.id if best else None}), re-trained best "
              f"{final:.3f}, wall {wall:.0f} s, run {run_dir}", flush=True)
    (_, full_steps, full_best, *_), (_, es_steps, es_best, *_) = rows
    print(f"\n{args.task}: {args.iterations} iterations x {args.samples} samples, {args.steps:,} steps per candidate")
    print(f"  env steps: full {full_steps:,}  successive halving {es_steps:,}  -> "
          f"{100 * (1 - es_steps / full_steps):.1f}% fewer")
    print(f"  best fitness: full {full_best:.3f}  successive halving {es_best:.3f}")


if __name__ == "__main__":
    main()
