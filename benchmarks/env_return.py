"""The env reward's own episode return of trainings on it: how far a backend gets at a budget, in the units
published results use (rl-zoo3's SB3 PPO reaches a Hopper-v5 return of ~2,400 at 1,000,000 steps).

    python benchmarks/env_return.py --task hopper --steps 1000000 --seeds 0-2 [-- trainer.backend=vector ...]

Each seed is one training on the env's own reward through the executor (its own jail, as in a run), with the
task's settings and the overrides after ``--``; then its saved policy (weights and normalizer, as the
evaluator reads them) runs ``--episodes`` deterministic episodes in fresh Gymnasium envs, summing the env's
reward. It prints each seed's return, the IQM with its 95% bootstrap interval, the forward distance (the
task's fitness) and each training's wall time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import config  # noqa: E402
from benchmarks.seed_spread import parse_seeds  # noqa: E402
from eureka.analyze.stats import bootstrap_ci, iqm  # noqa: E402


def episode_returns(task_name: str, settings: dict, out_dir: Path, episodes: int, seed: int) -> list[float]:
    """The env's return of each deterministic episode of the policy saved in ``out_dir``."""
    import gymnasium as gym
    import torch

    from eureka import tasks
    from eureka.train import evaluator as ev

    task = tasks.make(task_name)
    env = task.make_env()
    hidden = int(task.hidden_obs)

    space = env.observation_space
    obs_space = gym.spaces.Box(space.low[hidden:], space.high[hidden:], dtype=space.dtype) if hidden else space
    saved = ev.read_saved(out_dir)
    policy = ev.policy_from_bytes("ppo", obs_space, env.action_space, settings, saved[ev.WEIGHTS])
    norm = ev.normalizer_from_bytes(saved[ev.NORMALIZER], obs_space.shape)
    out = []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + 10_000 + k)
        total, done = 0.0, False
        while not done:
            x = obs[hidden:]
            if norm is not None:
                x = np.clip((x - norm["mean"]) / np.sqrt(norm["var"] + norm["epsilon"]), -norm["clip_obs"],
                            norm["clip_obs"])
            with torch.no_grad():
                action, _ = policy.predict(np.asarray(x, dtype=np.float32)[None], deterministic=True)
            obs, reward, term, trunc, _ = env.step(action[0])
            total += float(reward)
            done = term or trunc
        out.append(total)
    env.close()
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="hopper")
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--seeds", default="0-2")
    p.add_argument("--episodes", type=int, default=5)
    args = p.parse_args(argv[:cut])
    overrides = [f"task={args.task}", f"trainer.total_timesteps={args.steps}", *argv[cut + 1:]]
    from eureka.evolve import EurekaLoop
    from eureka.train.runner import policy_settings

    out = Path(tempfile.mkdtemp(prefix="eureka-env-return-"))
    loop = EurekaLoop(config(overrides), out, session=None)
    seeds = parse_seeds(args.seeds)
    t0 = time.time()
    try:
        specs = [loop.spec(f"env_seed{s}", "env", s, None, out / f"seed{s}") for s in seeds]
        results = {r.job_id: r for r in loop.executor.run(specs)}
    finally:
        loop.executor.shutdown()
    wall = time.time() - t0
    returns, rows = [], []
    for s, spec in zip(seeds, specs, strict=True):
        r = results[spec.job_id]
        if not r.ok:
            print(f"  seed {s}: the training failed: {r.failure}", file=sys.stderr)
            continue
        ret = float(np.mean(episode_returns(args.task, policy_settings(spec), Path(spec.out_dir), args.episodes, s)))
        returns.append(ret)
        rows.append((s, ret, r.fitness, r.wall_time_s))
    print(f"{args.task}, env reward, {args.steps} steps, overrides {' '.join(argv[cut + 1:]) or '(task settings)'}")
    for s, ret, fit, w in rows:
        print(f"  seed {s}: return {ret:.0f}, fitness {fit:.3g}, training wall {w:.0f} s")
    if returns:
        lo, hi = bootstrap_ci(iqm, [[v] for v in returns])
        print(f"  IQM return {iqm(returns):.0f} [{lo:.0f}, {hi:.0f}] over {len(returns)} seed(s); all trainings "
              f"{wall:.0f} s wall")
    return 0 if returns else 1


if __name__ == "__main__":
    sys.exit(main())
