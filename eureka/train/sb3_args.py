"""YAML hyperparameters -> SB3 keyword arguments; shared by the training (``runner``) and the evaluator."""

from __future__ import annotations

from typing import Any

import torch

ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "elu": torch.nn.ELU}


def schedule(value: Any) -> Any:
    """``lin_<start>`` -> SB3's linear schedule from ``start`` to 0; any other value as it is."""
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


def build_kwargs(hyperparams: dict) -> dict:
    """Turn YAML hyperparameters into SB3 keyword arguments (``lin_`` schedules, activations)."""
    kwargs = {k: schedule(v) for k, v in hyperparams.items()}
    pk = dict(kwargs.get("policy_kwargs") or {})
    if isinstance(pk.get("activation_fn"), str):
        pk["activation_fn"] = ACTIVATIONS[pk["activation_fn"]]
    if "net_arch" in pk and isinstance(pk["net_arch"], dict):
        pk["net_arch"] = {k: list(v) for k, v in pk["net_arch"].items()}
    elif "net_arch" in pk:
        pk["net_arch"] = list(pk["net_arch"])
    if pk:
        kwargs["policy_kwargs"] = pk
    return kwargs


__all__ = ["ACTIVATIONS", "build_kwargs", "schedule"]
