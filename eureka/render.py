"""Rollout videos of a trained policy (MP4 via imageio-ffmpeg, or GIF).

Headless: MuJoCo renders offscreen with ``MUJOCO_GL=egl`` (the default set
here; ``osmesa`` also works with Debian's libosmesa6); classic-control envs
render with rgb_array (pygame, no display needed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame (classic control) renders off-screen, no XDG_RUNTIME_DIR

import numpy as np  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

from eureka import tasks  # noqa: E402
from eureka.config import ALGOS, EurekaConfig  # noqa: E402
from eureka.reward.wrapper import RewardWrapper  # noqa: E402
from eureka.train.runner import load_model  # noqa: E402


def record_video(task_name: str, policy_dir: str | Path, out_path: str | Path, algo: str = "ppo",
                 max_steps: int = 300, fps: int = 30, seed: int = 0, walled: bool = True) -> dict:
    """Roll out the deterministic policy once and save the frames; return what was recorded.

    The policy and its VecNormalize statistics were written by a training process that ran
    candidate code, and both are pickles: they are read as bytes first, then the walls go
    up (``eureka.sandbox.walls``, renderer profile), then they are unpickled. The MP4
    encoder (an ffmpeg process) is started before the walls and only receives frames.
    Call it in a child process (``eureka.procs.run_in_child``) unless ``walled=False``.
    """
    import io
    import multiprocessing
    import pickle

    if walled and multiprocessing.parent_process() is None:
        raise RuntimeError("record_video puts up walls for good: call it through eureka.procs.run_in_child")
    task = tasks.make(task_name)
    policy_dir, out_path = Path(policy_dir), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    policy_bytes = (policy_dir / "policy.zip").read_bytes()
    norm_path = policy_dir / "vecnormalize.pkl"
    norm_bytes = norm_path.read_bytes() if norm_path.exists() else None

    def make():
        return Monitor(task.make_env(render_mode="rgb_array", **task.render_kwargs))

    base = DummyVecEnv([make])
    base.seed(seed)
    env = RewardWrapper(base, task, mode="env", info_components=False)
    obs = env.reset()
    first = np.asarray(base.envs[0].render(), dtype=np.uint8)
    writer = FrameWriter(out_path, first.shape, fps)
    walls: list[str] = []
    if walled:
        from eureka.sandbox.walls import WallSpec, apply_walls

        walls = apply_walls(WallSpec(kind="renderer", memory_mb=4096))
    model = load_model(algo, io.BytesIO(policy_bytes), device="cpu")
    if norm_bytes is not None:
        norm = pickle.loads(norm_bytes)
        norm.set_venv(env)
        norm.training, norm.norm_reward = False, False
        obs = norm.normalize_obs(obs)
        env = norm
    writer.add(first)
    frames, steps = 1, 0
    while steps < max_steps:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, dones, _ = env.step(action)
        steps += 1
        frame = base.envs[0].render()
        if frame is not None:
            writer.add(np.asarray(frame, dtype=np.uint8))
            frames += 1
        if dones[0]:
            break
    env.close()
    writer.close()
    return {"path": str(out_path), "frames": frames, "steps": steps, "walls": walls}


class FrameWriter:
    """MP4 (H.264 through an ffmpeg process) or GIF, by the suffix; the output is opened now (before walls)."""

    def __init__(self, out_path: Path, shape: tuple, fps: int = 30):
        self.gen = self.gif = None
        if out_path.suffix == ".gif":
            import imageio.v2 as imageio

            self._file = open(out_path, "wb")  # noqa: SIM115 - opened before the walls, closed in close()
            self.gif = imageio.get_writer(self._file, format="gif", mode="I", duration=1000 / fps, loop=0)
        else:
            import imageio_ffmpeg

            h, w = shape[0], shape[1]
            self.gen = imageio_ffmpeg.write_frames(str(out_path), (w, h), fps=fps, codec="libx264", quality=6,
                                                   macro_block_size=8, ffmpeg_log_level="error")
            self.gen.send(None)

    def add(self, frame: np.ndarray) -> None:
        if self.gen is not None:
            self.gen.send(np.ascontiguousarray(frame))
        elif self.gif is not None:
            self.gif.append_data(frame)

    def close(self) -> None:
        if self.gen is not None:
            self.gen.close()
        elif self.gif is not None:
            self.gif.close()
            self._file.close()


def record_videos(cfg: EurekaConfig, store: Any, cands: list, reporter: Any) -> list[dict]:
    """Save ``rollout.mp4`` for each candidate that has none yet (``video=false`` turns it off).

    Returns what the renderer reported for each video made (path, frames, walls).
    """
    from eureka.procs import run_in_child

    made: list[dict] = []
    if not cfg.video:
        return made
    for c in cands:
        d = store.candidate_dir(c.id)
        if (d / "rollout.mp4").exists() or not (d / "policy.zip").exists():
            continue
        try:
            info = run_in_child(record_video, cfg.task.name, str(d), str(d / "rollout.mp4"), cfg.trainer.algo,
                                cfg.video_steps, timeout=300)
            store.event("video", id=c.id, path=info["path"], frames=info["frames"])
            made.append(info)
        except RuntimeError as exc:
            (d / "rollout.mp4").unlink(missing_ok=True)  # a broken file would be shown, and never re-recorded
            reporter.message(f"no video for {c.id}: {exc}")
            store.event("video_failed", id=c.id, message=str(exc))
    return made


# -- what the page says about choices and notes ----------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """``eureka-render``: save a rollout video of a trained candidate."""
    import argparse

    parser = argparse.ArgumentParser(prog="eureka-render", description="Save a rollout video of a trained policy.")
    parser.add_argument("task", help="task name or path to a task file")
    parser.add_argument("policy_dir", help="directory with policy.zip (e.g. a run's candidates/iter0_sample0)")
    parser.add_argument("-o", "--out", default="rollout.mp4", help="output .mp4 or .gif")
    parser.add_argument("--algo", default="ppo", choices=sorted(ALGOS))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args(argv)
    from eureka.procs import run_in_child

    info = run_in_child(record_video, args.task, str(Path(args.policy_dir).resolve()),
                        str(Path(args.out).resolve()), args.algo, args.steps, args.fps, timeout=600)
    print(f"wrote {info['path']} ({info['frames']} frames)")


if __name__ == "__main__":
    main()
