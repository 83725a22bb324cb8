"""Where a vector-backend training's time goes: the cost of one minibatch update, and the learning phase split.

    python benchmarks/update_cost.py [--tasks cartpole hopper] [--steps 40960] [--tree PATH ...]

Per task (its ``trainer.vector`` settings from ``conf/task/<task>.yaml``: network, minibatch size), in a fresh
child process on one thread:

- **update**: microseconds per minibatch update (the PPO loss, its written-out gradient and the Adam step),
  best of ``--repeat`` runs of ``--number`` updates on a random minibatch of the task's shape;
- **split**: one training of ``--steps`` env steps on the env reward, its learning phase split into the
  simulator's steps, the actor's sampling, the rollout's scoring and returns, the reward, and the update.

With several ``--tree`` (checkouts of other versions, e.g. ``git worktree add /tmp/old <rev>``) each task runs
in every tree, tree after tree, so the versions are compared side by side on the same machine.
"""

from __future__ import annotations

import argparse
import collections
import inspect
import json
import os
import subprocess
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def update_us(task: str, repeat: int, number: int) -> float:
    """Microseconds per minibatch update of ``task``'s vector policy (best of ``repeat`` x ``number``)."""
    import gymnasium as gym
    import numpy as np
    import torch

    from eureka import tasks
    from eureka.cli import compose_configs
    from eureka.config import typed
    from eureka.train.vector import grads
    from eureka.train.vector.policy import build
    from eureka.train.vector.ppo import PPO, PPOSettings

    torch.set_num_threads(1)
    torch.manual_seed(0)
    [cfg] = compose_configs([f"task={task}", "trainer.backend=vector"])
    tc = typed(cfg).trainer
    settings = PPOSettings.from_dict(dict(tc.vector))
    spec = tasks.make(task)
    env = spec.make_env()
    obs_dim = int(np.prod(env.observation_space.shape)) - int(spec.hidden_obs)
    space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), dtype=np.float32)
    policy = build(space, env.action_space, {"hidden": settings.hidden, "activation": settings.activation,
                                             "init_log_std": settings.init_log_std})
    env.close()
    ppo = PPO(policy, obs_dim, int(tc.num_envs), settings, torch.device("cpu"))
    rows = max(settings.num_steps * int(tc.num_envs) // settings.num_minibatches, 1)
    obs = torch.randn(rows, obs_dim)
    with torch.no_grad():
        actions = policy.sample(obs)
        logp, _ = policy.evaluate(obs, actions)
    act = grads.loss_actions(policy, actions)
    adv, ret, val = torch.randn(rows), torch.randn(rows), torch.randn(rows)
    extra = {"stats": False} if "stats" in inspect.signature(grads.loss_and_grads).parameters else {}
    s = settings

    def one() -> None:
        grads.loss_and_grads(policy, obs, act, logp, adv, ret, val, s.clip_coef, s.clip_vloss, s.ent_coef,
                             s.vf_coef, **extra)
        ppo.optimizer.step(s.max_grad_norm)

    for _ in range(200):
        one()
    return min(timeit.repeat(one, number=number, repeat=repeat)) / number * 1e6


def split(task: str, steps: int) -> dict[str, float]:
    """One training's learning phase on ``task``, seconds per part (``learn``: the whole of it)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import trainer_throughput  # this benchmark's neighbour: the training a search of ``task`` would run

    from eureka.reward import scorer
    from eureka.train.vector import ppo, trainer

    spent: collections.Counter[str] = collections.Counter()

    def timed(owner: object, name: str, part: str) -> None:
        fn = getattr(owner, name)

        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[part] += time.perf_counter() - t
        setattr(owner, name, wrapper)

    timed(ppo.PPO, "act", "sampling")
    timed(ppo.PPO, "compute_returns", "scoring + returns")
    timed(ppo.PPO, "update", "update")
    timed(scorer.RewardScorer, "flush", "reward")
    make_sim = trainer.make_sim

    def made(*args, **kwargs):
        sim = make_sim(*args, **kwargs)
        timed(sim, "step", "simulator")
        return sim
    trainer.make_sim = made
    result = trainer_throughput.child(task, "vector", steps, 0, [])
    out = {"learn": result["learn_s"], **spent}
    out["other"] = result["learn_s"] - sum(spent.values())
    return out


def run_child(tree: str, task: str, args: argparse.Namespace) -> dict:
    env = {**os.environ, "PYTHONPATH": tree}
    cmd = [sys.executable, __file__, "--child", task, "--steps", str(args.steps), "--repeat", str(args.repeat),
           "--number", str(args.number)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tree, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{task} in {tree}: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["cartpole", "hopper"])
    parser.add_argument("--steps", type=int, default=40960, help="env steps of the split's training")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--number", type=int, default=2000, help="updates per timed run")
    parser.add_argument("--tree", action="append", help="a checkout to run (repeatable; default: this one)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        us = update_us(args.child, args.repeat, args.number)
        print(json.dumps({"update_us": us, "split": split(args.child, args.steps)}))
        return
    trees = [str(Path(t).resolve()) for t in (args.tree or [str(ROOT)])]
    print(f"one thread; update: best of {args.repeat} x {args.number}; split: a training of {args.steps} steps")
    for task in args.tasks:
        for tree in trees:
            res = run_child(tree, task, args)
            parts = ", ".join(f"{k} {v:.2f}" for k, v in res["split"].items() if k != "learn")
            print(f"{task} [{tree}]: update {res['update_us']:.0f} us per minibatch; learning "
                  f"{res['split']['learn']:.2f} s = {parts} s", flush=True)


if __name__ == "__main__":
    main()
