"""Speedup of training 8 candidates on 1 vs 2 workers, with the local executor and with Ray.

    python benchmarks/parallel_speedup.py [--candidates 8] [--steps 8000] [--rounds 3]

Each variant trains the same candidates (cartpole, the offline designer's seed reward,
different seeds). The machine may be shared: the variants run side by side, interleaved
round by round (local x1, ray x1, local x2, ray x2, then again), and the report gives the
median of each and the median of the per-round ratios (a ratio within one round compares
runs a few seconds apart, so load from others cancels out more than between medians). The busy
share (the trainings' own time over workers x wall time) says what the executor itself adds,
independent of how many cores the machine's other users leave free.

Start-up is reported apart: each Ray variant starts its own local Ray (``ray.init`` with 1 or
2 CPUs) and warms it up (each Ray worker starts its forkserver with torch imported, as the local
executor's forkserver is started once before the local timings); both are left out of the times.
(One shared Ray with ``cpus_per_task=2`` for "x1" made the x2 batches ~15% slower right after:
two scheduling classes on one small cluster.) Every Ray result comes back through the object store
(the trainings run in node-local temp dirs).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from eureka import tasks
from eureka.llm.offline import CodeWriter, seed_genome
from eureka.train import LocalExecutor, TrainSpec


def specs(root: Path, reward: Path, n: int, steps: int, tag: str) -> list[TrainSpec]:
    return [TrainSpec(job_id=f"{tag}{i}", task="cartpole", reward_path=str(reward), total_timesteps=steps, n_envs=8,
                      eval_episodes=2, seed=i, tensorboard=False, out_dir=str(root / tag / str(i))) for i in range(n)]


def timed(executor, batch: list[TrainSpec]) -> tuple[float, float]:
    """Wall time of training ``batch``, and the mean wall time one training spent in its own process."""
    t0 = time.perf_counter()
    results = executor.run(batch)
    elapsed = time.perf_counter() - t0
    assert all(r.ok for r in results), [str(r.failure) for r in results]
    return elapsed, statistics.mean(r.wall_time_s for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--variants", default="local x1,ray x1,local x2,ray x2",
                        help="which to run, side by side in this order (e.g. 'local x1,ray x1')")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="eureka-speedup-"))
    reward = root / "reward.py"
    reward.write_text(CodeWriter(tasks.make("cartpole")).code(seed_genome(tasks.make("cartpole"))))
    LocalExecutor(1).run(specs(root, reward, 1, 256, "warm"))  # start the forkserver once
    executors = {"local x1": lambda: LocalExecutor(1), "local x2": lambda: LocalExecutor(2)}
    startup: list[str] = []
    if not args.no_ray:
        from eureka.train.ray_executor import RayExecutor

        def ray_with(cpus: int):
            """A fresh local Ray of ``cpus`` CPUs, its workers warm (start-up timed apart)."""
            t0 = time.perf_counter()
            ex = RayExecutor(num_cpus=cpus, log_dir=root / "ray")
            init = time.perf_counter() - t0
            ex.warm_up(wait=True)
            startup.append(f"{cpus} CPU(s): ray.init {init:.1f} s + warm-up {time.perf_counter() - t0 - init:.1f} s")
            return ex

        executors["ray x1"] = lambda: ray_with(1)
        executors["ray x2"] = lambda: ray_with(2)
    order = [k.strip() for k in args.variants.split(",") if k.strip() in executors]
    times: dict[str, list[float]] = {k: [] for k in order}
    inside: dict[str, list[float]] = {k: [] for k in order}
    for r in range(args.rounds):
        for name in order:
            tag = f"r{r}_{name.replace(' ', '')}_"
            ex = executors[name]()
            total, one = timed(ex, specs(root, reward, args.candidates, args.steps, tag))
            ex.shutdown()
            times[name].append(total)
            inside[name].append(one)
            print(f"round {r + 1}: {name}: {total:.1f} s (one training inside its process: {one:.1f} s)", flush=True)
    if startup:
        print("ray start-up (not in the times):", "; ".join(startup))

    def ratio(a: str, b: str) -> str:
        per_round = [x / y for x, y in zip(times[a], times[b], strict=True)]
        return (f"{statistics.median(times[a]) / statistics.median(times[b]):.2f} (medians), "
                f"{statistics.median(per_round):.2f} (median of per-round ratios; "
                f"{', '.join(f'{x:.2f}' for x in per_round)})")

    print(f"\n{args.candidates} candidates x {args.steps} steps (cartpole PPO, 8 envs each), {args.rounds} rounds, "
          "median wall time:")
    for name in order:
        print(f"  {name:8s}: {statistics.median(times[name]):6.1f} s  ({', '.join(f'{t:.1f}' for t in times[name])}); "
              f"one training inside its process {statistics.median(inside[name]):.1f} s")
    print("  busy share (trainings' own time / (workers x wall time); 1.0 = the executor adds nothing, whatever "
          "the machine's load):")
    for name in order:
        workers = 2 if name.endswith("x2") else 1
        share = [args.candidates * one / (workers * total) for one, total in zip(inside[name], times[name], strict=True)]
        print(f"    {name:8s}: {statistics.median(share):.2f}")
    for label, a, b in (("local speedup x2/x1", "local x1", "local x2"), ("ray speedup x2/x1", "ray x1", "ray x2"),
                        ("one Ray worker / one local process", "ray x1", "local x1"),
                        ("two Ray workers / two local processes", "ray x2", "local x2")):
        if a in times and b in times:
            print(f"  {label}: {ratio(a, b)}")


if __name__ == "__main__":
    main()
