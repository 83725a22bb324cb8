"""One reward candidate and its status, from the designer's answer to its trained fitness."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from eureka.analyze import Reflection
from eureka.errors import Failure, HasFailure
from eureka.llm import Parent


class Status(str, Enum):
    """Where a candidate stands: ``pending`` until it is rejected by the critic, or trained (ok / failed)."""

    PENDING = "pending"
    OK = "ok"  # trained; has a fitness
    REJECTED = "rejected"  # the critic refused it (never trained)
    FAILED = "failed"  # its training failed

    def __str__(self) -> str:
        return self.value


@dataclass(eq=False)
class Candidate(HasFailure):
    """One reward candidate and everything learned about it."""

    id: str
    iteration: int
    sample: int
    response: str = ""  # the designer's answer (free text)
    code: str = ""  # the reward code extracted from it
    status: Status = Status.PENDING
    failure: Failure | None = None  # why it was rejected or failed
    fitness: float | None = None
    reflection: Reflection | None = None
    reward_path: str = ""
    parent: str | None = None  # id of the candidate it was derived from
    island: int = 0
    preference: float | None = None  # Bradley-Terry score, when compared by a person
    steps: int = 0  # env steps it was trained for
    stopped_at: int | None = None  # successive halving dropped it after this many steps
    seed_fitness: dict[int, float | None] = field(default_factory=dict)  # search seed -> fitness (None: failed)
    score: float | None = None  # the racing statistic over its seeds (what ranks it; eureka.evolve.racing)
    seed_steps: dict[int, int] = field(default_factory=dict)  # search seed -> env steps of that training
    env_corr: float | None = None  # correlation of its reward with the env's own over its training rollouts
    tuning: dict | None = None  # when it is a tuned copy of its parent: what was tuned and the gain

    def reject(self, status: Status, failure: Failure) -> None:
        self.status, self.failure, self.fitness = status, failure, None

    def feedback(self) -> str:
        """Its failure as text for the next prompt, with the line of the reward code when known."""
        return self.failure.render(self.id) if self.failure else ""

    def as_parent(self) -> Parent:
        """What the designer gets to see of it."""
        return Parent(self.id, self.code, self.fitness, self.reflection, self.response)

    def record_seed(self, seed: int, fitness: float | None, steps: int = 0) -> None:
        """Add one search seed's training; ``fitness`` becomes the mean over the seeds that trained."""
        self.seed_fitness[int(seed)] = fitness
        self.seed_steps[int(seed)] = int(steps)
        ok = [v for v in self.seed_fitness.values() if v is not None]
        self.fitness = sum(ok) / len(ok) if ok else None

    def row(self) -> dict:
        """Its row in ``summary.json``."""
        return {"id": self.id, "status": self.status.value, "error_class": self.error_class,
                "line": self.line, "fitness": self.fitness,
                "parent": self.parent, "island": self.island, "preference": self.preference,
                "steps": self.steps, "stopped_at": self.stopped_at, "message": self.message[:500],
                "search_seeds": {str(k): v for k, v in self.seed_fitness.items()},
                "seed_steps": {str(k): v for k, v in self.seed_steps.items()}, "score": self.score if self.score is not None and math.isfinite(self.score) else None,
                "env_reward_corr": self.env_corr, "tuning": self.tuning,
                "signals": [sg.kind for sg in self.reflection.signals] if self.reflection else []}


__all__ = ["Candidate", "Status"]
