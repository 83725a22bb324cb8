"""Env steps per second of a whole training (simulation + reward + learning): vector backend vs SB3 PPO.

    python benchmarks/trainer_throughput.py [--tasks cartpole hopper half_cheetah] [--steps 100000] [--rounds 2]

Each backend trains with its own task settings (``conf/task/<task>.yaml``: ``trainer.ppo`` and ``n_envs``
for SB3, ``trainer.vector`` and ``num_envs`` for the vector backend), the env's own reward, the same
budget, one thread, each training in a fresh child process (same process conditions for both). The time
is the learning phase alone (``learn_time_s``: no imports, no evaluation). The backends alternate round by
round, and the ratio is the median of the per-round ratios (a ratio within one round compares runs a few
seconds apart, so load from other users cancels out). ``raw`` is the vector backend's simulator alone
(random actions, same number of envs and threads): the ceiling a trainer can reach.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def spec_for(task: str, backend: str, steps: int, seed: int, extra: list[str]):
    """The training a search of ``task`` would run on ``backend`` (its task settings), env reward."""
    from eureka.cli import compose_configs
    from eureka.config import typed
    from eureka.train import train_spec

    [cfg] = compose_configs([f"task={task}", f"trainer.backend={backend}", f"trainer.total_timesteps={steps}",
                             *extra])
    return train_spec(typed(cfg), job_id=f"{task}-{backend}", mode="env", seed=seed, out_dir=None,
                      tensorboard=False, eval_episodes=1)


def child(task: str, backend: str, steps: int, seed: int, extra: list[str]) -> dict:
    """One training in this process: its env steps and learning time."""
    from eureka.train import run_training

    spec = spec_for(task, backend, steps, seed, extra)
    result = run_training(spec)
    if not result.ok:
        raise SystemExit(f"{task}/{backend} failed: {result.message}")
    return {"steps": result.steps, "learn_s": result.learn_time_s,
            "envs": spec.num_envs if backend == "vector" else spec.n_envs}


def raw_rate(task: str, steps: int, extra: list[str]) -> float:
    """The vector backend's simulator alone, random actions: env steps per second."""
    import numpy as np

    from eureka import tasks
    from eureka.train.vector.sims import make_sim

    spec = spec_for(task, "vector", steps, 0, extra)
    sim = make_sim(tasks.make(task), spec.num_envs, 0, spec.sim, spec.sim_threads)
    rng = np.random.default_rng(0)
    space = sim.action_space
    sim.reset()
    n = spec.num_envs
    batches = [rng.integers(0, space.n, n) if hasattr(space, "n") else
               rng.uniform(space.low, space.high, (n, *space.shape)).astype(np.float32) for _ in range(16)]
    done, t0 = 0, time.perf_counter()
    while done < steps:
        sim.step(batches[(done // n) % 16])
        done += n
    rate = done / (time.perf_counter() - t0)
    sim.close()
    return rate


def run_child(task: str, backend: str, steps: int, seed: int, extra: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", task, backend, str(steps), str(seed), *extra],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{task}/{backend}: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["cartpole", "hopper", "half_cheetah"])
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per training")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="a few thousand steps (CI)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="config overrides for both backends, e.g. trainer.num_envs=32")
    args = parser.parse_args()
    if args.child:
        task, backend, steps, seed, *extra = args.child
        print(json.dumps(child(task, backend, int(steps), int(seed), extra)))
        return
    steps = 4096 if args.tiny else args.steps
    rounds = 1 if args.tiny else args.rounds
    print(f"env steps/s of a whole training (simulation + reward + learning), {steps} steps, {rounds} round(s)")
    rows = []
    for task in args.tasks:
        rates: dict[str, list[float]] = {"sb3": [], "vector": []}
        ratios, envs = [], {}
        for r in range(rounds):
            for backend in ("sb3", "vector") if r % 2 == 0 else ("vector", "sb3"):
                res = run_child(task, backend, steps, r, args.overrides)
                rates[backend].append(res["steps"] / res["learn_s"])
                envs[backend] = res["envs"]
            ratios.append(rates["vector"][-1] / rates["sb3"][-1])
        raw = raw_rate(task, steps, args.overrides)
        sb3, vec = statistics.median(rates["sb3"]), statistics.median(rates["vector"])
        rows.append((task, sb3, vec, statistics.median(ratios), raw))
        print(f"{task}: sb3 ({envs['sb3']} envs) {sb3:,.0f} steps/s, vector ({envs['vector']} envs) {vec:,.0f} "
              f"steps/s -> {statistics.median(ratios):.1f}x; raw simulator {raw:,.0f} steps/s "
              f"(vector training at {100 * vec / raw:.0f}% of it)", flush=True)
    print("\n| task | SB3 PPO steps/s | vector steps/s | ratio (median per round) | raw simulator steps/s |")
    print("|---|---|---|---|---|")
    for task, sb3, vec, ratio, raw in rows:
        print(f"| {task} | {sb3:,.0f} | {vec:,.0f} | {ratio:.1f}x | {raw:,.0f} |")


if __name__ == "__main__":
    main()
