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
    """Build the designer named by ``cfg.provider`` from the ``llm`` config group."""
    provider = cfg.get("provider", "offline")
    cache = ResponseCache(cfg.get("cache_dir") or None)
    if provider == "offline":
        designer: Designer = OfflineDesigner(temperature=float(cfg.get("temperature", 1.0)), seed=seed)
    elif provider == "openai":
        from eureka.llm.openai_llm import OpenAIDesigner

        designer = OpenAIDesigner(
            model=cfg.model, base_url=cfg.get("base_url") or None, api_key=cfg.get("api_key") or None,
            temperature=float(cfg.get("temperature", 1.0)), timeout_s=float(cfg.get("timeout_s", 120)),
            max_retries=int(cfg.get("max_retries", 3)), max_tokens=cfg.get("max_tokens") or None,
            use_n=bool(cfg.get("use_n", True)), max_total_tokens=int(cfg.get("max_total_tokens", 0) or 0))
    elif provider == "replay":
        return ReplayDesigner(model=cfg.model, temperature=float(cfg.get("temperature", 1.0)), cache=cache)
    else:
        raise ConfigError(f"unknown llm provider '{provider}'; valid: {', '.join(PROVIDERS)}."
                          f"{did_you_mean(provider, PROVIDERS)}")
    return CachingDesigner(designer, cache)


__all__ = ["Answer", "CachingDesigner", "DesignRequest", "Designer", "OfflineDesigner", "Parent", "ReplayDesigner",
           "ResponseCache", "Usage", "make_designer"]
