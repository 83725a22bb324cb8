"""An iteration's design requests: the samples grouped by parent, one prompt per parent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eureka.llm.base import DesignRequest, Parent
from eureka.prompts import build_messages
from eureka.tasks import Task


@dataclass
class Group:
    """The samples that improve on one parent (``parent`` None: written from the task alone) and their request."""

    parent: str | None
    samples: list[int]
    request: DesignRequest


def design_requests(task: Task, it: int, seed: int, parents: list[Any | None], population: list[Parent],
                    errors: list[str], notes: list[str], notes_for: dict[str, list[str]],
                    tuning: str | None = None) -> list[Group]:
    """One request per distinct parent of ``parents`` (the parent of each sample, a candidate or None).

    A request carries the parent's answer and reflection, the errors of the last iteration, the general
    ``notes`` plus the person's notes on that parent (``notes_for``), the last tuning's note, and the seed
    ``seed + 1000 * <its first sample>``.
    """
    samples: dict[str | None, list[int]] = {}
    by_key: dict[str | None, Any | None] = {}
    for k, parent in enumerate(parents):
        key = parent.id if parent is not None else None
        samples.setdefault(key, []).append(k)
        by_key[key] = parent
    groups = []
    for key, ks in samples.items():
        parent = by_key[key]
        mine = notes + (notes_for.get(parent.id, []) if parent is not None else [])
        messages = build_messages(task, parent.response if parent else None,
                                  parent.reflection.text if parent and parent.reflection else None,
                                  errors, mine, tuning=tuning)
        groups.append(Group(key, ks, DesignRequest(task, messages, len(ks), it, seed + 1000 * ks[0],
                                                   parent=parent.as_parent() if parent else None,
                                                   population=population, errors=errors, notes=mine)))
    return groups


__all__ = ["Group", "design_requests"]
