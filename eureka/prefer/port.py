"""The check of ``feedback.port`` before any work (``feedback=web``): a port, and a free one among the next 50."""

from __future__ import annotations

from typing import Any

from eureka.errors import ConfigError

TRIES = 50  # the web session uses the first free port of port .. port + TRIES - 1


def check_port(host: str, port: int) -> None:
    """Raise ``ConfigError`` (one line) when ``port`` is no port or no port from it on is free on ``host``."""
    from eureka.prefer.web import free_port

    if not 1 <= port <= 65535 - TRIES:
        raise ConfigError(f"feedback.port={port}: not a port; valid: 1 .. {65535 - TRIES}")
    try:
        free_port(host, port, TRIES)
    except OSError as exc:
        raise ConfigError(f"feedback.port={port}: {exc}; choose another feedback.port (or feedback.host)") from None


def check_feedback(cfg: Any) -> None:
    """With ``feedback=web``, the check of ``feedback.port`` (``check_port``): part of checking a run's config
    before any work, with ``eureka.config.check_config`` (which imports nothing of the stages)."""
    if cfg.feedback.mode == "web":
        check_port(cfg.feedback.host, cfg.feedback.port)
