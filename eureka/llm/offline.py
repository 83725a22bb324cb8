"""The offline designer: an evolutionary reward-program synthesizer (no LLM, no key, no network).

In the spirit of AutoRL "Evolving Rewards": a genome is a list of named
terms, each a transform of a state variable with a weight and a scale. It
writes real, readable, TorchScript-compatible Python from the genome, and
evolves genomes using the reflection statistics of the parent:

- a component that stayed constant is rewritten (new transform) or dropped;
- a component 10x larger than the rest is scaled down, a tiny one up;
- a fitness curve that never moved changes the transform of a term;
- random weight/scale perturbations, term additions and removals, and
  crossover with other population members keep the search going; an added
  term never pulls to zero a variable the hints ask to maximize, nor one of
  its unit or of its time integral's (``against_maximized``: hopper's
  ``qvel`` and ``x_position`` while it maximizes ``x_velocity``);
- human notes act as directives: "more X" / "less X" scale terms whose
  variable or name contains X up / down, "no X" / "drop X" removes them.
  A child whose notes name terms of its parent gets only those changes (the
  other terms stay as the parent had them; reflection rules, crossover and
  perturbations wait for the next child), so a note acts on what it names.

Seeds come from the task's hints (variable + goal), or from every state
variable with target 0 when a task gives none; where the seed pays an alive
bonus beside a maximized objective, the first iteration's samples weigh the
objective x1, x2, x4, x8 against it (``OBJECTIVE_LADDER``). The answer is free text with
a fenced code block, like an LLM's, and goes through the same critic.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import asdict, dataclass

import numpy as np

from eureka.analyze import Reflection
from eureka.llm.base import Answer, Designer, DesignRequest
from eureka.tasks import Hint, StateVar, Task

KINDS = ("tolerance", "linear", "sq_error", "abs_error", "band", "alive", "product")
SIGMOIDS = ("gaussian", "long_tail", "linear")
GENOME_TAG = "# eureka-genome: "


@dataclass
class Term:
    """One reward term: ``weight * transform(var)``."""

    name: str
    kind: str
    var: str = ""
    target: float = 0.0
    scale: float = 1.0
    weight: float = 1.0
    sigmoid: str = "gaussian"
    sign: float = 1.0
    low: float = -1.0
    high: float = 1.0
    var2: str = ""
    target2: float = 0.0
    scale2: float = 1.0


def _f(x: float) -> str:
    """A float literal TorchScript reads as float."""
    s = f"{float(x):.4g}"
    return s if any(c in s for c in ".en") else s + ".0"


def term_from_hint(hint: Hint) -> Term:
    """The seed term for one task hint."""
    if hint.goal == "alive":
        return Term("alive", "alive", weight=hint.weight)
    if hint.goal == "maximize":
        return Term(f"{hint.var}_up", "linear", hint.var, scale=hint.scale, weight=hint.weight, sign=1.0)
    if hint.goal == "minimize":
        return Term(f"{hint.var}_penalty", "abs_error", hint.var, 0.0, hint.scale, hint.weight)
    if hint.goal == "band":
        low = hint.low if hint.low is not None else hint.target - hint.scale
        high = hint.high if hint.high is not None else hint.target + hint.scale
        return Term(f"{hint.var}_in_band", "band", hint.var, weight=hint.weight, low=low, high=high)
    return Term(f"{hint.var}_near_target", "tolerance", hint.var, hint.target, hint.scale, hint.weight)


def seed_genome(task: Task) -> list[Term]:
    """Terms from the task's hints, or a tolerance-to-zero term per state variable."""
    if task.hints:
        return [term_from_hint(h) for h in task.hints]
    return [Term(f"{v.name}_near_zero", "tolerance", v.name, 0.0, 1.0, 1.0)
            for v in task.state_vars if v.name != "actions"]


class CodeWriter:
    """Emit Python source for a genome."""

    def __init__(self, task: Task):
        self.vector = {v.name for v in task.state_vars if "," in v.shape}
        self.first_var = task.state_vars[0].name

    def expr(self, var: str) -> str:
        return f"torch.linalg.vector_norm({var}, dim=-1)" if var in self.vector else var

    def transform(self, t: Term) -> str:
        x = self.expr(t.var) if t.var else ""
        d = f"({x} - {_f(t.target)}) / {_f(t.scale)}"
        if t.kind == "alive":
            return f"torch.ones_like({self.expr(self.first_var)})"
        if t.kind == "tolerance":
            return self.tolerance(d, t.sigmoid)
        if t.kind == "linear":
            return f"{_f(t.sign)} * {x} / {_f(t.scale)}"
        if t.kind == "sq_error":
            return f"-(({d}) ** 2)"
        if t.kind == "abs_error":
            return f"-torch.abs({d})"
        if t.kind == "band":
            return f"(({x} >= {_f(t.low)}) & ({x} <= {_f(t.high)})).float()"
        if t.kind == "product":
            d2 = f"({self.expr(t.var2)} - {_f(t.target2)}) / {_f(t.scale2)}"
            return f"{self.tolerance(d, t.sigmoid)} * {self.tolerance(d2, t.sigmoid)}"
        raise ValueError(f"unknown term kind {t.kind}")

    @staticmethod
    def tolerance(d: str, sigmoid: str) -> str:
        if sigmoid == "long_tail":
            return f"1.0 / (1.0 + ({d}) ** 2)"
        if sigmoid == "linear":
            return f"torch.clamp(1.0 - torch.abs({d}), min=0.0)"
        return f"torch.exp(-0.5 * ({d}) ** 2)"

    def code(self, genome: list[Term]) -> str:
        used: list[str] = []
        for t in genome:
            for v in ((t.var, t.var2) if t.kind == "product" else (t.var,)):
                if v and v not in used:
                    used.append(v)
        if any(t.kind == "alive" for t in genome) and self.first_var not in used:
            used.append(self.first_var)
        params = ", ".join(f"{v}: torch.Tensor" for v in used)
        # the critic's header imports these same lines (and math, numpy): spelt alike, none is imported twice
        lines = ["import torch", "from typing import Dict, List, Optional, Tuple", "", "", "@torch.jit.script",
                 f"def compute_reward({params}) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:",
                 f"    {GENOME_TAG}{json.dumps([_compact(t) for t in genome], separators=(',', ':'))}"]
        for t in genome:
            lines.append(f"    {t.name} = {_f(t.weight)} * {self.transform(t)}")
        lines.append(f"    reward = {' + '.join(t.name for t in genome)}")
        lines.append("    components: Dict[str, torch.Tensor] = {"
                     + ", ".join(f'"{t.name}": {t.name}' for t in genome) + "}")
        lines.append("    return reward, components")
        return "\n".join(lines) + "\n"


_DEFAULT = asdict(Term("", ""))


def _compact(t: Term) -> dict:
    return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(t).items()
            if k in ("name", "kind") or v != _DEFAULT[k]}


def genome_from_code(code: str) -> list[Term] | None:
    """Recover the genome embedded in code this designer wrote (None for foreign code)."""
    for line in code.splitlines():
        line = line.strip()
        if line.startswith(GENOME_TAG):
            try:
                return [Term(**d) for d in json.loads(line[len(GENOME_TAG):])]
            except (ValueError, TypeError):
                return None
    return None


def _unique_name(genome: list[Term], base: str) -> str:
    names = {t.name for t in genome}
    name, i = base, 2
    while name in names:
        name, i = f"{base}_{i}", i + 1
    return name


def objective_term(task: Task) -> Term | None:
    """The seed term tied to the task's objective: from its first hint that is not an alive bonus or an
    action penalty (every built-in task lists its goal first); None without hints."""
    for h in task.hints:
        if h.goal != "alive" and h.var != "actions":
            return term_from_hint(h)
    return None


def against_maximized(task: Task, var: StateVar) -> bool:
    """Whether a term pulling ``var`` to zero works against a variable the hints ask to maximize: ``var`` is
    that variable or has its unit or its time integral's (hopper's ``qvel`` in m/s holds ``x_velocity``;
    ``x_position`` in m grows with it), judged by the first unit token."""
    mine = (var.unit.split() or [""])[0]
    for h in task.hints:
        if h.goal != "maximize":
            continue
        if var.name == h.var:
            return True
        unit = next((v.unit for v in task.state_vars if v.name == h.var), "")
        if unit not in ("", "-") and mine in (unit, unit.removesuffix("/s")):
            return True
    return False


class Mutator:
    """Genome operators, driven by the reflection statistics and a seeded RNG.

    The term tied to the task's objective (``objective_term``) is never dropped and never changes
    sign: mutations may rescale or reshape it, and ``keep_objective`` restores it after all of them.
    """

    def __init__(self, task: Task, rng: np.random.Generator):
        self.task, self.rng = task, rng
        self.pool = [term_from_hint(h) for h in task.hints] + [
            Term(f"{v.name}_near_zero", "tolerance", v.name, 0.0, 1.0, 0.5)
            for v in task.state_vars if v.name != "actions" and not against_maximized(task, v)]
        self.objective = objective_term(task)

    def is_objective(self, t: Term) -> bool:
        return self.objective is not None and t.name == self.objective.name

    def keep_objective(self, genome: list[Term], parent: list[Term] | None = None) -> tuple[list[Term], list[str]]:
        """The objective's term back where a mutation dropped it (the parent's version, else the seed's), with
        a positive weight and the seed's sign."""
        if self.objective is None:
            return genome, []
        notes = []
        mine = [t for t in genome if self.is_objective(t)]
        if not mine:
            source = [t for t in (parent or []) if self.is_objective(t)] or [self.objective]
            genome = [copy.copy(source[0]), *genome]
            mine = genome[:1]
            notes.append(f"kept the objective's term '{self.objective.name}'")
        for t in mine:
            if t.weight <= 0 or t.sign != self.objective.sign:
                t.weight, t.sign = abs(t.weight) or self.objective.weight, self.objective.sign
                notes.append(f"kept the sign of the objective's term '{t.name}'")
        return genome, notes

    def weigh_progress(self, genome: list[Term], factor: float) -> tuple[list[Term], list[str]]:
        """The objective's weight times ``factor`` where the genome also pays an alive bonus and the objective
        is a quantity to maximize (a velocity, a position): the two pull against each other (a policy that stands
        still earns the bonus), and how much progress is worth against survival is the constant that decides
        what a locomotion reward teaches; nothing in the hints' units says it. Unchanged otherwise."""
        if factor == 1.0 or not any(t.kind == "alive" for t in genome):
            return genome, []
        out, notes = [copy.copy(t) for t in genome], []
        for t in out:
            if self.is_objective(t) and t.kind == "linear":
                t.weight *= factor
                notes.append(f"weighed the objective '{t.name}' x{factor:g} against the alive bonus")
        return out, notes

    def reflect(self, genome: list[Term], reflection: Reflection | None) -> tuple[list[Term], list[str]]:
        """Apply the reflection rules; return the new genome and what was changed."""
        if not reflection:
            return genome, []
        notes = []
        comps = reflection.components
        mags = {k: abs(c["mean"]) for k, c in comps.items()}
        out = []
        for t in genome:
            c = comps.get(t.name)
            if c is None:
                out.append(t)
                continue
            others = [m for k, m in mags.items() if k != t.name] or [0.0]
            if t.kind != "alive" and c["max"] - c["min"] < 1e-6 and c.get("std_within", 0.0) < 1e-6:
                if len(genome) > 1 and not self.is_objective(t) and self.rng.random() < 0.5:
                    notes.append(f"dropped constant term '{t.name}'")
                    continue
                t = self.rewrite(t)
                notes.append(f"rewrote constant term '{t.name}'")
            elif mags[t.name] > 10 * max(max(others), 1e-8):
                t.weight /= float(self.rng.uniform(3, 10))
                notes.append(f"scaled down dominating term '{t.name}'")
            elif mags[t.name] < 0.01 * max(max(others), 1e-8):
                t.weight *= float(self.rng.uniform(3, 10))
                notes.append(f"scaled up tiny term '{t.name}'")
            out.append(t)
        curve = [v for v in reflection.fitness_curve if v is not None]
        if len(curve) >= 3 and max(curve) - min(curve) < 1e-3 * (abs(max(curve)) + 1):
            candidates = [t for t in out if t.kind != "alive"]
            if candidates:
                t = candidates[int(self.rng.integers(len(candidates)))]
                self.change_transform(t)
                notes.append(f"fitness stagnated: changed the transform of '{t.name}'")
        return out or genome, notes

    def no_early_termination(self, genome: list[Term], reflection: Reflection | None) -> tuple[list[Term], list[str]]:
        """When the reflection says the policy ends episodes to escape a negative reward (the
        ``early_termination`` signal), make the reward per step non-negative, as an LLM would be told:
        penalties that are negative everywhere (absolute or squared error) become tolerance terms in [0, 1]
        with the same target and scale, and a positive alive bonus larger than the reward's negative mean
        per step is added (or raised). Idempotent: a child keeps the fix through later mutations."""
        if reflection is None or not reflection.has("early_termination"):
            return genome, []
        notes = []
        out = []
        for t in genome:
            if t.kind in ("abs_error", "sq_error") and not self.is_objective(t):
                t = copy.copy(t)
                t.kind, t.sigmoid, t.weight = "tolerance", "long_tail", abs(t.weight)
                notes.append(f"early termination: turned penalty '{t.name}' (negative everywhere) into a "
                             "tolerance term in [0, 1]")
            out.append(t)
        total = sum(float(c.get("mean", 0.0)) for c in reflection.components.values())
        bonus = float(round(max(1.0, 2.0 * abs(min(total, 0.0))), 3))
        alive = [t for t in out if t.kind == "alive"]
        if not alive:
            out.append(Term(_unique_name(out, "alive"), "alive", weight=bonus))
            notes.append(f"early termination: added a positive alive bonus (+{bonus:g} per step) so that a step "
                         "is worth more than ending the episode")
        elif any(t.weight < bonus for t in alive):
            for t in alive:
                t.weight = max(abs(t.weight), bonus)
            notes.append(f"early termination: raised the alive bonus to +{bonus:g} per step")
        return out, notes

    def rewrite(self, t: Term) -> Term:
        t = copy.copy(t)
        if t.kind in ("tolerance", "product"):
            t.sigmoid = SIGMOIDS[int(self.rng.integers(len(SIGMOIDS)))]
            t.scale *= float(self.rng.choice([0.3, 3.0]))
        else:
            self.change_transform(t)
        return t

    def change_transform(self, t: Term) -> None:
        if t.kind == "tolerance":
            t.sigmoid = [s for s in SIGMOIDS if s != t.sigmoid][int(self.rng.integers(2))]
        elif t.kind in ("sq_error", "abs_error"):
            t.kind = "tolerance"
            t.sigmoid = "long_tail"
        elif t.kind == "linear":
            t.scale *= float(self.rng.choice([0.5, 2.0]))
        elif t.kind == "band":
            width = (t.high - t.low) / 2 or 1.0
            t.kind, t.target, t.scale = "tolerance", (t.high + t.low) / 2, width

    def perturb(self, genome: list[Term], strength: float = 0.3) -> list[Term]:
        out = [copy.copy(t) for t in genome]
        for t in out:
            if self.rng.random() < 0.7:
                t.weight *= float(np.exp(self.rng.normal(0, strength)))
            if t.kind != "alive" and self.rng.random() < 0.5:
                t.scale *= float(np.exp(self.rng.normal(0, strength)))
        r = self.rng.random()
        if r < 0.2:
            new = copy.copy(self.pool[int(self.rng.integers(len(self.pool)))])
            if new.name not in {t.name for t in out}:
                out.append(new)
        elif r < 0.3 and len(out) > 1:
            droppable = [i for i, t in enumerate(out) if not self.is_objective(t)]
            if droppable:
                out.pop(droppable[int(self.rng.integers(len(droppable)))])
        elif r < 0.4:
            tol = [t for t in out if t.kind == "tolerance"]
            if len(tol) >= 2:
                a, b = (tol[i] for i in self.rng.choice(len(tol), 2, replace=False))
                out.append(Term(_unique_name(out, f"{a.var}_and_{b.var}"), "product", a.var, a.target,
                                a.scale, max(a.weight, b.weight), a.sigmoid, var2=b.var, target2=b.target,
                                scale2=b.scale))
        elif r < 0.5:
            candidates = [t for t in out if t.kind != "alive"]
            if candidates:
                self.change_transform(candidates[int(self.rng.integers(len(candidates)))])
        return out

    def crossover(self, a: list[Term], b: list[Term]) -> list[Term]:
        names = {t.name for t in a}
        child = [copy.copy(t) for t in a if self.rng.random() < 0.7]
        child += [copy.copy(t) for t in b if t.name not in names and self.rng.random() < 0.5]
        child = child or [copy.copy(t) for t in a]
        return self.keep_objective(child, a)[0]

    def moved(self, genome: list[Term], parent: list[Term], writer: CodeWriter) -> list[Term]:
        """``genome``, or a perturbed copy when it would write exactly the parent's code (a mutant that
        does not move would only re-train its parent)."""
        for _ in range(5):
            if writer.code(genome) != writer.code(parent):
                break
            genome = self.perturb(genome, strength=0.3)
        return genome

    def apply_notes(self, genome: list[Term], notes: list[str], factor: float = 2.0) -> tuple[list[Term], list[str]]:
        """Directives from human notes: 'more X' (weight x ``factor``), 'less X' (/ ``factor``),
        'no X' / 'drop X' / 'remove X'."""
        done = []
        for note in notes:
            for verb, word in directives(note):
                hits = [t for t in genome if word in t.name.lower() or word in t.var.lower()]
                for t in hits:
                    if verb == "more":
                        t.weight *= factor
                    elif verb == "less":
                        t.weight /= factor
                if verb in ("no", "drop", "remove", "stop") and hits and len(hits) < len(genome):
                    genome = [t for t in genome if t not in hits]
                if hits:
                    done.append(f"'{verb} {word}' -> {', '.join(t.name for t in hits)}")
        return genome, done


NOTES_TAG = "# eureka-notes: "  # the human notes a genome's lineage has already received (applied once)


def notes_from_code(code: str) -> list[str]:
    """The notes recorded in code this designer wrote (``[]`` for foreign code or none)."""
    for line in code.splitlines():
        line = line.strip()
        if line.startswith(NOTES_TAG):
            try:
                notes = json.loads(line[len(NOTES_TAG):])
            except ValueError:
                return []
            return [str(n) for n in notes] if isinstance(notes, list) else []
    return []


def with_notes(code: str, notes: list[str]) -> str:
    """``code`` with a comment line recording ``notes`` after the genome line (JSON: one line, no escape)."""
    if not notes:
        return code
    lines = code.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip().startswith(GENOME_TAG):
            indent = line[:len(line) - len(line.lstrip())]
            lines.insert(i + 1, f"{indent}{NOTES_TAG}{json.dumps(notes, ensure_ascii=True)}\n")
            break
    return "".join(lines)


# the first iteration's samples 0, 1, 2, 3 (then again) weigh a maximized objective 1x, 2x, 4x, 8x against an
# alive bonus (Mutator.weigh_progress): on hopper at 200k steps, seeds 0-5, the hint seed's distance went 1.8 m
# (x1), 3.8 m (x2), 4.1 m (x4), 3.5 m (x8) against the env reward's 2.8 m
# (benchmarks/results/search_quality_hopper_ladder.md)
OBJECTIVE_LADDER = (1.0, 2.0, 4.0, 8.0)
NOTE_FACTORS = (2.0, 3.0, 1.5, 4.0)  # 'more X' / 'less X' for the 1st, 2nd, ... child of one parent


def directives(note: str) -> list[tuple[str, str]]:
    """The ``(verb, word)`` directives of a note ('more x_velocity, less actions')."""
    return [(v, w) for v, w in re.findall(r"\b(more|less|no|drop|remove|stop)\s+([a-z_]+)", note.lower())
            if len(w) >= 3]


def names_terms(genome: list[Term], notes: list[str]) -> bool:
    """Whether some note names a term of ``genome`` (by its variable or part of its name)."""
    return any(w in t.name.lower() or w in t.var.lower() for n in notes for _, w in directives(n) for t in genome)


class OfflineDesigner(Designer):
    """Writes reward code by evolving term genomes; deterministic for a seed."""

    name = "offline"
    model = "offline-synthesizer"

    def __init__(self, temperature: float = 1.0, seed: int = 0):
        super().__init__()
        self.temperature, self.seed = temperature, seed

    def propose(self, request: DesignRequest) -> list[Answer]:
        task = request.task
        writer = CodeWriter(task)
        parent = genome_from_code(request.parent.code) if request.parent else None
        # each note acts once per lineage: notes the parent already received are not applied again
        applied = notes_from_code(request.parent.code) if request.parent else []
        fresh = [n for n in request.notes if n not in applied]
        lineage = applied + fresh
        others = [g for g in (genome_from_code(p.code) for p in request.population) if g]
        answers = []
        for k in range(request.n):
            rng = np.random.default_rng([request.seed, request.iteration, k])
            mut = Mutator(task, rng)
            changes: list[str] = []
            if parent is None:
                genome = seed_genome(task)
                if k > 0:
                    genome = mut.perturb(genome, strength=0.3 * self.temperature)
                    changes.append("perturbed the hint-derived seed")
                    genome, spread = mut.weigh_progress(genome, OBJECTIVE_LADDER[k % len(OBJECTIVE_LADDER)])
                    changes += spread
                else:
                    changes.append("seed genome from the task's hints")
            elif names_terms(parent, fresh):  # a new note acts on what it names, and nothing else
                genome, done = mut.apply_notes([copy.copy(t) for t in parent], fresh,
                                               NOTE_FACTORS[k % len(NOTE_FACTORS)])
                changes += [f"human note {d}" for d in done]
                changes.append("no other change (reflection rules and perturbations wait for the next child)")
                genome, kept = mut.keep_objective(genome, parent)  # a note never removes the task's objective
                changes += kept
                answers.append(Answer(self._prose(task, genome, changes,
                                                  with_notes(writer.code(genome), lineage))))
                continue
            else:
                genome = [copy.copy(t) for t in parent]
                assert request.parent is not None  # a parent genome is read from the request's parent
                genome, notes = mut.reflect(genome, request.parent.reflection)
                changes += notes
                if others and k % 2 == 1:
                    mate = others[int(rng.integers(len(others)))]
                    genome = mut.crossover(genome, mate)
                    changes.append("crossover with another population member")
                if k > 0 or not notes:
                    genome = mut.perturb(genome, strength=0.3 * self.temperature)
                    changes.append("perturbed weights and scales")
            genome, directives = mut.apply_notes(genome, fresh)
            changes += [f"human note {d}" for d in directives]
            genome = self._mutation_rules(mut, genome, parent, writer, changes)
            if parent is not None:  # the reflection's early-termination signal is acted on in every child
                genome, fixed = mut.no_early_termination(genome, request.parent.reflection if request.parent else None)
                changes += [c for c in fixed if c not in changes]
            answers.append(Answer(self._prose(task, genome, changes, with_notes(writer.code(genome), lineage))))
        self.usage.requests += 1
        return answers

    @staticmethod
    def _mutation_rules(mut: Mutator, genome: list[Term], parent: list[Term] | None, writer: CodeWriter,
                        changes: list[str]) -> list[Term]:
        """The rules every mutant obeys: the objective's term kept with its sign; never the parent's exact code."""
        if parent is not None:
            genome = mut.moved(genome, parent, writer)
        genome, kept = mut.keep_objective(genome, parent)
        changes += kept
        return genome

    @staticmethod
    def _prose(task: Task, genome: list[Term], changes: list[str], code: str) -> str:
        terms = "\n".join(f"- `{t.name}`: {t.kind} of `{t.var or 'constant'}` (weight {t.weight:.3g})"
                          for t in genome)
        why = "; ".join(changes) if changes else "initial design"
        return (f"Here is a reward function for the {task.name} task (offline synthesizer: {why}).\n\n"
                f"It is the sum of these terms:\n{terms}\n\n```python\n{code}```\n")
