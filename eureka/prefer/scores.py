"""Pairwise choices to scores: Bradley-Terry (MM algorithm, ties as half wins)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def bradley_terry(ids: Iterable[str], comparisons: Iterable[tuple[str, str, str]], iters: int = 200,
                  prior: float = 0.5) -> dict[str, float]:
    """Bradley-Terry log-strengths (mean 0) from ``(a, b, choice)`` with choice ``a``/``b``/``tie``.

    Fitted with Hunter's MM updates. A tie counts as half a win for each side;
    ``prior`` virtual half-wins and half-losses against an average opponent keep
    undefeated (or never-winning) candidates finite. Skips are ignored.
    Candidates without comparisons get 0.
    """
    ids = list(dict.fromkeys(ids))
    wins = {i: prior for i in ids}
    games: dict[tuple[str, str], float] = {}
    for a, b, choice in comparisons:
        if a not in wins or b not in wins or a == b or choice not in ("a", "b", "tie"):
            continue
        key = (a, b) if a < b else (b, a)
        games[key] = games.get(key, 0.0) + 1.0
        if choice == "a":
            wins[a] += 1.0
        elif choice == "b":
            wins[b] += 1.0
        else:
            wins[a] += 0.5
            wins[b] += 0.5
    p = {i: 1.0 for i in ids}
    for _ in range(iters):
        new = {}
        for i in ids:
            denom = 2 * prior / (p[i] + 1.0)  # the virtual games against an opponent of strength 1
            for (a, b), n in games.items():
                if i in (a, b):
                    j = b if i == a else a
                    denom += n / (p[i] + p[j])
            new[i] = wins[i] / denom if denom > 0 else p[i]
        mean_log = sum(math.log(v) for v in new.values()) / max(len(new), 1)
        p = {i: v / math.exp(mean_log) for i, v in new.items()}
    return {i: round(math.log(v), 6) for i, v in p.items()}
