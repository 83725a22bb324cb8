"""Which pairs a person compares."""

from __future__ import annotations

import itertools

import numpy as np


def choose_pairs(ids: list[str], max_pairs: int = 10, seed: int = 0) -> list[tuple[str, str]]:
    """All pairs when few; otherwise neighbours in the given ranking (most informative) plus random ones.

    ``ids`` should be ranked best first (e.g. by fitness).
    """
    all_pairs = list(itertools.combinations(ids, 2))
    if len(all_pairs) <= max_pairs:
        return all_pairs
    chosen = [(ids[i], ids[i + 1]) for i in range(len(ids) - 1)][:max_pairs]
    rest = [p for p in all_pairs if p not in chosen]
    rng = np.random.default_rng(seed)
    for i in rng.permutation(len(rest))[:max(0, max_pairs - len(chosen))]:
        chosen.append(rest[int(i)])
    return chosen
