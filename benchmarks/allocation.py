"""Allocation modes side by side: full training, successive halving, bandit (ORSO-style).

    python benchmarks/allocation.py                                  # cartpole, seeds 0,1, offline designer
    python benchmarks/allocation.py --task pendulum --seeds 0 -- trainer.total_timesteps=20000

Each (mode, seed) is one search with the same designer, seed and racing rules; only ``loop.allocation``
differs. Per mode it prints the search's env steps (first trainings + racing re-trainings), the best
reward's search fitness, and its final fitness re-trained on the final seeds (never search seeds):
"steps to reach the same final fitness" is read off as the steps of the cheaper mode whose final
fitness is within the others' spread.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import run_loop  # noqa: E402
from benchmarks.search_quality import final_seeds  # noqa: E402

MODES = {"full": ["loop.allocation=full"], "halving": ["loop.allocation=halving"],
         "bandit": ["loop.allocation=bandit"]}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = " ".join(["python benchmarks/allocation.py", *argv])
    overrides: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, overrides = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="cartpole")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--modes", default="full,halving,bandit")
    p.add_argument("--eval-seeds", type=int, default=3)
    args = p.parse_args(argv)
    rows = []
    for mode in args.modes.split(","):
        for seed in [int(s) for s in args.seeds.split(",")]:
            finals = final_seeds(seed, args.eval_seeds)
            ov = [f"task={args.task}", f"seed={seed}", f"eval.seeds=[{','.join(map(str, finals))}]",
                  "eval.baselines=false", "video=false", *MODES[mode], *overrides]
            t0 = time.time()
            s, _, run_dir = run_loop(ov)
            d = s.to_dict()
            finals = [v for v in d["final_eval"]["per_seed"].values() if v is not None]
            rows.append((mode, seed, d["search_env_steps"], d["best_fitness"], finals, time.time() - t0, run_dir))
            print(f"{mode:8s} seed {seed}: search steps {d['search_env_steps']:,}, best (search) "
                  f"{d['best_fitness']}, final {d['final_eval']['mean']} per seed {d['final_eval']['per_seed']} "
                  f"({time.time() - t0:.0f} s, {run_dir})",
                  flush=True)
    print("\n| mode | runs | search env steps (mean) | best, search (mean) | final fitness, all final seeds "
          "(mean ± std, n) | wall s |")
    print("|---|---|---|---|---|---|")
    for mode in args.modes.split(","):
        rs = [r for r in rows if r[0] == mode]
        fin = [v for r in rs for v in r[4]]
        best = [r[3] for r in rs if r[3] is not None]
        print(f"| {mode} | {len(rs)} | {np.mean([r[2] for r in rs]):,.0f} | "
              f"{np.mean(best) if best else float('nan'):.3g} | "
              f"{np.mean(fin) if fin else float('nan'):.3g} ± {np.std(fin) if fin else float('nan'):.2g} "
              f"(n={len(fin)}) | "
              f"{np.mean([r[5] for r in rs]):.0f} |")
    print(f"\ncommand: {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
