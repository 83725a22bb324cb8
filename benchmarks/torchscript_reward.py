"""Does ``@torch.jit.script`` still pay for batched rewards on CPU? Scripted vs eager call time.

    python benchmarks/torchscript_reward.py [--batches 256 2048 16384] [--calls 300] [--rounds 5]

For each reward (the offline designer's seed rewards of cartpole and hopper, and an Eureka-style
hand-written humanoid reward with many small ops) and each batch size (rows per call: PPO scores a
whole rollout at once, ``n_steps x n_envs``, e.g. 32 x 8 = 256 for cartpole, 256 x 8 = 2048), prints
the CPU time per call of the eager function and of the same function through ``torch.jit.script``
(after warm-up calls: the profiling executor optimises on the first calls), on one thread as in a
training process. Rounds alternate scripted and eager, and the median round counts. CPU time
(``time.process_time``), so other load on the machine does not count.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

import torch

from eureka import tasks
from eureka.llm.offline import CodeWriter, seed_genome
from eureka.reward.compiled import strip_torchscript

HUMANOID = '''
import torch
from typing import Dict, Tuple

@torch.jit.script
def compute_reward(x_velocity: torch.Tensor, torso_height: torch.Tensor, torso_up: torch.Tensor,
                   qvel: torch.Tensor, actions: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    forward = 1.25 * torch.clamp(x_velocity, max=3.0)
    upright = torch.exp(-((1.0 - torso_up) ** 2) / 0.05)
    height = torch.where((torso_height > 1.0) & (torso_height < 2.0), torch.ones_like(torso_height),
                         torch.zeros_like(torso_height))
    spin = -0.01 * torch.linalg.vector_norm(qvel[:, 3:6], dim=-1)
    effort = -0.1 * torch.sum(actions ** 2, dim=-1)
    alive = 5.0 * torch.ones_like(x_velocity)
    reward = forward + upright + height + spin + effort + alive
    return reward, {"forward": forward, "upright": upright, "height": height, "spin": spin, "effort": effort,
                    "alive": alive}
'''


def _load(code: str, name: str, script: bool):
    """``compute_reward`` of ``code`` from a real file (TorchScript reads the source), decorated or eager."""
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(code)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    tree = ast.parse(code) if script else strip_torchscript(code, str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec(compile(tree, str(path), "exec"), module.__dict__)  # noqa: S102 - our own rewards
    return module.compute_reward


def _states(task: tasks.Task, n: int) -> dict[str, torch.Tensor]:
    out = {}
    for v in task.state_vars:
        dims = [d.strip() for d in v.shape.strip("[]").split(",")]
        out[v.name] = torch.randn(n, int(dims[1])) if len(dims) == 2 else torch.randn(n)
    return out


def _per_call_us(fn, kwargs: dict, calls: int) -> float:
    t0 = time.process_time()
    for _ in range(calls):
        fn(**kwargs)
    return (time.process_time() - t0) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 256, 2048, 16384])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = []
    for name in ("cartpole", "hopper"):
        task = tasks.make(name)
        cases.append((f"{name} (offline seed)", task, CodeWriter(task).code(seed_genome(task))))
    cases.append(("humanoid (hand-written)", tasks.make("humanoid"), HUMANOID))
    print(f"torch {torch.__version__}, 1 thread, CPU time per call (median of {args.rounds} rounds x "
          f"{args.calls} calls)")
    saved: list[tuple[int, float]] = []
    print(f"{'reward':<26}{'batch':>7}{'eager us':>10}{'scripted us':>13}{'scripted/eager':>16}")
    for i, (label, task, code) in enumerate(cases):
        eager = _load(code, f"bench_eager_{i}", False)
        t0 = time.process_time()
        scripted = _load(code, f"bench_scripted_{i}", True)
        kwargs = {p: v for p, v in _states(task, args.batches[0]).items() if p in eager.__code__.co_varnames}
        for _ in range(3):  # the profiling executor optimises the graph on the first calls
            scripted(**kwargs)
        compile_ms = (time.process_time() - t0) * 1e3
        assert isinstance(scripted, torch.jit.ScriptFunction) and not isinstance(eager, torch.jit.ScriptFunction)
        print(f"{label:<26}{'compile + 3 first calls:':>30} {compile_ms:.0f} ms CPU")
        for n in args.batches:
            kwargs = {p: v for p, v in _states(task, n).items() if p in eager.__code__.co_varnames}
            with torch.inference_mode():
                for _ in range(5):  # warm-up: the profiling executor specialises on the first calls
                    scripted(**kwargs), eager(**kwargs)
                e, s = [], []
                for _ in range(args.rounds):
                    s.append(_per_call_us(scripted, kwargs, args.calls))
                    e.append(_per_call_us(eager, kwargs, args.calls))
            me, ms = statistics.median(e), statistics.median(s)
            print(f"{label:<26}{n:>7}{me:>10.1f}{ms:>13.1f}{ms / me:>16.2f}")
            saved.append((n, me - ms))
    print("what compiling saves per training of 200k steps (one call per 'batch' rows; PPO: a rollout, SAC: a step):")
    for n, us in saved:
        print(f"  batch {n:>6}: {200_000 / n * us / 1e3:8.1f} ms CPU")


if __name__ == "__main__":
    main()
