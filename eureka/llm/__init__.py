"""Designers write candidate rewards: ``offline`` (default), ``openai``, ``replay``."""

from __future__ import annotations

import os
from pathlib import Path

from eureka.config import PROVIDERS, LLMConfig
from eureka.errors import ConfigError, did_you_mean
from eureka.llm.base import Answer, Designer, DesignRequest, Parent, Usage
from eureka.llm.cache import ResponseCache
from eureka.llm.managed import Budget, ManagedDesigner
from eureka.llm.offline import OfflineDesigner
from eureka.llm.replay import ReplayDesigner

CACHES = ("run", "shared")


def server_of(cfg) -> str:
    """The base URL requests go to (``llm.base_url``, ``$OPENAI_BASE_URL``, or OpenAI's)."""
    return str(cfg.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")


def shared_context(cfg, seed: int) -> dict:
    """What the shared cache's key holds beyond the request: the server, the run's seed, ``max_tokens``."""
    return {"base_url": server_of(cfg), "seed": int(seed), "max_tokens": cfg.max_tokens}


def make_designer(cfg: LLMConfig, seed: int = 0, run_dir: str | Path | None = None) -> Designer:
    """Build the designer named by ``cfg.provider`` from the ``llm`` config group (``LLMConfig``).

    With ``run_dir`` every answer the run uses is first written to ``<run_dir>/answers/``,
    and answers found there are never asked for again (``resume``). Answers of other runs
    are used only with ``llm.replay_from`` or, opt-in, ``llm.cache=shared``.
    """
    provider = cfg.provider
    mode = cfg.cache or "run"
    if mode not in CACHES:
        raise ConfigError(f"llm.cache={mode}: not a valid choice; valid choices: {', '.join(CACHES)}."
                          f"{did_you_mean(mode, CACHES)}")
    shared = ResponseCache(cfg.cache_dir or None) if mode == "shared" else None
    context = shared_context(cfg, seed)
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
        if not cfg.replay_from and shared is None:
            raise ConfigError("llm=replay replays a recorded run: set llm.replay_from=<run dir> (or llm.cache=shared "
                              "to replay answers of the shared cache, recorded with the same seed and server)")
        designer = ReplayDesigner(model=cfg.model, temperature=cfg.temperature,
                                  cache=shared or ResponseCache(cfg.cache_dir or None), run_dir=cfg.replay_from or None,
                                  shared_context=context)
        shared = None
    else:
        raise ConfigError(f"unknown llm provider '{provider}'; valid: {', '.join(PROVIDERS)}."
                          f"{did_you_mean(provider, PROVIDERS)}")
    record = ResponseCache(Path(run_dir) / "answers", durable=True) if run_dir is not None else None
    return ManagedDesigner(designer, shared, budget, cfg.concurrency, run_record=record,
                           shared_context=context, max_tokens=cfg.max_tokens or None)


__all__ = ["Answer", "Budget", "DesignRequest", "Designer", "ManagedDesigner", "OfflineDesigner", "Parent",
           "ReplayDesigner", "ResponseCache", "Usage", "make_designer"]
