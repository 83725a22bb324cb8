"""How a person's choices steer the search, in numbers a page can show.

- :func:`session_favourite`: the candidate a person preferred most in one session (their top choice);
  the loop pins it in the population (``Population.prefer``): it survives and parents the next iteration.
- :func:`project`: where each candidate shown in a session would land if the session ended now
  (fitness rank, preference rank, place, kept or not), recomputed live as the person answers.
- :func:`outcome`: what the choices did once the session is over (new population, next parents, where
  each note went), for the page, the terminal and the run's event log.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from eureka.prefer.scores import bradley_terry

DECISIVE = ("a", "b", "tie")


def session_favourite(answers: Iterable[dict]) -> str | None:
    """The person's top choice among one session's answers (``a``, ``b``, ``choice``), or None.

    Bradley-Terry scores over this session's answers only (earlier sessions do not vote here); the
    top candidate must have won at least one comparison outright. Ties go to more wins, then to the
    candidate seen first.
    """
    answers = [r for r in answers if r.get("choice") in DECISIVE]
    ids = list(dict.fromkeys(x for r in answers for x in (r["a"], r["b"])))
    wins = {i: 0 for i in ids}
    for r in answers:
        if r["choice"] in ("a", "b"):
            wins[r[r["choice"]]] += 1
    if not any(wins.values()):
        return None
    scores = bradley_terry(ids, [(r["a"], r["b"], r["choice"]) for r in answers])
    return max(ids, key=lambda i: (wins[i] > 0, round(scores[i], 6), wins[i], -ids.index(i)))


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def project(rows: list[dict], scores: dict[str, float], favourite: str | None, selection: str,
            size: int) -> dict[str, dict]:
    """For each candidate row (``id``, ``fitness``): its fitness rank, preference rank, place and whether it
    would be kept by ``loop.selection`` with ``size`` places if the session ended now (ranks count from 1).

    Islands are ignored (one population of ``size``); the top choice is pinned first unless the
    selection is ``fitness``.
    """
    from eureka.evolve.population import rank  # lazy: eureka.evolve imports this package

    cands = [SimpleNamespace(id=r["id"], fitness=_num(r.get("fitness")), preference=scores.get(r["id"]))
             for r in rows]
    by_f = {c.id: i + 1 for i, c in enumerate(rank(cands, "fitness"))}
    by_p = {c.id: i + 1 for i, c in enumerate(rank(cands, "preference"))}
    order = rank(cands, selection)
    if favourite and selection != "fitness":
        order = sorted(order, key=lambda c: c.id != favourite)
    return {c.id: {"fitness_rank": by_f[c.id], "preference_rank": by_p[c.id] if c.preference is not None else None,
                   "place": i + 1, "kept": i < size, "top_choice": c.id == favourite}
            for i, c in enumerate(order)}


def selection_text(selection: str, population: int, *, competing: int | None = None, samples: int | None = None,
                   last: bool = False, final_seeds: int | None = None) -> str:
    """How the person's choices act on the search, for ``loop.selection``, with this session's numbers."""
    places = (f"{competing} candidates compete for {population} places in the population"
              if competing is not None else f"the best {population} form the population")
    if selection == "mixed":
        how = ("Your choices count: loop.selection=mixed ranks candidates by the mean of their fitness rank and "
               "their preference rank (equal weight, 1/2 each); ties go to your preference, not to fitness. "
               "Your top choice of this session is kept whatever its rank and comes first.")
    elif selection == "preference":
        how = ("Your choices decide: loop.selection=preference ranks candidates by your preference scores "
               "(fitness only breaks ties). Your top choice of this session is kept and comes first.")
    else:
        how = ("loop.selection=fitness: your choices are recorded and scored but do not change which candidates "
               "are kept (only your notes reach the next prompts); use loop.selection=mixed or preference to "
               "let them count.")
    if last:
        goes = ("your top choice" if selection != "fitness" else "the candidate with the highest fitness")
        seeds = f" with {final_seeds} seed(s)" if final_seeds else ""
        tail = (f" This is the last session: there is no next iteration. It decides which reward is re-trained"
                f"{seeds} in the final evaluation: {goes} (the first of the population below).")
    else:
        parents = f" of the next iteration's {samples} sample(s)" if samples else " of the next iteration"
        tail = f" This session: {places}; the population's members are the parents{parents}, first place first."
        if selection != "fitness":
            tail += " Your top choice parents the first sample."
    return f"{how}{tail}"


def survive_text(competing: int, population: int) -> str:
    """The warning shown before a session in which every candidate is kept whatever the person chooses."""
    return (f"Every candidate survives whatever you choose: {competing} candidate(s) and {population} places "
            f"(loop.population={population} >= candidates). Your choices still decide the order: your top choice "
            f"comes first and parents the first sample; your notes reach the children.")


def outcome(iteration: int, favourite: str | None, selection: str, population: list, parents: list,
            notes: dict[str, list[str]], shown: Iterable[str], last: bool) -> dict:
    """What a session's choices did: ``population`` (candidates, best first, after selection), ``parents``
    (the parent of each sample of the next iteration), ``notes`` (candidate id -> this session's notes)."""
    kept = {c.id for c in population}
    row = lambda c: {"id": c.id, "fitness": c.fitness, "preference": c.preference}  # noqa: E731
    return {"iteration": iteration, "selection": selection, "favourite": favourite,
            "favourite_kept": favourite in kept if favourite else None,
            "favourite_parent": favourite in {p.id for p in parents if p is not None} if favourite else None,
            "population": [row(c) for c in population],
            "dropped": [cid for cid in dict.fromkeys(shown) if cid not in kept],
            "parents": [{"sample": k, "parent": p.id if p is not None else None} for k, p in enumerate(parents)],
            "notes": [{"note": n, "parent": cid, "children": []} for cid, ns in notes.items() for n in ns],
            "last": last, "final": population[0].id if last and population else None}


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def outcome_lines(out: dict) -> list[str]:
    """The terminal's account of an outcome (the page shows the same)."""
    it = out["iteration"] + 1
    lines = []
    fav = out.get("favourite")
    if fav:
        lines.append(f"your top choice of session {it}: {fav}"
                     + (" (kept, first in the population)" if out.get("favourite_kept") and
                        out["selection"] != "fitness" else "")
                     + ("" if out["selection"] != "fitness" else " (loop.selection=fitness: it does not steer)"))
    pop = ", ".join(f"{p['id']} (fitness {_fmt(p['fitness'])})" for p in out["population"])
    lines.append(f"population after session {it}: {pop}")
    if out.get("dropped"):
        lines.append("dropped: " + ", ".join(out["dropped"]))
    if out.get("last"):
        lines.append(f"last session: {out.get('final')} goes to the final re-training")
    else:
        parents = ", ".join(f"sample {p['sample']} <- {p['parent']}" for p in out["parents"])
        lines.append(f"parents of iteration {it + 1}: {parents}")
    for n in out.get("notes", []):
        lines.append(f'note "{n["note"]}" -> the children of {n["parent"]}')
    return lines


__all__ = ["outcome", "outcome_lines", "project", "selection_text", "session_favourite", "survive_text"]
