"""What every designer gets around it: the run's answer record, the opt-in shared cache, the budget,
prices, and bounded concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eureka.errors import ConfigError, LLMBudgetExceeded
from eureka.llm.base import Answer, Designer, DesignRequest
from eureka.llm.budget import Budget, Meter
from eureka.llm.cache import ResponseCache

__all__ = ["Budget", "ManagedDesigner", "record_context"]


def record_context(designer: Designer, request: DesignRequest) -> dict:
    """What identifies a request within one run: model, temperature, iteration and the request's seed."""
    return {"model": designer.model, "temperature": float(designer.temperature), "iteration": int(request.iteration),
            "request_seed": int(request.seed)}


class ManagedDesigner(Designer):
    """Wraps a designer so that a run is independent and resumable, and stays within its budget.

    - Every answer the run uses is written to ``run_record`` (``<run>/answers/``) before it is
      used, whatever its source; answers found there are never asked for again (``resume``).
    - ``shared`` (``llm.cache=shared``) is the cross-run cache: answers are looked up there
      and stored there under a key that also holds ``shared_context`` (server, run seed,
      max_tokens). Without it (the default) a run never sees another run's answers.
    - Each request to the model is estimated and reserved before it is sent (``Meter``); a
      request that could take the run over ``llm.budget`` is not sent.
    - Several parents' requests go out at once, at most ``concurrency`` in flight.
    """

    def __init__(self, inner: Designer, shared: ResponseCache | None = None, budget: Budget | None = None,
                 concurrency: int = 1, run_record: ResponseCache | None = None, shared_context: dict | None = None,
                 max_tokens: int | None = None):
        super().__init__()
        self.inner, self.shared, self.run_record = inner, shared, run_record
        self.shared_context = dict(shared_context or {})
        self.budget = budget or Budget()
        self.concurrency = max(1, int(concurrency))
        self.name, self.model, self.temperature = inner.name, inner.model, inner.temperature
        self.usage = inner.usage
        self.refused: LLMBudgetExceeded | None = None  # set when a request did not fit the budget
        self.unasked: dict | None = None  # what the budget left unasked (requests, samples, iteration)
        self._lock = threading.Lock()
        self.meter = Meter(self.budget, self.model, max_tokens, self.usage)
        asks_a_model = inner.name not in ("offline", "replay")
        if asks_a_model and self.budget.max_usd and self.budget.price(self.model) is None:
            raise ConfigError(f"llm.budget.max_usd={self.budget.max_usd:g} needs a price for model '{self.model}': "
                              f"set llm.prices.{self.model}.prompt and .completion (USD per 1M tokens)")
        if asks_a_model and self.budget.limited and self.meter.per_sample is None:
            raise ConfigError(f"llm.budget needs an upper bound on each answer's tokens to stay a ceiling: set "
                              f"llm.max_tokens (or llm.prices.{self.model}.max_completion, the model's limit)")
        if asks_a_model and self.budget.limited:
            setattr(inner, "gate", self.meter)  # noqa: B010 - every HTTP request is reserved first

    # -- where answers come from -----------------------------------------------------------
    def _context(self, request: DesignRequest, shared: bool = False) -> dict:
        ctx = record_context(self, request)
        return {**ctx, **self.shared_context} if shared else ctx

    def _record(self, request: DesignRequest, k: int, a: Answer, source: str) -> None:
        """Write one answer into the run directory (before the run uses it)."""
        if self.run_record is not None:
            self.run_record.put(self._context(request), request.messages, k, a.text, a.prompt_tokens,
                                a.completion_tokens, source=source)

    def _known(self, request: DesignRequest) -> list[Answer | None]:
        """Answers this run already has (its record), else from the shared cache (then recorded)."""
        out: list[Answer | None] = []
        for k in range(request.n):
            rec = self.run_record.entry(self._context(request), request.messages, k) if self.run_record else None
            if rec is not None:  # answered before this run was interrupted: its tokens were spent by this run
                p, c = int(rec.get("prompt_tokens") or 0), int(rec.get("completion_tokens") or 0)
                with self._lock:
                    self.usage.prompt_tokens += p
                    self.usage.completion_tokens += c
                self.meter.charge(p, c)
                out.append(Answer(rec["text"], p, c, cached=True))
                continue
            text = self.shared.get(self._context(request, shared=True), request.messages, k) if self.shared else None
            if text is not None:
                answer = Answer(text, cached=True)
                self._record(request, k, answer, "shared-cache")
                out.append(answer)
            else:
                out.append(None)
        return out

    def _ask(self, request: DesignRequest, known: list[Answer | None]) -> list[Answer]:
        missing = [k for k, a in enumerate(known) if a is None]
        answers: dict[int, Answer] = {k: a for k, a in enumerate(known) if a is not None}
        if missing:
            sub = DesignRequest(request.task, request.messages, len(missing), request.iteration, request.seed,
                                request.parent, request.population, request.errors, request.notes)
            for k, a in zip(missing, self.inner.propose(sub), strict=False):
                answers[k] = a
                self._record(request, k, a, self.inner.name)
                if self.shared is not None:
                    try:
                        self.shared.put(self._context(request, shared=True), request.messages, k, a.text,
                                        a.prompt_tokens, a.completion_tokens, source=self.inner.name)
                    except OSError:
                        pass
        out = [answers[k] for k in sorted(answers)]
        p, c = sum(a.prompt_tokens for a in out), sum(a.completion_tokens for a in out)
        with self._lock:
            self.usage.per_request.append({"iteration": request.iteration, "prompt_tokens": p, "completion_tokens": c,
                                           "usd": self.budget.cost(self.model, p, c), "cached": not missing,
                                           "samples": request.n})
        return out

    def propose(self, request: DesignRequest) -> list[Answer]:
        return self.propose_many([request])[0]

    def propose_many(self, requests: list[DesignRequest]) -> list[list[Answer]]:
        """Answer every request that fits the budget; raise ``LLMBudgetExceeded`` only when none does.

        Requests answered from the run's record or the shared cache cost nothing and always
        run. The others are planned in order while their estimates fit the budget (a request
        that does not fit is not sent: its samples are dropped and the search stops after
        this iteration), then sent at most ``concurrency`` at a time.
        """
        known = [self._known(r) for r in requests]
        results: list[list[Answer] | None] = [None] * len(requests)
        to_send: list[int] = []
        planned_tokens, planned_usd = 0, 0.0
        refused: str | None = None
        unasked: dict[str, Any] = {"requests": 0, "samples": 0, "iterations": sorted({r.iteration for r in requests})}
        for i, have in enumerate(known):
            missing = sum(a is None for a in have)
            if not missing:
                results[i] = self._ask(requests[i], have)
                continue
            est = self.meter.estimate(requests[i].messages, missing)
            if self.budget.limited and self.inner.name not in ("offline", "replay") and \
                    not self.meter.fits(planned_tokens + est.tokens, planned_usd + est.usd):
                refused = refused or self.meter.refusal(est, planned_usd)
                unasked["requests"] += 1
                unasked["samples"] += missing
                continue
            planned_tokens += est.tokens
            planned_usd += est.usd
            to_send.append(i)
        if self.concurrency == 1 or len(to_send) <= 1:
            for i in to_send:
                results[i] = self._ask(requests[i], known[i])
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(to_send))) as pool:
                futures = {i: pool.submit(self._ask, requests[i], known[i]) for i in to_send}
                for i, f in futures.items():
                    results[i] = f.result()
        self.refused = None
        if refused is not None:
            it = ", ".join(str(i + 1) for i in unasked["iterations"])
            self.unasked = unasked
            self.usage.unasked = {k: v for k, v in unasked.items()}
            self.refused = LLMBudgetExceeded(
                f"{refused}; left unasked: {unasked['requests']} of {len(requests)} request(s) "
                f"({unasked['samples']} sample(s)) of iteration {it} and every later iteration")
        if self.refused is not None and not any(results):
            raise self.refused
        return [r or [] for r in results]
