"""The cost of issue 30's walls: the critic's warm check and a walled training, before and after, side by side.

    python benchmarks/jail_cost.py [--base REV] [--checks 15] [--steps 8192] [--repeat 2]

``--base`` (default: where this branch left ``main``) is checked out with ``git archive`` into a temp dir;
both trees are measured in fresh subprocesses, one after the other, on this machine. For the check: the
median and p90 wall-clock latency of ``Critic.check_code`` with a warm one-worker pool (a pause between
checks, as in a run, so each jail is prepared). For a training: cartpole PPO in its jail
(``LocalExecutor``), wall-clock seconds seen by the caller and by the job itself, best of ``--repeat``; and the
CPU cost of one look of the keeper's disk watch at that training's directory (it looks 4 times a second).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEASURE = r'''
import json, os, statistics, sys, tempfile, time
from pathlib import Path
from eureka import tasks
from eureka.critic import Critic, SandboxLimits, SandboxPool
from eureka.llm.offline import CodeWriter, Mutator, seed_genome
from eureka.reward import sample_states
from eureka.train import LocalExecutor, TrainSpec
import numpy as np

checks, steps, repeat = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
task = tasks.make("cartpole")
rng = np.random.default_rng(0)
writer, mutator, genome = CodeWriter(task), Mutator(task, rng), seed_genome(task)
codes = []
for _ in range(checks + 2):
    genome = mutator.perturb(genome, 0.3)
    codes.append(writer.code(genome))
with SandboxPool(SandboxLimits(workers=1)) as pool:
    pool.warm_up()
    critic = Critic(task.state_names, sample_states(task), pool)
    for code in codes[:2]:
        critic.check_code(code)
    lat = []
    for code in codes[2:]:
        time.sleep(0.3)
        t = time.perf_counter()
        assert critic.check_code(code).ok
        lat.append(1000 * (time.perf_counter() - t))
tmp = Path(tempfile.mkdtemp())
reward = tmp / "reward.py"
reward.write_text(codes[0])
walls, own, walk = [], [], None
for i in range(repeat):
    spec = TrainSpec(job_id=f"b{i}", task="cartpole", reward_path=str(reward), n_envs=2, total_timesteps=steps,
                     eval_episodes=2, out_dir=str(tmp / f"run{i}"))
    t = time.perf_counter()
    [r] = LocalExecutor(1, timeout_s=600).run([spec])
    walls.append(time.perf_counter() - t)
    assert r.ok, r.failure
    own.append(r.wall_time_s)
try:  # the keeper's new work: adding up a training's directory, 4 times a second
    from eureka.sandbox.jail import disk_usage
    t = time.process_time()
    for _ in range(200):
        disk_usage([str(tmp / "run0")], 20_000)
    walk = 1000 * (time.process_time() - t) / 200
except ImportError:
    pass
print(json.dumps({"check_median_ms": statistics.median(lat), "check_p90_ms": float(np.percentile(lat, 90)),
                  "training_wall_s": min(walls), "training_job_wall_s": min(own), "walk_ms": walk}))
'''


def measure(tree: Path, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", MEASURE, str(args.checks), str(args.steps), str(args.repeat)],
                         cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"measuring {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=None, help="the revision without the new walls (default: merge-base with main)")
    ap.add_argument("--checks", type=int, default=15)
    ap.add_argument("--steps", type=int, default=8192)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    base = args.base
    if base is None:
        found = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True)
        base = found.stdout.strip() if found.returncode == 0 else "HEAD"  # no main branch: the tree against itself
    with tempfile.TemporaryDirectory() as d:
        old = Path(d)
        archive = subprocess.run(["git", "archive", base], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        before = measure(old, args)
    after = measure(ROOT, args)
    print(f"{'':28s}{'before (' + base[:9] + ')':>22s}{'after (this tree)':>20s}")
    for key, label in (("check_median_ms", "critic warm check, median ms"), ("check_p90_ms", "critic warm check, p90 ms"),
                       ("training_wall_s", "training, wall s"), ("training_job_wall_s", "training, its own wall s")):
        print(f"{label:28s}{before[key]:22.1f}{after[key]:20.1f}")
    if after.get("walk_ms") is not None:
        print(f"{'disk walk of a training dir':28s}{'-':>22s}{after['walk_ms']:17.3f} ms (CPU, 4 per second)")
    print(f"(cartpole, {args.checks} checks, PPO {args.steps} steps with TensorBoard, best of {args.repeat}; "
          f"python benchmarks/jail_cost.py)")


if __name__ == "__main__":
    main()
