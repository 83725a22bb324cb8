"""The tuning operator: fit the numeric constants of a kept reward against the task's fitness (CMA-ES).

Any designer's reward (an LLM's or the offline synthesizer's) is rewritten on its syntax tree: its
float constants (weights, scales, temperatures) become named parameters, assigned at the top of the
function that uses them (``UPRIGHT_K0 = 0.1``, then ``UPRIGHT_K0`` where ``0.1`` was: TorchScript
refuses module-level floats), the rewritten code goes through the critic,
and CMA-ES (the ``cmaes`` package) searches each constant within ``[value / ratio, value * ratio]``
on a log scale. Each trial is a real training on the parent's own search seeds (common random
numbers: the comparison with the parent is paired), scored by the racing statistic. The best trial
becomes a new candidate whose parent is the original; its gain is measured on the same seeds.

At most ``max_params`` constants are lifted: the weights (leading factors) first, then the others in
the order of the code. Not lifted: integers (dimensions, indices), exponents (``x ** 2.0``), keyword arguments
(``dim=-1``, ``min=0.0``), subscripts, zeros, and ``1.0`` except as the weight in ``name = 1.0 * ...``
(elsewhere ``1.0`` is structure: ``1.0 - x``, ``1.0 / (1.0 + d)``).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from eureka.analyze import analyze
from eureka.config import TuningConfig
from eureka.evolve.candidate import Candidate, Status, TunedConstant, Tuning

if TYPE_CHECKING:  # only for annotations: the operator gets its collaborators from the loop
    from eureka.evolve.trainings import Trainings
    from eureka.store import RunStore

GENOME_TAG = "# eureka-genome: "


@dataclass
class Lifted:
    """One lifted constant: its name, its value in the original code, and where it was."""

    name: str
    value: float
    line: int
    where: str  # the assignment it sits in (e.g. ``upright``), for the prompt and the report
    weight: bool = False  # the leading factor of its assignment (``upright = 0.5 * ...``)
    function: str = "compute_reward"  # the function it is assigned in


@dataclass
class LiftedReward:
    """A reward whose constants are parameters: ``render(values)`` writes the code for those values."""

    template: ast.Module
    params: list[Lifted]
    genome_line: str | None = None  # the offline designer's genome comment, kept in the rendered code
    header: list[str] = field(default_factory=list)

    def render(self, values: list[float] | None = None) -> str:
        """The code with each parameter set to ``values`` (default: the original values)."""
        import copy

        values = [p.value for p in self.params] if values is None else list(values)
        tree = copy.deepcopy(self.template)
        for fn in tree.body:
            if not isinstance(fn, ast.FunctionDef):
                continue
            mine = [ast.Assign([ast.Name(p.name, ast.Store())], ast.Constant(float(v)), lineno=0)
                    for p, v in zip(self.params, values, strict=True) if p.function == fn.name]
            doc = int(bool(fn.body) and isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant))
            fn.body[doc:doc] = mine
        tree.body = _without_repeated_imports(tree.body)
        out = ast.unparse(ast.fix_missing_locations(tree)).splitlines()
        if self.genome_line:
            i = next((i for i, ln in enumerate(out) if ln.startswith("def compute_reward")), None)
            if i is not None:
                out.insert(i + 1, "    " + self.genome_line)
        return "\n".join(out) + "\n"


def _without_repeated_imports(body: list[ast.stmt]) -> list[ast.stmt]:
    """``body`` without import statements whose every name an earlier import already bound."""
    bound: set[tuple[str, str, str]] = set()
    out = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mod = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            names = {(mod, a.name, a.asname or a.name) for a in node.names}
            if names <= bound:
                continue
            bound |= names
        out.append(node)
    return out


class _Lifter(ast.NodeTransformer):
    """Finds the liftable constants (``chosen`` None) or replaces those whose ordinal is in ``chosen``."""

    def __init__(self, chosen: set[int] | None = None):
        self.chosen = chosen
        self.params: list = []
        self.found: list = []
        self.target = "k"
        self.weight_node: ast.AST | None = None
        self.function = "compute_reward"

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.function = node.name
        node.body = [self.visit(s) for s in node.body]  # not the decorators, defaults or annotations
        return node

    def _assigned(self, target: ast.AST, value: ast.AST | None) -> None:
        """Remember the assignment's name and its leading factor (``x = w * ... / ...``: ``w``)."""
        self.target = target.id if isinstance(target, ast.Name) else "k"
        n = value
        while isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Mult, ast.Div)):
            n = n.left
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):  # -0.01 * x: the weight is 0.01
            n = n.operand
        self.weight_node = n if isinstance(n, ast.Constant) else None

    def visit_Assign(self, node: ast.Assign) -> ast.Assign:
        self._assigned(node.targets[0], node.value)
        node.value = self.visit(node.value)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AnnAssign:
        self._assigned(node.target, node.value)
        if node.value is not None:
            node.value = self.visit(node.value)
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.keyword:
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.Subscript:
        node.value = self.visit(node.value)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.BinOp:
        node.left = self.visit(node.left)
        if not isinstance(node.op, ast.Pow):
            node.right = self.visit(node.right)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        v = node.value
        if not isinstance(v, float) or isinstance(v, bool) or v == 0.0 or not math.isfinite(v):
            return node
        weight = node is self.weight_node
        if v == 1.0 and not weight:
            return node
        self.found.append(weight)
        if self.chosen is None or len(self.found) - 1 not in self.chosen:
            return node
        base = re.sub(r"[^A-Za-z0-9]", "_", self.target).upper()[:24] or "K"
        name = f"{base}_K{len(self.params)}"
        self.params.append(Lifted(name, float(v), getattr(node, "lineno", 0), self.target, weight, self.function))
        return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)


def lift_constants(code: str, max_params: int = TuningConfig.max_params) -> LiftedReward:
    """Lift the float constants of every function in ``code`` to module-level parameters (see the module doc)."""
    scout = _Lifter()
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef):
            scout.visit(node)
    order = sorted(range(len(scout.found)), key=lambda i: (not scout.found[i], i))  # weights first
    tree = ast.parse(code)
    lifter = _Lifter(set(order[:max(0, int(max_params))]))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            lifter.visit(node)
    genome = next((ln.strip() for ln in code.splitlines() if ln.strip().startswith(GENOME_TAG)), None)
    return LiftedReward(tree, lifter.params, genome)


def genome_with_weights(genome_line: str | None, params: list[Lifted], values: list[float]) -> str | None:
    """The offline designer's genome comment with tuned term weights (``name = <weight> * ...``) written back,
    so its children evolve from the tuned weights; other tuned constants live only in the code."""
    if not genome_line:
        return None
    import json

    try:
        terms = json.loads(genome_line[len(GENOME_TAG):])
    except ValueError:
        return genome_line
    by_term = {p.where: v for p, v in zip(params, values, strict=True) if p.weight}
    for t in terms:
        if t.get("name") in by_term:
            t["weight"] = round(by_term[t["name"]], 5)
    return GENOME_TAG + json.dumps(terms, separators=(",", ":"))


@dataclass
class Trial:
    """One trial: constants, per-seed fitness, the statistic."""

    values: list[float]
    per_seed: dict[int, float | None]
    score: float


class Tuner:
    """CMA-ES over log-multipliers of the lifted constants (``ask``/``tell`` by generations)."""

    def __init__(self, params: list[Lifted], trials: int, ratio: float = TuningConfig.ratio,
                 sigma: float = TuningConfig.sigma, seed: int = 0):
        from cmaes import CMA

        n = len(params)
        self.params = params
        bound = math.log(max(ratio, 1.0 + 1e-6))
        default = 4 + int(3 * math.log(max(n, 1)))  # CMA-ES's own population size for n parameters
        self.generations = max(1, math.ceil(int(trials) / default))
        self.popsize = max(2, int(trials) // self.generations)  # generations x popsize <= trials (>= 2)
        self.opt = CMA(mean=np.zeros(n), sigma=float(sigma), bounds=np.array([[-bound, bound]] * n),
                       population_size=self.popsize, seed=int(seed))
        self.trials: list[Trial] = []

    def values(self, x: np.ndarray) -> list[float]:
        return [p.value * float(math.exp(xi)) for p, xi in zip(self.params, x, strict=True)]

    def ask(self) -> list[np.ndarray]:
        return [self.opt.ask() for _ in range(self.popsize)]

    def tell(self, xs: list[np.ndarray], trials: list[Trial]) -> None:
        self.trials += trials
        finite = [t.score for t in trials if math.isfinite(t.score)]
        worst = min(finite) - 1.0 if finite else 0.0
        self.opt.tell([(x, -(t.score if math.isfinite(t.score) else worst)) for x, t in zip(xs, trials, strict=True)])

    def best(self) -> Trial | None:
        ok = [t for t in self.trials if math.isfinite(t.score)]
        return max(ok, key=lambda t: t.score) if ok else None


def describe(params: list[Lifted], after: list[float]) -> list[TunedConstant]:
    """Constants before and after, for the summary, the report and the next prompt."""
    return [TunedConstant(p.name, p.where, p.value, round(v, 6)) for p, v in zip(params, after, strict=True)]


def tuning_note(cand_id: str, parent_id: str, info: Tuning) -> str:
    """The text the next prompt shows: what was tuned and how much it gained."""
    from eureka.prompts import render

    changes = "\n".join(f"- {c.name} (in '{c.where}'): {c.before:.4g} -> {c.after:.4g}" for c in info.constants)
    gain = info.gain
    return render("tuning", id=cand_id, parent=parent_id, trials=str(info.trials), steps=f"{info.steps:,}",
                  seeds=", ".join(str(s) for s in info.seeds), changes=changes,
                  before=f"{info.before:.4g}", after=f"{info.after:.4g}",
                  gain="n/a" if gain is None else f"{gain:+.4g}")


def tune_constants(best: Candidate, it: int, cfg: Any, check_code: Callable[[str], Any], trainings: Trainings,
                   store: RunStore, statistic: Callable[[list[float | None]], float], fitness_description: str,
                   phase: Callable[[str], None]) -> Candidate | None:
    """Tune the constants of ``best`` (``loop.tuning``): CMA-ES trials on its own search seeds, each scored by
    ``statistic`` (the racing statistic); the best trial becomes a new candidate ``iter<it>_tuned`` whose
    parent is ``best``, re-trained at the parent's budget when the trials had less. None (and a
    ``tuning_skipped`` event) when there is nothing to tune, the lifted code fails ``check_code`` (the
    critic) or every trial failed.
    """
    tc = cfg.loop.tuning
    lifted = lift_constants(best.code or "", int(tc.max_params))
    verdict = check_code(lifted.render()) if lifted.params else None
    if verdict is None or verdict.failure is not None:
        why = "no constant to tune" if verdict is None else verdict.message
        store.event("tuning_skipped", id=best.id, reason=why)
        return None
    phase(f"tuning {len(lifted.params)} constant(s) of {best.id}")
    child = Candidate(f"iter{it}_tuned", it, int(cfg.samples), parent=best.id, island=best.island)
    d = store.candidate_dir(child.id)
    seeds = list(best.seed_fitness)[:int(tc.seeds)]
    full = best.seed_steps.get(seeds[0]) or int(cfg.trainer.total_timesteps)  # what the parent got
    budget = max(1, int(round(float(tc.fraction) * full)))
    tuner = Tuner(lifted.params, int(tc.trials), float(tc.ratio), float(tc.sigma), seed=int(cfg.seed) + it)
    spent, results = 0, {}
    for g in range(tuner.generations):
        xs, trials = tuner.ask(), []
        for j, x in enumerate(xs):
            n, values = g * tuner.popsize + j, tuner.values(x)
            path = store.write_text(d / f"trial{n}" / "reward.py", lifted.render(values))
            specs = [trainings.spec(f"{child.id}_trial{n}_seed{s}", "candidate", s, str(path),
                                    d / f"trial{n}" / f"seed{s}", total_timesteps=budget) for s in seeds]
            rs = trainings.run(specs, shown=False)
            spent += sum(r.new_steps or r.steps for r in rs)
            per = {s: (r.fitness if r.ok else None) for s, r in zip(seeds, rs, strict=True)}
            trials.append(Trial(values, per, statistic(list(per.values()))))
            results[n] = rs
        tuner.tell(xs, trials)
    top = tuner.best()
    if top is None:
        store.event("tuning_skipped", id=best.id, reason="every trial failed")
        return None
    lifted.genome_line = genome_with_weights(lifted.genome_line, lifted.params, top.values)
    child.code = lifted.render(top.values)
    child.reward_path = str(store.write_text(d / "reward.py", child.code))
    rs = results[tuner.trials.index(top)]
    counted = sum(r.new_steps or r.steps for r in rs)  # the best trial's steps: the child's own seeds
    if budget < full:  # confirm at the parent's budget, on the same seeds
        rs = trainings.run([trainings.spec(f"{child.id}_seed{s}", "candidate", s, child.reward_path, d / f"seed{s}",
                                           total_timesteps=full) for s in seeds], shown=False)
        spent += sum(r.steps for r in rs)
        counted = sum(r.steps for r in rs)
    for s, r in zip(seeds, rs, strict=True):
        child.record_seed(s, r.fitness if r.ok else None, r.steps)
    child.status = Status.OK if child.fitness is not None else Status.FAILED
    child.steps = sum(child.seed_steps.values())
    child.env_corr = rs[0].env_corr
    child.reflection = analyze(rs[0].snapshots, rs[0].fitness, fitness_description, env_corr=rs[0].env_corr)
    before = statistic([best.seed_fitness.get(s) for s in seeds])
    after = statistic(list(child.seed_fitness.values()))
    child.tuning = Tuning(describe(lifted.params, top.values), len(tuner.trials), spent, counted, seeds, before,
                          after, after - before)
    child.response = (f"The constants of {best.id} tuned by CMA-ES ({len(tuner.trials)} trials).\n\n"
                      f"```python\n{child.code}```\n")
    store.write_text(d / "response.txt", child.response)
    store.write_text(d / "reflection.txt", child.reflection.text)
    store.event("tuned", id=child.id, parent=best.id, **child.tuning.to_dict())
    return child


__all__ = ["Lifted", "LiftedReward", "Trial", "Tuner", "describe", "genome_with_weights", "lift_constants",
           "tune_constants", "tuning_note"]
