"""What a training returns, and the interface of whatever runs trainings (the executor)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from eureka.errors import Failure, HasFailure, TrainingCrash, error_from_child
from eureka.sandbox.policy import MAX_COMPONENTS, valid_component_name


def finite(v: object) -> float | None:
    """``v`` as a float when it is a finite number (not a bool), else None."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _corr(v: object) -> float | None:
    """A correlation in [-1, 1] (what a jail reported: anything else is dropped)."""
    c = finite(v)
    return c if c is not None and -1.0 <= c <= 1.0 else None


def _nums(v: object, limit: int = 10_000) -> list[float]:
    return [x for x in (finite(y) for y in v[:limit]) if x is not None] if isinstance(v, list) else []


@dataclass
class Snapshot:
    """One metric row taken during training (about ``log_points`` per training)."""

    step: int
    episodes: int = 0  # episodes finished since the previous row
    fitness: float | None = None  # their mean task fitness
    episode_length: float | None = None
    components: dict[str, dict[str, float | None]] = field(default_factory=dict)  # name -> mean, std, min, max

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: object) -> Snapshot | None:
        """From JSON, bounded and typed field by field (a training child ran candidate code); None if no row."""
        if not isinstance(row, dict):
            return None
        comps = row.get("components")
        comps = comps if isinstance(comps, dict) else {}
        clean = {}
        for name, stats in list(comps.items())[:MAX_COMPONENTS]:
            if valid_component_name(name) and isinstance(stats, dict):
                clean[name] = {k: finite(stats.get(k)) for k in ("mean", "std", "min", "max")}
        return cls(int(finite(row.get("step")) or 0), int(finite(row.get("episodes")) or 0), finite(row.get("fitness")),
                   finite(row.get("episode_length")), clean)


@dataclass
class TrainResult(HasFailure):
    """One training's outcome: the fitness of the trained policy, or why it failed.

    ``snapshots`` are the ~10 metric rows taken during training (step, episodes, fitness,
    episode_length, components) that the analyzer turns into the reflection.
    """

    job_id: str
    ok: bool = True
    fitness: float | None = None  # mean task fitness over the evaluation episodes
    eval_fitness: list[float] = field(default_factory=list)  # per evaluation episode
    eval_lengths: list[int] = field(default_factory=list)  # per evaluation episode
    snapshots: list[Snapshot] = field(default_factory=list)
    steps: int = 0  # env steps of the policy in total (all rungs of successive halving)
    new_steps: int = 0  # env steps of this training call
    wall_time_s: float = 0.0
    stopped_at: int | None = None  # successive halving dropped it after this many steps
    walls: list[str] = field(default_factory=list)  # the walls that were up in the training process
    reported_fitness: float | None = None  # the training's own last fitness reading: untrusted, never ranks
    eval_time_s: float = 0.0  # wall time of the evaluator (outside the jail) within wall_time_s
    jail: dict | None = None  # what the training's jail reported of itself (namespaces, uid, limits)
    env_corr: float | None = None  # correlation of the candidate's reward with the env's own (its rollouts)
    failure: Failure | None = None
    learn_time_s: float | None = None  # the learning phase alone (simulation, reward, updates): an in-process
    # training's own measure (benchmarks/trainer_throughput.py); a jail's report of it is not kept

    @property
    def status(self) -> str:
        return "ok" if self.ok else "failed"

    @classmethod
    def crashed(cls, job_id: str, message: str) -> TrainResult:
        """A training whose process died, hung or could not start."""
        return cls(job_id, ok=False, failure=Failure.of(TrainingCrash(message)))

    @classmethod
    def from_dict(cls, raw: object, job_id: str | None = None) -> TrainResult:
        """From its JSON form (``to_dict``): a training child's answer or ``trainings.jsonl``. Only known,
        typed, bounded fields are kept (the child ran candidate code); ``job_id`` is the one asked for."""
        if not isinstance(raw, dict):
            return cls.crashed(job_id or "", "the training process sent no result")
        ok = raw.get("status") == "ok"
        walls = raw.get("walls")
        stopped = finite(raw.get("stopped_at"))
        return cls(
            job_id if job_id is not None else str(raw.get("job_id", ""))[:200], ok=ok,
            fitness=finite(raw.get("fitness")) if ok else None, eval_fitness=_nums(raw.get("eval_fitness")),
            eval_lengths=[int(x) for x in _nums(raw.get("eval_lengths"))],
            snapshots=[s for s in (Snapshot.from_dict(r) for r in (raw.get("snapshots") or [])[:1000]) if s],
            steps=int(finite(raw.get("steps")) or 0), new_steps=int(finite(raw.get("new_steps")) or 0),
            wall_time_s=finite(raw.get("wall_time_s")) or 0.0, stopped_at=int(stopped) if stopped is not None else None,
            walls=[str(w)[:40] for w in walls[:24]] if isinstance(walls, list) else [],
            reported_fitness=finite(raw.get("reported_fitness")), eval_time_s=finite(raw.get("eval_time_s")) or 0.0,
            jail=raw.get("jail") if isinstance(raw.get("jail"), dict) else None,
            env_corr=_corr(raw.get("env_reward_corr")),
            failure=None if ok else Failure.of(error_from_child(raw)), learn_time_s=finite(raw.get("learn_time_s")))

    def fail(self, failure: Failure) -> None:
        self.ok, self.failure, self.fitness = False, failure, None

    def merged(self, later: TrainResult) -> TrainResult:
        """This (earlier rung's) result continued by ``later``: snapshots concatenated."""
        return replace(later, snapshots=self.snapshots + later.snapshots,
                       env_corr=later.env_corr if later.env_corr is not None else self.env_corr)

    def to_dict(self, snapshots: bool = False) -> dict:
        """JSON form (``fitness.json``, events; with ``snapshots`` all of it, for ``trainings.jsonl``):
        the failure's fields are flattened."""
        return {"job_id": self.job_id, "status": self.status, "fitness": self.fitness,
                "eval_fitness": self.eval_fitness, "eval_lengths": self.eval_lengths, "steps": self.steps,
                "new_steps": self.new_steps, "wall_time_s": self.wall_time_s, "stopped_at": self.stopped_at,
                "walls": self.walls, "reported_fitness": self.reported_fitness, "jail": self.jail,
                "eval_time_s": self.eval_time_s, "env_reward_corr": self.env_corr, "learn_time_s": self.learn_time_s,
                **self.failure_fields(), **({"snapshots": [s.to_dict() for s in self.snapshots]} if snapshots else {})}


ProgressFn = Callable[[str, int], None]
DoneFn = Callable[[str, TrainResult], None]


class Executor(Protocol):
    """Runs training specs (in parallel where it can) and returns their results in order."""

    def run(self, specs: list, on_progress: ProgressFn | None = None,
            on_done: DoneFn | None = None) -> list[TrainResult]: ...

    def shutdown(self) -> None:
        """Release what the executor started (a local Ray, say); called once at the end of a run."""
