"""Reward-hacking signals read from the metric snapshots every training backend records.

Each signal is a line of the reflection (what an LLM is told), a flag in the report, and, for
``early_termination``, an instruction the offline designer acts on (``eureka/llm/offline.py``):

- ``early_termination``: episodes collapse (their length falls below ``COLLAPSE`` of a reference: the env
  reward's policies when their lengths are known, else the candidate's own first episodes, a near-random
  policy) while the reward per step is negative and the task fitness does not improve: the policy ends
  episodes to escape a negative reward. Fix: a non-negative reward per step (an alive term, no negative
  offset).
- ``reward_up_fitness_down``: the reward per step (the sum of the component means) rises over training while
  the task fitness falls: their correlation over the snapshots is below ``-DIVERGE_CORR``.
- ``dominant_component``: one component makes up more than ``DOMINANT_SHARE`` of the sum's magnitude: the
  policy optimises that term alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

COLLAPSE = 0.5  # an episode length below this share of the reference has collapsed
DIVERGE_CORR = 0.5  # |correlation| of reward and fitness over the snapshots that counts as "rises while it falls"
DOMINANT_SHARE = 0.9  # share of the summed |component means| one component may hold
KINDS = ("early_termination", "reward_up_fitness_down", "dominant_component")


@dataclass
class Signal:
    """One reward-hacking signal: its kind (``KINDS``) and the reflection's line about it."""

    kind: str
    text: str
    component: str | None = None  # the component it names (dominant_component)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "component": self.component}


def _vals(xs: Sequence[float | None]) -> list[float]:
    return [float(v) for v in xs if v is not None]


def _tail(xs: Sequence[float | None], k: int = 3) -> float | None:
    v = _vals(xs)
    return float(np.mean(v[-k:])) if v else None


def reward_curve(components: Sequence[dict[str, dict]]) -> list[float | None]:
    """Per snapshot, the reward per step as the sum of its components' means (None when it has none)."""
    out: list[float | None] = []
    for comps in components:
        means = [float(st["mean"]) for st in comps.values() if isinstance(st, dict) and st.get("mean") is not None]
        out.append(float(sum(means)) if means else None)
    return out


def correlation(a: Sequence[float | None], b: Sequence[float | None]) -> float | None:
    """Pearson correlation over the positions where both are known (None with fewer than 4 or a flat series)."""
    pairs = [(x, y) for x, y in zip(a, b, strict=False) if x is not None and y is not None]
    if len(pairs) < 4:
        return None
    x, y = np.array(pairs, dtype=float).T
    if x.std() < 1e-12 or y.std() < 1e-12:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def early_termination(lengths: Sequence[float | None], rewards: Sequence[float | None],
                      fitness: Sequence[float | None], reference: float | None = None,
                      against: str = "") -> Signal | None:
    """The ``early_termination`` signal, or None (see the module). ``reference``: the env reward's policies'
    mean episode length (``against`` names it); without one, the candidate's own first snapshot."""
    lens = _vals(lengths)
    if len(lens) < 2 and reference is None:
        return None
    ref, ref_name = (reference, against or "the env reward's policies") if reference is not None else \
        (lens[0], "its own first episodes")
    last = _tail(lengths)
    reward = _tail(rewards)
    if last is None or ref is None or ref <= 0 or last >= COLLAPSE * ref or reward is None or reward >= 0:
        return None
    fit = _vals(fitness)
    if len(fit) >= 2 and _tail(fitness) is not None and (_tail(fitness) or 0.0) > fit[0] + 1e-9 * (abs(fit[0]) + 1):
        return None  # shorter episodes that raise the fitness are the task being solved (reaching a goal)
    return Signal("early_termination",
                  f"early termination: episodes got short ({last:.3g} steps at the end of training against "
                  f"{ref:.3g} for {ref_name}) while the reward per step is negative ({reward:.3g}) and the task "
                  "fitness did not improve: the policy ends episodes early to escape a negative reward. Make the "
                  "reward per step non-negative: add a positive alive bonus or remove the negative offset of the "
                  "penalty terms.")


def reward_fitness_divergence(rewards: Sequence[float | None], fitness: Sequence[float | None]) -> Signal | None:
    """The ``reward_up_fitness_down`` signal, or None (see the module)."""
    corr = correlation(rewards, fitness)
    r, f = _vals(rewards), _vals(fitness)
    if corr is None or corr > -DIVERGE_CORR or len(r) < 2 or len(f) < 2 or r[-1] <= r[0] or f[-1] >= f[0]:
        return None
    return Signal("reward_up_fitness_down",
                  f"the reward rose ({r[0]:.3g} -> {r[-1]:.3g} per step) while the task fitness fell "
                  f"({f[0]:.3g} -> {f[-1]:.3g}); correlation over training {corr:.2f}: the policy exploits the "
                  "reward instead of solving the task. Change the term that grew.")


def dominant_component(means: dict[str, float]) -> Signal | None:
    """The ``dominant_component`` signal, or None: one component's share of the summed magnitudes."""
    mags = {k: abs(v) for k, v in means.items() if v is not None}
    total = sum(mags.values())
    if len(mags) < 2 or total <= 0:
        return None
    name = max(mags, key=lambda k: mags[k])
    share = mags[name] / total
    if share <= DOMINANT_SHARE:
        return None
    return Signal("dominant_component",
                  f"component '{name}' makes up {100 * share:.0f}% of the reward's magnitude: the others barely "
                  "count, and the policy optimises that term alone. Scale it down or the others up.", name)


def signals(components: Sequence[dict[str, dict]], lengths: Sequence[float | None],
            fitness: Sequence[float | None], reference_length: float | None = None,
            against: str = "") -> list[Signal]:
    """Every signal of one training, from its snapshots' components, episode lengths and fitness."""
    rewards = reward_curve(components)
    means: dict[str, list[float]] = {}
    for comps in components:
        for k, st in comps.items():
            if isinstance(st, dict) and st.get("mean") is not None:
                means.setdefault(k, []).append(float(st["mean"]))
    found = [early_termination(lengths, rewards, fitness, reference_length, against),
             reward_fitness_divergence(rewards, fitness),
             dominant_component({k: float(np.mean(v)) for k, v in means.items()})]
    return [s for s in found if s is not None]


def from_metrics(rows: Sequence[dict], reference_length: float | None = None, against: str = "") -> list[Signal]:
    """``signals`` from a training's ``metrics.jsonl`` rows (what the report reads)."""
    rows = [r for r in rows if isinstance(r, dict)]
    comps: list[dict[str, dict]] = []
    for r in rows:
        c = r.get("components")
        comps.append(c if isinstance(c, dict) else {})

    def num(v: Any) -> float | None:
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) else None

    return signals(comps, [num(r.get("episode_length")) for r in rows], [num(r.get("fitness")) for r in rows],
                   reference_length, against)


__all__ = ["KINDS", "Signal", "correlation", "dominant_component", "early_termination", "from_metrics",
           "reward_curve", "reward_fitness_divergence", "signals"]
