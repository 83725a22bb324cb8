"""Turn training statistics into a reflection text (Eureka-style policy feedback) and tips."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from eureka.analyze.hacking import Signal, signals

if TYPE_CHECKING:
    from eureka.train.result import Snapshot


@dataclass
class Reflection:
    """Per-component statistics over training, tips, and the text for the next prompt."""

    components: dict[str, dict] = field(default_factory=dict)
    fitness_curve: list[float | None] = field(default_factory=list)
    length_curve: list[float | None] = field(default_factory=list)
    tips: list[str] = field(default_factory=list)
    text: str = ""
    env_corr: float | None = None  # correlation with the env's own reward over the training rollouts
    ran: tuple[int, int] | None = None  # (answers that ran, answers) in the candidate's iteration
    signals: list[Signal] = field(default_factory=list)  # reward-hacking signals (eureka.analyze.hacking)

    def to_dict(self) -> dict:
        return {"components": self.components, "fitness_curve": self.fitness_curve,
                "length_curve": self.length_curve, "tips": self.tips, "text": self.text,
                "env_reward_corr": self.env_corr, "ran": list(self.ran) if self.ran else None,
                "signals": [s.to_dict() for s in self.signals]}

    def has(self, kind: str) -> bool:
        """Whether a reward-hacking signal of ``kind`` was raised."""
        return any(s.kind == kind for s in self.signals)


def _fmt(values: list[float | None]) -> str:
    return "[" + ", ".join("nan" if v is None else f"{v:.2f}" for v in values) + "]"


def _summary(values: list[float | None]) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "no episode finished"
    return f"{_fmt(values)}, Max: {max(vals):.2f}, Mean: {np.mean(vals):.2f}, Min: {min(vals):.2f}"


def analyze(snapshots: list[Snapshot], fitness: float | None, fitness_name: str = "fitness",
            env_corr: float | None = None, ran: tuple[int, int] | None = None,
            reference_length: float | None = None) -> Reflection:
    """Build the reflection from the ~10 metric snapshots of one training run.

    ``env_corr``: the correlation of the reward with the env's own reward over the training rollouts;
    ``ran``: (answers that trained, answers) of the candidate's iteration; ``reference_length``: the env
    reward's policies' mean episode length when known (else the training's own first episodes are the
    reference for the early-termination signal).
    """
    names: list[str] = []
    for snap in snapshots:
        names += [k for k in snap.components if k not in names]
    comps: dict[str, dict[str, Any]] = {}
    for name in names:
        stats = [s.components[name] for s in snapshots if name in s.components]
        means = [v for v in (st.get("mean") for st in stats) if v is not None]
        stds = [v for v in (st.get("std") for st in stats) if v is not None]
        if not means:
            continue
        comps[name] = {"values": [round(v, 4) for v in means], "max": float(np.max(means)),
                       "mean": float(np.mean(means)), "min": float(np.min(means)),
                       "std_within": float(np.mean(stds)) if stds else 0.0}
    fit_curve = [s.fitness for s in snapshots]
    len_curve = [s.episode_length for s in snapshots]
    tips = _tips(comps, fit_curve)
    lines = ["We trained a RL policy using the provided reward function code and tracked the values of the "
             "individual components in the reward function as well as global policy metrics such as the "
             "task fitness and episode lengths at regular points during training, with the maximum, mean "
             "and minimum values encountered:"]
    for name, c in comps.items():
        lines.append(f"{name}: {_fmt(c['values'])}, Max: {c['max']:.2f}, Mean: {c['mean']:.2f}, "
                     f"Min: {c['min']:.2f}")
    lines.append(f"task_fitness ({fitness_name}): {_summary(fit_curve)}")
    lines.append(f"episode_length: {_summary(len_curve)}")
    if fitness is not None:
        lines.append(f"final task fitness of the trained policy (evaluation): {fitness:.3f}")
    if env_corr is not None:
        lines.append(f"correlation of this reward with the environment's own reward over the training "
                     f"rollouts: {env_corr:.2f}")
    if ran is not None and ran[1]:
        lines.append(f"reward functions of this round that ran (trained without an error): {ran[0]} of {ran[1]}")
    tips += _corr_tips(env_corr)
    found = signals([s.components for s in snapshots], len_curve, fit_curve, reference_length)
    if found:
        lines.append("Reward-hacking signals:")
        lines += [f"- {s.text}" for s in found]
    if tips:
        lines.append("Observations:")
        lines += [f"- {t}" for t in tips]
    return Reflection(comps, fit_curve, len_curve, tips, "\n".join(lines), env_corr, ran, found)


def _corr_tips(env_corr: float | None) -> list[str]:
    if env_corr is not None and env_corr < 0:
        return [f"the reward is anti-correlated with the environment's own reward ({env_corr:.2f}): check the "
                "sign of its main term."]
    return []


def _tips(comps: dict[str, dict], fit_curve: list[float | None]) -> list[str]:
    tips = []
    if len(comps) > 1:
        mags = {k: abs(c["mean"]) for k, c in comps.items()}
        largest = max(mags.values()) or 1.0
        others = sorted(mags.values())
        for k, c in comps.items():
            spread = c["max"] - c["min"]
            if spread < 1e-6 and c["std_within"] < 1e-6 and k != "alive":
                tips.append(f"component '{k}' is constant ({c['mean']:.3g}): the policy cannot influence it; "
                            "rewrite it or drop it.")
            rest = [m for m in others if m != mags[k]] or [0.0]
            if mags[k] > 10 * max(max(rest), 1e-8):
                tips.append(f"component '{k}' dominates the others by more than 10x; scale it down or "
                            "scale the others up.")
            elif mags[k] < 0.01 * largest:
                tips.append(f"component '{k}' is tiny compared with the largest; it barely affects learning.")
    vals = [v for v in fit_curve if v is not None]
    if len(vals) >= 3 and max(vals) - min(vals) < 1e-3 * (abs(max(vals)) + 1):
        tips.append("the task fitness never changed during training: the reward does not lead towards the "
                    "goal; change how the main term is shaped.")
    if not vals:
        tips.append("no episode finished during training.")
    return tips


__all__ = ["Reflection", "Signal", "analyze"]
