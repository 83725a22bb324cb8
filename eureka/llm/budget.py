"""``llm.budget`` as a ceiling: every request is estimated and reserved before it is sent.

The estimate is an upper bound computed without a tokenizer:

- prompt tokens: one token per 3 characters of each message, rounded up, plus 4 per message
  and 3 per request (real tokenizers give ~4 characters per token for English and ~3.5 for
  code, so this over-counts). Once the server has answered, later estimates are scaled by the
  largest ratio of reported to estimated prompt tokens seen so far (when above 1);
- completion tokens: ``n`` samples x ``llm.max_tokens`` (which the server enforces), or the
  model's own limit (``llm.prices.<model>.max_completion``) when ``llm.max_tokens`` is unset.

A request is sent only when what was spent, plus what is reserved by requests in flight,
plus its own estimate fits the budget; once answered, its reservation is replaced by what
the server reported. So the spend never exceeds the budget.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from eureka.errors import LLMBudgetExceeded
from eureka.llm.base import Usage

CHARS_PER_TOKEN = 3  # conservative: see the module docstring
TOKENS_PER_MESSAGE = 4
TOKENS_PER_REQUEST = 3


def estimate_prompt_tokens(messages: list[dict]) -> int:
    """An upper estimate of a chat request's prompt tokens, without a tokenizer (see the module docstring)."""
    total = TOKENS_PER_REQUEST
    for m in messages:
        total += TOKENS_PER_MESSAGE + math.ceil(len(str(m.get("content") or "")) / CHARS_PER_TOKEN)
    return total


@dataclass
class Budget:
    """``llm.budget``: stop asking before a request could take the run over ``max_tokens`` or ``max_usd``."""

    max_tokens: int = 0  # 0 = unlimited
    max_usd: float = 0.0  # 0 = unlimited
    prices: dict = field(default_factory=dict)  # model -> {"prompt": usd/1M, "completion": usd/1M, "max_completion"}

    @property
    def limited(self) -> bool:
        return bool(self.max_tokens or self.max_usd)

    def price(self, model: str) -> tuple[float, float] | None:
        p = self.prices.get(model)
        return (float(p["prompt"]), float(p["completion"])) if p and "prompt" in p and "completion" in p else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        p = self.price(model)
        return (prompt_tokens * p[0] + completion_tokens * p[1]) / 1e6 if p else 0.0

    def completion_bound(self, model: str, max_tokens: int | None) -> int | None:
        """Completion tokens one sample can take: ``llm.max_tokens``, else the model's ``max_completion``."""
        if max_tokens:
            return int(max_tokens)
        limit = (self.prices.get(model) or {}).get("max_completion")
        return int(limit) if limit else None


@dataclass
class Reservation:
    """What one request may cost at most (held while it is in flight)."""

    prompt_tokens: int
    completion_tokens: int
    usd: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Meter:
    """Spent plus reserved never exceeds the budget; ``usage.usd`` is what the server reported, priced."""

    def __init__(self, budget: Budget, model: str, max_tokens: int | None, usage: Usage):
        self.budget, self.model, self.usage = budget, model, usage
        self.per_sample = budget.completion_bound(model, max_tokens)
        self.spent_tokens = 0
        self.reserved_tokens, self.reserved_usd = 0, 0.0
        self.ratio = 1.0  # largest reported / estimated prompt tokens so far (>= 1)
        self._lock = threading.Lock()

    def estimate(self, messages: list[dict], n: int) -> Reservation:
        """The most a request for ``n`` samples of ``messages`` can cost."""
        p = math.ceil(estimate_prompt_tokens(messages) * self.ratio)
        c = n * (self.per_sample or 0)
        return Reservation(p, c, self.budget.cost(self.model, p, c))

    def fits(self, extra_tokens: int, extra_usd: float) -> bool:
        """Whether spent + reserved + this much stays within the budget."""
        b = self.budget
        if b.max_tokens and self.spent_tokens + self.reserved_tokens + extra_tokens > b.max_tokens:
            return False
        return not (b.max_usd and self.usage.usd + self.reserved_usd + extra_usd > b.max_usd + 1e-12)

    def reserve(self, messages: list[dict], n: int) -> Reservation:
        """Hold the estimate of one request, or raise ``LLMBudgetExceeded`` (nothing is sent then)."""
        est = self.estimate(messages, n)
        with self._lock:
            if not self.fits(est.tokens, est.usd):
                raise LLMBudgetExceeded(self.refusal(est))
            self.reserved_tokens += est.tokens
            self.reserved_usd += est.usd
        return est

    def settle(self, held: Reservation, prompt_tokens: int, completion_tokens: int, messages: list[dict]) -> None:
        """Replace a reservation by what the server reported for the request."""
        with self._lock:
            self.reserved_tokens -= held.tokens
            self.reserved_usd -= held.usd
            self.charge_locked(prompt_tokens, completion_tokens)
            est = estimate_prompt_tokens(messages)
            if prompt_tokens > est * self.ratio:
                self.ratio = prompt_tokens / est

    def release(self, held: Reservation) -> None:
        """The request was not billed (an HTTP error): drop its reservation."""
        with self._lock:
            self.reserved_tokens -= held.tokens
            self.reserved_usd -= held.usd

    def charge(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Count tokens this run spent earlier (answers recorded before a resume)."""
        with self._lock:
            self.charge_locked(prompt_tokens, completion_tokens)

    def charge_locked(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.spent_tokens += prompt_tokens + completion_tokens
        self.usage.usd += self.budget.cost(self.model, prompt_tokens, completion_tokens)

    def refusal(self, est: Reservation, planned_usd: float = 0.0) -> str:
        """One line: which limit, what was spent, what the next request could cost (after ``planned_usd``)."""
        b = self.budget
        what = f"{est.prompt_tokens} prompt + {est.completion_tokens} completion tokens (estimated upper bound)"
        if b.max_usd and self.usage.usd + self.reserved_usd + planned_usd + est.usd > b.max_usd:
            return (f"cost budget llm.budget.max_usd={b.max_usd:g} reached: spent ${self.usage.usd:.4f}, the next "
                    f"request could cost ${est.usd:.4f} ({what})")
        return (f"token budget llm.budget.max_tokens={b.max_tokens} reached: spent {self.spent_tokens} tokens, the "
                f"next request could take {est.tokens} ({what})")
