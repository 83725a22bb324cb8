"""The population: an archive of the best candidates, split into islands, ranked by the selection mode."""

from __future__ import annotations

import math
from typing import Protocol

SELECTIONS = ("fitness", "preference", "mixed")


class Member(Protocol):
    id: str
    fitness: float | None
    preference: float | None
    island: int


def _fit(c: Member) -> float:
    return c.fitness if c.fitness is not None and math.isfinite(c.fitness) else -math.inf


def _pref(c: Member) -> float:
    return c.preference if c.preference is not None else -math.inf


def rank(cands: list, selection: str = "fitness") -> list:
    """Candidates best first: by fitness, by preference score (fitness breaks ties), or by both ranks
    (``mixed``: the sum of the fitness rank and the preference rank; a person's preference breaks ties)."""
    if selection == "fitness":
        return sorted(cands, key=lambda c: (_fit(c), _pref(c)), reverse=True)
    if selection == "preference":
        return sorted(cands, key=lambda c: (_pref(c), _fit(c)), reverse=True)
    by_f = {c.id: i for i, c in enumerate(rank(cands, "fitness"))}
    by_p = {c.id: i for i, c in enumerate(rank(cands, "preference"))}
    return sorted(cands, key=lambda c: (by_f[c.id] + by_p[c.id], by_p[c.id]))


class Population:
    """The best ``size`` candidates (``size // islands`` per island); parents are drawn from it.

    Islands evolve apart (sample k belongs to island ``k % islands``); every
    ``migration_every`` iterations each island's best joins the next island.
    """

    def __init__(self, size: int = 4, islands: int = 1, selection: str = "fitness", migration_every: int = 2):
        if selection not in SELECTIONS:
            raise ValueError(f"loop.selection must be one of {', '.join(SELECTIONS)}, not '{selection}'")
        self.islands = max(1, int(islands))
        self.per_island = max(1, int(size) // self.islands)
        self.selection, self.migration_every = selection, max(1, int(migration_every))
        self.members: list[list] = [[] for _ in range(self.islands)]
        self.pinned: str | None = None  # the person's top choice of the last session (see ``prefer``)

    def prefer(self, cid: str | None) -> None:
        """A person's top choice of a session outranks fitness: it is kept, first of its island (so it
        parents that island's first sample of the next iteration) and first overall (so, after the last
        session, it is the reward re-trained). ``None`` (no decisive answer) lets the ranking decide again.
        Under ``selection=fitness`` choices do not steer and this does nothing."""
        self.pinned = cid if self.selection != "fitness" else None
        self.rerank()

    def _pin(self, ranked: list) -> list:
        """``ranked`` with the pinned candidate (if it is there) moved to the front."""
        return sorted(ranked, key=lambda c: c.id != self.pinned) if self.pinned else ranked

    def update(self, cands: list, iteration: int) -> None:
        """Add this iteration's successful candidates, re-rank, truncate, migrate."""
        for c in cands:
            if c.status == "ok" and c.fitness is not None:
                self.members[c.island % self.islands].append(c)
        self.rerank()
        if self.islands > 1 and (iteration + 1) % self.migration_every == 0:
            bests = [isl[0] for isl in self.members if isl]
            for best in bests:
                target = self.members[(best.island + 1) % self.islands]
                if best not in target:
                    target.append(best)
            self.rerank()

    def rerank(self) -> None:
        self.members = [self._pin(rank(list(dict.fromkeys(isl)), self.selection))[:self.per_island]
                        for isl in self.members]

    def all(self) -> list:
        """Every member, best first."""
        return self._pin(rank(list(dict.fromkeys(c for isl in self.members for c in isl)), self.selection))

    def best(self):
        ranked = self.all()
        return ranked[0] if ranked else None

    def parent_for(self, sample: int):
        """The parent of sample ``k``: round-robin over its island's members, best first (None at start)."""
        island = self.members[sample % self.islands]
        if not island:
            island = self.all()
        if not island:
            return None
        return island[(sample // self.islands) % len(island)]
