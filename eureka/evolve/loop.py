"""The Eureka loop: it only sequences the stages; it reads like the steps of the README's "What a run does".

Each iteration: ``design`` (the designer writes candidates) -> ``criticise`` (static checks and a
sandboxed dry run) -> ``train`` (with successive halving or the bandit when configured) ->
``analyze`` (training statistics become each candidate's reflection) -> ``race`` (more search seeds for the
most promising) -> ``select`` (the population, with a preference round when configured) -> ``tune`` (the
best reward's constants, when configured). The search stops early once ``loop.target_fitness`` is
reached; then ``confirm`` (held-out search seeds) and ``finish`` (the final re-training against the baselines).

The loop holds no algorithm: every training goes through ``Trainings`` (evolve/trainings.py), the
tuning is ``tune_constants`` (evolve/tuning.py), the confirmation ``confirm_held_out`` (evolve/racing.py),
the prompts ``design_requests`` (eureka/prompts/requests.py) and the files ``RunStore`` (eureka/store).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import yaml

from eureka import tasks
from eureka.analyze import analyze
from eureka.check import preflight
from eureka.config import EurekaConfig, check_action_space, check_config, final_seeds, to_yaml, typed
from eureka.critic import Critic, SandboxPool
from eureka.errors import LLMBudgetExceeded, LLMError
from eureka.evolve.candidate import Candidate, Status
from eureka.evolve.population import Population
from eureka.evolve.racing import Racer, confirm_held_out, pooled_std, seed_values
from eureka.evolve.reporter import Reporter
from eureka.evolve.summary import SeedStats, Summary, baseline_specs, best_specs, final_evaluation
from eureka.evolve.trainings import Trainings
from eureka.evolve.tuning import tune_constants, tuning_note
from eureka.llm import Designer, make_designer
from eureka.prefer import PreferenceRound, Session, make_session, public, run_round
from eureka.prefer.port import check_feedback
from eureka.prefer.steer import outcome
from eureka.procs import keep_env
from eureka.prompts.requests import design_requests
from eureka.render import record_videos
from eureka.reward import sample_states
from eureka.store import RunStore
from eureka.store.provenance import changed_since, first_provenance, provenance
from eureka.train import TrainSpec, make_executor
from eureka.train.result import Executor, TrainResult
from eureka.train.vector.sims import check_vector_backend

_MAKE = object()  # "build it from the config"


class EurekaLoop:
    """Run up to ``iterations`` x ``samples`` candidates, keep the best, re-evaluate it against baselines.

    The collaborators can be injected (tests use a fast stub executor): ``designer`` writes the
    candidates, ``executor`` trains them, ``session`` asks for preferences (None: fitness only).
    ``checked``: ``cfg`` was checked already (``check_config``), as the CLI does before Hydra starts.
    """

    def __init__(self, cfg: EurekaConfig | Any, run_dir: str | Path, reporter: Reporter | None = None,
                 designer: Designer | None = None, executor: Executor | None = None,
                 session: Session | None = _MAKE, checked: bool = False):  # type: ignore[assignment]
        cfg = typed(cfg)  # one typed object (an OmegaConf config is converted once, here)
        if not checked:  # checked: the CLI checked this very config before Hydra started (eureka.cli.preflight)
            check_config(cfg)
            check_feedback(cfg)  # feedback=web: a free port
        self.cfg = cfg
        keep_env(cfg.sandbox.env_allow)
        self.store = RunStore(run_dir)
        self.reporter = reporter or Reporter()
        self.task = tasks.make(cfg.task.name)
        self.designer = designer or make_designer(cfg.llm, seed=cfg.seed, run_dir=run_dir)
        executor = executor or make_executor(cfg.executor, cfg.trainer.timeout_s, log_dir=self.store.root / "ray",
                                             device=str(cfg.trainer.device))
        self.candidates: list[Candidate] = []
        self.best: Candidate | None = None
        lc = cfg.loop
        self.racer = Racer.from_config(cfg)  # several search seeds per verdict (loop.racing)
        self.population = Population(lc.population, lc.islands, lc.selection, lc.migration_every,
                                     min_seeds=self.racer.min_seeds)
        self.feedback_cfg = cfg.feedback
        self.session = make_session(self.feedback_cfg, run_dir, announce=self.reporter.message) \
            if session is _MAKE else session
        if self.session is not None:
            self.reporter = self.session.watch(self.reporter)  # the web page follows the run through the hooks
        # every training goes through here; each result is recorded as it arrives (trainings.jsonl)
        self.trainings = Trainings(cfg, executor, self.store, self.reporter)
        self.notes_for: dict[str, list[str]] = {}
        self.tuned: set[str] = set()  # candidates whose constants were tuned (loop.tuning)
        self.tuning_note: str | None = None  # what the last tuning did, for the next prompt
        self.walls: dict[str, list[str]] = {}  # walls reported by each kind of process that ran candidate code
        self.jails: dict[str, dict] = {}  # what a jail of each kind reported of itself (namespaces, uid, limits)
        self.summary = Summary(self.task.name, cfg.llm.provider, self.designer.model,
                               self.task.fitness.description, self.racer.first_seed, lc.target_fitness,
                               selection=self.population.selection, feedback=cfg.feedback.mode,
                               final_seeds=final_seeds(cfg), racing=self.racer.describe(),
                               allocation="halving" if lc.early_stop.enabled else lc.allocation)
        self.t0 = time.time()
        self.wall_before = self.store.earlier_wall_time()  # a resumed run goes on counting its earlier processes' time

    @property
    def executor(self) -> Executor:
        """The executor every training runs on (recording each result)."""
        return self.trainings.executor

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
            for it in range(self.cfg.iterations):
                cands = self.design(it, errors)
                if not cands:
                    break
                trainable = self.criticise(critic, cands)
                results = self.train(trainable)
                self.analyze(trainable, results)
                self.race(trainable)
                self.select(it, cands)
                self.tune(it, critic)
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
        self.reporter.iteration_started(it, self.cfg.iterations)
        parents = [self.population.parent_for(k) for k in range(self.cfg.samples)]
        groups = design_requests(self.task, it, self.cfg.seed, parents, [c.as_parent() for c in self.population.all()],
                                 errors, list(self.cfg.notes), self.notes_for, tuning=self.tuning_note)
        requests = [g.request for g in groups]
        try:
            answered = self.designer.propose_many(requests)
        except LLMBudgetExceeded as exc:
            self.reporter.message(f"stopping the search: {exc}")
            self.summary.message = str(exc)
            return []
        cands = []
        for group, answers in zip(groups, answered, strict=True):
            for k, answer in zip(group.samples, answers, strict=False):
                cand = Candidate(f"iter{it}_sample{k}", it, k, response=answer.text, parent=group.parent,
                                 island=k % self.population.islands)
                self.store.save_design(cand.id, group.request.messages, answer.text)
                self.store.event("designed", id=cand.id, parent=cand.parent, island=cand.island,
                                 prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
                                 cached=answer.cached)
                cands.append(cand)
        usage = self.designer.usage
        if usage.total_tokens:  # a designer that uses no tokens (offline, replay) gets no token line
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
            path = self.store.save_verdict(cand.id, verdict.code, verdict.to_dict())
            if path is not None:
                cand.code, cand.reward_path = verdict.code, path
            self.store.event("validated", id=cand.id, status=verdict.status, error_class=verdict.error_class,
                             message=verdict.message, line=verdict.line)
            if verdict.failure is not None:
                cand.reject(Status.REJECTED, verdict.failure)
                self.reporter.candidate_done(cand)
        return [c for c in cands if c.status is Status.PENDING]

    def train(self, cands: list[Candidate]) -> list[TrainResult]:
        """Train every candidate (step 3); with ``loop.early_stop``, by successive halving."""
        specs = [self.spec(c.id, "candidate", self.racer.first_seed, c.reward_path, self.store.candidate_dir(c.id))
                 for c in cands]
        pooled = self.pooled_std()

        def score(r: TrainResult) -> float:  # the racing statistic, as the population ranks
            return self.racer.statistic([r.fitness if r.ok else None], pooled)

        return self.trainings.search(specs, score)

    def analyze(self, cands: list[Candidate], results: list[TrainResult]) -> None:
        """Turn each training result into the candidate's fitness and reflection (step 4)."""
        answers = sum(1 for c in self.candidates if cands and c.iteration == cands[0].iteration)
        ran = (sum(1 for r in results if r.ok), answers)
        for cand, result in zip(cands, results, strict=True):
            if result.walls:
                self.walls.setdefault("training", result.walls)
            if result.jail:
                self.jails.setdefault("training", result.jail)
            cand.env_corr = result.env_corr
            cand.reflection = analyze(result.snapshots, result.fitness, self.task.fitness.description,
                                      env_corr=result.env_corr, ran=ran)
            self.store.save_reflection(cand.id, cand.reflection.text)
            cand.steps, cand.stopped_at = result.steps, result.stopped_at
            if result.ok:
                cand.status = Status.OK
                cand.record_seed(self.racer.first_seed, result.fitness, result.steps)
            elif result.failure is not None:
                cand.reject(Status.FAILED, result.failure)
            if result.stopped_at is not None:
                self.store.event("stopped_early", id=cand.id, steps=result.stopped_at, fitness=cand.fitness)
            self.store.event("trained", id=cand.id, status=cand.status.value, fitness=cand.fitness, steps=result.steps,
                             error_class=cand.error_class, message=cand.message, wall_time_s=result.wall_time_s)
            self.reporter.candidate_done(cand)
        self.rescore()

    def race(self, cands: list[Candidate]) -> None:
        """Re-train the most promising candidates on fresh search seeds (``loop.racing``), then re-rank.

        Each round trains the ``racing.top`` best (by the racing statistic) of the population and this
        iteration's candidates that have fewer than ``racing.seeds`` seeds on their next search seed, with
        the budget their first training got; at most ``racing.seeds`` rounds per iteration.
        """
        for _ in range(self.racer.seeds):
            pool = [c for c in dict.fromkeys(self.population.all() + cands)
                    if c.status is Status.OK and c.stopped_at is None]
            picks = self.racer.to_race(pool, self.pooled_std())
            if not picks:
                break
            specs = []
            for c in picks:
                seed = self.racer.next_seed(c)
                if seed is None:  # it has all its seeds already
                    continue
                specs.append(self.trainings.again(c, seed, "seed"))
            results = self.trainings.run(specs)
            for c, sp, r in zip(picks, specs, results, strict=True):
                c.record_seed(sp.seed, r.fitness if r.ok else None, r.steps)
                c.steps = sum(c.seed_steps.values())
                self.store.event("raced", id=c.id, seed=sp.seed, fitness=r.fitness, status=r.status,
                                 seeds={str(k): v for k, v in c.seed_fitness.items()})
            self.rescore()

    def confirm(self) -> None:
        """Re-train the crowned reward on search seeds it was never trained on (``loop.confirm``).

        Its mean over the seeds that chose it is biased upward by the choice (the best of several noisy
        estimates); the mean over seeds that played no part in choosing it is not, so that is the fitness
        the summary reports for it (``best_fitness``; ``best_selection_fitness`` keeps the other). At least
        ``confirm.seeds`` seeds, then two more at a time while the held-out mean's standard error exceeds
        ``confirm.rse`` of its magnitude, up to ``confirm.max_seeds``.
        """
        cc, best = self.cfg.loop.confirm, self.best
        if cc.seeds <= 0 or best is None or not best.reward_path:
            return
        done = confirm_held_out(best, self.racer, cc, self.trainings, self.reporter.phase)
        per, failed = done.per_seed, done.failed
        self.summary.confirm_steps += done.steps
        self.summary.confirm_of, self.summary.confirmed = best.id, SeedStats(per)
        if failed:
            self.reporter.message(f"confirming {best.id}: {len(failed)} of {len(per)} training(s) failed "
                                  f"({'; '.join(failed)})")
        self.store.event("confirmed", id=best.id, **self.summary.confirmed.to_dict(), selection_fitness=best.fitness)

    def pooled_std(self) -> float | None:
        """Seed-to-seed standard deviation pooled over every candidate trained on several seeds."""
        return pooled_std(seed_values(c.seed_fitness) for c in self.candidates)

    def rescore(self) -> None:
        """Every trained candidate's racing statistic (its ``score``), with the current pooled spread."""
        pooled = self.pooled_std()
        for c in self.candidates:
            c.score = self.racer.statistic(seed_values(c.seed_fitness), pooled) if c.seed_fitness else None

    def select(self, it: int, cands: list[Candidate]) -> None:
        """Update the population (step 5): a preference round first, when configured; then the iteration's video."""
        rnd = self.ask_preferences(it, cands) if self.session is not None else None
        if rnd is not None and rnd.pairs:
            self.population.prefer(rnd.favourite)  # the person's top choice survives and parents next
        self.population.update(cands, it)
        self.best = self.population.best()
        if self.best is not None:
            self.store.event("best", id=self.best.id, fitness=self.best.fitness, preference=self.best.preference,
                             population=[c.id for c in self.population.all()])
        if rnd is not None:
            self.tell_choices(it, rnd)
        ok = [c for c in cands if c.status is Status.OK and c.fitness is not None]
        if ok:
            self.record_videos([max(ok, key=lambda c: c.fitness if c.fitness is not None else -float("inf"))])
        self.write_summary()

    def tune(self, it: int, critic: Critic) -> None:
        """Tune the constants of the best reward (``loop.tuning``, eureka/evolve/tuning.py): CMA-ES trials on
        the best's own search seeds; the best trial becomes a new candidate whose parent is the original."""
        tc, best = self.cfg.loop.tuning, self.best
        if not tc.enabled or best is None or best.id in self.tuned or not best.code:
            return
        self.tuned.add(best.id)
        pooled = self.pooled_std()
        child = tune_constants(best, it, self.cfg, critic.check_code, self.trainings, self.store,
                               lambda values: self.racer.statistic(values, pooled), self.task.fitness.description,
                               self.reporter.phase)
        if child is None or child.tuning is None:
            return
        self.candidates.append(child)
        self.rescore()
        self.race([child])
        self.tuning_note = tuning_note(child.id, best.id, child.tuning)
        self.population.add([child])
        self.best = self.population.best()
        self.store.event("best", id=self.best.id if self.best else None, fitness=self.best.fitness if self.best else None,
                         population=[c.id for c in self.population.all()])
        self.write_summary()

    # -- around the search -----------------------------------------------------------------
    def begin(self) -> Critic:
        """Check the task (once per process), record the config, and start the critic's sandbox."""
        check_action_space(self.cfg, preflight(self.task))
        sim_note = check_vector_backend(self.cfg, self.task)
        if sim_note:
            self.reporter.message(sim_note)
        self.store.save_config(to_yaml(self.cfg))
        self.summary.provenance = provenance(yaml.safe_load(to_yaml(self.cfg)))
        changed = changed_since(first_provenance(self.store.events()), self.summary.provenance)
        if changed:
            self.reporter.message(changed)
        self.store.event("run_started", task=self.task.name, llm=self.cfg.llm.provider, seed=self.cfg.seed,
                         final_seeds=self.summary.final_seeds, provenance=self.summary.provenance)
        self.write_summary()
        if self.cfg.eval.baselines:  # the final baselines need nothing the search finds: they fill idle slots
            self.trainings.prefetch(baseline_specs(self.trainings, self.summary.final_seeds, self.store.root))
        self.reporter.phase("collecting a batch of real states for the critic")
        states = sample_states(self.task, seed=self.cfg.seed)
        pool = SandboxPool(self.cfg.sandbox)  # sandbox.* are the workers' limits (SandboxLimits)
        self.walls["critic"] = pool.walls
        if pool.jail:
            self.jails["critic"] = pool.jail
        return Critic(self.task.state_names, states, pool)

    def solved(self, it: int) -> bool:
        """True when the best candidate reached ``loop.target_fitness`` (the search then stops)."""
        target = self.cfg.loop.target_fitness
        if target is None or self.best is None or self.best.fitness is None or self.best.fitness < target:
            return False
        left = self.cfg.iterations - it - 1
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
        # the final re-trainings of the choice need nothing the confirmation finds: they fill its idle slots
        self.trainings.prefetch(best_specs(self.trainings, self.best.reward_path, seeds, self.store.root))
        self.confirm()
        self.reporter.phase(f"final evaluation: best reward and baselines x {len(seeds)} seeds ({seeds}; "
                            f"the search used seeds {sorted({s for c in self.candidates for s in c.seed_fitness})})")
        self.summary.final = final_evaluation(self.trainings, self.best.reward_path, seeds, self.store.root,
                                              self.cfg.eval.baselines)
        if self.summary.final.note:
            self.reporter.message(f"human-normalized score: {self.summary.final.note}")
        self.summary.status = "completed"
        self.write_summary()
        self.store.event("run_finished", best=self.best.id, best_fitness=self.summary.best_fitness)
        return self.summary

    def spec(self, job_id: str, mode: str, seed: int, reward_path: str | None, out_dir: Path) -> TrainSpec:
        """What to train, from ``trainer.*``, ``sandbox.*`` and ``eval.episodes``."""
        return self.trainings.spec(job_id, mode, seed, reward_path, out_dir)

    def write_summary(self) -> None:
        """``summary.json`` as the run stands now."""
        s = self.summary
        s.best, s.candidates = self.best, self.candidates
        s.population = [c.id for c in self.population.all()]
        s.llm_usage = self.designer.usage
        s.walls = self.walls
        s.jails = self.jails
        s.wall_time_s = self.wall_before + time.time() - self.t0
        self.store.save_summary(s.to_dict())

    # -- preferences (a session after each iteration's training) ---------------------------
    def ask_preferences(self, it: int, cands: list[Candidate]) -> PreferenceRound:
        """Run a preference round (``eureka.prefer.run_round``); apply its scores and notes."""
        assert self.session is not None
        rnd = run_round(self.session, it, cands, self.population.all(), everyone=self.candidates, cfg=self.cfg,
                        store=self.store, task=self.task, reporter=self.reporter)
        for cid, notes in rnd.notes.items():
            known = self.notes_for.setdefault(cid, [])
            known += [n for n in notes if n not in known]
        for c in self.candidates:
            c.preference = rnd.scores.get(c.id)
        self.store.save_preferences(rnd.scores, self.notes_for)
        self.store.event("preferences", **rnd.event())
        for info in rnd.videos:
            self.walls.setdefault("renderer", info.get("walls", []))
        self.reporter.message(rnd.line())
        return rnd

    def tell_choices(self, it: int, rnd: PreferenceRound) -> None:
        """Tell the person (page or terminal) and the event log what their choices did."""
        parents = [self.population.parent_for(k) for k in range(self.cfg.samples)]
        result = outcome(it, rnd.favourite, self.population.selection, self.population.all(), parents, rnd.notes,
                         rnd.shown, last=it >= self.cfg.iterations - 1)
        self.store.event("choices", **result)
        if self.session is not None:
            with self.reporter.paused():
                self.session.outcome(result)

    @staticmethod
    def public(c: Candidate) -> dict:
        return public(c)

    def record_videos(self, cands: list[Candidate]) -> None:
        """Save ``rollout.mp4`` for each candidate that has none yet (``video=false`` turns it off)."""
        for info in record_videos(self.cfg, self.store, cands, self.reporter):
            self.walls.setdefault("renderer", info.get("walls", []))
