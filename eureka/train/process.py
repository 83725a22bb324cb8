"""What a training process does on every backend: pick its device, put up its jail's walls, end on a runaway
reward call, and write its result. ``eureka.train.runner`` (SB3) and ``eureka.train.vector.trainer`` use it."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from eureka.errors import TrainingCrash


def resolve_device(device: str) -> str:
    """``auto`` becomes ``cuda`` when ``torch.cuda.is_available()``, else ``cpu``; ``cuda`` (or ``cuda:<i>``, as the
    local executor places a training) without CUDA is a ``TrainingCrash``."""
    device = str(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.split(":", 1)[0] == "cuda" and not torch.cuda.is_available():
        raise TrainingCrash(f"trainer.device={device} but no CUDA device is available")
    return device


def new_result(spec: Any) -> dict[str, Any]:
    """A training's result before it runs: ``status`` ok, nothing measured yet (every backend fills the same keys)."""
    return {"job_id": spec.job_id, "spec": asdict(spec), "status": "ok", "error_class": None, "message": "",
            "fitness": None, "eval_fitness": [], "eval_lengths": [], "snapshots": [], "walls": []}


def put_up_walls(spec: Any, jail: Any) -> tuple[list[str], str | None]:
    """Lock the training's jail down; return its walls and the path to load the candidate from.

    Everything the training needs is imported and the env is built before this; the
    candidate's file is read now and loaded from the jail's scratch afterwards. The
    process works in its own directory (its working directory, its only writable one
    besides the scratch).
    """
    import torch.utils.tensorboard  # noqa: F401 - lazily imported by SB3's logger; import before the walls

    from eureka.reward.compiled import warm_up
    from eureka.sandbox.walls import capture_output

    code = Path(spec.reward_path).read_text() if spec.mode == "candidate" and spec.reward_path else None
    tmp = jail.scratch
    warm_up(tmp)
    device = resolve_device(spec.device)
    if device.split(":", 1)[0] == "cuda":
        # CUDA's context before the walls: the driver's libraries loaded and its device nodes opened now (as the
        # jail's user before it drops privileges), its address-space reservations counted before RLIMIT_AS
        torch.zeros(1, device=device)
    walls = jail.lock_down()
    capture_output(Path("output.log") if spec.out_dir else Path(tmp) / "output.log")
    path = None
    if code is not None:
        path = str(Path(tmp) / "reward.py")
        Path(path).write_text(code)
    return walls, path


def _finish(result: dict, out_dir: Path | None, t0: float, jailed: bool = False) -> dict:
    if result["fitness"] is not None and not math.isfinite(result["fitness"]):
        result["fitness"] = None
    result["wall_time_s"] = time.time() - t0
    if out_dir is not None and not jailed:  # a jail's fitness.json is written by the evaluator's side
        (out_dir / "fitness.json").write_text(json.dumps(
            {k: result.get(k) for k in ("status", "fitness", "eval_fitness", "eval_lengths", "error_class",
                                        "message", "steps", "wall_time_s", "walls")}, indent=2))
    return result


def _thread_ids() -> set[int]:
    """Native ids of this process's threads."""
    import os

    try:
        return {int(t) for t in os.listdir("/proc/self/task") if t.isdigit()}
    except OSError:
        return set()


def _aborter(spec: Any, result: dict, out_dir: Path | None, emit: Callable[[dict], None], t0: float):
    """What the watchdog does when a reward call overruns: report RewardTimeout and end the process."""
    import os

    from eureka.errors import RewardTimeout

    def abort(step: int, cpu_s: float, background: bool = False) -> None:
        if background:
            err = RewardTimeout(f"threads started by the reward used {cpu_s:.1f} CPU seconds outside its calls "
                                f"(by training step {step}); training stopped")
        else:
            err = RewardTimeout(f"one reward call used {cpu_s:.1f} CPU seconds at training step {step} (limit "
                                f"{spec.call_timeout_s:g} s per call, sandbox.call_timeout_s); training stopped")
        result.update(status="failed", fitness=None, **err.to_dict())
        try:
            emit({"result": _finish(result, out_dir, t0, jailed=True)})
        finally:
            os._exit(3)

    return abort
