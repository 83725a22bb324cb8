"""Speedup of training 8 candidates on 1 vs 2 workers, with the local executor and with Ray.

    python benchmarks/parallel_speedup.py [--candidates 8] [--steps 8000] [--rounds 3]

Each variant trains the same candidates (cartpole, the offline designer's seed reward,
different seeds). The machine may be shared: the variants run side by side, interleaved
round by round (local x1, ray x1, local x2, ray x2, then again), and the report gives the
median of each and the median of the per-round ratios (a ratio within one round compares
runs a few seconds apart, so load from others cancels out more than between medians). The busy
share (the trainings' own time over workers x wall time) says what the executor itself adds,
independent of how many cores the machine's other users leave free.

Start-up is reported apart: one local Ray with 2 CPUs (``ray.init``) and its warm-up (each
Ray worker starts its forkserver with torch imported, as the local executor's forkserver is
started once before the local timings). "Ray x1" is the same Ray cluster with 2 CPUs per
task, so one training runs at a time. Every Ray result comes back through the object store
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
    executors = {"local x1": LocalExecutor(1), "local x2": LocalExecutor(2)}
    ray_ex = None
    if not args.no_ray:
        from eureka.train.ray_executor import RayExecutor

        t0 = time.perf_counter()
        ray_ex = RayExecutor(num_cpus=2, log_dir=root / "ray")
        init = time.perf_counter() - t0
        executors["ray x2"] = ray_ex
        executors["ray x1"] = RayExecutor(cpus_per_task=2)  # same cluster: one training at a time
        t0 = time.perf_counter()
        for ex in (executors["ray x2"], executors["ray x1"]):
            ex.warm_up(wait=True)
        warm = time.perf_counter() - t0
        print(f"ray start-up: ray.init {init:.1f} s, workers' warm-up {warm:.1f} s", flush=True)
    order = [k.strip() for k in args.variants.split(",") if k.strip() in executors]
    times: dict[str, list[float]] = {k: [] for k in order}
    inside: dict[str, list[float]] = {k: [] for k in order}
    for r in range(args.rounds):
        for name in order:
            tag = f"r{r}_{name.replace(' ', '')}_"
            total, one = timed(executors[name], specs(root, reward, args.candidates, args.steps, tag))
            times[name].append(total)
            inside[name].append(one)
            print(f"round {r + 1}: {name}: {total:.1f} s (one training inside its process: {one:.1f} s)", flush=True)
    if ray_ex is not None:
        ray_ex.shutdown()

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
