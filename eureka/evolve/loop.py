"""The Eureka loop: it orchestrates the stages and reads like the five steps of DESIGN.md.

Each iteration: ``design`` (the designer writes candidates) -> ``criticise`` (static checks and a
sandboxed dry run) -> ``train`` (the executor, with successive halving when configured) ->
``analyze`` (training statistics become each candidate's reflection) -> ``select`` (the population,
with a preference round when configured). The search stops early once ``loop.target_fitness`` is
reached; then the best reward is re-trained with the final seeds against the baselines.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from eureka import tasks
from eureka.analyze import analyze
from eureka.check import preflight
from eureka.config import check_action_space, check_config, final_seeds
from eureka.critic import Critic, SandboxLimits, SandboxPool
from eureka.errors import LLMBudgetExceeded, LLMError
from eureka.evolve.candidate import Candidate, Status
from eureka.evolve.population import Population
from eureka.evolve.summary import Summary, final_evaluation
from eureka.llm import Designer, DesignRequest, make_designer
from eureka.prefer import Session, make_session, public, record_videos, run_round
from eureka.prompts import build_messages
from eureka.reward import sample_states
from eureka.store import RunStore
from eureka.store.provenance import changed_since, first_provenance, provenance
from eureka.store.resume import RecordingExecutor
from eureka.train import TrainSpec, make_executor
from eureka.train.halving import rungs, successive_halving
from eureka.train.result import Executor, TrainResult
from eureka.train.runner import rounded_timesteps

_MAKE = object()  # "build it from the config"


def redacted(cfg: DictConfig) -> DictConfig:
    """A copy of ``cfg`` with ``llm.api_key`` replaced, for files of the run directory."""
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    if out.get("llm") is not None and out.llm.get("api_key"):
        out.llm.api_key = "***"
    return out


class Reporter:
    """Hooks the CLI uses to show progress; all no-ops here."""

    def iteration_started(self, it: int, total: int) -> None: ...
    def candidates_designed(self, it: int, candidates: list[Candidate]) -> None: ...
    def training_started(self, job_id: str, total_steps: int) -> None: ...
    def training_progress(self, job_id: str, steps: int) -> None: ...
    def candidate_done(self, cand: Candidate) -> None: ...
    def job_done(self, job_id: str, result: TrainResult) -> None: ...
    def paused(self):
        """Context in which a session may use the terminal (progress display paused)."""
        return contextlib.nullcontext()

    def phase(self, text: str) -> None: ...
    def message(self, text: str) -> None: ...


class EurekaLoop:
    """Run up to ``iterations`` x ``samples`` candidates, keep the best, re-evaluate it against baselines.

    The collaborators can be injected (tests use a fast stub executor): ``designer`` writes the
    candidates, ``executor`` trains them, ``session`` asks for preferences (None: fitness only).
    """

    def __init__(self, cfg: DictConfig, run_dir: str | Path, reporter: Reporter | None = None,
                 designer: Designer | None = None, executor: Executor | None = None,
                 session: Session | None = _MAKE):  # type: ignore[assignment]
        check_config(cfg)
        self.cfg = cfg
        self.store = RunStore(run_dir)
        self.reporter = reporter or Reporter()
        self.task = tasks.make(cfg.task.name)
        self.designer = designer or make_designer(cfg.llm, seed=int(cfg.seed), run_dir=run_dir)
        # every training result is recorded as it arrives (trainings.jsonl), so resume=<run_dir> trains nothing twice
        self.executor = RecordingExecutor(executor or make_executor(cfg.executor, float(cfg.trainer.timeout_s),
                                                                    log_dir=self.store.root / "ray"),
                                          self.store.root)
        self.candidates: list[Candidate] = []
        self.best: Candidate | None = None
        lc = cfg.loop
        self.population = Population(int(lc.population), int(lc.islands), str(lc.selection), int(lc.migration_every))
        self.feedback_cfg = cfg.feedback
        self.session = make_session(self.feedback_cfg, run_dir, announce=self.reporter.message) \
            if session is _MAKE else session
        if self.session is not None:
            self.reporter = self.session.watch(self.reporter)  # the web page follows the run through the hooks
        self.notes_for: dict[str, list[str]] = {}
        self.walls: dict[str, list[str]] = {}  # walls reported by each kind of process that ran candidate code
        self.summary = Summary(self.task.name, str(cfg.llm.provider), self.designer.model,
                               self.task.fitness.description, int(cfg.seed), lc.target_fitness,
                               selection=self.population.selection, feedback=str(cfg.feedback.mode),
                               final_seeds=final_seeds(cfg))
        self.t0 = time.time()

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> Summary:
        """The search (the five steps per iteration, until solved), then the final evaluation."""
        with self.session or contextlib.nullcontext():  # the preference page lives as long as the run
            return self.search()

    def search(self) -> Summary:
        """Per iteration: design -> criticise -> train -> analyze -> select; stop when solved or out of budget."""
        critic = self.begin()
        try:
            errors: list[str] = []
            for it in range(int(self.cfg.iterations)):
                cands = self.design(it, errors)
                if not cands:
                    break
                trainable = self.criticise(critic, cands)
                results = self.train(trainable)
                self.analyze(trainable, results)
                self.select(it, cands)
                errors = [c.feedback() for c in cands if c.failure is not None]
                if self.solved(it) or self.out_of_budget():
                    break
        except LLMError as exc:
            self.stop(exc)
            raise
        finally:
            critic.pool.close()
        return self.finish()

    # -- the five steps ------------------------------------------------------------------
    def design(self, it: int, errors: list[str]) -> list[Candidate]:
        """Ask the designer for ``samples`` candidates (step 1): one request per parent.

        An exhausted token budget ends the search cleanly (no candidates); other LLM errors stop the run.
        """
        self.reporter.iteration_started(it, int(self.cfg.iterations))
        general = list(self.cfg.notes)
        groups: dict[str | None, list[int]] = {}
        parents: dict[str | None, Candidate | None] = {}
        for k in range(int(self.cfg.samples)):
            parent = self.population.parent_for(k)
            key = parent.id if parent else None
            groups.setdefault(key, []).append(k)
            parents[key] = parent
        requests = []
        population = [c.as_parent() for c in self.population.all()]
        for key, samples in groups.items():
            parent = parents[key]
            notes = general + (self.notes_for.get(parent.id, []) if parent else [])
            messages = build_messages(self.task, parent.response if parent else None,
                                      parent.reflection.text if parent and parent.reflection else None,
                                      errors, notes)
            requests.append(DesignRequest(self.task, messages, len(samples), it,
                                          int(self.cfg.seed) + 1000 * samples[0],
                                          parent=parent.as_parent() if parent else None, population=population,
                                          errors=errors, notes=notes))
        try:
            answered = self.designer.propose_many(requests)
        except LLMBudgetExceeded as exc:
            self.reporter.message(f"stopping the search: {exc}")
            self.summary.message = str(exc)
            return []
        cands = []
        for (key, samples), request, answers in zip(groups.items(), requests, answered, strict=True):
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
        cands.sort(key=lambda c: c.sample)
        self.candidates += cands
        self.reporter.candidates_designed(it, cands)
        return cands

    def criticise(self, critic: Critic, cands: list[Candidate]) -> list[Candidate]:
        """Check every candidate before training (step 2); return those that passed."""
        for cand in cands:
            verdict = critic.check_answer(cand.response)
            d = self.store.candidate_dir(cand.id)
            if verdict.code:
                cand.code = verdict.code
                cand.reward_path = str(self.store.write_text(d / "reward.py", verdict.code))
            self.store.write_json(d / "validation.json", verdict.to_dict())
            self.store.event("validated", id=cand.id, status=verdict.status, error_class=verdict.error_class,
                             message=verdict.message, line=verdict.line)
            if verdict.failure is not None:
                cand.reject(Status.REJECTED, verdict.failure)
                self.reporter.candidate_done(cand)
        return [c for c in cands if c.status is Status.PENDING]

    def train(self, cands: list[Candidate]) -> list[TrainResult]:
        """Train every candidate (step 3); with ``loop.early_stop``, by successive halving."""
        specs = [self.spec(c.id, "candidate", int(self.cfg.seed), c.reward_path, self.store.candidate_dir(c.id))
                 for c in cands]
        for sp in specs:
            self.reporter.training_started(sp.job_id, rounded_timesteps(sp))
        es = self.cfg.loop.early_stop
        fractions = rungs(float(es.eta), float(es.min_fraction)) if es.enabled else [1.0]
        return successive_halving(self.executor, specs, fractions, float(es.eta), self.reporter.training_progress)

    def analyze(self, cands: list[Candidate], results: list[TrainResult]) -> None:
        """Turn each training result into the candidate's fitness and reflection (step 4)."""
        for cand, result in zip(cands, results, strict=True):
            if result.walls:
                self.walls.setdefault("training", result.walls)
            cand.reflection = analyze(result.snapshots, result.fitness, self.task.fitness.description)
            self.store.write_text(self.store.candidate_dir(cand.id) / "reflection.txt", cand.reflection.text)
            cand.steps, cand.stopped_at = result.steps, result.stopped_at
            if result.ok:
                cand.status, cand.fitness = Status.OK, result.fitness
            else:
                cand.reject(Status.FAILED, result.failure)
            if result.stopped_at is not None:
                self.store.event("stopped_early", id=cand.id, steps=result.stopped_at, fitness=cand.fitness)
            self.store.event("trained", id=cand.id, status=cand.status.value, fitness=cand.fitness,
                             error_class=cand.error_class, message=cand.message, wall_time_s=result.wall_time_s)
            self.reporter.candidate_done(cand)

    def select(self, it: int, cands: list[Candidate]) -> None:
        """Update the population (step 5): a preference round first, when configured; then the iteration's video."""
        if self.session is not None:
            self.ask_preferences(it, cands)
        self.population.update(cands, it)
        self.best = self.population.best()
        if self.best is not None:
            self.store.event("best", id=self.best.id, fitness=self.best.fitness, preference=self.best.preference,
                             population=[c.id for c in self.population.all()])
        ok = [c for c in cands if c.status is Status.OK and c.fitness is not None]
        if ok:
            self.record_videos([max(ok, key=lambda c: c.fitness)])
        self.write_summary()

    # -- around the search -----------------------------------------------------------------
    def begin(self) -> Critic:
        """Check the task (once per process), record the config, and start the critic's sandbox."""
        check_action_space(self.cfg, preflight(self.task))
        self.store.write_text("config.yaml", OmegaConf.to_yaml(redacted(self.cfg), resolve=True))
        self.summary.provenance = provenance(OmegaConf.to_container(redacted(self.cfg), resolve=True))
        changed = changed_since(first_provenance(self.store.events()), self.summary.provenance)
        if changed:
            self.reporter.message(changed)
        self.store.event("run_started", task=self.task.name, llm=self.cfg.llm.provider, seed=int(self.cfg.seed),
                         final_seeds=self.summary.final_seeds, provenance=self.summary.provenance)
        self.write_summary()
        self.reporter.phase("collecting a batch of real states for the critic")
        states = sample_states(self.task, seed=int(self.cfg.seed))
        limits = SandboxLimits(**OmegaConf.to_container(self.cfg.sandbox, resolve=True))
        pool = SandboxPool(limits)
        self.walls["critic"] = pool.walls
        return Critic(self.task.state_names, states, pool)

    def solved(self, it: int) -> bool:
        """True when the best candidate reached ``loop.target_fitness`` (the search then stops)."""
        target = self.cfg.loop.target_fitness
        if target is None or self.best is None or self.best.fitness is None or self.best.fitness < target:
            return False
        left = int(self.cfg.iterations) - it - 1
        self.summary.message = (f"target fitness {target:g} reached by {self.best.id} in iteration {it + 1}"
                                + (f"; skipped the remaining {left} iteration(s)" if left else ""))
        self.reporter.message(self.summary.message)
        self.store.event("target_reached", id=self.best.id, fitness=self.best.fitness, iteration=it,
                         target=target)
        return True

    def out_of_budget(self) -> bool:
        """True when part of this iteration's requests did not fit the LLM budget (the search then stops)."""
        refused = getattr(self.designer, "refused", None)
        if refused is not None:
            self.reporter.message(f"stopping the search: {refused}")
            self.summary.message = str(refused)
        return refused is not None

    def stop(self, exc: Exception) -> None:
        """The designer cannot go on (unreachable, bad key): keep what was done."""
        self.summary.status, self.summary.message = "stopped", str(exc)
        self.write_summary()
        self.store.event("stopped", message=str(exc))

    def finish(self) -> Summary:
        """The final evaluation of the best candidate (when there is one) and the last summary."""
        if self.best is None:
            self.summary.status = "all_failed"
            self.summary.message = ("every candidate failed; see candidates/*/validation.json and the iterations "
                                    "list for the reasons")
            self.write_summary()
            return self.summary
        seeds = self.summary.final_seeds
        self.reporter.phase(f"final evaluation: best reward and baselines x {len(seeds)} seeds ({seeds}; the "
                            f"search used seed {int(self.cfg.seed)})")
        self.summary.final = final_evaluation(
            self.executor, self.spec, self.best.reward_path, seeds, self.store.root, bool(self.cfg.eval.baselines),
            on_start=lambda sp: self.reporter.training_started(sp.job_id, rounded_timesteps(sp)),
            on_progress=self.reporter.training_progress, on_done=self.reporter.job_done)
        if self.summary.final.note:
            self.reporter.message(f"human-normalized score: {self.summary.final.note}")
        self.summary.status = "completed"
        self.write_summary()
        self.store.event("run_finished", best=self.best.id, best_fitness=self.best.fitness)
        return self.summary

    def spec(self, job_id: str, mode: str, seed: int, reward_path: str | None, out_dir: Path) -> TrainSpec:
        """What to train, from ``trainer.*`` and ``eval.episodes``."""
        t, sb = self.cfg.trainer, self.cfg.sandbox
        algo = str(t.algo)
        return TrainSpec(job_id=job_id, task=self.cfg.task.name, mode=mode, reward_path=reward_path, algo=algo,
                         total_timesteps=int(t.total_timesteps), n_envs=int(t.n_envs), seed=seed,
                         device=str(t.device), hyperparams=OmegaConf.to_container(t[algo], resolve=True),
                         normalize=bool(t.normalize), eval_episodes=int(self.cfg.eval.episodes),
                         out_dir=str(out_dir), tensorboard=bool(t.tensorboard), subproc_envs=bool(t.subproc_envs),
                         memory_mb=int(t.memory_mb), max_file_mb=int(t.max_file_mb),
                         call_timeout_s=float(sb.call_timeout_s), first_call_cpu_s=float(sb.cpu_s),
                         network_namespace=bool(sb.network_namespace), drop_privileges=bool(sb.drop_privileges))

    def write_summary(self) -> None:
        s = self.summary
        s.best, s.candidates = self.best, self.candidates
        s.population = [c.id for c in self.population.all()]
        s.llm_usage = self.designer.usage.to_dict()
        s.walls = self.walls
        s.wall_time_s = time.time() - self.t0
        self.store.write_json("summary.json", s.to_dict())

    # -- preferences (a session after each iteration's training) ---------------------------
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
