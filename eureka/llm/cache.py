"""Answers on disk: a run's own record (``<run>/answers/``) and the opt-in cross-run cache.

An answer is stored under a hash of everything that makes two requests different: the
request's *context* (model, temperature, iteration, the request's seed; for the shared cache
also the server's base URL, the run's seed and ``max_tokens``), its messages and the sample
index. Two runs with different seeds therefore never share an answer, and neither do two
servers that call their models by the same name.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$EUREKA_CACHE_DIR`` or ``~/.cache/eureka/llm``."""
    env = os.environ.get("EUREKA_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "eureka" / "llm"


def cache_key(context: dict, messages: list[dict], index: int) -> str:
    """Stable hash of what determines an answer: the request's context, its messages, the sample index."""
    ctx = {k: (round(float(v), 6) if isinstance(v, float) else v) for k, v in context.items()}
    blob = json.dumps({"context": ctx, "messages": messages, "index": int(index)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """A directory of ``<key>.json`` files (written atomically; ``durable`` also fsyncs each one)."""

    def __init__(self, directory: str | Path | None = None, durable: bool = False):
        self.dir = Path(directory) if directory else default_cache_dir()
        self.durable = durable

    def entry(self, context: dict, messages: list[dict], index: int) -> dict | None:
        """The stored answer (``text``, and the ``prompt_tokens``/``completion_tokens`` it cost), or None."""
        path = self.dir / f"{cache_key(context, messages, index)}.json"
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            return data if isinstance(data.get("text"), str) else None
        except (OSError, ValueError, AttributeError):
            return None

    def get(self, context: dict, messages: list[dict], index: int) -> str | None:
        """The stored answer's text, or None."""
        data = self.entry(context, messages, index)
        return data["text"] if data else None

    def put(self, context: dict, messages: list[dict], index: int, text: str, prompt_tokens: int = 0,
            completion_tokens: int = 0, source: str = "") -> None:
        """Store one answer (``source``: where it came from, e.g. ``server`` or ``shared-cache``)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        key = cache_key(context, messages, index)
        tmp = self.dir / f".{key}.{os.getpid()}.tmp"
        blob = json.dumps({"context": context, "index": index, "text": text, "prompt_tokens": prompt_tokens,
                           "completion_tokens": completion_tokens, "source": source}, default=str)
        with open(tmp, "w") as f:
            f.write(blob)
            if self.durable:
                f.flush()
                os.fsync(f.fileno())
        tmp.replace(self.dir / f"{key}.json")
        if self.durable:
            fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
