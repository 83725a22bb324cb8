"""PPO with the rewards computed once per rollout instead of once per step.

A reward call costs a few microseconds per tensor op whatever the batch size, so calling it
once on all ``n_steps x n_envs`` states of a rollout instead of ``n_steps`` times on ``n_envs``
states removes nearly all of its cost (``benchmarks/reward_overhead.py``). PPO needs the
rewards only when it computes returns and advantages at the end of the rollout; until then the
``RewardWrapper`` (``defer=True``) hands out placeholder zeros and keeps the steps. The rollout
buffer asks it for the real rewards first thing in ``compute_returns_and_advantage`` and adds
them to what it holds (zeros, plus PPO's value bootstrap on time-limit truncations), so the
returns, advantages and the trained policy are those of a per-step reward.

With VecNormalize, ``RolloutVecNormalize`` leaves the placeholders alone and scales the
rollout's rewards afterwards, step by step as ``VecNormalize.step_wait`` would have.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from eureka.reward.wrapper import RewardWrapper


class RolloutVecNormalize(VecNormalize):
    """VecNormalize over a deferred ``RewardWrapper``: observations are normalized as usual; the
    reward statistics are updated in ``normalize_rollout``, once the rollout's rewards are known.
    Until ``defer_rewards`` sets ``deferred`` it is a plain VecNormalize."""

    deferred = False

    def __init__(self, venv: VecEnv, **kwargs):
        super().__init__(venv, **kwargs)
        self.rollout_returns = np.zeros(self.num_envs)

    def set_venv(self, venv: VecEnv) -> None:
        """After unpickling (``VecNormalize.load``): start with zero discounted returns, as VecNormalize does,
        and per-step rewards until ``defer_rewards`` says otherwise."""
        super().set_venv(venv)
        self.rollout_returns = np.zeros(self.num_envs)
        self.deferred = False

    def reset(self):
        self.rollout_returns = np.zeros(self.num_envs)
        return super().reset()

    def _update_reward(self, reward: np.ndarray) -> None:
        """Deferred, the rewards seen during the rollout are placeholders: the statistics wait for
        ``normalize_rollout``."""
        if not self.deferred:
            super()._update_reward(reward)

    def normalize_reward(self, reward: np.ndarray) -> np.ndarray:
        return reward if self.deferred else super().normalize_reward(reward)  # placeholders pass through

    def normalize_rollout(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Scale ``[T, N]`` rewards exactly as ``VecNormalize.step_wait`` would have, step after step."""
        out = np.empty(rewards.shape, dtype=np.float32)
        for t in range(rewards.shape[0]):
            if self.training:
                self.rollout_returns = self.rollout_returns * self.gamma + rewards[t]
                self.ret_rms.update(self.rollout_returns)
            out[t] = VecNormalize.normalize_reward(self, rewards[t])
            self.rollout_returns[dones[t]] = 0
        return out


class DeferredRolloutBuffer(RolloutBuffer):
    """A RolloutBuffer whose rewards arrive when its rollout is complete (see the module's docstring)."""

    score: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None  # RewardWrapper.flush
    normalizer: RolloutVecNormalize | None = None

    def _take(self) -> np.ndarray:
        assert self.score is not None  # set by defer_rewards
        rewards, dones = self.score()
        return self.normalizer.normalize_rollout(rewards, dones) if self.normalizer is not None else rewards

    def reset(self) -> None:
        super().reset()
        if self.score is not None:
            self._take()  # steps of a rollout cut short (a callback stopped it): their fitness still counts

    def compute_returns_and_advantage(self, last_values: torch.Tensor, dones: np.ndarray) -> None:
        rewards = self._take()
        if rewards.shape != self.rewards.shape:
            raise RuntimeError(f"deferred rewards have shape {rewards.shape}, the rollout {self.rewards.shape}")
        self.rewards += rewards
        super().compute_returns_and_advantage(last_values, dones)


def defer_rewards(model, wrapper: RewardWrapper) -> bool:
    """Give PPO ``model`` (trained on ``wrapper``, maybe inside a ``RolloutVecNormalize``) the
    wrapper's rewards once per rollout. Returns False, leaving rewards per step, where that does
    not apply: not PPO, components wanted in each step's info, or a plain VecNormalize that scales
    rewards per step."""
    old = getattr(model, "rollout_buffer", None)
    norm = model.get_vec_normalize_env()
    if type(old) is not RolloutBuffer or wrapper.info_components or \
            (norm is not None and norm.norm_reward and not isinstance(norm, RolloutVecNormalize)):
        return False
    buf = DeferredRolloutBuffer(old.buffer_size, old.observation_space, old.action_space, device=old.device,
                                gae_lambda=old.gae_lambda, gamma=old.gamma, n_envs=old.n_envs)
    buf.score = wrapper.flush
    buf.normalizer = norm if isinstance(norm, RolloutVecNormalize) else None
    if buf.normalizer is not None:
        buf.normalizer.deferred = True
    wrapper.flush()  # nothing kept from before
    wrapper.defer = True
    model.rollout_buffer = buf
    return True
