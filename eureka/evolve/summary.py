"""The run's summary (``summary.json``) and the final evaluation of the best reward against the baselines."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from eureka.analyze.estimate import Estimate, Training, Verdict, estimate, verdict
from eureka.evolve.candidate import Candidate
from eureka.train.result import TrainResult

if TYPE_CHECKING:
    from eureka.evolve.trainings import Trainings


def human_normalized_score(f_method: float | None, f_env: float | None, f_sparse: float | None) -> float | None:
    """``(F_method - F_sparse) / |F_env - F_sparse|``; None when undefined (baselines equal)."""
    if f_method is None or f_env is None or f_sparse is None:
        return None
    denom = abs(f_env - f_sparse)
    if denom < 1e-9 * max(1.0, abs(f_env), abs(f_sparse)):
        return None
    return (f_method - f_sparse) / denom


def denominator_note(env: SeedStats, sparse: SeedStats) -> str | None:
    """A warning when ``|F_env - F_sparse|`` is small against the baselines' spread over seeds (else None).

    The score divides by that difference: when it is within twice the seed-to-seed standard deviation
    of the two baselines (combined), the score mostly measures noise.
    """
    if env.mean is None or sparse.mean is None:
        return None
    denom = abs(env.mean - sparse.mean)
    spread = math.hypot(env.std or 0.0, sparse.std or 0.0)
    if len(env.values()) < 2 or len(sparse.values()) < 2:
        return (f"|F_env - F_sparse| = {denom:.4g} from one seed each: its noise is unknown; use more "
                "eval.seeds before reading the score") if denom > 0 else None
    if denom < 2 * spread:
        return (f"|F_env - F_sparse| = {denom:.4g} is less than twice the baselines' spread over seeds "
                f"({spread:.4g}): the score is dominated by noise")
    return None


@dataclass
class SeedStats:
    """One reward trained with several seeds: the fitness per seed, their mean and standard deviation."""

    per_seed: dict[int, float | None] = field(default_factory=dict)

    def values(self) -> list[float]:
        return [v for v in self.per_seed.values() if v is not None]

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.values())) if self.values() else None

    @property
    def std(self) -> float | None:
        return float(np.std(self.values())) if self.values() else None

    def to_dict(self) -> dict:
        return {"seeds": list(self.per_seed), "per_seed": {str(s): v for s, v in self.per_seed.items()},
                "mean": self.mean, "std": self.std}


@dataclass
class FinalEvaluation:
    """The best reward re-trained with each final seed, and the two baselines with the same seeds and budget."""

    best: SeedStats = field(default_factory=SeedStats)
    env_reward: SeedStats | None = None  # the env's own reward ("human")
    sparse: SeedStats | None = None  # the task fitness paid as a sparse reward at episode end

    @property
    def human_normalized_score(self) -> float | None:
        if self.env_reward is None or self.sparse is None:
            return None
        return human_normalized_score(self.best.mean, self.env_reward.mean, self.sparse.mean)

    @property
    def note(self) -> str | None:
        if self.env_reward is None or self.sparse is None:
            return None
        return denominator_note(self.env_reward, self.sparse)


def final_evaluation(trainings: Trainings, reward_path: str, seeds: list[int], root: Path,
                     baselines: bool = True) -> FinalEvaluation:
    """Re-train ``reward_path`` with each seed, and both baselines with the same seeds and budget."""
    specs = []
    for s in seeds:
        specs.append(trainings.spec(f"best_seed{s}", "candidate", s, reward_path, root / "final" / f"best_seed{s}"))
        if baselines:
            for mode in ("env", "sparse"):
                specs.append(trainings.spec(f"{mode}_seed{s}", mode, s, None, root / "baselines" / f"{mode}_seed{s}"))
    results: list[TrainResult] = trainings.run(specs)
    per = {r.job_id: r.fitness for r in results}

    def stats(prefix: str) -> SeedStats:
        return SeedStats({s: per.get(f"{prefix}_seed{s}") for s in seeds})

    final = FinalEvaluation(stats("best"))
    if baselines:
        final.env_reward, final.sparse = stats("env"), stats("sparse")
    return final


def ran_share(rows: list[dict]) -> dict:
    """Of an iteration's answers, how many ran (trained without failing), and their share."""
    ran = sum(1 for r in rows if r["status"] == "ok")
    return {"answers": len(rows), "ran": ran, "ran_share": ran / len(rows) if rows else None}


@dataclass
class Summary:
    """``summary.json``: what the run found, how, and at what cost."""

    task: str
    llm: str
    model: str
    fitness_metric: str
    search_seed: int  # the first search seed (every candidate's first training; racing adds more)
    target_fitness: float | None = None
    status: str = "running"  # running | completed | all_failed | stopped
    message: str = ""
    best: Candidate | None = None
    candidates: list[Candidate] = field(default_factory=list)
    population: list[str] = field(default_factory=list)
    selection: str = "fitness"
    feedback: str = "fitness"
    llm_usage: dict = field(default_factory=dict)
    final_seeds: list[int] = field(default_factory=list)
    final: FinalEvaluation | None = None
    walls: dict[str, list[str]] = field(default_factory=dict)  # walls up in each kind of process that ran code
    jails: dict[str, dict] = field(default_factory=dict)  # one jail of each kind, as it reported itself
    racing: dict = field(default_factory=dict)  # the racing rules (statistic, seeds, top, k, min_seeds)
    allocation: str = "full"  # how each iteration's training budget was split (full | halving | bandit)
    confirmed: SeedStats | None = None  # the best re-trained on held-out search seeds (EurekaLoop.confirm)
    confirm_of: str | None = None  # the candidate confirmed (the best when the search ended)
    confirm_steps: int = 0  # env steps of those trainings
    wall_time_s: float = 0.0
    provenance: dict = field(default_factory=dict)  # versions, commit, machine, config (eureka.store.provenance)

    @property
    def best_fitness(self) -> float | None:
        """The fitness the search reports for its best: the mean on held-out search seeds once confirmed,
        else its mean over the seeds that chose it (optimistic: the best of several noisy estimates)."""
        if self.best is None:
            return None
        held_out = self.confirmed.mean if self.confirmed and self.confirm_of == self.best.id else None
        return held_out if held_out is not None else self.best.fitness

    def chosen_trainings(self) -> list[Training]:
        """Every training of the chosen reward: the search seeds that selected it, the held-out seeds that
        confirmed it, the final seeds (each with its role)."""
        if self.best is None:
            return []
        out = [Training(int(s), "selection", v) for s, v in self.best.seed_fitness.items()]
        if self.confirmed is not None and self.confirm_of == self.best.id:
            out += [Training(int(s), "held_out", v) for s, v in self.confirmed.per_seed.items()]
        if self.final is not None:
            out += [Training(int(s), "final", v) for s, v in self.final.best.per_seed.items()]
        return out

    @property
    def chosen(self) -> Estimate | None:
        """One estimate of the chosen reward from all its trainings (``eureka.analyze.estimate``)."""
        return estimate(self.chosen_trainings()) if self.best is not None else None

    @property
    def verdict(self) -> Verdict:
        """The chosen reward against the env reward over the final seeds: P(chosen > env), interval, word."""
        if self.final is None:
            return Verdict(why="the final evaluation has not run")
        final = self.final
        return verdict(final.best.values(), final.env_reward.values() if final.env_reward else [])

    def to_dict(self) -> dict:
        its: dict[int, list] = {}
        for c in self.candidates:
            its.setdefault(c.iteration, []).append(c.row())
        final = self.final or FinalEvaluation()
        env, sparse = final.env_reward, final.sparse
        vs, chosen = self.verdict, self.chosen
        return {
            "task": self.task, "llm": self.llm, "model": self.model, "status": self.status, "message": self.message,
            "best_fitness": self.best_fitness,
            "best_selection_fitness": self.best.fitness if self.best else None,
            "best_confirmed": ({**self.confirmed.to_dict(), "candidate": self.confirm_of} if self.confirmed else None),
            "best_candidate": self.best.id if self.best else None,
            "best_reward_path": self.best.reward_path if self.best else None,
            "target_fitness": self.target_fitness,
            "iterations": [{"iteration": i, "candidates": rows, **ran_share(rows)} for i, rows in sorted(its.items())],
            "search_seed": self.search_seed,
            "search_seeds": sorted({int(s) for c in self.candidates for s in c.seed_fitness}),
            "best_search_seeds": ({str(k): v for k, v in self.best.seed_fitness.items()} if self.best else None),
            "best_score": self.best.score if self.best else None,
            "racing": self.racing, "allocation": self.allocation,
            "final_eval": {**final.best.to_dict(), "seeds": self.final_seeds},
            "baselines": {"env_reward_fitness": env.mean if env else None,
                          "sparse_fitness": sparse.mean if sparse else None,
                          **({"env_reward": env.to_dict(), "sparse": sparse.to_dict()} if env and sparse else {})},
            "chosen_reward": (chosen.to_dict() if chosen is not None else None),
            "chosen_reward_detail": (chosen.detail() if chosen is not None else None),
            "verdict_vs_env": vs.verdict, "verdict_vs_env_detail": vs.to_dict(),
            "human_normalized_score": final.human_normalized_score,
            "human_normalized_score_note": final.note,
            "population": self.population, "selection": self.selection, "feedback": self.feedback,
            "llm_usage": self.llm_usage,
            # every env step of the search: candidates' trainings on all their seeds, and all tuning trials
            "search_env_steps": sum(c.steps for c in self.candidates) + self.confirm_steps + sum(
                c.tuning["steps"] - c.tuning.get("steps_in_child", 0) for c in self.candidates if c.tuning),
            "walls": self.walls, "jails": self.jails, "wall_time_s": round(self.wall_time_s, 2),
            "fitness_metric": self.fitness_metric,
            "provenance": self.provenance,
        }

    # read access like the JSON file, for scripts that index the returned summary
    def __getitem__(self, key: str):
        return self.to_dict()[key]

    def get(self, key: str, default=None):
        return self.to_dict().get(key, default)


__all__ = ["FinalEvaluation", "SeedStats", "Summary", "final_evaluation", "human_normalized_score"]
