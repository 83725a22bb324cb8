"""How long the default run (``make run``: ``eureka`` with no options) takes, and where its time goes.

    python benchmarks/run_time.py [--rounds 3] [--tree PATH ...] [-- overrides]

Runs ``python -m eureka.cli hydra.run.dir=<tmp> <overrides>`` with each tree's code (default: this checkout;
give another checkout, e.g. ``git worktree add /tmp/old <rev>``, to compare two versions side by side), tree
after tree within each round, so both see the same machine. Prints per run the command's seconds,
``summary.json``'s ``wall_time_s`` (the run itself, from its start to ``run_finished``), the number of trainings
and the phases read from ``events.jsonl``: before the first design (the checks, the critic's sandbox), the
search (designs, trainings, racing, videos), the confirmation on held-out seeds, and the final evaluation (the
best re-trained and the baselines); then the median of each tree and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


SEARCH_EVENTS = ("designed", "validated", "trained", "stopped_early", "raced", "preferences", "choices", "best",
                 "video", "video_failed", "target_reached", "tuned", "tuning_skipped")  # what the loop logs before it confirms


def phases(run_dir: Path) -> dict[str, float]:
    """Seconds of each phase of the run in ``run_dir`` (from its events)."""
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]
    start = events[0]["time"]
    designed = min((e["time"] for e in events if e["event"] == "designed"), default=start)
    search_end = max((e["time"] for e in events if e["event"] in SEARCH_EVENTS), default=designed)
    confirmed = max((e["time"] for e in events if e["event"] == "confirmed"), default=search_end)
    end = max((e["time"] for e in events if e["event"] == "run_finished"), default=events[-1]["time"])
    return {"start": designed - start, "search": search_end - designed, "confirm": confirmed - search_end,
            "final": end - confirmed}


def one_run(tree: Path, overrides: list[str]) -> dict:
    """Run the default search with ``tree``'s code once; its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "eureka.cli", f"hydra.run.dir={run_dir}", *overrides],
                             cwd=tree, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if out.returncode != 0:
            raise SystemExit(f"{tree}: eureka exited {out.returncode}:\n{out.stderr[-2000:]}")
        summary = json.loads((run_dir / "summary.json").read_text())
        trainings = sum(1 for line in (run_dir / "trainings.jsonl").read_text().splitlines() if line.strip())
        return {"seconds": seconds, "wall_time_s": float(summary.get("wall_time_s") or 0.0), "trainings": trainings,
                "best_fitness": summary.get("best_fitness"), **phases(run_dir)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tree", action="append", type=Path, help="a checkout whose code to time (repeatable; "
                    "default: this one)")
    ap.add_argument("overrides", nargs="*", help="after --: options for every run (e.g. task=pendulum)")
    args = ap.parse_args()
    trees = [t.resolve() for t in (args.tree or [ROOT])]
    times: dict[Path, list[float]] = {t: [] for t in trees}
    ratios: dict[Path, list[float]] = {t: [] for t in trees[1:]}
    for r in range(args.rounds):
        for tree in trees:
            f = one_run(tree, args.overrides)
            times[tree].append(f["seconds"])
            print(f"round {r + 1} {tree}: command {f['seconds']:.1f} s, wall_time_s {f['wall_time_s']:.1f} s, "
                  f"{f['trainings']} trainings, best {f['best_fitness']}; phases: start {f['start']:.1f} s, "
                  f"search {f['search']:.1f} s, confirmation {f['confirm']:.1f} s, final {f['final']:.1f} s",
                  flush=True)
        for tree in trees[1:]:
            ratios[tree].append(times[tree][-1] / times[trees[0]][-1])
    print()
    for tree in trees:
        line = f"{tree}: median command {statistics.median(times[tree]):.1f} s over {len(times[tree])} run(s)"
        if tree in ratios:
            line += f"; median per-round ratio to {trees[0]}: {statistics.median(ratios[tree]):.3f}"
        print(line)


if __name__ == "__main__":
    main()
