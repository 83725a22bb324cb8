"""A frame strip of a rollout clip: train a policy briefly, record its video, tile N evenly spaced frames.

    .venv/bin/python benchmarks/video_strip.py half_cheetah --steps 60000 --out docs/half-cheetah-strip.png

The clip is the one a preference session shows (``eureka.render.record_video``: the task's tracking
camera, the caption with label and simulated time); the strip lets a reader check that the body stays
in view for the whole clip. It also prints, per tiled frame, the share of pixels that show the robot.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import imageio.v2 as imageio
import numpy as np

from eureka.procs import run_in_child
from eureka.render import record_video
from eureka.train import TrainSpec, run_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", nargs="?", default="half_cheetah")
    parser.add_argument("--steps", type=int, default=60_000, help="PPO env steps on the env's own reward")
    parser.add_argument("--video-steps", type=int, default=200)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=150, help="pixels per tiled frame")
    parser.add_argument("--out", default="docs/half-cheetah-strip.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy"
        result = run_training(TrainSpec(
            job_id="strip", task=args.task, mode="env", total_timesteps=args.steps, n_envs=4, normalize=True,
            hyperparams={"n_steps": 256, "batch_size": 256, "n_epochs": 10, "learning_rate": 0.0003,
                         "clip_range": 0.2, "policy_kwargs": {"log_std_init": -1.0}},
            eval_episodes=1, out_dir=str(policy), tensorboard=False))
        assert result.ok, result.failure
        fit = result.fitness
        info = run_in_child(record_video, args.task, str(policy), str(Path(tmp) / "clip.mp4"),
                            max_steps=args.video_steps, label=f"{args.task}   fitness {fit:.3g}", timeout=600)
        frames = imageio.mimread(info["path"], memtest=False)
    picks = np.linspace(0, len(frames) - 1, args.frames).round().astype(int)
    from PIL import Image

    tiles = [np.asarray(Image.fromarray(frames[i]).resize((args.size, args.size), Image.LANCZOS)) for i in picks]
    seen = [float((((f.astype(int)[..., 0] - f.astype(int)[..., 2]) > 40)).mean()) for f in (frames[i] for i in picks)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(tiles, axis=1)).save(out, optimize=True)
    print(f"{args.task}: fitness {fit:.3f} after {args.steps} steps; clip {len(frames)} frames; tiled frames {picks.tolist()}")
    print("robot pixels per tiled frame: " + ", ".join(f"{s:.3f}" for s in seen))
    print(f"wrote {out} ({out.stat().st_size // 1024} kB)")


if __name__ == "__main__":
    main()
