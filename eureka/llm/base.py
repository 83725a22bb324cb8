"""What every designer takes and returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from eureka.analyze import Reflection
from eureka.fields import items, mapping, num
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
    """Token accounting for a run (``requests`` counts HTTP requests to the model)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float = 0.0
    per_request: list[dict] = field(default_factory=list)  # one row per parent's request (iteration, tokens, usd)
    unasked: dict = field(default_factory=dict)  # what the budget left unasked (requests, samples, iterations)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def per_iteration(self) -> list[dict]:
        """Tokens and cost summed per iteration."""
        out: dict[int, dict] = {}
        for r in self.per_request:
            row = out.setdefault(r["iteration"], {"iteration": r["iteration"], "requests": 0, "prompt_tokens": 0,
                                                  "completion_tokens": 0, "usd": 0.0, "cached": 0})
            row["requests"] += 1
            row["cached"] += int(r.get("cached", False))
            for k in ("prompt_tokens", "completion_tokens", "usd"):
                row[k] += r[k]
        return [out[i] for i in sorted(out)]

    def to_dict(self) -> dict:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "total_tokens": self.total_tokens,
                "usd": round(self.usd, 6), "per_iteration": self.per_iteration(), "per_request": self.per_request,
                **({"unasked": self.unasked} if self.unasked else {})}

    @classmethod
    def from_dict(cls, d: object) -> Usage:
        """From ``to_dict``'s form (``summary.json``'s ``llm_usage``): the totals and the rows per iteration
        follow from the rest."""
        u = mapping(d)
        return cls(int(num(u.get("requests")) or 0), int(num(u.get("prompt_tokens")) or 0),
                   int(num(u.get("completion_tokens")) or 0), num(u.get("usd")) or 0.0,
                   [r for r in items(u.get("per_request")) if isinstance(r, dict)], mapping(u.get("unasked")))


class Designer:
    """Base class: writes ``request.n`` answers for a request."""

    name = "designer"
    model = ""
    temperature = 1.0

    def __init__(self) -> None:
        self.usage = Usage()

    def propose(self, request: DesignRequest) -> list[Answer]:
        raise NotImplementedError

    def propose_many(self, requests: list[DesignRequest]) -> list[list[Answer]]:
        """Answer several requests (one per parent); sequential here, bounded-parallel in ``ManagedDesigner``."""
        return [self.propose(r) for r in requests]
