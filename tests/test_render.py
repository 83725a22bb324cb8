from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from eureka import tasks
from eureka.procs import run_in_child
from eureka.render import Caption, FrameWriter, record_video
from eureka.train import TrainSpec, run_training

SMALL = {"width": 96, "height": 96}


def body_fraction(frame: np.ndarray) -> float:
    """Share of a frame's pixels that show the robot: its geoms are warm (red > blue), floor and sky are not."""
    f = frame.astype(int)
    return float(((f[..., 0] - f[..., 2]) > 40).mean())


def _tiny_policy(tmp_path: Path, task: str, n_envs: int = 1) -> Path:
    out = tmp_path / "policy"
    result = run_training(TrainSpec(job_id="v", task=task, mode="env", total_timesteps=128, n_envs=n_envs,
                                    hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 1,
                                                 "learning_rate": 0.001, "clip_range": 0.2},
                                    normalize=task in ("hopper", "half_cheetah"), eval_episodes=1,
                                    out_dir=str(out), tensorboard=False))
    assert result.ok, result.failure
    return out


@pytest.mark.e2e  # a training, then a video
@pytest.mark.parametrize("task,n_envs", [("cartpole", 2), ("hopper", 1), ("catch", 2)])
def test_rollout_video_of_a_trained_policy(tmp_path, task, n_envs):
    out = _tiny_policy(tmp_path, task, n_envs)
    info = run_in_child(record_video, task, str(out), str(tmp_path / "rollout.mp4"), max_steps=40)
    path = Path(info["path"])
    assert path.stat().st_size > 1000 and info["frames"] >= 2
    reader = imageio.get_reader(path)
    frame = reader.get_data(0)
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 0
    reader.close()


def _pushed_clip(task_name: str, path: Path, camera: bool, frames: int = 30, speed: float = 10.0) -> tuple:
    """Render the task's env while its root is pushed forward at ``speed`` m/s (a fast runner, no training)."""
    task = tasks.make(task_name)
    kwargs = {**task.render_kwargs, **SMALL}
    if not camera:
        kwargs.pop("camera_name", None)  # Gymnasium's default free camera: what the videos used before
    env = task.make_env(render_mode="rgb_array", **kwargs)
    env.reset(seed=0)
    caption, writer = Caption("pushed"), None
    for i in range(frames):
        env.unwrapped.data.qvel[0] = speed
        env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        frame = caption(env.render(), i * env.unwrapped.dt)  # small frames come back enlarged
        writer = writer or FrameWriter(path, frame.shape, fps=20)
        writer.add(frame)
    x = float(env.unwrapped.data.qpos[0])
    writer.close()
    env.close()
    return x, [body_fraction(f) for f in imageio.mimread(path)]


@pytest.mark.parametrize("task", ["half_cheetah", "ant"])
def test_the_camera_follows_the_body_frame_by_frame(tmp_path, task):
    """A body that runs 10+ m stays in every frame of its clip; Gymnasium's default camera loses it."""
    x, seen = _pushed_clip(task, tmp_path / "track.mp4", camera=True)
    assert x > 10, x
    assert len(seen) == 30 and min(seen) > 0.01, [round(s, 3) for s in seen]
    _, before = _pushed_clip(task, tmp_path / "free.mp4", camera=False)
    assert sum(s < 0.002 for s in before) > len(before) // 2, [round(s, 3) for s in before]  # the test can fail


@pytest.mark.e2e  # a training, then a video
def test_half_cheetah_clip_of_a_trained_policy_frame_by_frame(tmp_path):
    """The clip the page shows: every frame shows the cheetah, and the caption (label and time) is burned in."""
    out = _tiny_policy(tmp_path, "half_cheetah")
    info = run_in_child(record_video, "half_cheetah", str(out), str(tmp_path / "rollout.mp4"), max_steps=30,
                        label="iter0_sample1  fitness 1.23")
    frames = imageio.mimread(info["path"])
    assert len(frames) == info["frames"] == 31
    seen = [body_fraction(f) for f in frames]
    assert min(seen) > 0.005, [round(s, 3) for s in seen]
    for f in (frames[0], frames[-1]):
        band = f[2:20, 2:60].astype(int)
        assert (band.max(axis=2) < 60).mean() > 0.5 and band.max() > 200  # dark band with white text
    assert not np.array_equal(frames[0][:20, :100], frames[-1][:20, :100])  # the time moves on


def test_caption_enlarges_small_frames_and_keeps_large_ones():
    small = Caption("catch  fitness 1")(np.zeros((96, 96, 3), np.uint8), 0.5)
    assert small.shape == (192, 192, 3) and small[:12, :40].max() > 200  # text on the band
    big = Caption("")(np.full((320, 320, 3), 90, np.uint8), 1.0)
    assert big.shape == (320, 320, 3) and big[200:, :].min() == 90  # only the corner changes


# catch, not hopper, for the gif: forked from this test process, which has made MuJoCo EGL contexts in earlier
# tests, a new offscreen context can deadlock in the child (seen once in the whole suite); a run's renderer is
# forked from a child that never rendered, and the MuJoCo path is covered by the video tests above.
@pytest.mark.parametrize("task,suffix", [("cartpole", "mp4"), ("catch", "gif")])
def test_the_renderer_jail_holds_only_what_it_needs(tmp_path, task, suffix, capfd, monkeypatch):
    """Python here lives under a 0700 home the jail's uid cannot read: nothing may be imported behind the walls.
    The job's output stays off the terminal, it holds no socket, and ffmpeg runs without capabilities, under
    seccomp, as the jail's uid."""
    import os
    import sys

    import pygame  # noqa: F401 - its hello line at import, to sys.stdout: pytest's, which the jail does not hold

    import eureka.render as render

    out = _tiny_policy(tmp_path, task)
    real = render._record

    def noisy(*args):  # what a jailed job might print: terminal escape sequences
        os.write(1, b"\x1b]0;pwned\x07\x1b[2J\n")
        os.write(2, b"\x1b[31mjailed stderr\x1b[0m\n")
        return real(*args)

    monkeypatch.setattr(render, "_record", noisy)
    capfd.readouterr()
    info = record_video(task, str(out), str(tmp_path / f"rollout.{suffix}"), max_steps=20)
    printed = capfd.readouterr()
    assert "\x1b" not in printed.out + printed.err, printed
    assert Path(info["path"]).stat().st_size > 1000 and info["frames"] >= 2
    assert info["late_imports"] == [], info["late_imports"]  # each would fail where Python is unreadable
    assert not [d for d in info["descriptors"] if "socket" in d], info["descriptors"]
    if suffix == "mp4":
        assert info["helper"]["CapEff"] == "0000000000000000" and info["helper"]["Seccomp"] == "2", info["helper"]
        assert info["helper"]["NoNewPrivs"] == "1"
        if os.geteuid() == 0:
            assert int(info["helper"]["Uid"]) >= 400_000  # the jail's own uid, not root
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy", f"rollout.{suffix}"]  # its own dir is gone
    python_home = Path(os.path.realpath(sys.executable)).parents[2]
    if os.geteuid() == 0 and any(p.stat().st_mode & 0o005 == 0 for p in [python_home, *python_home.parents][:-1]):
        assert info["walls"] and "own-uid" in info["walls"]  # so the test ran where the jail cannot read Python
