from pathlib import Path

import imageio.v2 as imageio
import pytest

from eureka.procs import run_in_child
from eureka.render import record_video
from eureka.train import TrainSpec, run_training


@pytest.mark.parametrize("task,n_envs", [("cartpole", 2), ("hopper", 1), ("catch", 2)])
def test_rollout_video_of_a_trained_policy(tmp_path, task, n_envs):
    out = tmp_path / "policy"
    result = run_training(TrainSpec(job_id="v", task=task, mode="env", total_timesteps=128, n_envs=n_envs,
                                    hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 1, "learning_rate": "lin_0.001",
                                                 "clip_range": "lin_0.2"},
                                    normalize=task == "hopper", eval_episodes=1, out_dir=str(out),
                                    tensorboard=False))
    assert result["status"] == "ok", result["message"]
    info = run_in_child(record_video, task, str(out), str(tmp_path / "rollout.mp4"), max_steps=40)
    path = Path(info["path"])
    assert path.stat().st_size > 1000 and info["frames"] >= 2
    reader = imageio.get_reader(path)
    frame = reader.get_data(0)
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 0
    reader.close()
