"""One reward candidate and its status, from the designer's answer to its trained fitness."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from eureka.analyze import Reflection
from eureka.analyze.hacking import Signal
from eureka.errors import Failure, HasFailure
from eureka.fields import integer, items, mapping, num, opt_text, per_seed, seeds, text
from eureka.llm import Parent

_PLACE = re.compile(r"iter(\d+)_(?:sample(\d+)|tuned)")


class Status(str, Enum):
    """Where a candidate stands: ``pending`` until it is rejected by the critic, or trained (ok / failed)."""

    PENDING = "pending"
    OK = "ok"  # trained; has a fitness
    REJECTED = "rejected"  # the critic refused it (never trained)
    FAILED = "failed"  # its training failed
    TRAINING = "training"  # validated, its training not finished: a live run as the report reads it (the loop
    # itself keeps such a candidate PENDING)

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, value: object, default: Status | None = None) -> Status:
        """The status named ``value`` (as ``summary.json`` writes it); ``default`` (PENDING) for anything else."""
        try:
            return cls(value)
        except ValueError:
            return default if default is not None else cls.PENDING


def place(cid: str) -> tuple[int | None, int | None]:
    """(iteration, sample) as a candidate's id names them (``iter2_sample3``; ``iter2_tuned`` names no sample)."""
    m = _PLACE.search(cid)
    if m is None:
        return None, None
    return int(m.group(1)), int(m.group(2)) if m.group(2) is not None else None


def _float(v: object) -> float | None:
    """A number as a float, infinities and NaN kept (a racing statistic is -inf when a seed failed)."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


@dataclass
class TunedConstant:
    """One constant of a reward's code before and after tuning."""

    name: str
    where: str = ""  # the expression it was lifted from
    before: float | None = None
    after: float | None = None

    def to_dict(self) -> dict:
        """Its form in ``Tuning.to_dict``."""
        return {"name": self.name, "where": self.where, "before": self.before, "after": self.after}


@dataclass
class Tuning:
    """What tuning did to a candidate, a tuned copy of its parent (``eureka.evolve.tuning``)."""

    constants: list[TunedConstant] = field(default_factory=list)
    trials: int = 0
    steps: int = 0  # env steps of every trial and of the tuned copy's own trainings
    steps_in_child: int = 0  # of those, the ones its own seeds account for (counted in its ``steps``)
    seeds: list[int] = field(default_factory=list)  # the search seeds the trials trained on
    before: float | None = None  # the racing statistic of the parent on those seeds
    after: float | None = None  # and of the tuned copy
    gain: float | None = None  # after - before

    def to_dict(self) -> dict:
        """Its form in the candidate's row of ``summary.json`` and in the ``tuned`` event."""
        return {"constants": [c.to_dict() for c in self.constants], "trials": self.trials, "steps": self.steps,
                "steps_in_child": self.steps_in_child, "seeds": self.seeds, "before": self.before,
                "after": self.after, "gain": self.gain}

    @classmethod
    def from_dict(cls, d: object) -> Tuning:
        """From ``to_dict``'s form (missing keys: defaults)."""
        t = mapping(d)
        consts = [TunedConstant(text(c.get("name")), text(c.get("where")), _float(c.get("before")),
                                _float(c.get("after"))) for c in map(mapping, items(t.get("constants")))]
        return cls(consts, integer(t.get("trials")) or 0, integer(t.get("steps")) or 0,
                   integer(t.get("steps_in_child")) or 0, seeds(t.get("seeds")), _float(t.get("before")),
                   _float(t.get("after")), _float(t.get("gain")))


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
    tuning: Tuning | None = None  # when it is a tuned copy of its parent: what was tuned and the gain

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

    @property
    def signal_kinds(self) -> list[str]:
        """The kinds of the reward-hacking signals its reflection raised."""
        return [sg.kind for sg in self.reflection.signals] if self.reflection else []

    def row(self) -> dict:
        """Its row in ``summary.json`` (read back by ``from_row``)."""
        return {"id": self.id, "sample": self.sample, "status": self.status.value, "error_class": self.error_class,
                "line": self.line, "fitness": self.fitness,
                "parent": self.parent, "island": self.island, "preference": self.preference,
                "steps": self.steps, "stopped_at": self.stopped_at, "message": self.message[:500],
                "search_seeds": {str(k): v for k, v in self.seed_fitness.items()},
                "seed_steps": {str(k): v for k, v in self.seed_steps.items()}, "score": self.score if self.score is not None and math.isfinite(self.score) else None,
                "env_reward_corr": self.env_corr, "tuning": self.tuning.to_dict() if self.tuning else None,
                "signals": self.signal_kinds}

    @classmethod
    def from_row(cls, row: Mapping[str, Any], iteration: int | None = None) -> Candidate:
        """The candidate as its row in ``summary.json`` (``row``, written by an older version too) describes it:
        the inverse of ``row``. What the row does not hold stays empty: the answer, the code and the reflection's
        text are files in its directory, and of the reflection the row keeps only the signals' kinds."""
        cid = text(row.get("id"))
        it, sample = place(cid)
        error_class = opt_text(row.get("error_class"))
        failure = (Failure.from_dict({"error_class": error_class, "message": text(row.get("message")),
                                      "line": integer(row.get("line"))}) if error_class else None)
        kinds = [k for k in row.get("signals") or [] if isinstance(k, str)] if isinstance(row.get("signals"), list) else []
        stopped, steps = integer(row.get("stopped_at")), integer(row.get("steps"))
        return cls(cid, iteration if iteration is not None else it or 0,
                   s if (s := integer(row.get("sample"))) is not None else sample or 0,
                   status=Status.of(row.get("status")), failure=failure, fitness=num(row.get("fitness")),
                   reflection=Reflection(signals=[Signal(k, "") for k in kinds]) if kinds else None,
                   parent=opt_text(row.get("parent")), island=integer(row.get("island")) or 0,
                   preference=num(row.get("preference")), steps=steps or 0, stopped_at=stopped,
                   seed_fitness=per_seed(row.get("search_seeds")),
                   score=num(row.get("score")),
                   seed_steps={k: int(v) for k, v in per_seed(row.get("seed_steps")).items() if v is not None},
                   env_corr=num(row.get("env_reward_corr")),
                   tuning=Tuning.from_dict(row["tuning"]) if mapping(row.get("tuning")) else None)


__all__ = ["Candidate", "Status", "TunedConstant", "Tuning", "place"]
