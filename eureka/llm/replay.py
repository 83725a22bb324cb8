"""Answers from the on-disk cache of an earlier run (no network, no key)."""

from __future__ import annotations

from eureka.errors import LLMError
from eureka.llm.base import Answer, Designer, DesignRequest
from eureka.llm.cache import ResponseCache


class ReplayDesigner(Designer):
    """Replays cached answers for the same model, messages, temperature and sample index."""

    name = "replay"

    def __init__(self, model: str, temperature: float, cache: ResponseCache):
        super().__init__()
        self.model, self.temperature, self.cache = model, temperature, cache

    def propose(self, request: DesignRequest) -> list[Answer]:
        answers = []
        for k in range(request.n):
            text = self.cache.get(self.model, request.messages, self.temperature, k)
            if text is None:
                raise LLMError(f"llm=replay: no cached answer for model '{self.model}', iteration "
                               f"{request.iteration}, sample {k} in {self.cache.dir}; record one first with "
                               "llm=openai (or llm=offline) and the same settings")
            answers.append(Answer(text, cached=True))
        self.usage.requests += 1
        return answers
