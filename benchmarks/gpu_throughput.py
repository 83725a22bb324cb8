"""Env steps per second on MuJoCo Warp (trainer.sim=warp): the simulation alone, and a whole training.

    python benchmarks/gpu_throughput.py [--tasks hopper half_cheetah] [--envs 1024 4096 16384] [--device auto]
    python benchmarks/gpu_throughput.py --tiny        # CPU, 16 envs, a few steps: what CI runs

For each task and env count, in this one process (Warp loads its kernels once per model; their first
compilation, ~30 s per model on a cold ~/.cache/warp, is timed apart as ``setup``):

- ``sim``: ``WarpSim.step`` alone with random actions already on the device (``--sim-steps`` batched steps
  after 3 warm-up steps; the device synchronized before the clock stops): env steps/s;
- ``train``: a whole training (``trainer.backend=vector trainer.sim=warp``, the task's settings from
  ``conf/task/<task>.yaml`` with ``trainer.num_envs``, ``--rollout`` steps per rollout and ``--rollouts``
  rollouts): simulation, a candidate reward (a small forward-velocity reward, called once per rollout on the
  device), policy, rollout buffer and PPO updates all on ``--device``; env steps/s of the learning phase
  (``learn_time_s``: no imports, no kernel loads, no evaluation).

``--device auto`` is ``cuda`` where torch sees a GPU, else ``cpu``. On one NVIDIA GPU, unchanged:

    python benchmarks/gpu_throughput.py --device cuda
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

REWARD = ("import torch\n"
          "def compute_reward(x_velocity: torch.Tensor, torso_height: torch.Tensor, actions: torch.Tensor):\n"
          "    forward = x_velocity\n"
          "    effort = -0.001 * (actions ** 2).sum(-1)\n"
          "    return forward + effort + 1.0, {'forward': forward, 'effort': effort}\n")


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def sim_rate(task_name: str, num_envs: int, steps: int, device: str) -> tuple[float, float]:
    """(setup seconds, env steps/s) of WarpSim alone with random actions on ``device``."""
    import torch

    from eureka import tasks
    from eureka.train.vector.warp_sim import WarpSim

    t0 = time.perf_counter()
    sim = WarpSim(tasks.make(task_name), num_envs, seed=0, device=device)
    sim.reset()
    sync(device)
    setup = time.perf_counter() - t0
    high = torch.as_tensor(sim.action_space.high, dtype=torch.float32, device=device)
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    actions = [(torch.rand((num_envs, high.numel()), generator=gen, device=device) * 2 - 1) * high
               for _ in range(8)]
    for i in range(3):
        sim.step(actions[i])
    sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        sim.step(actions[i % 8])
    sync(device)
    rate = steps * num_envs / (time.perf_counter() - t0)
    sim.close()
    return setup, rate


def train_rate(task_name: str, num_envs: int, rollout: int, rollouts: int, device: str, extra: list[str]
               ) -> tuple[float, dict]:
    """(env steps/s of the learning phase, the result dict) of one whole training on Warp."""
    from eureka.cli import compose_configs
    from eureka.config import typed
    from eureka.reward import compiled
    from eureka.train import train_spec
    from eureka.train.runner import run_training_raw

    compiled.TRUST_UNWALLED = True  # this process loads only the reward it wrote itself
    reward = Path(tempfile.mkdtemp(prefix="eureka-gpu-bench-")) / "reward.py"
    reward.write_text(REWARD)
    [cfg] = compose_configs([f"task={task_name}", "trainer.backend=vector", "trainer.sim=warp",
                             f"trainer.device={device}", f"trainer.num_envs={num_envs}",
                             f"trainer.gpu_num_envs={num_envs}",  # the batch on a GPU too
                             f"trainer.vector.num_steps={rollout}",
                             f"trainer.total_timesteps={num_envs * rollout * rollouts}", *extra])
    spec = train_spec(typed(cfg), job_id=f"{task_name}-{num_envs}", mode="candidate", reward_path=str(reward),
                      seed=0, out_dir=None, tensorboard=False, eval_episodes=1)
    result = run_training_raw(spec)
    if result["status"] != "ok":
        raise SystemExit(f"{task_name} x {num_envs}: training failed: {result['message']}")
    return result["steps"] / result["learn_time_s"], result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["hopper", "half_cheetah"])
    parser.add_argument("--envs", nargs="+", type=int, default=[1024, 4096, 16384])
    parser.add_argument("--device", default="auto", help="cuda | cpu | auto (cuda where torch sees a GPU)")
    parser.add_argument("--sim-steps", type=int, default=200, help="batched steps timed for the simulation alone")
    parser.add_argument("--rollout", type=int, default=32, help="steps per env per rollout (trainer.vector.num_steps)")
    parser.add_argument("--rollouts", type=int, default=10, help="rollouts per training")
    parser.add_argument("--tiny", action="store_true", help="CPU, 16 envs, a few steps (CI)")
    parser.add_argument("overrides", nargs="*", help="more trainer settings, e.g. trainer.vector.update_epochs=5")
    args = parser.parse_args(argv)
    if args.tiny:
        args.device, args.envs, args.sim_steps, args.rollout, args.rollouts = "cpu", [16], 4, 8, 2
        args.overrides = ["trainer.vector.update_epochs=1", "trainer.vector.num_minibatches=2", *args.overrides]
    import torch

    from eureka.train.vector.warp_sim import warp_installed

    if not warp_installed():
        raise SystemExit("MuJoCo Warp is not installed: pip install 'eureka-rl[warp]' (or pip install mujoco-warp)")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(f"device: {device} ({name}); torch {torch.__version__}")
    rows = []
    for task_name in args.tasks:
        for n in args.envs:
            setup, sim = sim_rate(task_name, n, args.sim_steps, device)
            train, result = train_rate(task_name, n, args.rollout, args.rollouts, device, args.overrides)
            print(f"{task_name} x {n} envs: sim {sim:,.0f} env steps/s, train {train:,.0f} env steps/s "
                  f"({result['steps']:,} steps in {result['learn_time_s']:.1f} s; setup {setup:.1f} s)", flush=True)
            rows.append((task_name, n, sim, train, setup))
    print(f"\n| task | envs | sim env steps/s | training env steps/s | setup s |  ({device}: {name})")
    print("|---|---|---|---|---|")
    for task_name, n, sim, train, setup in rows:
        print(f"| {task_name} | {n} | {sim:,.0f} | {train:,.0f} | {setup:.1f} |")


if __name__ == "__main__":
    main()
