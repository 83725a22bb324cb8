"""``executor=ray`` with a real local Ray (2 CPUs): same results as local, results come back through the
object store (the task trains in a node-local temp dir), retries a killed worker, prints nothing."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from eureka.train import LocalExecutor, TrainSpec

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.timeout(600), pytest.mark.e2e]  # real eureka runs: make test, not test-fast


@pytest.fixture(scope="module")
def ray_executor(tmp_path_factory):
    from eureka.train.ray_executor import RayExecutor

    ex = RayExecutor(num_cpus=2, max_retries=2, log_dir=tmp_path_factory.mktemp("run") / "ray")
    yield ex
    ex.shutdown()


def specs(tmp_path: Path, prefix: str, steps: int = 1024) -> list[TrainSpec]:
    reward = tmp_path / "reward.py"
    reward.write_text("import torch\n\ndef compute_reward(pole_angle, cart_position):\n"
                      "    return torch.cos(pole_angle) - 0.1 * cart_position.abs()\n")
    # 64-step rollouts, one epoch: SB3's defaults (2048 steps x 2 envs, 10 epochs) would train 4096 steps and
    # 640 minibatches per rollout, whatever the budget
    return [TrainSpec(job_id=f"c{i}", task="cartpole", reward_path=str(reward), total_timesteps=steps, n_envs=2,
                      hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 1},
                      eval_episodes=2, seed=i, tensorboard=False, out_dir=str(tmp_path / prefix / f"c{i}"))
            for i in range(2)]


def test_trainings_on_cuda_ask_ray_for_a_share_of_a_gpu(ray_executor):
    """executor.per_gpu: num_gpus=1/per_gpu per training on cuda (Ray then places it on a GPU node); none on the
    CPU, nor for trainer.device=auto on this cluster without GPUs."""
    from eureka.train.ray_executor import RayExecutor

    assert ray_executor.resources == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert RayExecutor(device="cuda", per_gpu=4).resources == {"num_cpus": 1.0, "num_gpus": 0.25}  # joins this Ray
    assert RayExecutor(device="cuda").resources["num_gpus"] == 1.0
    assert RayExecutor(device="auto", per_gpu=4).resources["num_gpus"] == 0.0


def test_ray_and_local_give_the_same_results(tmp_path, ray_executor):
    done = []
    on_ray = ray_executor.run(specs(tmp_path, "ray"), on_done=lambda job, r: done.append(job))
    local = LocalExecutor(2).run(specs(tmp_path, "local"))
    assert sorted(done) == ["c0", "c1"]
    for a, b in zip(on_ray, local, strict=True):
        assert a.ok and b.ok, (a, b)
        assert a.fitness == b.fitness and a.eval_fitness == b.eval_fitness
        assert "seccomp" in a.walls and "landlock" in a.walls  # the same walls inside Ray workers
    for c in ("c0", "c1"):  # the training ran in a node-local temp dir; its files came back as bytes
        d = tmp_path / "ray" / c
        assert (d / "policy.zip").is_file() and (d / "metrics.jsonl").stat().st_size > 0
        assert (d / "fitness.json").is_file() and not (d / "reward.py").exists()
    assert set(ray_executor.nodes.values()) and "None" not in ray_executor.nodes.values()


def test_a_continued_training_gets_its_files_through_the_object_store(tmp_path, ray_executor):
    import dataclasses

    first = specs(tmp_path, "cont")[:1]
    a = ray_executor.run(first)[0]
    more = [dataclasses.replace(first[0], total_timesteps=2048, resume=True)]
    b = ray_executor.run(more)[0]
    assert a.ok and b.ok and b.steps > a.steps, (a, b)


def ray_task_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if b"ray::train_on_node" in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def test_a_killed_ray_worker_is_retried(tmp_path, ray_executor):
    killed = []

    def killer() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            metrics = glob.glob(os.path.join(tempfile.gettempdir(), "eureka-job-*", "out", "metrics.jsonl"))
            pids = ray_task_pids()
            if pids and any(os.path.getsize(m) > 0 for m in metrics if os.path.exists(m)):
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.2)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    results = ray_executor.run(specs(tmp_path, "ray", steps=20000))
    thread.join()
    assert killed, "no Ray worker was found to kill"
    assert all(r.ok for r in results), results


def test_ray_prints_nothing_and_logs_into_the_run_directory(tmp_path):
    code = ("from eureka.train.ray_executor import RayExecutor\n"
            f"ex = RayExecutor(num_cpus=1, log_dir={str(tmp_path / 'ray')!r})\n"
            "ex.shutdown()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "" and proc.stderr == "", (proc.stdout, proc.stderr)
    logs = tmp_path / "ray" / "logs"
    assert logs.is_dir() and any(p.name.startswith("raylet") for p in logs.iterdir())
