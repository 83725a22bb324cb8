"""The population: an archive of the best candidates, split into islands, ranked by the selection mode."""

from __future__ import annotations

import math
from typing import Protocol

from eureka.config import SELECTIONS, LoopConfig

_L = LoopConfig  # the defaults live in eureka/config.py


class Member(Protocol):
    id: str
    fitness: float | None
    preference: float | None
    island: int


def _fit(c: Member) -> float:
    """What ranks by fitness: the racing statistic over seeds when the candidate has one, else its fitness."""
    v = getattr(c, "score", None)
    if v is None:
        v = c.fitness
    return v if v is not None and math.isfinite(v) else -math.inf


def n_seeds(c: Member) -> int:
    """Search seeds it was trained on without failing (1 for members that do not keep seeds)."""
    per = getattr(c, "seed_fitness", None)
    if not per:
        return 1
    return len(per) if all(v is not None for v in per.values()) else 0


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
    Ranking by fitness uses the racing statistic (``Candidate.score``) where there is one, and
    only members trained on at least ``min_seeds`` seeds can be the best or a parent (racing):
    they rank ahead of the others.
    """

    def __init__(self, size: int = _L.population, islands: int = _L.islands, selection: str = _L.selection,
                 migration_every: int = _L.migration_every, min_seeds: int = 1):
        if selection not in SELECTIONS:
            raise ValueError(f"loop.selection must be one of {', '.join(SELECTIONS)}, not '{selection}'")
        self.islands = max(1, int(islands))
        self.per_island = max(1, int(size) // self.islands)
        self.selection, self.migration_every = selection, max(1, int(migration_every))
        self.members: list[list] = [[] for _ in range(self.islands)]
        self.pinned: str | None = None  # the person's top choice of the last session (see ``prefer``)
        self.min_seeds = max(1, int(min_seeds))

    def eligible(self, c) -> bool:
        """Trained on enough seeds to be the best or a parent."""
        return n_seeds(c) >= self.min_seeds

    def ranked(self, cands: list) -> list:
        """``rank`` by the selection mode, the eligible first; a person's top choice first of all (a person's
        judgment is not a lucky seed, so it needs no second one)."""
        r = rank(cands, self.selection)
        return self._pin([c for c in r if self.eligible(c)] + [c for c in r if not self.eligible(c)])

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

    def add(self, cands: list) -> None:
        """Add candidates made outside an iteration's update (a tuned reward), re-rank; no migration."""
        for c in cands:
            if c.status == "ok" and c.fitness is not None:
                self.members[c.island % self.islands].append(c)
        self.rerank()

    def rerank(self) -> None:
        self.members = [self.ranked(list(dict.fromkeys(isl)))[:self.per_island] for isl in self.members]

    def all(self) -> list:
        """Every member, best first (the eligible first)."""
        return self.ranked(list(dict.fromkeys(c for isl in self.members for c in isl)))

    def best(self):
        """The best eligible member (None while no member has enough seeds); a person's top choice first."""
        ranked = [c for c in self.all() if self.eligible(c) or c.id == self.pinned]
        return ranked[0] if ranked else None

    def parent_for(self, sample: int):
        """The parent of sample ``k``: round-robin over its island's eligible members, best first (None at start);
        a person's top choice counts as eligible (it needs no second seed)."""
        island = [c for c in self.members[sample % self.islands] if self.eligible(c) or c.id == self.pinned]
        if not island:
            island = [c for c in self.all() if self.eligible(c) or c.id == self.pinned]
        if not island:
            return None
        return island[(sample // self.islands) % len(island)]
