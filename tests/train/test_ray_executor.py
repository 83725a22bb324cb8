"""``executor=ray`` with a real local Ray (2 CPUs): same results as local, retries a killed worker."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from eureka.train import LocalExecutor, TrainSpec

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def ray_executor():
    from eureka.train.ray_executor import RayExecutor

    ex = RayExecutor(num_cpus=2, max_retries=2)
    yield ex
    ex.shutdown()


def specs(tmp_path: Path, prefix: str, steps: int = 1024) -> list[TrainSpec]:
    reward = tmp_path / "reward.py"
    reward.write_text("import torch\n\ndef compute_reward(pole_angle, cart_position):\n"
                      "    return torch.cos(pole_angle) - 0.1 * cart_position.abs()\n")
    return [TrainSpec(job_id=f"c{i}", task="cartpole", reward_path=str(reward), total_timesteps=steps, n_envs=2,
                      eval_episodes=2, seed=i, tensorboard=False, out_dir=str(tmp_path / prefix / f"c{i}"))
            for i in range(2)]


def test_ray_and_local_give_the_same_results(tmp_path, ray_executor):
    done = []
    on_ray = ray_executor.run(specs(tmp_path, "ray"), on_done=lambda job, r: done.append(job))
    local = LocalExecutor(2).run(specs(tmp_path, "local"))
    assert sorted(done) == ["c0", "c1"]
    for a, b in zip(on_ray, local, strict=True):
        assert a["status"] == b["status"] == "ok", (a, b)
        assert a["fitness"] == b["fitness"] and a["eval_fitness"] == b["eval_fitness"]
        assert "seccomp" in a["walls"] and "landlock" in a["walls"]  # the same walls inside Ray workers
    assert (tmp_path / "ray" / "c0" / "policy.zip").is_file()


def ray_task_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if b"ray::train_in_walled_child" in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def test_a_killed_ray_worker_is_retried(tmp_path, ray_executor):
    killed = []

    def killer() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            metrics = list((tmp_path / "ray").glob("c*/metrics.jsonl"))
            pids = ray_task_pids()
            if pids and any(m.stat().st_size > 0 for m in metrics):
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.2)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    results = ray_executor.run(specs(tmp_path, "ray", steps=20000))
    thread.join()
    assert killed, "no Ray worker was found to kill"
    assert all(r["status"] == "ok" for r in results), results
