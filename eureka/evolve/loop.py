"""The Eureka loop, orchestrating the stages; it reads like the five steps of DESIGN.md."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from eureka import tasks
from eureka.analyze import Reflection, analyze
from eureka.critic import Critic, SandboxLimits, SandboxPool, Verdict
from eureka.errors import LLMBudgetExceeded, LLMError
from eureka.evolve.population import Population
from eureka.llm import Designer, DesignRequest, make_designer
from eureka.prefer import make_session, public, record_videos, run_round
from eureka.prompts import build_messages
from eureka.reward import sample_states
from eureka.store import RunStore
from eureka.store.resume import RecordingExecutor
from eureka.train import TrainSpec, make_executor


@dataclass(eq=False)
class Candidate:
    """One reward candidate and everything learned about it."""

    id: str
    iteration: int
    sample: int
    response: str = ""
    code: str = ""
    status: str = "pending"  # ok | rejected | failed
    error_class: str | None = None
    message: str = ""
    hint: str = ""
    fitness: float | None = None
    reflection: Reflection | None = None
    reward_path: str = ""
    parent: str | None = None
    island: int = 0
    preference: float | None = None
    extra: dict = field(default_factory=dict)

    def feedback(self) -> str:
        return f"[{self.id}] {self.error_class}: {self.message}\nHint: {self.hint}"

    def row(self) -> dict:
        return {"id": self.id, "status": self.status, "error_class": self.error_class,
                "fitness": self.fitness, "parent": self.parent, "island": self.island,
                "preference": self.preference, "steps": self.extra.get("steps"),
                "stopped_at": self.extra.get("stopped_at"), "message": self.message[:500]}


def redacted(cfg: DictConfig) -> DictConfig:
    """A copy of ``cfg`` with ``llm.api_key`` replaced, for files of the run directory."""
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    if out.get("llm") is not None and out.llm.get("api_key"):
        out.llm.api_key = "***"
    return out


def human_normalized_score(f_method: float | None, f_env: float | None, f_sparse: float | None) -> float | None:
    """``(F_method - F_sparse) / |F_env - F_sparse|``; None when undefined (baselines equal)."""
    if None in (f_method, f_env, f_sparse):
        return None
    denom = abs(f_env - f_sparse)
    if denom < 1e-9 * max(1.0, abs(f_env), abs(f_sparse)):
        return None
    return (f_method - f_sparse) / denom


class Reporter:
    """Hooks the CLI uses to show progress; all no-ops here."""

    def iteration_started(self, it: int, total: int) -> None: ...
    def candidates_designed(self, it: int, candidates: list[Candidate]) -> None: ...
    def training_started(self, job_id: str, total_steps: int) -> None: ...
    def training_progress(self, job_id: str, steps: int) -> None: ...
    def candidate_done(self, cand: Candidate) -> None: ...
    def job_done(self, job_id: str, result: dict) -> None: ...
    def paused(self):
        """Context in which a session may use the terminal (progress display paused)."""
        return contextlib.nullcontext()

    def phase(self, text: str) -> None: ...
    def message(self, text: str) -> None: ...


class EurekaLoop:
    """Run ``iterations`` x ``samples`` candidates, keep the best, re-evaluate it against baselines."""

    def __init__(self, cfg: DictConfig, run_dir: str | Path, reporter: Reporter | None = None,
                 designer: Designer | None = None):
        self.cfg = cfg
        self.store = RunStore(run_dir)
        self.reporter = reporter or Reporter()
        self.task = tasks.make(cfg.task.name)
        self.designer = designer or make_designer(cfg.llm, seed=int(cfg.seed), run_dir=run_dir)
        self.candidates: list[Candidate] = []
        self.best: Candidate | None = None
        lcfg = cfg.get("loop") or {}
        self.population = Population(int(lcfg.get("population", 4)), int(lcfg.get("islands", 1)),
                                     str(lcfg.get("selection", "fitness")), int(lcfg.get("migration_every", 2)))
        self.feedback_cfg = cfg.get("feedback") or {"mode": "fitness"}
        self.session = make_session(self.feedback_cfg, run_dir, announce=self.reporter.message)
        if self.session is not None:
            self.reporter = self.session.watch(self.reporter)  # the web page follows the run through the hooks
        self.notes_for: dict[str, list[str]] = {}
        self.walls: dict[str, list[str]] = {}  # walls reported by each kind of process that ran candidate code
        self.summary: dict = {}
        self.t0 = time.time()
        tcfg = cfg.trainer
        self.executor = RecordingExecutor(make_executor(cfg.executor, float(tcfg.get("timeout_s", 3600))),
                                          self.store.root)

    # -- the five steps ------------------------------------------------------------------
    def design(self, it: int, errors: list[str]) -> list[Candidate]:
        """Ask the designer for ``samples`` candidates (step 1): one request per parent."""
        general = list(self.cfg.get("notes") or [])
        groups: dict[str | None, list[int]] = {}
        parents: dict[str | None, Candidate | None] = {}
        for k in range(int(self.cfg.samples)):
            parent = self.population.parent_for(k)
            key = parent.id if parent else None
            groups.setdefault(key, []).append(k)
            parents[key] = parent
        requests = []
        for key, samples in groups.items():
            parent = parents[key]
            notes = general + (self.notes_for.get(parent.id, []) if parent else [])
            messages = build_messages(self.task, parent.response if parent else None,
                                      parent.reflection.text if parent and parent.reflection else None,
                                      errors, notes)
            population = [{"id": c.id, "code": c.code, "fitness": c.fitness} for c in self.population.all()]
            requests.append(DesignRequest(
                self.task, messages, len(samples), it, int(self.cfg.seed) + 1000 * samples[0],
                parent={"id": parent.id, "code": parent.code, "fitness": parent.fitness,
                        "reflection": parent.reflection.to_dict() if parent.reflection else None} if parent else None,
                population=population, errors=errors, notes=notes))
        cands = []
        for (key, samples), request, answers in zip(groups.items(), requests,
                                                     self.designer.propose_many(requests), strict=True):
            for k, answer in zip(samples, answers, strict=False):
                cand = Candidate(f"iter{it}_sample{k}", it, k, response=answer.text, parent=key,
                                 island=k % self.population.islands)
                d = self.store.candidate_dir(cand.id)
                self.store.write_json(d / "prompt.json", request.messages)
                self.store.write_text(d / "response.txt", answer.text)
                self.store.event("designed", id=cand.id, parent=cand.parent, island=cand.island,
                                 prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
                                 cached=answer.cached)
                cands.append(cand)
        usage = self.designer.usage
        if usage.requests:
            self.reporter.message(f"LLM so far: {usage.requests} request(s), {usage.total_tokens} tokens"
                                  + (f", ${usage.usd:.4f}" if usage.usd else ""))
        return sorted(cands, key=lambda c: c.sample)

    def criticise(self, critic: Critic, cand: Candidate) -> None:
        verdict: Verdict = critic.check_answer(cand.response)
        d = self.store.candidate_dir(cand.id)
        if verdict.code:
            cand.code = verdict.code
            cand.reward_path = str(self.store.write_text(d / "reward.py", verdict.code))
        self.store.write_json(d / "validation.json", verdict.to_dict())
        if not verdict.ok:
            cand.status, cand.error_class = "rejected", verdict.error_class
            cand.message, cand.hint = verdict.message, verdict.hint
        self.store.event("validated", id=cand.id, status=verdict.status, error_class=verdict.error_class,
                         message=verdict.message)

    def spec(self, job_id: str, mode: str, seed: int, reward_path: str | None, out_dir: Path) -> TrainSpec:
        t = self.cfg.trainer
        algo = str(t.algo)
        hyper = OmegaConf.to_container(t[algo], resolve=True) if t.get(algo) else {}
        return TrainSpec(job_id=job_id, task=self.cfg.task.name, mode=mode, reward_path=reward_path, algo=algo,
                         total_timesteps=int(t.total_timesteps), n_envs=int(t.n_envs), seed=seed,
                         device=str(t.device), hyperparams=hyper, normalize=bool(t.get("normalize", False)),
                         eval_episodes=int(self.cfg.eval.episodes), out_dir=str(out_dir),
                         tensorboard=bool(t.get("tensorboard", True)),
                         subproc_envs=bool(t.get("subproc_envs", False)),
                         memory_mb=int(t.get("memory_mb", 4096)), max_file_mb=int(t.get("max_file_mb", 256)),
                         call_timeout_s=float(self.cfg.sandbox.get("call_timeout_s", 2.0)),
                         first_call_cpu_s=float(self.cfg.sandbox.get("cpu_s", 5.0)),
                         network_namespace=bool(self.cfg.sandbox.get("network_namespace", True)),
                         drop_privileges=bool(self.cfg.sandbox.get("drop_privileges", True)))

    def rungs(self) -> list[float]:
        """Budget fractions of successive halving (``[1.0]`` when ``loop.early_stop`` is off)."""
        es = self.cfg.get("loop", {}).get("early_stop") or {}
        if not es.get("enabled", False):
            return [1.0]
        eta, frac = float(es.get("eta", 2)), float(es.get("min_fraction", 0.25))
        out = []
        while frac < 1.0 - 1e-9:
            out.append(frac)
            frac *= eta
        return out + [1.0]

    def train(self, cands: list[Candidate]) -> None:
        """Train every candidate (step 3); with ``loop.early_stop``, by successive halving.

        Each rung trains the survivors up to the rung's share of the budget (continuing
        their saved policies), evaluates them, and keeps the best 1/eta for the next rung.
        """
        total = int(self.cfg.trainer.total_timesteps)
        eta = float((self.cfg.get("loop", {}).get("early_stop") or {}).get("eta", 2))
        fractions = self.rungs()
        alive, done_steps = list(cands), 0
        snapshots: dict[str, list] = {c.id: [] for c in cands}
        for r, frac in enumerate(fractions):
            target = int(round(total * frac))
            last = r == len(fractions) - 1
            by_id = {c.id: c for c in alive}
            specs = []
            for c in alive:
                sp = self.spec(c.id, "candidate", int(self.cfg.seed), c.reward_path, self.store.candidate_dir(c.id))
                sp.total_timesteps, sp.resume = target - done_steps, r > 0
                specs.append(sp)
                self.reporter.training_started(c.id, sp.total_timesteps)

            def done(job_id: str, result: dict, last: bool = last, by_id: dict = by_id) -> None:
                cand = by_id[job_id]
                snapshots[job_id] += result.get("snapshots", [])
                cand.extra["steps"] = result.get("steps", cand.extra.get("steps", 0))
                if last or result.get("status") != "ok":
                    self.absorb(cand, {**result, "snapshots": snapshots[job_id]})
                    self.reporter.candidate_done(cand)
                else:
                    cand.fitness = result.get("fitness")

            self.executor.run(specs, self.reporter.training_progress, done)
            done_steps = target
            if last:
                break
            ranked = sorted([c for c in alive if c.status == "pending"], key=lambda c: -(c.fitness or -math.inf))
            keep = max(1, math.ceil(len(ranked) / eta))
            for c in ranked[keep:]:
                self.absorb(c, {"status": "ok", "fitness": c.fitness, "snapshots": snapshots[c.id]})
                c.extra["stopped_at"] = done_steps
                self.store.event("stopped_early", id=c.id, steps=done_steps, fitness=c.fitness)
                self.reporter.candidate_done(c)
            alive = ranked[:keep]

    def absorb(self, cand: Candidate, result: dict) -> None:
        """Analyze one training result into the candidate (step 4)."""
        fitness = result.get("fitness")
        if result.get("walls"):
            self.walls.setdefault("training", result["walls"])
        cand.reflection = analyze(result.get("snapshots", []), fitness, self.task.fitness.description)
        self.store.write_text(self.store.candidate_dir(cand.id) / "reflection.txt", cand.reflection.text)
        if result.get("status") != "ok":
            cand.status, cand.error_class = "failed", result.get("error_class") or "TrainingCrash"
            cand.message, cand.hint = result.get("message", ""), result.get("hint", "")
        else:
            cand.status, cand.fitness = "ok", fitness
        self.store.event("trained", id=cand.id, status=cand.status, fitness=cand.fitness,
                         error_class=cand.error_class, message=cand.message,
                         wall_time_s=result.get("wall_time_s"))

    def select(self, it: int, cands: list[Candidate]) -> None:
        """Update the population (step 5): videos and a preference session first, when configured."""
        if self.session is not None:
            self.ask_preferences(it, cands)
        self.population.update(cands, it)
        self.best = self.population.best()
        if self.best is not None:
            self.store.event("best", id=self.best.id, fitness=self.best.fitness, preference=self.best.preference,
                             population=[c.id for c in self.population.all()])

    def ask_preferences(self, it: int, cands: list[Candidate]) -> None:
        """Run a preference round (``eureka.prefer.run_round``); apply its scores and notes."""
        rnd = run_round(self.session, it, cands, self.population.all(), everyone=self.candidates, cfg=self.cfg,
                        store=self.store, task=self.task, reporter=self.reporter)
        for cid, notes in rnd.notes.items():
            known = self.notes_for.setdefault(cid, [])
            known += [n for n in notes if n not in known]
        for c in self.candidates:
            c.preference = rnd.scores.get(c.id)
        self.store.write_json("preference_scores.json", {"scores": rnd.scores, "notes": self.notes_for})
        self.store.event("preferences", **rnd.event())
        for info in rnd.videos:
            self.walls.setdefault("renderer", info.get("walls", []))
        self.reporter.message(rnd.line())

    @staticmethod
    def public(c: Candidate) -> dict:
        return public(c)

    def record_videos(self, cands: list[Candidate]) -> None:
        """Save ``rollout.mp4`` for each candidate that has none yet (``video=false`` turns it off)."""
        for info in record_videos(self.cfg, self.store, cands, self.reporter):
            self.walls.setdefault("renderer", info.get("walls", []))

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> dict:
        """Run the whole search and the final evaluation; return the summary."""
        with self.session or contextlib.nullcontext():  # the preference page lives as long as the run
            return self.search()

    def search(self) -> dict:
        cfg = self.cfg
        self.store.write_text("config.yaml", OmegaConf.to_yaml(redacted(cfg), resolve=True))
        self.store.event("run_started", task=self.task.name, llm=cfg.llm.provider)
        self.summary = self.base_summary()
        self.reporter.phase("collecting a batch of real states for the critic")
        states = sample_states(self.task, seed=int(cfg.seed))
        limits = SandboxLimits(**OmegaConf.to_container(cfg.sandbox, resolve=True))
        stop_error: LLMError | None = None
        errors: list[str] = []
        with SandboxPool(limits) as pool:
            critic = Critic(self.task.state_names, states, pool)
            self.walls["critic"] = pool.walls
            for it in range(int(cfg.iterations)):
                self.reporter.iteration_started(it, int(cfg.iterations))
                try:
                    cands = self.design(it, errors)
                except LLMBudgetExceeded as exc:
                    self.reporter.message(f"stopping the search: {exc}")
                    self.summary["message"] = str(exc)
                    break
                except LLMError as exc:
                    stop_error = exc
                    break
                self.candidates += cands
                self.reporter.candidates_designed(it, cands)
                for cand in cands:
                    self.criticise(critic, cand)
                    if cand.status == "rejected":
                        self.reporter.candidate_done(cand)
                trainable = [c for c in cands if c.status == "pending"]
                if trainable:
                    self.train(trainable)
                self.select(it, cands)
                ok = [c for c in cands if c.status == "ok" and c.fitness is not None]
                if ok:
                    self.record_videos([max(ok, key=lambda c: c.fitness)])
                errors = [c.feedback() for c in cands if c.status in ("rejected", "failed")]
                self.write_summary()
                refused = getattr(self.designer, "refused", None)
                if refused is not None:  # part of this iteration's requests did not fit the budget
                    self.reporter.message(f"stopping the search: {refused}")
                    self.summary["message"] = str(refused)
                    break
        if stop_error is not None:
            self.summary.update(status="stopped", message=str(stop_error))
            self.write_summary()
            self.store.event("stopped", message=str(stop_error))
            raise stop_error
        if self.best is None:
            self.summary.update(status="all_failed",
                                message="every candidate failed; see candidates/*/validation.json and the "
                                        "iterations list for the reasons")
            self.write_summary()
            return self.summary
        self.final_evaluation()
        self.summary["status"] = "completed"
        self.write_summary()
        self.store.event("run_finished", best=self.best.id, best_fitness=self.best.fitness)
        return self.summary

    def final_evaluation(self) -> None:
        """Re-train the best reward with each ``eval.seeds`` seed, and both baselines, same budget."""
        seeds = [int(s) for s in self.cfg.eval.seeds]
        self.reporter.phase(f"final evaluation: best reward and baselines x {len(seeds)} seeds")
        specs = []
        for s in seeds:
            specs.append(self.spec(f"best_seed{s}", "candidate", s, self.best.reward_path,
                                   self.store.root / "final" / f"best_seed{s}"))
            if self.cfg.eval.get("baselines", True):
                for mode in ("env", "sparse"):
                    specs.append(self.spec(f"{mode}_seed{s}", mode, s, None,
                                           self.store.root / "baselines" / f"{mode}_seed{s}"))
        for sp in specs:
            self.reporter.training_started(sp.job_id, sp.total_timesteps)
        results = self.executor.run(specs, self.reporter.training_progress, self.reporter.job_done)
        per = {r["job_id"]: r.get("fitness") for r in results}

        def collect(prefix: str) -> dict:
            vals = {s: per.get(f"{prefix}_seed{s}") for s in seeds}
            good = [v for v in vals.values() if v is not None]
            return {"per_seed": {str(s): v for s, v in vals.items()},
                    "mean": float(np.mean(good)) if good else None,
                    "std": float(np.std(good)) if good else None}

        final = collect("best")
        self.summary["final_eval"] = final
        if self.cfg.eval.get("baselines", True):
            env, sparse = collect("env"), collect("sparse")
            self.summary["baselines"] = {"env_reward_fitness": env["mean"], "sparse_fitness": sparse["mean"],
                                         "env_reward": env, "sparse": sparse}
            self.summary["human_normalized_score"] = human_normalized_score(final["mean"], env["mean"],
                                                                            sparse["mean"])

    # -- summary ---------------------------------------------------------------------------
    def base_summary(self) -> dict:
        return {"task": self.task.name, "llm": str(self.cfg.llm.provider), "model": self.designer.model,
                "status": "running", "message": "", "best_fitness": None, "best_candidate": None,
                "best_reward_path": None, "iterations": [],
                "final_eval": {"per_seed": {}, "mean": None, "std": None},
                "baselines": {"env_reward_fitness": None, "sparse_fitness": None},
                "human_normalized_score": None, "llm_usage": {}, "wall_time_s": 0.0,
                "fitness_metric": self.task.fitness.description}

    def write_summary(self) -> None:
        s = self.summary
        its: dict[int, list] = {}
        for c in self.candidates:
            its.setdefault(c.iteration, []).append(c.row())
        s["iterations"] = [{"iteration": i, "candidates": rows} for i, rows in sorted(its.items())]
        if self.best is not None:
            s["best_fitness"], s["best_candidate"] = self.best.fitness, self.best.id
            s["best_reward_path"] = self.best.reward_path
        s["population"] = [c.id for c in self.population.all()]
        s["selection"] = self.population.selection
        s["feedback"] = str(self.feedback_cfg.get("mode", "fitness"))
        s["llm_usage"] = self.designer.usage.to_dict()
        s["search_env_steps"] = sum(int(c.extra.get("steps") or 0) for c in self.candidates)
        s["walls"] = self.walls
        s["wall_time_s"] = round(time.time() - self.t0, 2)
        self.store.write_json("summary.json", s)
