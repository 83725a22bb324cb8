"""The data that defines a task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

StateDict = dict[str, torch.Tensor]
Extractor = Callable[[torch.Tensor, torch.Tensor, list[dict]], StateDict]


@dataclass
class StateVar:
    """One named state variable the reward may use."""

    name: str
    shape: str = "[N]"
    unit: str = ""
    meaning: str = ""


HINT_GOALS = ("target", "maximize", "minimize", "band", "alive")
REDUCES = ("sum", "mean", "max", "last")


@dataclass
class Hint:
    """A goal the offline designer seeds its genome with (checked before the search: ``var`` must be a state).

    - ``var``: a state variable's name (``[N, d]`` variables enter by their norm; any name for ``alive``).
    - ``goal``: what the seed term rewards, ``x`` being the variable:
      ``target``: ``weight * exp(-0.5 * ((x - target) / scale)^2)`` (1 at the target);
      ``maximize``: ``weight * x / scale``; ``minimize``: ``-weight * |x| / scale``;
      ``band``: ``weight`` while ``low <= x <= high`` (default ``target -+ scale``), else 0;
      ``alive``: ``weight`` per step survived.
    - ``target``: the value to approach (``target``; centre of ``band``).
    - ``scale``: the variable's typical size: the tolerance's width, the divisor of ``maximize``/``minimize``.
    - ``low``, ``high``: the band's bounds (``band`` only).
    - ``weight``: the term's weight in the sum (e.g. 0.001 for an action penalty).
    """

    var: str
    goal: str = "target"
    target: float = 0.0
    scale: float = 1.0
    low: float | None = None
    high: float | None = None
    weight: float = 1.0


@dataclass
class Fitness:
    """The task's success metric (Eureka's F), independent of any shaped reward.

    ``step`` maps a state dict to one value per row ``[N]`` (the rows: the envs of one
    vector step, or under PPO all steps of a rollout);
    an episode's fitness is those values reduced with ``reduce``: ``sum``, ``mean``, ``max``
    or ``last`` (the value at the episode's final step, e.g. the final distance to a goal);
    the task fitness is the mean over episodes. ``maximum``: the best possible value (None: no ceiling).
    """

    description: str
    step: Callable[[StateDict], torch.Tensor]
    reduce: str = "sum"
    maximum: float | None = None


@dataclass
class Task:
    """Everything eureka needs to know about a task."""

    name: str
    env_id: str | Callable[..., gym.Env]
    description: str
    state_vars: list[StateVar]
    extract_state: Extractor
    fitness: Fitness
    hints: list[Hint] = field(default_factory=list)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    hidden_obs: int = 0  # leading observation columns the reward sees but the policy does not
    render_kwargs: dict[str, Any] = field(default_factory=dict)  # extra env kwargs when rendering
    source: str = ""
    # the run's settings, keys as on the command line (nested or dotted): {"trainer.algo": "sac", "iterations": 2}
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def state_names(self) -> list[str]:
        return [v.name for v in self.state_vars]

    def make_env(self, render_mode: str | None = None, **extra: Any) -> gym.Env:
        """Create one environment instance."""
        kwargs = {**self.env_kwargs, **extra}
        if render_mode is not None:
            kwargs["render_mode"] = render_mode
        if isinstance(self.env_id, str):
            return gym.make(self.env_id, **kwargs)
        return self.env_id(**kwargs)

    def state_table(self) -> str:
        """Markdown table of the state variables, as shown to the LLM."""
        rows = ["| name | shape | unit | meaning |", "|---|---|---|---|"]
        rows += [f"| {v.name} | {v.shape} | {v.unit or '-'} | {v.meaning} |" for v in self.state_vars]
        return "\n".join(rows)


def fitness_value(values: np.ndarray | list[float]) -> float:
    """Mean of per-episode fitness values (nan when there are none)."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()) if arr.size else float("nan")
