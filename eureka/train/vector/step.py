"""``SimStep``: what one batched step of a simulator hands the vectorized trainer (every sim returns it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Batch = Any  # np.ndarray; a torch.Tensor on the training's device from a sim with ``tensors = True`` (WarpSim)


@dataclass
class SimStep:
    """One batched step of ``N`` envs (numpy arrays, or torch tensors on the device for ``WarpSim``)."""

    obs: Batch  # [N, D] what the policy sees next (after a reset: the new episode's first observation)
    reward_obs: Batch  # [N, D] the state after this step as the reward sees it
    env_reward: Batch  # [N] the env's own reward
    terminated: Batch  # [N] bool
    truncated: Batch  # [N] bool (time limit)
    valid: Batch | None  # [N] bool: False where the env only reset (no transition); None: all valid
    infos: list[dict]  # per-env info dicts for the task's state extractor


__all__ = ["Batch", "SimStep"]
