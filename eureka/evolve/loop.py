"""The Eureka loop: it orchestrates the stages and reads like the five steps of DESIGN.md.

Each iteration: ``design`` (the designer writes candidates) -> ``criticise`` (static checks and a
sandboxed dry run) -> ``train`` (the executor, with successive halving when configured) ->
``analyze`` (training statistics become each candidate's reflection) -> ``select`` (the population,
with a preference round when configured). The search stops early once ``loop.target_fitness`` is
reached; then the best reward is re-trained with the final seeds against the baselines.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import replace
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
from eureka.evolve.racing import Racer, pooled_std, precise, seed_values
from eureka.evolve.summary import SeedStats, Summary, final_evaluation
from eureka.evolve.tuning import Trial, Tuner, describe, genome_with_weights, lift_constants, tuning_note
from eureka.llm import Designer, DesignRequest, make_designer
from eureka.prefer import PreferenceRound, Session, make_session, public, run_round
from eureka.prefer.steer import outcome
from eureka.prompts import build_messages
from eureka.render import record_videos
from eureka.reward import sample_states
from eureka.store import RunStore
from eureka.store.provenance import changed_since, first_provenance, provenance
from eureka.train import TrainSpec, make_executor, train_spec
from eureka.train.bandit import bandit_allocation
from eureka.train.halving import rungs, successive_halving
from eureka.train.recording import RecordingExecutor
from eureka.train.result import Executor, TrainResult
from eureka.train.runner import rounded_timesteps
from eureka.train.vector.sims import sim_fallback_note

_MAKE = object()  # "build it from the config"


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

    def __init__(self, cfg: EurekaConfig | Any, run_dir: str | Path, reporter: Reporter | None = None,
                 designer: Designer | None = None, executor: Executor | None = None,
                 session: Session | None = _MAKE):  # type: ignore[assignment]
        cfg = typed(cfg)  # one typed object (an OmegaConf config is converted once, here)
        check_config(cfg)
        self.cfg = cfg
        if cfg.sandbox.env_allow:  # names the trusted processes keep, so jails can be given them
            os.environ["EUREKA_ENV_ALLOW"] = ",".join(cfg.sandbox.env_allow)
        self.store = RunStore(run_dir)
        self.reporter = reporter or Reporter()
        self.task = tasks.make(cfg.task.name)
        self.designer = designer or make_designer(cfg.llm, seed=cfg.seed, run_dir=run_dir)
        # every training result is recorded as it arrives (trainings.jsonl), so resume=<run_dir> trains nothing twice
        self.executor = RecordingExecutor(executor or make_executor(cfg.executor, cfg.trainer.timeout_s,
                                                                    log_dir=self.store.root / "ray"),
                                          self.store.root)
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
        self.wall_before = self.earlier_wall_time()  # a resumed run goes on counting its earlier processes' time

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
        general = list(self.cfg.notes)
        groups: dict[str | None, list[int]] = {}
        parents: dict[str | None, Candidate | None] = {}
        for k in range(self.cfg.samples):
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
                                      errors, notes, tuning=self.tuning_note)
            requests.append(DesignRequest(self.task, messages, len(samples), it,
                                          self.cfg.seed + 1000 * samples[0],
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
        specs = [self.spec(c.id, "candidate", self.racer.first_seed, c.reward_path, self.store.candidate_dir(c.id))
                 for c in cands]
        for sp in specs:
            self.reporter.training_started(sp.job_id, rounded_timesteps(sp))
        es, lc = self.cfg.loop.early_stop, self.cfg.loop
        pooled = self.pooled_std()

        def score(r: TrainResult) -> float:  # the racing statistic, as the population ranks
            return self.racer.statistic([r.fitness if r.ok else None], pooled)

        if lc.allocation == "bandit":
            b = lc.bandit
            return bandit_allocation(self.executor, specs, b.budget, b.chunk, b.c, b.parallel,
                                     self.reporter.training_progress, score=score)
        halving = es.enabled or lc.allocation == "halving"
        fractions = rungs(es.eta, es.min_fraction) if halving else [1.0]
        return successive_halving(self.executor, specs, fractions, es.eta, self.reporter.training_progress,
                                  score=score)

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
            self.store.write_text(self.store.candidate_dir(cand.id) / "reflection.txt", cand.reflection.text)
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
                specs.append(self.retrain_spec(c, seed, "seed"))
            for sp in specs:
                self.reporter.training_started(sp.job_id, rounded_timesteps(sp))
            results = self.executor.run(specs, self.reporter.training_progress, self.reporter.job_done)
            for c, sp, r in zip(picks, specs, results, strict=True):
                c.record_seed(sp.seed, r.fitness if r.ok else None, r.steps)
                c.steps = sum(c.seed_steps.values())
                self.store.event("raced", id=c.id, seed=sp.seed, fitness=r.fitness, status=r.status,
                                 seeds={str(k): v for k, v in c.seed_fitness.items()})
            self.rescore()

    def retrain_spec(self, c: Candidate, seed: int, kind: str) -> TrainSpec:
        """``c`` trained once more on ``seed`` with the budget its first training got (``kind``: seed | confirm)."""
        sp = self.spec(f"{c.id}_{kind}{seed}", "candidate", seed, c.reward_path,
                       self.store.candidate_dir(c.id) / f"{kind}{seed}")
        return replace(sp, total_timesteps=next(iter(c.seed_steps.values()), sp.total_timesteps) or sp.total_timesteps)

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
        have = set(best.seed_fitness)
        held_out = [s for s in self.racer.seed_list(len(have) + cc.max_seeds) if s not in have][:cc.max_seeds]
        per: dict[int, float | None] = {}
        failed: list[str] = []
        want = cc.seeds
        while len(per) < want:
            seeds = held_out[len(per):want]
            self.reporter.phase(f"confirming {best.id} on held-out search seed(s) {seeds} "
                                f"(it was chosen on seeds {sorted(have)})")
            specs = [self.retrain_spec(best, s, "confirm") for s in seeds]
            for sp in specs:
                self.reporter.training_started(sp.job_id, rounded_timesteps(sp))
            for s, r in zip(seeds, self.executor.run(specs, self.reporter.training_progress, self.reporter.job_done),
                            strict=True):
                per[s] = r.fitness if r.ok else None
                self.summary.confirm_steps += r.steps
                if not r.ok:
                    failed.append(f"seed {s}: {r.error_class}: {r.message}")
            if any(v is not None for v in per.values()) and not precise(list(per.values()), cc.rse):
                want = min(cc.max_seeds, len(per) + 2)
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
        lifted = lift_constants(best.code, int(tc.max_params))
        verdict = critic.check_code(lifted.render()) if lifted.params else None
        if verdict is None or verdict.failure is not None:
            why = "no constant to tune" if verdict is None else verdict.message
            self.store.event("tuning_skipped", id=best.id, reason=why)
            return
        self.reporter.phase(f"tuning {len(lifted.params)} constant(s) of {best.id}")
        child = Candidate(f"iter{it}_tuned", it, int(self.cfg.samples), parent=best.id, island=best.island)
        d = self.store.candidate_dir(child.id)
        seeds = list(best.seed_fitness)[:int(tc.seeds)]
        full = best.seed_steps.get(seeds[0]) or int(self.cfg.trainer.total_timesteps)  # what the parent got
        budget = max(1, int(round(float(tc.fraction) * full)))
        tuner = Tuner(lifted.params, int(tc.trials), float(tc.ratio), float(tc.sigma), seed=int(self.cfg.seed) + it)
        pooled, spent, results = self.pooled_std(), 0, {}
        for g in range(tuner.generations):
            xs, trials = tuner.ask(), []
            for j, x in enumerate(xs):
                n, values = g * tuner.popsize + j, tuner.values(x)
                path = self.store.write_text(d / f"trial{n}" / "reward.py", lifted.render(values))
                specs = [replace(self.spec(f"{child.id}_trial{n}_seed{s}", "candidate", s, str(path),
                                           d / f"trial{n}" / f"seed{s}"), total_timesteps=budget) for s in seeds]
                rs = self.executor.run(specs, self.reporter.training_progress)
                spent += sum(r.new_steps or r.steps for r in rs)
                per = {s: (r.fitness if r.ok else None) for s, r in zip(seeds, rs, strict=True)}
                trials.append(Trial(values, per, self.racer.statistic(list(per.values()), pooled)))
                results[n] = rs
            tuner.tell(xs, trials)
        top = tuner.best()
        if top is None:
            self.store.event("tuning_skipped", id=best.id, reason="every trial failed")
            return
        lifted.genome_line = genome_with_weights(lifted.genome_line, lifted.params, top.values)
        child.code = lifted.render(top.values)
        child.reward_path = str(self.store.write_text(d / "reward.py", child.code))
        n = tuner.trials.index(top)
        rs = results[n]
        counted = sum(r.new_steps or r.steps for r in rs)  # the best trial's steps: the child's own seeds
        if budget < full:  # confirm at the parent's budget, on the same seeds
            rs = self.executor.run([replace(self.spec(f"{child.id}_seed{s}", "candidate", s, child.reward_path,
                                                      d / f"seed{s}"), total_timesteps=full) for s in seeds],
                                   self.reporter.training_progress)
            spent += sum(r.steps for r in rs)
            counted = sum(r.steps for r in rs)
        for s, r in zip(seeds, rs, strict=True):
            child.record_seed(s, r.fitness if r.ok else None, r.steps)
        child.status = Status.OK if child.fitness is not None else Status.FAILED
        child.steps = sum(child.seed_steps.values())
        child.env_corr = rs[0].env_corr
        child.reflection = analyze(rs[0].snapshots, rs[0].fitness, self.task.fitness.description,
                                   env_corr=rs[0].env_corr)
        before = self.racer.statistic([best.seed_fitness.get(s) for s in seeds], pooled)
        after = self.racer.statistic(list(child.seed_fitness.values()), pooled)
        child.tuning = {"constants": describe(lifted.params, top.values), "trials": len(tuner.trials),
                        "steps": spent, "steps_in_child": counted, "seeds": seeds, "before": before, "after": after, "gain": after - before}
        child.response = (f"The constants of {best.id} tuned by CMA-ES ({len(tuner.trials)} trials).\n\n"
                          f"```python\n{child.code}```\n")
        self.store.write_text(d / "response.txt", child.response)
        self.store.write_text(d / "reflection.txt", child.reflection.text)
        self.store.event("tuned", id=child.id, parent=best.id, **child.tuning)
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
        sim_note = sim_fallback_note(self.cfg, self.task)
        if sim_note:
            self.reporter.message(sim_note)
        self.store.write_text("config.yaml", to_yaml(self.cfg))
        self.summary.provenance = provenance(yaml.safe_load(to_yaml(self.cfg)))
        changed = changed_since(first_provenance(self.store.events()), self.summary.provenance)
        if changed:
            self.reporter.message(changed)
        self.store.event("run_started", task=self.task.name, llm=self.cfg.llm.provider, seed=self.cfg.seed,
                         final_seeds=self.summary.final_seeds, provenance=self.summary.provenance)
        self.write_summary()
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
        self.confirm()
        seeds = self.summary.final_seeds
        self.reporter.phase(f"final evaluation: best reward and baselines x {len(seeds)} seeds ({seeds}; "
                            f"the search used seeds {sorted({s for c in self.candidates for s in c.seed_fitness})})")
        self.summary.final = final_evaluation(
            self.executor, self.spec, self.best.reward_path, seeds, self.store.root, self.cfg.eval.baselines,
            on_start=lambda sp: self.reporter.training_started(sp.job_id, rounded_timesteps(sp)),
            on_progress=self.reporter.training_progress, on_done=self.reporter.job_done)
        if self.summary.final.note:
            self.reporter.message(f"human-normalized score: {self.summary.final.note}")
        self.summary.status = "completed"
        self.write_summary()
        self.store.event("run_finished", best=self.best.id, best_fitness=self.summary.best_fitness)
        return self.summary

    def spec(self, job_id: str, mode: str, seed: int, reward_path: str | None, out_dir: Path) -> TrainSpec:
        """What to train, from ``trainer.*``, ``sandbox.*`` and ``eval.episodes``."""
        return train_spec(self.cfg, job_id=job_id, mode=mode, seed=seed, reward_path=reward_path,
                          out_dir=str(out_dir))

    def earlier_wall_time(self) -> float:
        """The wall time the run's earlier processes recorded in ``summary.json`` (0 for a new run)."""
        try:
            v = json.loads((self.store.root / "summary.json").read_text()).get("wall_time_s")
        except (OSError, ValueError, AttributeError):
            return 0.0
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else 0.0

    def write_summary(self) -> None:
        s = self.summary
        s.best, s.candidates = self.best, self.candidates
        s.population = [c.id for c in self.population.all()]
        s.llm_usage = self.designer.usage.to_dict()
        s.walls = self.walls
        s.jails = self.jails
        s.wall_time_s = self.wall_before + time.time() - self.t0
        self.store.write_json("summary.json", s.to_dict())

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
        self.store.write_json("preference_scores.json", {"scores": rnd.scores, "notes": self.notes_for})
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
