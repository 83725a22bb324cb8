"""The run's summary (``summary.json``): what the run found, how, and at what cost; and the final evaluation of
the best reward against the baselines.

One schema, written and read by the same code: the loop writes ``Summary.to_dict`` as the run goes, and every
reader (the terminal's summary, ``eureka-show``, the HTML and sweep reports, the benchmarks) reads the file back
with ``load_summary`` / ``Summary.from_dict`` into the same typed record. Keys an older version did not write
read as their defaults. What the summary concludes from its record (``Figures``: the best's fitness, the chosen
reward's estimate, the verdict, the human-normalized score) is read back as it was written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eureka.analyze.estimate import Estimate, Training, Verdict, estimate, verdict
from eureka.evolve.candidate import Candidate, place
from eureka.evolve.seedstats import FinalEvaluation, SeedStats, denominator_note, human_normalized_score
from eureka.fields import integer, items, mapping, num, opt_text, per_seed, text
from eureka.fields import seeds as seed_list
from eureka.llm.base import Usage
from eureka.store.safe import read_text
from eureka.train.result import TrainResult
from eureka.train.runner import TrainSpec

if TYPE_CHECKING:
    from eureka.evolve.trainings import Trainings


def baseline_specs(trainings: Trainings, seeds: list[int], root: Path) -> list[TrainSpec]:
    """The final evaluation's baselines: the env's own reward and the sparse fitness on each of ``seeds``
    (they need nothing the search finds: the loop hands them to the executor as spare work at the start)."""
    return [trainings.spec(f"{mode}_seed{s}", mode, s, None, root / "baselines" / f"{mode}_seed{s}")
            for s in seeds for mode in ("env", "sparse")]


def best_specs(trainings: Trainings, reward_path: str, seeds: list[int], root: Path) -> list[TrainSpec]:
    """The final evaluation's re-trainings of the chosen reward on each of ``seeds`` (the loop hands them to the
    executor as spare work while it confirms that reward: both need only the choice)."""
    return [trainings.spec(f"best_seed{s}", "candidate", s, reward_path, root / "final" / f"best_seed{s}")
            for s in seeds]


def final_evaluation(trainings: Trainings, reward_path: str, seeds: list[int], root: Path,
                     baselines: bool = True) -> FinalEvaluation:
    """Re-train ``reward_path`` with each seed, and both baselines with the same seeds and budget."""
    specs = best_specs(trainings, reward_path, seeds, root)
    if baselines:
        specs += baseline_specs(trainings, seeds, root)
    results: list[TrainResult] = trainings.run(specs)
    per = {r.job_id: r.fitness for r in results}

    def stats(prefix: str) -> SeedStats:
        return SeedStats({s: per.get(f"{prefix}_seed{s}") for s in seeds})

    final = FinalEvaluation(stats("best"))
    if baselines:
        final.env_reward, final.sparse = stats("env"), stats("sparse")
    return final


def ran_share(rows: list[dict]) -> dict:
    """Of an iteration's answers, how many ran (trained without failing), and their share."""
    ran = sum(1 for r in rows if r["status"] == "ok")
    return {"answers": len(rows), "ran": ran, "ran_share": ran / len(rows) if rows else None}


FIGURE_KEYS = ("best_fitness", "search_seeds", "chosen_reward", "chosen_reward_detail", "verdict_vs_env",
               "verdict_vs_env_detail", "human_normalized_score", "human_normalized_score_note", "search_env_steps")


@dataclass
class Figures:
    """What the summary concludes from its record: computed from it while the run is live (``Figures.of``) and
    read back as written (``from_dict``), so a reader shows what the run concluded."""

    best_fitness: float | None = None  # the best's mean on held-out search seeds once confirmed, else on its own
    search_seeds: list[int] = field(default_factory=list)  # every search seed any candidate trained with
    chosen: Estimate | None = None  # the chosen reward's one estimate from all its trainings (None: no best)
    verdict: Verdict = field(default_factory=Verdict)  # the chosen reward against the env reward (final seeds)
    human_normalized_score: float | None = None
    note: str | None = None  # a caution about the score's denominator
    search_env_steps: int = 0  # every env step of the search (trainings on all seeds, confirmation, tuning)

    @classmethod
    def of(cls, s: Summary) -> Figures:
        """The figures of ``s`` as its record stands now."""
        final = s.final or FinalEvaluation()
        return cls(s.best_fitness, sorted({int(k) for c in s.candidates for k in c.seed_fitness}), s.chosen,
                   s.verdict, final.human_normalized_score, final.note, search_steps(s.candidates) + s.confirm_steps)

    def to_dict(self) -> dict:
        """Their keys in ``summary.json`` (``FIGURE_KEYS``)."""
        chosen, vs = self.chosen, self.verdict
        return {"best_fitness": self.best_fitness, "search_seeds": self.search_seeds,
                "chosen_reward": chosen.to_dict() if chosen is not None else None,
                "chosen_reward_detail": chosen.detail() if chosen is not None else None,
                "verdict_vs_env": vs.verdict, "verdict_vs_env_detail": vs.to_dict(),
                "human_normalized_score": self.human_normalized_score, "human_normalized_score_note": self.note,
                "search_env_steps": self.search_env_steps}

    @classmethod
    def from_dict(cls, d: dict, record: Summary) -> Figures:
        """As ``d`` recorded them; a figure it lacks (an older summary) is computed from ``record``."""
        made = cls.of(record) if any(k not in d for k in FIGURE_KEYS) else cls()
        chosen = mapping(d.get("chosen_reward"))
        return cls(
            num(d.get("best_fitness")) if "best_fitness" in d else made.best_fitness,
            seed_list(d.get("search_seeds")) if "search_seeds" in d else made.search_seeds,
            (Estimate.from_dict(chosen, d.get("chosen_reward_detail")) if chosen else None)
            if "chosen_reward" in d else made.chosen,
            Verdict.from_dict(d.get("verdict_vs_env_detail")) if "verdict_vs_env_detail" in d else made.verdict,
            num(d.get("human_normalized_score")) if "human_normalized_score" in d else made.human_normalized_score,
            opt_text(d.get("human_normalized_score_note")) if "human_normalized_score_note" in d else made.note,
            int(num(d.get("search_env_steps")) or 0) if "search_env_steps" in d else made.search_env_steps)


def search_steps(candidates: list[Candidate]) -> int:
    """Env steps of the candidates' trainings on all their seeds and of all tuning trials (confirmation aside)."""
    return sum(c.steps for c in candidates) + sum(
        c.tuning.steps - c.tuning.steps_in_child for c in candidates if c.tuning)


# summary.json's keys in the order they are written (the figures' among them)
KEYS = ("task", "llm", "model", "status", "message", "best_fitness", "best_selection_fitness", "best_confirmed",
        "best_candidate", "best_reward_path", "target_fitness", "iterations", "search_seed", "search_seeds",
        "best_search_seeds", "best_score", "racing", "allocation", "final_eval", "baselines", "chosen_reward",
        "chosen_reward_detail", "verdict_vs_env", "verdict_vs_env_detail", "human_normalized_score",
        "human_normalized_score_note", "population", "selection", "feedback", "llm_usage", "search_env_steps",
        "walls", "jails", "wall_time_s", "fitness_metric", "provenance")


@dataclass
class Summary:
    """``summary.json``: what the run found, how, and at what cost (``to_dict`` writes it, ``from_dict`` reads it)."""

    task: str = ""
    llm: str = ""
    model: str = ""
    fitness_metric: str = ""
    search_seed: int | None = None  # the first search seed (every candidate's first training; racing adds more)
    target_fitness: float | None = None
    status: str = "running"  # running | completed | all_failed | stopped
    message: str = ""
    best: Candidate | None = None
    candidates: list[Candidate] = field(default_factory=list)
    population: list[str] = field(default_factory=list)
    selection: str = "fitness"
    feedback: str = "fitness"
    llm_usage: Usage = field(default_factory=Usage)  # the designer's tokens, requests and cost
    final_seeds: list[int] = field(default_factory=list)
    final: FinalEvaluation | None = None
    walls: dict[str, list[str]] = field(default_factory=dict)  # walls up in each kind of process that ran code
    jails: dict[str, dict] = field(default_factory=dict)  # one jail of each kind, as it reported itself
    racing: dict = field(default_factory=dict)  # the racing rules (statistic, seeds, top, k, min_seeds)
    allocation: str = "full"  # how each iteration's training budget was split (full | halving | bandit)
    confirmed: SeedStats | None = None  # the best re-trained on held-out search seeds (EurekaLoop.confirm)
    confirm_of: str | None = None  # the candidate confirmed (the best when the search ended)
    confirm_steps: int = 0  # env steps of those trainings
    wall_time_s: float = 0.0
    provenance: dict = field(default_factory=dict)  # versions, commit, machine, config (eureka.store.provenance)
    # the figures as summary.json recorded them, when this record was read from it (None while the run is live)
    recorded: Figures | None = field(default=None, compare=False, repr=False)

    @property
    def best_fitness(self) -> float | None:
        """The fitness the search reports for its best: the mean on held-out search seeds once confirmed,
        else its mean over the seeds that chose it (optimistic: the best of several noisy estimates)."""
        if self.best is None:
            return None
        held_out = self.confirmed.mean if self.confirmed and self.confirm_of == self.best.id else None
        return held_out if held_out is not None else self.best.fitness

    def chosen_trainings(self) -> list[Training]:
        """Every training of the chosen reward: the search seeds that selected it, the held-out seeds that
        confirmed it, the final seeds (each with its role)."""
        if self.best is None:
            return []
        out = [Training(int(s), "selection", v) for s, v in self.best.seed_fitness.items()]
        if self.confirmed is not None and self.confirm_of == self.best.id:
            out += [Training(int(s), "held_out", v) for s, v in self.confirmed.per_seed.items()]
        if self.final is not None:
            out += [Training(int(s), "final", v) for s, v in self.final.best.per_seed.items()]
        return out

    @property
    def chosen(self) -> Estimate | None:
        """One estimate of the chosen reward from all its trainings (``eureka.analyze.estimate``)."""
        return estimate(self.chosen_trainings()) if self.best is not None else None

    @property
    def verdict(self) -> Verdict:
        """The chosen reward against the env reward over the final seeds: P(chosen > env), interval, word."""
        if self.final is None:
            return Verdict(why="the final evaluation has not run")
        final = self.final
        return verdict(final.best.values, final.env_reward.values if final.env_reward else [])

    def figures(self) -> Figures:
        """What the summary concludes: as ``summary.json`` recorded it when this record was read from the file,
        else computed from the record now (``best_fitness``, ``chosen`` and ``verdict`` always compute)."""
        return self.recorded if self.recorded is not None else Figures.of(self)

    def to_dict(self) -> dict:
        """``summary.json`` (``from_dict`` reads it back)."""
        its: dict[int, list] = {}
        for c in self.candidates:
            its.setdefault(c.iteration, []).append(c.row())
        best, conf = self.best, self.confirmed
        out = {
            "task": self.task, "llm": self.llm, "model": self.model, "status": self.status, "message": self.message,
            "best_selection_fitness": best.fitness if best else None,
            "best_confirmed": ({**conf.to_dict(), "candidate": self.confirm_of} if conf else None),
            "best_candidate": best.id if best else None,
            "best_reward_path": best.reward_path if best else None,
            "target_fitness": self.target_fitness,
            "iterations": [{"iteration": i, "candidates": rows, **ran_share(rows)} for i, rows in sorted(its.items())],
            "search_seed": self.search_seed,
            "best_search_seeds": ({str(k): v for k, v in best.seed_fitness.items()} if best else None),
            "best_score": best.score if best else None,
            "racing": self.racing, "allocation": self.allocation,
            **(self.final or FinalEvaluation()).to_dict(self.final_seeds),
            **self.figures().to_dict(),
            "population": self.population, "selection": self.selection, "feedback": self.feedback,
            "llm_usage": self.llm_usage.to_dict(),
            "walls": self.walls, "jails": self.jails, "wall_time_s": round(self.wall_time_s, 2),
            "fitness_metric": self.fitness_metric,
            "provenance": self.provenance,
        }
        return {k: out[k] for k in KEYS}

    @classmethod
    def from_dict(cls, d: object) -> Summary:
        """The record ``to_dict`` wrote (by this version or an older one: missing keys read as their defaults,
        the figures it lacks are computed from the rest)."""
        rec = mapping(d)
        cands = [Candidate.from_row(row, integer(it.get("iteration")))
                 for it in map(mapping, items(rec.get("iterations")))
                 for row in map(mapping, items(it.get("candidates"))) if text(row.get("id"))]
        best = _best(rec, cands)
        conf = mapping(rec.get("best_confirmed"))
        final = FinalEvaluation.from_dict(rec)
        s = cls(
            text(rec.get("task")), text(rec.get("llm")), text(rec.get("model")), text(rec.get("fitness_metric")),
            integer(rec.get("search_seed")), num(rec.get("target_fitness")), text(rec.get("status"), "running"),
            text(rec.get("message")), best, cands, [str(x) for x in items(rec.get("population"))],
            text(rec.get("selection"), "fitness"), text(rec.get("feedback"), "fitness"), Usage.from_dict(rec.get("llm_usage")),
            seed_list(mapping(rec.get("final_eval")).get("seeds")), final, mapping(rec.get("walls")),
            mapping(rec.get("jails")), mapping(rec.get("racing")), text(rec.get("allocation"), "full"),
            SeedStats.from_dict(conf) if conf else None,
            (opt_text(conf.get("candidate")) or (best.id if best else None)) if conf else None,
            wall_time_s=num(rec.get("wall_time_s")) or 0.0, provenance=mapping(rec.get("provenance")))
        steps = num(rec.get("search_env_steps"))  # the confirmation's share: what the candidates do not account for
        s.confirm_steps = max(0, int(steps) - search_steps(cands)) if steps is not None else 0
        s.recorded = Figures.from_dict(rec, s)
        return s

    # read access like the JSON file, for scripts that index the returned summary
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)


def _best(rec: dict, cands: list[Candidate]) -> Candidate | None:
    """The best candidate: its row, with the reward's path; else (its row missing) as the ``best_*`` keys
    describe it; None when the summary names none."""
    bid = opt_text(rec.get("best_candidate"))
    if bid is None:
        return None
    best = next((c for c in cands if c.id == bid), None)
    if best is None:
        it, sample = place(bid)
        best = Candidate(bid, it or 0, sample or 0, fitness=num(rec.get("best_selection_fitness", rec.get("best_fitness"))),
                         seed_fitness=per_seed(rec.get("best_search_seeds")), score=num(rec.get("best_score")))
    best.reward_path = text(rec.get("best_reward_path"))
    return best


def load_summary(run_dir: str | Path) -> Summary | None:
    """``<run_dir>/summary.json`` as the typed record; None when the run has none yet (or it is unreadable)."""
    try:
        raw = json.loads(read_text(Path(run_dir) / "summary.json"))
    except (OSError, ValueError):
        return None
    return Summary.from_dict(raw) if isinstance(raw, dict) else None


__all__ = ["FIGURE_KEYS", "KEYS", "Figures", "FinalEvaluation", "SeedStats", "Summary", "denominator_note",
           "final_evaluation", "human_normalized_score", "load_summary", "search_steps"]
