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
from eureka.train.evaluator import (  # noqa: E402
    NORMALIZER,
    SETTINGS,
    WEIGHTS,
    normalizer_from_bytes,
    policy_from_bytes,
    read_saved,
    settings_from_bytes,
)


def record_video(task_name: str, policy_dir: str | Path, out_path: str | Path, algo: str = "ppo",
                 max_steps: int = 300, fps: int = 30, seed: int = 0, walled: bool = True,
                 hyperparams: dict | None = None, label: str = "") -> dict:
    """Roll out the deterministic policy once and save the frames; return what was recorded.

    Every frame carries ``label`` (e.g. the candidate and its fitness) and the simulated time, so a
    person comparing two clips knows which is which and where in the episode each one is.

    The policy was saved by a training that ran candidate code: only its weights
    (safetensors) and normalizer arrays are read, never a pickle, and the rollout runs in a
    jail of its own (``eureka.sandbox.jail``, renderer profile) unless ``walled=False``.
    The MP4 encoder (an ffmpeg process) is started before the walls and only receives
    frames. ``hyperparams`` give the policy's architecture (default: what the training
    saved beside the weights). Call it from a trusted child process
    (``eureka.procs.run_in_child``).
    """
    if not walled:
        return _record(task_name, policy_dir, out_path, algo, max_steps, fps, seed, hyperparams, label, None)
    import json

    from eureka.procs import death_cause, recv_json
    from eureka.sandbox.jail import JailSpec, spawn

    out_path = Path(out_path).resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    jail = spawn(JailSpec(kind="renderer", writable=[str(out_path.parent)], readable=[str(Path(policy_dir).resolve())],
                          memory_mb=4096, cpu_s=600, max_tasks=64),
                 _record_in_jail, task_name, str(Path(policy_dir).resolve()), out_path.name, algo, max_steps, fps,
                 seed, hyperparams, label)
    try:
        msg = recv_json(jail.conn) if jail.conn.poll(900) else None
    except (EOFError, OSError, json.JSONDecodeError):
        msg = None
    code = jail.wait(10)
    jail.kill()
    if not isinstance(msg, dict) or not msg.get("ok"):
        why = msg.get("error") if isinstance(msg, dict) else death_cause(code, "the renderer")
        raise RuntimeError(str(why)[:2000])
    info = msg["value"]
    return {"path": str(out_path), "frames": int(info.get("frames", 0)), "steps": int(info.get("steps", 0)),
            "walls": [str(w)[:40] for w in info.get("walls", [])][:24]}


def _record_in_jail(conn, jail, *args) -> None:
    from eureka.procs import send_json

    try:
        send_json(conn, {"ok": True, "value": _record(*args, jail)})
    except BaseException as exc:  # noqa: BLE001 - reported to the trusted side
        send_json(conn, {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]})


def _record(task_name: str, policy_dir: str | Path, out_path: str | Path, algo: str, max_steps: int, fps: int,
            seed: int, hyperparams: dict | None, label: str, jail) -> dict:
    """The rollout itself (in a jail when ``jail`` is given: it locks down before reading the policy)."""
    task = tasks.make(task_name)
    policy_dir, out_path = Path(policy_dir), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)

    def make():
        return Monitor(task.make_env(render_mode="rgb_array", **task.render_kwargs))

    base = DummyVecEnv([make])
    base.seed(seed)
    env = RewardWrapper(base, task, mode="env", info_components=False)
    obs = env.reset()
    dt = float(getattr(base.envs[0].unwrapped, "dt", 1.0 / fps))
    stamp = Caption(label)
    first = stamp(np.asarray(base.envs[0].render(), dtype=np.uint8), 0.0)
    writer = FrameWriter(out_path, first.shape, fps)
    saved = read_saved(policy_dir)  # bytes only (bounded, no links); parsed behind the walls
    walls: list[str] = []
    if jail is not None:
        walls = jail.lock_down()
    hp = settings_from_bytes(saved[SETTINGS]) if hyperparams is None else hyperparams
    policy = policy_from_bytes(algo, env.observation_space, env.action_space, hp, saved[WEIGHTS])
    norm = normalizer_from_bytes(saved[NORMALIZER], env.observation_space.shape)

    def observe(o: np.ndarray) -> np.ndarray:
        if norm is None:
            return o
        return np.clip((o - norm["mean"]) / np.sqrt(norm["var"] + norm["epsilon"]), -norm["clip_obs"],
                       norm["clip_obs"]).astype(np.float32)

    obs = observe(obs)
    writer.add(first)
    frames, steps = 1, 0
    while steps < max_steps:
        action, _ = policy.predict(obs, deterministic=True)
        obs, _, dones, _ = env.step(action)
        obs = observe(obs)
        steps += 1
        frame = base.envs[0].render()
        if frame is not None:
            writer.add(stamp(np.asarray(frame, dtype=np.uint8), steps * dt))
            frames += 1
        if dones[0]:
            break
    env.close()
    writer.close()
    return {"path": str(out_path), "frames": frames, "steps": steps, "walls": walls}


class Caption:
    """Burns a label and the simulated time into the top-left corner of a frame (white on a dark band)."""

    def __init__(self, label: str = ""):
        from PIL import ImageFont

        self.label = label
        try:
            self.font = ImageFont.load_default(size=11)  # Pillow's embedded font: no file read behind the walls
        except TypeError:  # Pillow < 10.1: the bitmap font, one size
            self.font = ImageFont.load_default()

    MIN_SIDE = 192  # smaller frames (e.g. the 96x96 catch game) are enlarged first, so the caption hides little

    def __call__(self, frame: np.ndarray, t: float) -> np.ndarray:
        from PIL import Image, ImageDraw

        frame = np.ascontiguousarray(frame[..., :3])
        k = -(-self.MIN_SIDE // max(1, min(frame.shape[:2])))
        if k > 1:  # nearest-neighbour: pixel art stays sharp
            frame = frame.repeat(k, axis=0).repeat(k, axis=1)
        img = Image.fromarray(frame)
        draw = ImageDraw.Draw(img)
        lines = [x for x in (self.label, f"t = {t:5.2f} s") if x]
        box = [draw.textbbox((0, 0), x, font=self.font) for x in lines]
        width = min(img.width, 8 + max(b[2] for b in box))
        height = 4 + sum(b[3] + 2 for b in box)
        draw.rectangle([0, 0, width, height], fill=(20, 20, 20))
        y = 2
        for text, b in zip(lines, box, strict=True):
            draw.text((4, y), text, fill=(255, 255, 255), font=self.font)
            y += b[3] + 2
        return np.asarray(img)


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
        if (d / "rollout.mp4").exists() or not (d / "policy.safetensors").exists():
            continue
        try:
            fit = "n/a" if c.fitness is None else f"{c.fitness:.3g}"
            info = run_in_child(record_video, cfg.task.name, str(d), str(d / "rollout.mp4"), cfg.trainer.algo,
                                cfg.video_steps, label=f"{c.id}   fitness {fit}", timeout=300)
            store.event("video", id=c.id, path=info["path"], frames=info["frames"])
            made.append(info)
        except RuntimeError as exc:
            (d / "rollout.mp4").unlink(missing_ok=True)  # a broken file would be shown, and never re-recorded
            reporter.message(f"no video for {c.id}: {exc}")
            store.event("video_failed", id=c.id, message=str(exc))
    return made


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
    parser.add_argument("--label", default="", help="text burned into every frame (e.g. the candidate's fitness)")
    args = parser.parse_args(argv)
    from eureka.procs import run_in_child

    info = run_in_child(record_video, args.task, str(Path(args.policy_dir).resolve()),
                        str(Path(args.out).resolve()), args.algo, args.steps, args.fps, label=args.label,
                        timeout=600)
    print(f"wrote {info['path']} ({info['frames']} frames)")


if __name__ == "__main__":
    main()
