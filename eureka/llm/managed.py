"""What every designer gets around it: the answer cache, the budget, prices, and bounded concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from eureka.errors import ConfigError, LLMBudgetExceeded
from eureka.llm.base import Answer, Designer, DesignRequest
from eureka.llm.cache import ResponseCache


@dataclass
class Budget:
    """``llm.budget``: stop asking before a request would take the run over ``max_tokens`` or ``max_usd``."""

    max_tokens: int = 0  # 0 = unlimited
    max_usd: float = 0.0  # 0 = unlimited
    prices: dict = field(default_factory=dict)  # model -> {"prompt": usd per 1M tokens, "completion": ...}

    def price(self, model: str) -> tuple[float, float] | None:
        p = self.prices.get(model)
        return (float(p["prompt"]), float(p["completion"])) if p else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        p = self.price(model)
        return (prompt_tokens * p[0] + completion_tokens * p[1]) / 1e6 if p else 0.0


class ManagedDesigner(Designer):
    """Wraps a designer: answers identical requests from the cache (across runs), stores new answers,
    meters tokens and cost per request, refuses requests that would exceed the budget, and asks for
    several parents at once (at most ``concurrency`` requests in flight).
    """

    def __init__(self, inner: Designer, cache: ResponseCache, budget: Budget | None = None, concurrency: int = 1,
                 run_record: ResponseCache | None = None):
        super().__init__()
        self.inner, self.cache = inner, cache
        self.run_record = run_record  # this run's own answers (<run>/answers/): a resumed run never asks twice
        self.budget = budget or Budget()
        self.concurrency = max(1, int(concurrency))
        self.name, self.model, self.temperature = inner.name, inner.model, inner.temperature
        self.usage = inner.usage
        self.refused: LLMBudgetExceeded | None = None  # set when a request did not fit the budget
        self.read_cache = inner.name != "offline"  # the offline designer's answers depend on the seed too
        self._lock = threading.Lock()
        if self.budget.max_usd and self.budget.price(self.model) is None and inner.name != "offline":
            raise ConfigError(f"llm.budget.max_usd={self.budget.max_usd:g} needs a price for model '{self.model}': "
                              f"set llm.prices.{self.model}.prompt and .completion (USD per 1M tokens)")

    # -- the budget ------------------------------------------------------------------------
    def _estimate(self) -> tuple[int, float]:
        """Tokens and USD of the next request: the largest request so far (0 before the first)."""
        rows = [r for r in self.usage.per_request if not r.get("cached")]
        if not rows:
            return 0, 0.0
        big = max(rows, key=lambda r: r["prompt_tokens"] + r["completion_tokens"])
        return big["prompt_tokens"] + big["completion_tokens"], big["usd"]

    def _check_budget(self, in_flight: int) -> None:
        tokens, usd = self._estimate()
        b = self.budget
        if b.max_tokens and self.usage.total_tokens + tokens * (in_flight + 1) > b.max_tokens:
            raise LLMBudgetExceeded(f"token budget llm.budget.max_tokens={b.max_tokens} would be exceeded "
                                    f"(used {self.usage.total_tokens}, next request ~{tokens})")
        if b.max_usd and self.usage.usd + usd * (in_flight + 1) > b.max_usd:
            raise LLMBudgetExceeded(f"cost budget llm.budget.max_usd={b.max_usd:g} would be exceeded "
                                    f"(spent ${self.usage.usd:.4f}, next request ~${usd:.4f})")

    # -- answering -------------------------------------------------------------------------
    def _cached(self, request: DesignRequest) -> list[Answer | None]:
        out: list[Answer | None] = []
        for k in range(request.n):
            rec = self.run_record.entry(self.model, request.messages, self.temperature, k) if self.run_record else None
            if rec is not None:  # answered before this run was interrupted: its tokens were spent by this run
                p, c = int(rec.get("prompt_tokens") or 0), int(rec.get("completion_tokens") or 0)
                with self._lock:
                    self.usage.prompt_tokens += p
                    self.usage.completion_tokens += c
                out.append(Answer(rec["text"], p, c, cached=True))
                continue
            text = self.cache.get(self.model, request.messages, self.temperature, k) if self.read_cache else None
            out.append(Answer(text, cached=True) if text is not None else None)
        return out

    def _ask(self, request: DesignRequest, known: list[Answer | None]) -> list[Answer]:
        missing = [k for k, a in enumerate(known) if a is None]
        answers: dict[int, Answer] = {k: a for k, a in enumerate(known) if a is not None}
        if missing:
            sub = DesignRequest(request.task, request.messages, len(missing), request.iteration, request.seed,
                                request.parent, request.population, request.errors, request.notes)
            for k, a in zip(missing, self.inner.propose(sub), strict=False):
                answers[k] = a
                for store in (self.cache, self.run_record):
                    if store is not None:
                        try:
                            store.put(self.model, request.messages, self.temperature, k, a.text,
                                      a.prompt_tokens, a.completion_tokens)
                        except OSError:
                            pass
        out = [answers[k] for k in sorted(answers)]
        p, c = sum(a.prompt_tokens for a in out), sum(a.completion_tokens for a in out)
        usd = self.budget.cost(self.model, p, c)
        with self._lock:
            self.usage.usd += usd
            self.usage.per_request.append({"iteration": request.iteration, "prompt_tokens": p, "completion_tokens": c,
                                           "usd": usd, "cached": not missing, "samples": request.n})
        return out

    def propose(self, request: DesignRequest) -> list[Answer]:
        return self.propose_many([request])[0]

    def propose_many(self, requests: list[DesignRequest]) -> list[list[Answer]]:
        """Answer every request that fits the budget; raise ``LLMBudgetExceeded`` only when none does.

        Fully cached requests cost nothing and always run. The others are sent at most
        ``concurrency`` at a time; a request that would take the run over its budget is not
        sent (its samples are dropped, and the search stops after this iteration).
        """
        cached = [self._cached(r) for r in requests]
        results: list[list[Answer] | None] = [None] * len(requests)
        to_send: list[int] = []
        refused: LLMBudgetExceeded | None = None
        for i, known in enumerate(cached):
            if all(a is not None for a in known):
                results[i] = self._ask(requests[i], known)
                continue
            try:
                self._check_budget(in_flight=len(to_send))
                to_send.append(i)
            except LLMBudgetExceeded as exc:
                refused = exc
        if self.concurrency == 1 or len(to_send) <= 1:
            for i in to_send:
                results[i] = self._ask(requests[i], cached[i])
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(to_send))) as pool:
                futures = {i: pool.submit(self._ask, requests[i], cached[i]) for i in to_send}
                for i, f in futures.items():
                    results[i] = f.result()
        self.refused = refused
        if refused is not None and not any(results):
            raise refused
        return [r or [] for r in results]
