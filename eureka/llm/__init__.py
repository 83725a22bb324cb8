"""Designers write candidate rewards: ``offline`` (default), ``openai``, ``replay``."""

from __future__ import annotations

from pathlib import Path

from eureka.errors import ConfigError, did_you_mean
from eureka.llm.base import Answer, Designer, DesignRequest, Usage
from eureka.llm.cache import ResponseCache
from eureka.llm.managed import Budget, ManagedDesigner
from eureka.llm.offline import OfflineDesigner
from eureka.llm.replay import ReplayDesigner

PROVIDERS = ("offline", "openai", "replay")


def make_designer(cfg, seed: int = 0, run_dir=None) -> Designer:
    """Build the designer named by ``cfg.provider`` from the ``llm`` config group.

    With ``run_dir`` every answer is also recorded in ``<run_dir>/answers/``, and answers
    found there are never asked for again (``resume``).
    """
    provider = cfg.get("provider", "offline")
    cache = ResponseCache(cfg.get("cache_dir") or None)
    bcfg = cfg.get("budget") or {}
    budget = Budget(max_tokens=int(bcfg.get("max_tokens", 0) or 0),
                    max_usd=float(bcfg.get("max_usd", 0) or 0),
                    prices={str(k): dict(v) for k, v in (cfg.get("prices") or {}).items()})
    if provider == "offline":
        designer: Designer = OfflineDesigner(temperature=float(cfg.get("temperature", 1.0)), seed=seed)
    elif provider == "openai":
        from eureka.llm.openai_llm import OpenAIDesigner

        designer = OpenAIDesigner(
            model=cfg.model, base_url=cfg.get("base_url") or None, api_key=cfg.get("api_key") or None,
            temperature=float(cfg.get("temperature", 1.0)), timeout_s=float(cfg.get("timeout_s", 120)),
            max_retries=int(cfg.get("max_retries", 3)), max_tokens=cfg.get("max_tokens") or None,
            use_n=bool(cfg.get("use_n", True)))
    elif provider == "replay":
        return ReplayDesigner(model=cfg.model, temperature=float(cfg.get("temperature", 1.0)), cache=cache,
                              run_dir=cfg.get("replay_from") or None)
    else:
        raise ConfigError(f"unknown llm provider '{provider}'; valid: {', '.join(PROVIDERS)}."
                          f"{did_you_mean(provider, PROVIDERS)}")
    record = ResponseCache(Path(run_dir) / "answers") if run_dir is not None else None
    return ManagedDesigner(designer, cache, budget, int(cfg.get("concurrency", 1) or 1), run_record=record)


__all__ = ["Answer", "Budget", "ManagedDesigner", "DesignRequest", "Designer", "OfflineDesigner", "ReplayDesigner",
           "ResponseCache", "Usage", "make_designer"]
