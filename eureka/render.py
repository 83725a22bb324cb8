"""Rollout videos of a trained policy (MP4 via imageio-ffmpeg, or GIF).

Headless: MuJoCo renders offscreen with ``MUJOCO_GL=egl`` (the default set
here; ``osmesa`` also works with Debian's libosmesa6); classic-control envs
render with rgb_array (pygame, no display needed).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame (classic control) renders off-screen, no XDG_RUNTIME_DIR

import numpy as np  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize  # noqa: E402

from eureka import tasks  # noqa: E402
from eureka.reward.wrapper import RewardWrapper  # noqa: E402
from eureka.train.runner import ALGOS  # noqa: E402


def load_policy(policy_dir: str | Path, algo: str = "ppo"):
    """Load ``policy.zip`` from a candidate (or baseline) directory."""
    return ALGOS[algo].load(str(Path(policy_dir) / "policy.zip"), device="cpu")


def record_video(task_name: str, policy_dir: str | Path, out_path: str | Path, algo: str = "ppo",
                 max_steps: int = 300, fps: int = 30, seed: int = 0) -> dict:
    """Roll out the deterministic policy once and save the frames; return what was recorded."""
    task = tasks.make(task_name)
    policy_dir, out_path = Path(policy_dir), Path(out_path)
    model = load_policy(policy_dir, algo)

    def make():
        return Monitor(task.make_env(render_mode="rgb_array", **task.render_kwargs))

    base = DummyVecEnv([make])
    base.seed(seed)
    env = RewardWrapper(base, task, mode="env", info_components=False)
    norm_path = policy_dir / "vecnormalize.pkl"
    if norm_path.exists():
        env = VecNormalize.load(str(norm_path), env)
        env.training, env.norm_reward = False, False
    obs = env.reset()
    frames = [base.envs[0].render()]
    steps = 0
    while steps < max_steps:
        action, _ = model.predict(obs, deterministic=True)
        obs, _, dones, _ = env.step(action)
        steps += 1
        frame = base.envs[0].render()
        if frame is not None:
            frames.append(frame)
        if dones[0]:
            break
    env.close()
    frames = [np.asarray(f, dtype=np.uint8) for f in frames if f is not None]
    write_frames(frames, out_path, fps)
    return {"path": str(out_path), "frames": len(frames), "steps": steps}


def write_frames(frames: list[np.ndarray], out_path: Path, fps: int = 30) -> None:
    """Write frames as MP4 (H.264 via imageio-ffmpeg) or GIF, by the file suffix."""
    import imageio.v2 as imageio

    out_path.parent.mkdir(parents=True, exist_ok=True)
    if out_path.suffix == ".gif":
        imageio.mimsave(out_path, frames, duration=1000 / fps, loop=0)
        return
    with imageio.get_writer(out_path, fps=fps, codec="libx264", quality=6, macro_block_size=8,
                            ffmpeg_log_level="error") as writer:
        for f in frames:
            writer.append_data(f)


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
    info = record_video(args.task, args.policy_dir, args.out, args.algo, args.steps, args.fps)
    print(f"wrote {info['path']} ({info['frames']} frames)")


if __name__ == "__main__":
    main()
