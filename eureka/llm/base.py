"""What every designer takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from eureka.analyze import Reflection
from eureka.tasks import Task


@dataclass
class Parent:
    """A population member given to the designer: its answer, code, fitness and what training showed."""

    id: str
    code: str
    fitness: float | None = None
    reflection: Reflection | None = None
    response: str = ""  # the designer's full answer that produced ``code``


@dataclass
class DesignRequest:
    """One iteration's request for ``n`` candidate rewards.

    ``messages`` is the rendered chat prompt (what an LLM sees); the other
    fields carry the same information structured, for the offline designer.
    """

    task: Task
    messages: list[dict]
    n: int
    iteration: int
    seed: int = 0
    parent: Parent | None = None  # the candidate this request improves on (None in the first iteration)
    population: list[Parent] = field(default_factory=list)  # every population member, best first
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Answer:
    """One raw answer (free text) and its token cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


@dataclass
class Usage:
    """Token accounting for a run."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens}


class Designer:
    """Base class: writes ``request.n`` answers for a request."""

    name = "designer"
    model = ""
    temperature = 1.0

    def __init__(self) -> None:
        self.usage = Usage()

    def propose(self, request: DesignRequest) -> list[Answer]:
        raise NotImplementedError
