"""Speedup of training 8 candidates on 1 vs 2 workers, with the local executor and with Ray.

    python benchmarks/parallel_speedup.py [--candidates 8] [--steps 8000]

Each variant trains the same candidates (cartpole, the offline designer's seed reward,
different seeds). Ray's figures include its start-up, which is also printed apart.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from eureka import tasks
from eureka.llm.offline import CodeWriter, seed_genome
from eureka.train import LocalExecutor, TrainSpec


def specs(root: Path, reward: Path, n: int, steps: int, tag: str) -> list[TrainSpec]:
    return [TrainSpec(job_id=f"{tag}{i}", task="cartpole", reward_path=str(reward), total_timesteps=steps, n_envs=8,
                      eval_episodes=2, seed=i, tensorboard=False, out_dir=str(root / tag / str(i))) for i in range(n)]


def timed(make_executor, batch: list[TrainSpec]) -> tuple[float, float]:
    """(total wall time including start-up, start-up alone)."""
    t0 = time.perf_counter()
    ex = make_executor()
    started = time.perf_counter() - t0
    results = ex.run(batch)
    total = time.perf_counter() - t0
    ex.shutdown()
    assert all(r.ok for r in results), [str(r.failure) for r in results]
    return total, started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="eureka-speedup-"))
    reward = root / "reward.py"
    reward.write_text(CodeWriter(tasks.make("cartpole")).code(seed_genome(tasks.make("cartpole"))))
    rows = {}
    LocalExecutor(1).run(specs(root, reward, 1, 256, "warm"))  # start the forkserver once
    for workers in (1, 2):
        rows[f"local x{workers}"] = timed(lambda w=workers: LocalExecutor(w),
                                          specs(root, reward, args.candidates, args.steps, f"l{workers}_"))
        print(f"local, {workers} worker(s): {rows[f'local x{workers}'][0]:.1f} s", flush=True)
    if not args.no_ray:
        from eureka.train.ray_executor import RayExecutor

        for workers in (1, 2):
            rows[f"ray x{workers}"] = timed(lambda w=workers: RayExecutor(num_cpus=w),
                                            specs(root, reward, args.candidates, args.steps, f"r{workers}_"))
            print(f"ray, {workers} worker(s): {rows[f'ray x{workers}'][0]:.1f} s "
                  f"(start-up {rows[f'ray x{workers}'][1]:.1f} s)", flush=True)
    print(f"\n{args.candidates} candidates x {args.steps} steps (cartpole PPO, 8 envs each)")
    for kind in ("local", "ray"):
        if f"{kind} x1" not in rows:
            continue
        one, two = rows[f"{kind} x1"][0], rows[f"{kind} x2"][0]
        print(f"  {kind:5s}: 1 worker {one:6.1f} s, 2 workers {two:6.1f} s, speedup {one / two:.2f}x, "
              f"efficiency {one / two / 2:.0%}")


if __name__ == "__main__":
    main()
