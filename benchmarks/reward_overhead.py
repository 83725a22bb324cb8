"""PPO training speed with the compiled reward wrapper vs the env's own reward, interleaved.

    python benchmarks/reward_overhead.py [--task cartpole] [--steps 20000] [--rounds 3]

Prints steps per CPU second (``--clock wall``: per second) of: raw simulator with random actions (the ceiling), SB3 PPO on the
plain vector env (native), PPO through RewardWrapper in env mode, and PPO through
RewardWrapper with a compiled (TorchScript) candidate reward; rounds interleave the
variants so machine noise hits them alike, and each PPO run has a fresh child process of its own;
the ratio walled/native is the figure.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _variant import ppo_kwargs, variant_speed

from eureka import tasks
from eureka.llm.offline import CodeWriter, seed_genome
from eureka.procs import run_in_child
from eureka.reward import make_vec_env

CLOCK = [time.process_time, "cpu"]  # steps per CPU second of the training process: robust to other load


def sim_speed(task, n_envs: int, steps: int) -> float:
    venv = make_vec_env(task, n_envs, 0)
    venv.reset()
    actions = [np.stack([venv.action_space.sample() for _ in range(n_envs)]) for _ in range(64)]
    t0 = time.perf_counter()
    for i in range(steps // n_envs):
        venv.step(actions[i % 64])
    return steps / (time.perf_counter() - t0)


def ppo_speed(task, variant: str, steps: int, reward_path: Path) -> float:
    """One variant's PPO speed, measured in a fresh child process (see ``_variant.py``)."""
    return float(run_in_child(variant_speed, task.name, variant, steps, str(reward_path), CLOCK[1], timeout=3600))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="cartpole")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--subproc", action="store_true", help="also time SubprocVecEnv with the compiled reward")
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
    results: dict[str, list[float]] = {"sim": [], "native": [], "wrapper_env": [], "ours": [], "ours_per_step": [],
                                       "watchdog": [], "walled": []}
    if args.subproc:
        results["ours_subproc"] = []
    for r in range(args.rounds):
        results["sim"].append(sim_speed(task, n_envs, args.steps))
        order = ["native", "ours", "walled", "watchdog", "wrapper_env", "ours_per_step"] if r % 2 == 0 else \
            ["walled", "ours", "native", "ours_per_step", "watchdog", "wrapper_env"]
        if args.subproc:
            order.append("ours_subproc")
        for variant in order:
            results[variant].append(ppo_speed(task, variant, args.steps, reward_path))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in results.items()), flush=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    ratios = [o / n for o, n in zip(results["ours"], results["native"], strict=True)]
    print(f"\n{args.task}: n_envs={n_envs}, {args.steps} steps per run, {args.rounds} interleaved rounds (median), "
          f"steps per {'CPU' if args.clock == 'cpu' else 'wall-clock'} second")
    print(f"  raw simulator (random actions):  {med['sim']:10.0f} steps/s")
    print(f"  PPO, env's own reward (native):  {med['native']:10.0f} steps/s")
    print(f"  PPO, wrapper passing env reward: {med['wrapper_env']:10.0f} steps/s")
    print(f"  PPO, compiled candidate reward:  {med['ours']:10.0f} steps/s  (one call per rollout, as in a run)")
    print(f"  same, one reward call per step:  {med['ours_per_step']:10.0f} steps/s")
    print(f"  same + reward-call watchdog:     {med['watchdog']:10.0f} steps/s")
    print(f"  same, walled child process:      {med['walled']:10.0f} steps/s  (walls + watchdog, as in a run)")
    if args.subproc:
        print(f"  same, SubprocVecEnv({n_envs}):     {med['ours_subproc']:10.0f} steps/s")
    print(f"  ratio ours/native: median {statistics.median(ratios):.3f} (per round: "
          + ", ".join(f"{x:.3f}" for x in ratios) + ")")
    walled = [w / n for w, n in zip(results["walled"], results["native"], strict=True)]
    dog = [w / o for w, o in zip(results["watchdog"], results["ours"], strict=True)]
    print(f"  ratio walled/native: median {statistics.median(walled):.3f} (per round: "
          + ", ".join(f"{x:.3f}" for x in walled) + ")")
    print(f"  ratio watchdog/ours (the watchdog's cost): median {statistics.median(dog):.3f}")


if __name__ == "__main__":
    main()
