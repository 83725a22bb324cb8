"""Does selection by (scripted) preference find what selection by fitness finds?

    python benchmarks/preference_alignment.py [--tasks cartpole pendulum] [--noise 0 0.1 0.2]
    python benchmarks/preference_alignment.py --tiny     # cartpole, noise 0.1, 2 iterations x 2, 512 steps (CI)

For each task: one run with feedback=fitness, and one run per noise level with the
scripted teacher (prefers the higher fitness, wrong with probability `noise`) and
loop.selection=preference. Prints, per run, how often (over iterations) the population's
best by preference equals its best by fitness, and the final fitness of the selected reward.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _common import TINY, TINY_STEPS, run_loop

BUDGET = {"cartpole": 20_000, "pendulum": 40_000}


def agreement(run_dir: str) -> tuple[int, int]:
    """(iterations where the preference-best population member is the fitness-best, iterations)."""
    events = [json.loads(x) for x in (Path(run_dir) / "events.jsonl").read_text().splitlines()]
    fitness = {e["id"]: e["fitness"] for e in events if e["event"] == "trained" and e["fitness"] is not None}
    hits = total = 0
    for e in events:
        if e["event"] == "best" and e.get("population"):
            total += 1
            by_fitness = max(e["population"], key=lambda c: fitness.get(c, float("-inf")))
            hits += int(e["id"] == by_fitness or fitness.get(e["id"]) == fitness.get(by_fitness))
    return hits, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["cartpole", "pendulum"])
    parser.add_argument("--noise", nargs="+", type=float, default=[0.0, 0.1, 0.2])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--workers", type=int, default=0, help="parallel trainings (0 = one per core)")
    parser.add_argument("--tiny", action="store_true", help="a tiny cartpole run (checks that the script runs)")
    args = parser.parse_args()
    if args.tiny:
        args.tasks, args.noise, args.iterations, args.samples = ["cartpole"], [0.1], 2, 2
    results = []
    for task in args.tasks:
        base = [f"task={task}", f"iterations={args.iterations}", f"samples={args.samples}", "video=false",
                "eval.baselines=false", "eval.seeds=[0]", f"trainer.total_timesteps={TINY_STEPS if args.tiny else BUDGET.get(task, 30000)}",
                "trainer.tensorboard=false", f"executor.max_workers={args.workers}"] + (TINY if args.tiny else [])
        settings = [("fitness", base)] + [(f"scripted noise {n:g}", base + [
            "feedback=scripted", f"feedback.noise={n}", "loop.selection=preference"]) for n in args.noise]
        for label, overrides in settings:
            summary, wall, run_dir = run_loop(overrides)
            hits, total = agreement(run_dir)
            best, final = summary.figures().best_fitness, summary.final.best.mean if summary.final else None
            results.append((task, label, hits, total, best, final, wall))
            print(f"{task:9s} {label:20s} preference-best == fitness-best in {hits}/{total} iterations; "
                  f"selected fitness {best:.3f}; re-trained {final:.3f}; {wall:.0f} s", flush=True)
    print("\ntask      selection             agree   selected  re-trained")
    for task, label, hits, total, best, final, _ in results:
        print(f"{task:9s} {label:20s} {hits}/{total}     {best:8.3f}  {final:8.3f}")


if __name__ == "__main__":
    main()
