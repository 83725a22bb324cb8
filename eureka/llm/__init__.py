"""Designers write candidate rewards: ``offline`` (default), ``openai``, ``replay``."""

from __future__ import annotations

from eureka.errors import ConfigError, did_you_mean
from eureka.llm.base import Answer, Designer, DesignRequest, Parent, Usage
from eureka.llm.cache import ResponseCache
from eureka.llm.offline import OfflineDesigner
from eureka.llm.replay import ReplayDesigner

PROVIDERS = ("offline", "openai", "replay")


class CachingDesigner(Designer):
    """Stores every answer of ``inner`` in the response cache (for ``llm=replay``)."""

    def __init__(self, inner: Designer, cache: ResponseCache):
        super().__init__()
        self.inner, self.cache = inner, cache
        self.name, self.model, self.temperature = inner.name, inner.model, inner.temperature
        self.usage = inner.usage

    def propose(self, request: DesignRequest) -> list[Answer]:
        answers = self.inner.propose(request)
        for k, a in enumerate(answers):
            try:
                self.cache.put(self.model, request.messages, self.temperature, k, a.text)
            except OSError:
                pass
        return answers


def make_designer(cfg, seed: int = 0) -> Designer:
    """Build the designer named by ``cfg.provider`` from the ``llm`` config group (``LLMConfig``)."""
    provider = cfg.provider
    cache = ResponseCache(cfg.cache_dir or None)
    if provider == "offline":
        designer: Designer = OfflineDesigner(temperature=float(cfg.temperature), seed=seed)
    elif provider == "openai":
        from eureka.llm.openai_llm import OpenAIDesigner

        designer = OpenAIDesigner(
            model=cfg.model, base_url=cfg.base_url or None, api_key=cfg.api_key or None,
            temperature=float(cfg.temperature), timeout_s=float(cfg.timeout_s), max_retries=int(cfg.max_retries),
            max_tokens=cfg.max_tokens or None, use_n=bool(cfg.use_n), max_total_tokens=int(cfg.max_total_tokens))
    elif provider == "replay":
        return ReplayDesigner(model=cfg.model, temperature=float(cfg.temperature), cache=cache)
    else:
        raise ConfigError(f"unknown llm provider '{provider}'; valid: {', '.join(PROVIDERS)}."
                          f"{did_you_mean(provider, PROVIDERS)}")
    return CachingDesigner(designer, cache)


__all__ = ["Answer", "CachingDesigner", "DesignRequest", "Designer", "OfflineDesigner", "Parent", "ReplayDesigner",
           "ResponseCache", "Usage", "make_designer"]
