"""What a training returns, and the interface of whatever runs trainings (the executor)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from eureka.errors import Failure, HasFailure, TrainingCrash


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
    snapshots: list[dict] = field(default_factory=list)
    steps: int = 0  # env steps of the policy in total (all rungs of successive halving)
    new_steps: int = 0  # env steps of this training call
    wall_time_s: float = 0.0
    stopped_at: int | None = None  # successive halving dropped it after this many steps
    walls: list[str] = field(default_factory=list)  # the walls that were up in the training process
    env_corr: float | None = None  # correlation of the candidate's reward with the env's own (its rollouts)
    failure: Failure | None = None

    @property
    def status(self) -> str:
        return "ok" if self.ok else "failed"

    @classmethod
    def crashed(cls, job_id: str, message: str) -> TrainResult:
        """A training whose process died, hung or could not start."""
        return cls(job_id, ok=False, failure=Failure.of(TrainingCrash(message)))

    @classmethod
    def from_dict(cls, d: dict) -> TrainResult:
        """From the runner's JSON form, in the same (trusted) process; the executor checks a child's
        answer field by field instead (``eureka.train.executor.sanitize_result``)."""
        ok = d.get("status") == "ok"
        return cls(str(d.get("job_id", "")), ok=ok, fitness=d.get("fitness") if ok else None,
                   eval_fitness=list(d.get("eval_fitness") or []), eval_lengths=list(d.get("eval_lengths") or []),
                   snapshots=list(d.get("snapshots") or []), steps=int(d.get("steps") or 0),
                   new_steps=int(d.get("new_steps") or 0), wall_time_s=float(d.get("wall_time_s") or 0.0),
                   stopped_at=d.get("stopped_at"), walls=list(d.get("walls") or []),
                   env_corr=d.get("env_reward_corr"),
                   failure=None if ok else Failure.from_dict(d))

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
                "walls": self.walls, "env_reward_corr": self.env_corr, **self.failure_fields(), **({"snapshots": self.snapshots} if snapshots else {})}


ProgressFn = Callable[[str, int], None]
DoneFn = Callable[[str, TrainResult], None]


class Executor(Protocol):
    """Runs training specs (in parallel where it can) and returns their results in order."""

    def run(self, specs: list, on_progress: ProgressFn | None = None,
            on_done: DoneFn | None = None) -> list[TrainResult]: ...

    def shutdown(self) -> None:
        """Release what the executor started (a local Ray, say); called once at the end of a run."""
