"""Rollout videos of a trained policy (MP4 via imageio-ffmpeg, or GIF).

Headless: MuJoCo renders offscreen with ``MUJOCO_GL=egl`` (the default set
here; ``osmesa`` also works with Debian's libosmesa6); classic-control envs
render with rgb_array (pygame, no display needed).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

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

    The jail writes into a fresh directory beside ``out_path`` (the only one handed to it), its
    output (ffmpeg's included) goes to a capped log there, never to the terminal, and the video is
    moved into place only when it is a regular file.
    """
    if not walled:
        return _record(task_name, policy_dir, out_path, algo, max_steps, fps, seed, hyperparams, label, None)
    import json
    import shutil
    import stat
    import tempfile

    from eureka.procs import death_cause, recv_json
    from eureka.sandbox.jail import JailSpec, spawn

    out_path = Path(out_path).resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    own = Path(tempfile.mkdtemp(prefix=".eureka-render-", dir=out_path.parent))
    try:
        jail = spawn(JailSpec(kind="renderer", writable=[str(own)], readable=[str(Path(policy_dir).resolve())],
                              memory_mb=4096, cpu_s=600, max_tasks=64, disk_mb=512),
                     _record_in_jail, task_name, str(Path(policy_dir).resolve()), out_path.name, algo,
                     max_steps, fps, seed, hyperparams, label, duplex=False)
        try:
            msg = recv_json(jail.conn) if jail.conn.poll(900) else None
        except (EOFError, OSError, json.JSONDecodeError):
            msg = None
        code = jail.wait(10)
        jail.kill()
        if not isinstance(msg, dict) or not msg.get("ok"):
            why = msg.get("error") if isinstance(msg, dict) else death_cause(code, "the renderer")
            raise RuntimeError(printable(str(why))[:2000])
        made = own / out_path.name
        if not stat.S_ISREG(made.lstat().st_mode):
            raise RuntimeError("the renderer left no regular file")
        made.replace(out_path)
    finally:
        shutil.rmtree(own, ignore_errors=True)
    info = msg["value"]
    helper = info.get("helper") if isinstance(info.get("helper"), dict) else {}
    return {"path": str(out_path), "frames": int(info.get("frames", 0)), "steps": int(info.get("steps", 0)),
            "walls": [str(w)[:40] for w in info.get("walls", [])][:24],
            "late_imports": [str(m)[:80] for m in info.get("late_imports", [])][:50],
            "descriptors": [str(d)[:40] for d in info.get("descriptors", [])][:64],
            "helper": {str(k)[:16]: str(v)[:40] for k, v in list(helper.items())[:8]}}


def printable(text: str) -> str:
    """``text`` without control characters (no escape sequence from a jail reaches the terminal)."""
    return "".join(c if c in "\n\t" or (c.isprintable() and c != "\x7f") else "?" for c in text)


def _record_in_jail(conn, jail, *args) -> None:
    from eureka.procs import send_json
    from eureka.sandbox.walls import capture_output

    capture_output("render.log", cap_bytes=64 * 1024)  # in its own directory (its cwd): never the terminal
    try:
        record: Callable[..., dict] = _record  # ``args`` are its arguments before ``jail``
        send_json(conn, {"ok": True, "value": record(*args, jail)})
    except BaseException as exc:  # noqa: BLE001 - reported to the trusted side
        import traceback

        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        at = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
        send_json(conn, {"ok": False, "error": f"{type(exc).__name__}: {exc}{at}"[:2000]})


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
    if jail is not None:  # everything the rollout imports, imported before the walls (see _warm_up)
        _warm_up(algo, env)
        base.envs[0].render()
        base.seed(seed)
    obs = env.reset()
    dt = float(getattr(base.envs[0].unwrapped, "dt", 1.0 / fps))
    stamp = Caption(label)
    first = stamp(np.asarray(base.envs[0].render(), dtype=np.uint8), 0.0)
    writer = FrameWriter(out_path, first.shape, fps, confine=jail is not None and _confine_helper(jail.uid))
    saved = read_saved(policy_dir)  # bytes only (bounded, no links); parsed behind the walls
    walls: list[str] = []
    if jail is not None:
        before = set(sys.modules)
        walls = jail.lock_down()
    hp = settings_from_bytes(saved[SETTINGS]) if hyperparams is None else hyperparams
    policy: Any = policy_from_bytes(algo, env.observation_space, env.action_space, hp, saved[WEIGHTS])  # has predict()
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
        obs = observe(cast(np.ndarray, obs))
        steps += 1
        frame = base.envs[0].render()
        if frame is not None:
            writer.add(stamp(np.asarray(frame, dtype=np.uint8), steps * dt))
            frames += 1
        if dones[0]:
            break
    env.close()
    info = {"path": str(out_path), "frames": frames, "steps": steps, "walls": walls, "helper": writer.helper}
    if jail is not None:  # what it needed behind the walls that was not loaded (fails where Python is unreadable)
        info["late_imports"] = sorted(m for m in set(sys.modules) - before
                                      if getattr(sys.modules[m], "__file__", None))
        info["descriptors"] = _descriptors()
    writer.close()
    return info


def _warm_up(algo: str, env) -> None:
    """Import what the rollout behind the walls needs, by doing it once with a policy of its own: read weights
    and a normalizer, predict, step (where the jail's uid cannot read Python's files, e.g. a pyenv under a 0700
    home, a module first imported behind the walls fails to load)."""
    import io

    from safetensors.torch import save

    from eureka.train.evaluator import build_policy

    policy: Any = build_policy(algo, env.observation_space, env.action_space, {})
    weights = save({k: v.contiguous() for k, v in policy.state_dict().items()})
    policy = policy_from_bytes(algo, env.observation_space, env.action_space, {}, weights)
    buf = io.BytesIO()
    shape = env.observation_space.shape
    np.savez(buf, mean=np.zeros(shape), var=np.ones(shape), count=np.asarray(1.0), clip_obs=np.asarray(10.0),
             epsilon=np.asarray(1e-8))
    normalizer_from_bytes(buf.getvalue(), shape)
    settings_from_bytes(b'{"hyperparams": {"policy_kwargs": {"activation_fn": "tanh"}}}')
    obs = env.reset()
    action, _ = policy.predict(obs, deterministic=True)
    env.step(action)
    if "pygame" in sys.modules:  # pygame.quit() (a classic-control env's close) imports pygame.freetype
        import importlib

        with contextlib.suppress(ImportError):
            importlib.import_module("pygame.freetype")


def _descriptors() -> list[str]:
    """What this process holds open, by kind (``socket``, ``pipe``, ``file``, ``anon_inode``...)."""
    out = []
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        out.append(f"{fd}:" + (target.split(":")[0] if ":" in target and not target.startswith("/") else "file"))
    return out


def _confine_helper(uid: int | None):
    """What a helper program (ffmpeg) does between fork and exec: its own process group, the jail's uid
    (as root: no capabilities left), no new privileges, and the jail's seccomp filter (exec allowed once)."""
    def confine() -> None:
        from eureka.sandbox.kernel import install_seccomp

        os.setpgrp()  # Ctrl-C in the terminal goes to the run, which ends the renderer
        if uid is not None and os.geteuid() == 0:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        install_seccomp(allow_exec=True)

    return confine


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
        y: float = 2
        for text, b in zip(lines, box, strict=True):
            draw.text((4, y), text, fill=(255, 255, 255), font=self.font)
            y += b[3] + 2
        return np.asarray(img)


class FrameWriter:
    """MP4 (H.264 through an ffmpeg process) or GIF, by the suffix; the output is opened now (before walls)."""

    def __init__(self, out_path: Path, shape: tuple, fps: int = 30, confine=None):
        """``confine``: run in ffmpeg's process between fork and exec (the renderer's jail drops its privileges
        and puts its seccomp filter on it there)."""
        self.gen = self.gif = None
        self.helper: dict[str, str] = {}
        if out_path.suffix == ".gif":
            import imageio.v2 as imageio

            self._file = open(out_path, "wb")  # noqa: SIM115 - opened before the walls, closed in close()
            self.gif = imageio.get_writer(self._file, format="gif", mode="I", duration=1000 / fps, loop=0)
        else:
            import imageio_ffmpeg

            h, w = shape[0], shape[1]
            self.gen = imageio_ffmpeg.write_frames(str(out_path), (w, h), fps=fps, codec="libx264", quality=6,
                                                   macro_block_size=8, ffmpeg_log_level="error")
            if confine:
                self._start_confined(confine)
            else:
                self.gen.send(None)

    def _start_confined(self, confine) -> None:
        """Start ffmpeg with ``confine`` as its pre-exec step (imageio-ffmpeg takes its Popen arguments from
        ``_popen_kwargs``), and note its uid, capabilities and seccomp mode."""
        import subprocess

        from imageio_ffmpeg import _io

        started: list[subprocess.Popen] = []
        real_kwargs, real_popen = _io._popen_kwargs, subprocess.Popen

        def popen(*args, **kwargs):
            started.append(real_popen(*args, **kwargs))
            return started[-1]

        _io._popen_kwargs = lambda prevent_sigint=False: {**real_kwargs(prevent_sigint), "preexec_fn": confine}
        subprocess.Popen = popen  # type: ignore[misc,assignment]
        try:
            assert self.gen is not None  # only an MP4 writer starts ffmpeg
            self.gen.send(None)
        finally:
            _io._popen_kwargs, subprocess.Popen = real_kwargs, real_popen  # type: ignore[misc]
        if started:
            try:
                status = Path(f"/proc/{started[-1].pid}/status").read_text().splitlines()  # [0]: a version probe
            except OSError:
                return
            for line in status:
                key, _, value = line.partition(":")
                if key in ("Uid", "CapEff", "CapPrm", "Seccomp", "NoNewPrivs"):
                    self.helper[key] = value.split()[0]

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
    parser.add_argument("policy_dir", help="directory with policy.safetensors (e.g. a run's candidates/iter0_sample0)")
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
