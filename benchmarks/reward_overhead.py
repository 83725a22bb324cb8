"""PPO training speed with the compiled reward wrapper vs the env's own reward, interleaved.

    python benchmarks/reward_overhead.py [--task cartpole] [--steps 20000] [--rounds 3]

Prints steps per CPU second (``--clock wall``: per second) of: raw simulator with random actions (the ceiling), SB3 PPO on the
plain vector env (native), PPO through RewardWrapper in env mode, and PPO through
RewardWrapper with a compiled (TorchScript) candidate reward. Each PPO run has a fresh child
process of its own. The figure, walled/native, comes from the two running at the same time, one per
core (swapped every round), so the machine's noise hits both alike; the breakdown variants run one
after the other. Also printed: the share of the walled run's CPU time spent in eureka's wrapper,
measured inside that run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from _variant import ppo_kwargs, variant_speed

from eureka import tasks
from eureka.llm.offline import CodeWriter, seed_genome
from eureka.procs import run_in_child
from eureka.reward import make_vec_env

PAIR = ("native", "walled")
CLOCK = [time.process_time, "cpu"]  # steps per CPU second of the training process: robust to other load


def sim_speed(task, n_envs: int, steps: int) -> float:
    venv = make_vec_env(task, n_envs, 0)
    venv.reset()
    actions = [np.stack([venv.action_space.sample() for _ in range(n_envs)]) for _ in range(64)]
    t0 = time.perf_counter()
    for i in range(steps // n_envs):
        venv.step(actions[i % 64])
    return steps / (time.perf_counter() - t0)


def ppo_speed(task, variant: str, steps: int, reward_path: Path, cpu: int | None = None) -> dict:
    """One variant's PPO speed and wrapper share, measured in a fresh child process (see ``_variant.py``).

    ``ours_subproc`` starts env processes of its own, which a (daemonic) supervised child may not: it runs in
    a fresh spawned process of a one-worker pool instead.
    """
    if variant == "ours_subproc":
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(variant_speed, task.name, variant, steps, str(reward_path), CLOCK[1], cpu).result()
    return run_in_child(variant_speed, task.name, variant, steps, str(reward_path), CLOCK[1], cpu, timeout=3600)


def side_by_side(task, steps: int, reward_path: Path, swap: bool) -> dict[str, dict]:
    """native and walled at the same time, one per core (swapped every other round), so that whatever
    else the machine does hits both alike; one after the other on a single core."""
    if len(os.sched_getaffinity(0)) < 2:
        return {v: ppo_speed(task, v, steps, reward_path) for v in PAIR}
    cpus = sorted(os.sched_getaffinity(0))[:2][::-1 if swap else 1]
    with ThreadPoolExecutor(2) as pool:
        futures = {v: pool.submit(ppo_speed, task, v, steps, reward_path, cpu) for v, cpu in zip(PAIR, cpus, strict=True)}
        return {v: f.result() for v, f in futures.items()}


def ratio_line(label: str, num: list[float], den: list[float]) -> str:
    ratios = [a / b for a, b in zip(num, den, strict=True)]
    return (f"  ratio {label}: median {statistics.median(ratios):.3f} (per round: "
            + ", ".join(f"{x:.3f}" for x in ratios) + ")")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cartpole")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--subproc", action="store_true", help="also time SubprocVecEnv with the compiled reward")
    parser.add_argument("--pair-only", action="store_true",
                        help="only native and walled side by side (many rounds in little time)")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="cpu: steps per CPU second of the training process (default; other load on the "
                             "machine does not move it); wall: steps per second of wall-clock time")
    args = parser.parse_args()
    CLOCK[:] = [time.process_time if args.clock == "cpu" else time.perf_counter, args.clock]
    torch.set_num_threads(1)
    task = tasks.make(args.task)
    n_envs, _, _ = ppo_kwargs(args.task)
    reward_path = Path(tempfile.mkdtemp()) / "reward.py"
    reward_path.write_text(CodeWriter(task).code(seed_genome(task)))
    results: dict[str, list[float]] = {"sim": [], "native": [], "walled": [], "wrapper_env": [], "ours": [],
                                       "ours_per_step": [], "watchdog": []}
    shares: dict[str, list[float]] = {"walled": [], "ours_per_step": []}
    if args.subproc:
        results["ours_subproc"] = []
    for r in range(args.rounds):
        results["sim"].append(sim_speed(task, n_envs, args.steps))
        outs = side_by_side(task, args.steps, reward_path, swap=r % 2 == 1)
        others = [] if args.pair_only else [v for v in results if v not in ("sim", *PAIR)]
        for variant in others if r % 2 == 0 else others[::-1]:
            outs[variant] = ppo_speed(task, variant, args.steps, reward_path)
        for variant, out in outs.items():
            results[variant].append(out["speed"])
            if variant in shares:
                shares[variant].append(out["share"])
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in results.items() if v)
              + f"; wrapper share of walled {shares['walled'][-1]:.2%}", flush=True)
    results = {k: v for k, v in results.items() if v}
    med = {k: statistics.median(v) for k, v in results.items()}
    best = {k: max(v) for k, v in results.items()}
    print(f"\n{args.task}: n_envs={n_envs}, {args.steps} steps per run, {args.rounds} rounds (median), "
          f"steps per {'CPU' if args.clock == 'cpu' else 'wall-clock'} second")
    print(f"  raw simulator (random actions):  {med['sim']:10.0f} steps/s")
    print(f"  PPO, env's own reward (native):  {med['native']:10.0f} steps/s  (native and walled side by side)")
    print(f"  same, walled candidate reward:   {med['walled']:10.0f} steps/s  (walls + watchdog, as in a run)")
    if not args.pair_only:
        print(f"  PPO, wrapper passing env reward: {med['wrapper_env']:10.0f} steps/s  (these four one after the other)")
        print(f"  PPO, compiled candidate reward:  {med['ours']:10.0f} steps/s  (one call per rollout, as in a run)")
        print(f"  same, one reward call per step:  {med['ours_per_step']:10.0f} steps/s")
        print(f"  same + reward-call watchdog:     {med['watchdog']:10.0f} steps/s")
    if args.subproc:
        print(f"  same, SubprocVecEnv({n_envs}):     {med['ours_subproc']:10.0f} steps/s")
    print(ratio_line("walled/native (side by side, the figure)", results["walled"], results["native"]))
    print(f"  best of {args.rounds} (least disturbed run of each): ratio walled/native "
          f"{best['walled'] / best['native']:.3f}")
    if not args.pair_only:
        print(ratio_line("ours/native", results["ours"], results["native"]))
        print(ratio_line("watchdog/ours (the watchdog's cost)", results["watchdog"], results["ours"]))
    walled_share = statistics.median(shares["walled"])
    per_step = "" if args.pair_only else \
        f"; with one reward call per step: {statistics.median(shares['ours_per_step']):.2%}"
    print(f"  CPU time of the walled run spent in eureka's wrapper (state, fitness, reward, checks), measured "
          f"inside the run: median {walled_share:.2%} (per round: " + ", ".join(f"{x:.2%}" for x in shares["walled"])
          + f"), i.e. walled/native ~ {1 - walled_share:.3f}{per_step}")


if __name__ == "__main__":
    main()
