"""Compiled candidate rewards and the VecEnv wrapper that applies them to a whole batch."""

from eureka.reward.compiled import call_reward, normalize_output, safe_builtins
from eureka.reward.vecenv import make_vec_env, sample_states
from eureka.reward.wrapper import RewardWrapper

__all__ = ["RewardWrapper", "call_reward", "make_vec_env", "normalize_output",
           "safe_builtins", "sample_states"]
