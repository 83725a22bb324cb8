"""How long the critic takes to check a candidate reward.

    python benchmarks/critic_latency.py [--task cartpole] [--workers 2] [--n 100]
    python benchmarks/critic_latency.py --tiny      # a few candidates (CI: the script still runs)

Prints the cold start of a sandbox pool (creating it and ``warm_up()``), the median
and p95 latency of ``Critic.check_code`` on one candidate with a warm pool (static
checks + sandboxed dry run), and the throughput of checking ``--n`` candidates: valid
ones written by the offline designer (distinct genomes, so every one is compiled
afresh) mixed with a few invalid ones, some rejected statically and some in the
sandbox (those recycle their worker). Throughput is measured both sequentially and
with one thread per worker.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from eureka import tasks
from eureka.critic import Critic, SandboxLimits, SandboxPool, check_static
from eureka.llm.offline import CodeWriter, Mutator, seed_genome
from eureka.reward import sample_states

INVALID_STATIC = [
    "import os\nimport torch\n\ndef compute_reward(pole_angle):\n    os.system('true')\n    return pole_angle\n",
    "import torch\n\ndef compute_reward(pole_tip):\n    return pole_tip\n",
    "import torch\n\ndef compute_reward(pole_angle):\n    return torch.save(pole_angle, 'x.pt')\n",
]
INVALID_SANDBOX = [
    "import torch\n\ndef compute_reward(pole_angle):\n    return pole_angle / 0.0\n",
    "import torch\n\ndef compute_reward(pole_angle):\n    return (pole_angle > 0).long()\n",
    "import torch\n\ndef compute_reward(pole_angle):\n    return pole_angle.unsqueeze(-1)\n",
]


def candidates(task, n: int, seed: int = 0) -> tuple[list[str], int]:
    """``n`` candidate codes (about 1 in 10 invalid) and how many of them are valid."""
    rng = np.random.default_rng(seed)
    writer, mutator = CodeWriter(task), Mutator(task, rng)
    invalid = INVALID_STATIC + INVALID_SANDBOX
    n_invalid = min(len(invalid), max(1, n // 10))
    genome = seed_genome(task)
    valid = []
    while len(valid) < n - n_invalid:
        genome = mutator.perturb(genome, 0.3)
        valid.append(writer.code(genome))
    codes = valid + invalid[:n_invalid]
    rng.shuffle(codes)
    return codes, len(valid)


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="cartpole")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--latency-samples", type=int, default=30)
    ap.add_argument("--pause", type=float, default=0.3, help="seconds between latency checks (jails get ready)")
    ap.add_argument("--tiny", action="store_true", help="a few candidates only (checks that the script runs)")
    args = ap.parse_args()
    if args.tiny:
        args.n, args.latency_samples = min(args.n, 12), min(args.latency_samples, 5)

    task = tasks.make(args.task)
    states = sample_states(task)
    limits = SandboxLimits(workers=args.workers)

    t0 = time.perf_counter()
    pool = SandboxPool(limits)
    pool.warm_up()
    cold = time.perf_counter() - t0
    walls = pool.walls
    try:
        t0 = time.perf_counter()
        extra = SandboxPool(SandboxLimits(workers=1))
        extra.warm_up()
        second = time.perf_counter() - t0
        extra.close()

        critic = Critic(task.state_names, states, pool)
        lat_codes, _ = candidates(task, args.latency_samples + 3, seed=1)
        lat_codes = [c for c in lat_codes if c not in INVALID_STATIC + INVALID_SANDBOX]
        for code in lat_codes[:3]:  # warm both workers' TorchScript caches
            critic.check_code(code)
        lat, call, back = [], [], []
        for code in lat_codes[3:]:
            time.sleep(args.pause)  # as in a run: a batch of answers, then the designer's time; jails are ready
            t = time.perf_counter()
            verdict = critic.check_code(code)
            lat.append(1000 * (time.perf_counter() - t))
            assert verdict.ok, verdict.feedback()
            call.append(float(verdict.check.call_ms or 0.0) if verdict.check else 0.0)
        for code in lat_codes[3:]:  # back to back: each check also waits for its jail to be prepared
            t = time.perf_counter()
            critic.check_code(code)
            back.append(1000 * (time.perf_counter() - t))
        static = []  # the static checks alone, CPU time of this process (other load does not move it)
        for code in lat_codes:
            t = time.process_time()
            check_static(code, task.state_names)
            static.append(1000 * (time.process_time() - t))

        codes, n_valid = candidates(task, args.n, seed=2)
        t = time.perf_counter()
        verdicts = [critic.check_code(c) for c in codes]
        seq = time.perf_counter() - t
        n_ok = sum(v.ok for v in verdicts)
        with ThreadPoolExecutor(args.workers) as ex:
            t = time.perf_counter()
            par_verdicts = list(ex.map(critic.check_code, codes))
            par = time.perf_counter() - t
        assert [v.ok for v in par_verdicts] == [v.ok for v in verdicts]
    finally:
        pool.close()

    print(f"critic latency on {args.task} ({len(next(iter(states.values())))} states, "
          f"{args.workers} workers, walls: {', '.join(walls)})")
    print(f"  cold start, first pool (forkserver + {args.workers} workers, warm_up): {cold:6.2f} s")
    print(f"  cold start, another pool (forkserver already up, 1 worker):    {second:6.2f} s")
    print(f"  check_code, warm pool (its jails prepared), {len(lat)} distinct valid candidates:")
    print(f"    median {statistics.median(lat):7.1f} ms   p95 {pct(lat, 95):7.1f} ms   "
          f"max {max(lat):7.1f} ms   (reward call itself: median {statistics.median(call):.2f} ms)")
    print(f"    back to back (each check waits for a fresh jail too): median {statistics.median(back):7.1f} ms   "
          f"p95 {pct(back, 95):7.1f} ms")
    print(f"    of which static checks: median {statistics.median(static):.2f} ms CPU")
    print(f"  throughput, {len(codes)} candidates ({n_valid} valid, {len(codes) - n_valid} invalid; "
          f"{n_ok} accepted):")
    print(f"    sequential:            {seq:6.2f} s   {len(codes) / seq:6.1f} candidates/s")
    print(f"    {args.workers} threads:             {par:6.2f} s   {len(codes) / par:6.1f} candidates/s")


if __name__ == "__main__":
    main()
