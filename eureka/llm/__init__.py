"""Designers write candidate rewards: ``offline`` (default), ``openai``, ``replay``."""

from __future__ import annotations

from pathlib import Path

from eureka.config import PROVIDERS, LLMConfig
from eureka.errors import ConfigError, did_you_mean
from eureka.llm.base import Answer, Designer, DesignRequest, Parent, Usage
from eureka.llm.cache import ResponseCache
from eureka.llm.managed import Budget, ManagedDesigner
from eureka.llm.offline import OfflineDesigner
from eureka.llm.replay import ReplayDesigner


def make_designer(cfg: LLMConfig, seed: int = 0, run_dir: str | Path | None = None) -> Designer:
    """Build the designer named by ``cfg.provider`` from the ``llm`` config group (``LLMConfig``).

    With ``run_dir`` every answer is also recorded in ``<run_dir>/answers/``, and answers
    found there are never asked for again (``resume``).
    """
    provider = cfg.provider
    cache = ResponseCache(cfg.cache_dir or None)
    budget = Budget(max_tokens=cfg.budget.max_tokens, max_usd=cfg.budget.max_usd,
                    prices={str(k): dict(v) for k, v in cfg.prices.items()})
    if provider == "offline":
        designer: Designer = OfflineDesigner(temperature=cfg.temperature, seed=seed)
    elif provider == "openai":
        from eureka.llm.openai_llm import OpenAIDesigner

        designer = OpenAIDesigner(
            model=cfg.model, base_url=cfg.base_url or None, api_key=cfg.api_key or None,
            temperature=cfg.temperature, timeout_s=cfg.timeout_s, max_retries=cfg.max_retries,
            max_tokens=cfg.max_tokens or None, use_n=cfg.use_n)
    elif provider == "replay":
        return ReplayDesigner(model=cfg.model, temperature=cfg.temperature, cache=cache,
                              run_dir=cfg.replay_from or None)
    else:
        raise ConfigError(f"unknown llm provider '{provider}'; valid: {', '.join(PROVIDERS)}."
                          f"{did_you_mean(provider, PROVIDERS)}")
    record = ResponseCache(Path(run_dir) / "answers") if run_dir is not None else None
    return ManagedDesigner(designer, cache, budget, cfg.concurrency, run_record=record)


__all__ = ["Answer", "Budget", "DesignRequest", "Designer", "ManagedDesigner", "OfflineDesigner", "Parent",
           "ReplayDesigner", "ResponseCache", "Usage", "make_designer"]
