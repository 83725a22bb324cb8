"""One preference round: videos, pairs, the session, and what came of it (scores and notes).

The loop calls :func:`run_round` after an iteration's training and applies the
returned :class:`PreferenceRound`: Bradley-Terry scores on its candidates, notes
on the prompts of the children of the candidates they were aimed at.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eureka.config import EurekaConfig
from eureka.prefer.pairs import choose_pairs, pair_key
from eureka.prefer.scores import bradley_terry
from eureka.prefer.session import Pair, Session, SessionInfo
from eureka.prefer.steer import selection_text, session_favourite, survive_text


@dataclass
class PreferenceRound:
    """What one preference session produced."""

    iteration: int
    scores: dict[str, float] = field(default_factory=dict)   # Bradley-Terry score per compared candidate (run)
    notes: dict[str, list[str]] = field(default_factory=dict)  # candidate id -> notes for its children
    pairs: int = 0          # pairs asked in this session
    answered: int = 0       # of those, answered (a, b, tie or skip)
    known: int = 0          # pairs not asked: answered in an earlier session and unchanged
    repeated: int = 0       # pairs asked again on purpose (a side was re-evaluated)
    timed_out: bool = False
    ended: str = ""         # all answered | done | quit | idle | no pairs
    message: str = ""
    videos: list[dict] = field(default_factory=list)  # what the renderer reported for each video made
    favourite: str | None = None  # the person's top choice of this session (None: no decisive answer)
    shown: list[str] = field(default_factory=list)  # the candidates the session showed (population + new)

    @property
    def fell_back(self) -> int:
        """Pairs left unanswered: fitness decides for them."""
        return max(0, self.pairs - self.answered)

    def line(self) -> str:
        """The one terminal line printed when the session ends."""
        head = f"preferences, iteration {self.iteration + 1}: "
        if not self.pairs:
            extra = f" ({self.known} answered in earlier sessions)" if self.known else ""
            return head + f"no new pairs to compare{extra}"
        text = (f"{self.answered} of {self.pairs} pair(s) answered, {self.fell_back} fell back to fitness"
                + (f" ({self.message})" if self.message else ""))
        by_note: dict[str, list[str]] = {}
        for cid, notes in self.notes.items():
            for note in notes:
                by_note.setdefault(note, []).append(cid)
        if by_note:
            text += "; notes: " + "; ".join(f'"{n}" -> children of {", ".join(ids)}' for n, ids in by_note.items())
        else:
            text += "; no notes"
        return head + text

    def event(self) -> dict:
        """The ``preferences`` event of the run's log."""
        return {"iteration": self.iteration, "pairs": self.pairs, "answered": self.answered,
                "fell_back": self.fell_back, "known": self.known, "repeated": self.repeated,
                "timed_out": self.timed_out, "ended": self.ended, "message": self.message}


# -- what a candidate looks like on the page ------------------------------------------------------
def revision(c: Any) -> str:
    """Changes when a candidate is re-evaluated (code or fitness): a pair answered before is asked again."""
    return hashlib.sha1(f"{c.code}\n{c.fitness!r}".encode()).hexdigest()[:10]


def public(c: Any) -> dict:
    """What a session shows of a candidate."""
    video = Path(c.reward_path).parent / "rollout.mp4" if c.reward_path else None
    reflection = getattr(c, "reflection", None)
    return {"id": c.id, "fitness": c.fitness, "preference": c.preference, "parent": c.parent,
            "iteration": getattr(c, "iteration", None), "code": c.code,
            "reflection": getattr(reflection, "text", "") or "", "revision": revision(c),
            "video": str(video) if video is not None and video.exists() else None}


# -- what the page says about choices and notes ----------------------------------------------------
def note_hint(provider: str, state_names: list[str]) -> str:
    """What the designer in use does with a note."""
    if provider == "offline":
        names = ", ".join(state_names)
        return ("The offline designer understands 'more X' (weight x2), 'less X' (x1/2) and 'no X' / 'drop X' "
                f"(remove the term), where X is a state variable or part of a term's name: {names}. "
                "A note changes only the terms it names: the rest of the child is its parent's, unchanged (other "
                "mutations wait for the next child; further children of the same parent try x3, x1.5, x4). "
                "The note goes to the children of the candidate you preferred (both on a tie or skip).")
    return ("Your note is added to the child's prompt: the designer reads it, as written, when it writes the "
            "children of the candidate you preferred (both on a tie or skip).")


def note_example(task: Any) -> str:
    """A placeholder for the note box in the task's own words (its hints' variables, else its state names)."""
    names = list(getattr(task, "state_names", []) or [])
    more = less = None
    for h in getattr(task, "hints", None) or []:
        var = getattr(h, "var", "")
        if var in names and getattr(h, "goal", "") == "maximize" and more is None:
            more = var
        elif var in names and getattr(h, "goal", "") == "minimize" and less is None:
            less = var
    hinted = [h.var for h in getattr(task, "hints", None) or [] if getattr(h, "var", "") in names]
    more = more or next(iter(hinted), names[0] if names else "")
    less = less or next((n for n in hinted + names if n != more), "")
    parts = [f"more {more}" if more else "", f"less {less}" if less else ""]
    return "e.g. " + ", ".join(p for p in parts if p) if more else "what should change?"


def earlier_answers(records: list[dict], iteration: int) -> dict[tuple[str, str], dict]:
    """The last answer to each unordered pair in sessions before ``iteration``."""
    out: dict[tuple[str, str], dict] = {}
    for r in records:
        if "pair_id" in r and r.get("iteration", -1) < iteration and r.get("choice"):
            out[pair_key(r["a"], r["b"])] = r
    return out


def _unique(cands: list) -> list:
    """Candidates without repeats (by id), in their first order."""
    seen: dict[str, Any] = {}
    for c in cands:
        seen.setdefault(c.id, c)
    return list(seen.values())


def _fitness(c: Any) -> float:
    return c.fitness if c.fitness is not None and math.isfinite(c.fitness) else -math.inf


def run_round(session: Session, iteration: int, candidates: list, population: list, *, everyone: list,
              cfg: EurekaConfig, store: Any, task: Any, reporter: Any) -> PreferenceRound:
    """Make videos, ask about pairs of this iteration's best candidates and the population, collect the result.

    ``candidates`` are this iteration's, ``population`` the current one (best
    first), ``everyone`` every candidate of the run (the ids Bradley-Terry
    scores are fitted over).
    """
    from eureka.render import record_videos

    fb = cfg.feedback
    rnd = PreferenceRound(iteration)
    fresh = sorted([c for c in candidates if c.status == "ok" and c.fitness is not None],
                   key=lambda c: -_fitness(c))[:fb.max_candidates]
    by_id = {c.id: c for c in sorted(_unique(fresh + list(population)), key=lambda c: -_fitness(c))}
    shown = list(by_id.values())
    revs = {c.id: revision(c) for c in shown}
    earlier = earlier_answers(session.log.records(), iteration)
    known: set[tuple[str, str]] = set()
    why: dict[tuple[str, str], str] = {}
    for a, b in itertools.combinations(by_id, 2):
        rec = earlier.get(pair_key(a, b))
        if rec is None:
            continue
        then = {rec["a"]: rec.get("a_rev"), rec["b"]: rec.get("b_rev")}
        changed = [x for x in (a, b) if then.get(x) not in (None, revs[x])]
        if changed:
            why[pair_key(a, b)] = (f"{' and '.join(changed)} {'was' if len(changed) == 1 else 'were'} re-evaluated "
                                   f"since you answered this pair in iteration {rec['iteration'] + 1}")
        else:
            known.add(pair_key(a, b))
    rnd.known = len(known)
    chosen = choose_pairs(list(by_id), fb.max_pairs, cfg.seed + iteration,
                          exclude=known) if len(shown) >= 2 else []
    if chosen:
        reporter.phase("recording rollout videos for the preference session")
        rnd.videos = record_videos(cfg, store, [by_id[x] for x in dict.fromkeys(x for p in chosen for x in p)],
                                   reporter)
        reflections = {c.id: getattr(getattr(c, "reflection", None), "text", "") or "" for c in everyone}

        def show(c: Any) -> dict:
            return public(c) | {"parent_reflection": reflections.get(c.parent, "") if c.parent else ""}

        info = {c.id: show(c) for c in shown}
        pairs = [Pair(f"iter{iteration}:{a}|{b}", info[a], info[b]) for a, b in chosen]
        repeated = {p.pair_id: why[pair_key(p.a["id"], p.b["id"])] for p in pairs
                    if pair_key(p.a["id"], p.b["id"]) in why}
        in_pop = {c.id for c in population}
        table = [{**show(c), "in_population": c.id in in_pop, "current": c.iteration == iteration}
                 for c in _unique(list(population) + sorted(
                     [c for c in candidates if c.status == "ok"], key=lambda c: -_fitness(c)))]
        selection, size = cfg.loop.selection, cfg.loop.population
        iterations = cfg.iterations
        last = bool(iterations) and iteration >= iterations - 1
        seeds = cfg.eval.seeds
        session_info = SessionInfo(
            session_id=f"{iteration}-{secrets.token_hex(4)}", iterations=iterations,
            selection=selection,
            selection_text=selection_text(selection, size, competing=len(table), samples=cfg.samples,
                                          last=last, final_seeds=len(seeds) if seeds else None),
            note_hint=note_hint(cfg.llm.provider, list(task.state_names)),
            repeated=repeated, known=len(known), candidates=table, score_ids=[c.id for c in everyone],
            population_size=size, last=last, note_example=note_example(task),
            survive=survive_text(len(table), size) if len(table) <= size and not last else "")
        reporter.phase(f"preference session ({fb.mode}): {len(pairs)} pair(s)"
                       + (f", {len(known)} answered earlier not asked again" if known else ""))
        with reporter.paused():
            result = session.run(iteration, pairs, [public(c) for c in population] or list(info.values()),
                                 session_info)
        answers = session.log.latest(iteration)
        rnd.pairs, rnd.repeated = len(pairs), len(repeated)
        rnd.answered = sum(1 for p in pairs if p.pair_id in answers)
        rnd.timed_out, rnd.ended, rnd.message = result.timed_out, result.ended, result.message
        rnd.favourite = session_favourite(answers[p.pair_id] for p in pairs if p.pair_id in answers)
        rnd.shown = [c["id"] for c in table]
        for rec in answers.values():
            note = (rec.get("note") or "").strip()
            if not note:
                continue
            for cid in {"a": [rec["a"]], "b": [rec["b"]]}.get(str(rec.get("choice")), [rec["a"], rec["b"]]):
                rnd.notes.setdefault(cid, [])
                if note not in rnd.notes[cid]:
                    rnd.notes[cid].append(note)
    else:
        rnd.ended = "no pairs"
    comparisons = session.log.comparisons()
    compared = {x for a, b, _ in comparisons for x in (a, b)}
    scores = bradley_terry([c.id for c in everyone], comparisons)
    rnd.scores = {k: v for k, v in scores.items() if k in compared}
    return rnd


__all__ = ["PreferenceRound", "earlier_answers", "note_example", "note_hint", "public", "revision", "run_round",
           "selection_text"]
