"""Which pairs a person compares."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np


def pair_key(a: str, b: str) -> tuple[str, str]:
    """The unordered identity of a pair."""
    return (a, b) if a < b else (b, a)


def choose_pairs(ids: list[str], max_pairs: int = 10, seed: int = 0,
                 exclude: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """All pairs when few; otherwise neighbours in the given ranking (most informative) plus random ones.

    ``ids`` should be ranked best first (e.g. by fitness). Pairs in ``exclude``
    (either order: e.g. answered in an earlier session) are never chosen.
    """
    skip = {pair_key(a, b) for a, b in exclude}
    all_pairs = [p for p in itertools.combinations(ids, 2) if pair_key(*p) not in skip]
    if len(all_pairs) <= max_pairs:
        return all_pairs
    neighbours = [(ids[i], ids[i + 1]) for i in range(len(ids) - 1)]
    chosen = [p for p in neighbours if pair_key(*p) not in skip][:max_pairs]
    rest = [p for p in all_pairs if p not in chosen]
    rng = np.random.default_rng(seed)
    for i in rng.permutation(len(rest))[:max(0, max_pairs - len(chosen))]:
        chosen.append(rest[int(i)])
    return chosen
