"""On-disk cache of every answer, keyed by model, messages, temperature and sample index."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$EUREKA_CACHE_DIR`` or ``~/.cache/eureka/llm``."""
    env = os.environ.get("EUREKA_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "eureka" / "llm"


def cache_key(model: str, messages: list[dict], temperature: float, index: int) -> str:
    """Stable hash of what determines an answer."""
    blob = json.dumps({"model": model, "messages": messages, "temperature": round(float(temperature), 6),
                       "index": int(index)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """A directory of ``<key>.json`` files."""

    def __init__(self, directory: str | Path | None = None):
        self.dir = Path(directory) if directory else default_cache_dir()

    def entry(self, model: str, messages: list[dict], temperature: float, index: int) -> dict | None:
        """The stored answer (``text``, and the ``prompt_tokens``/``completion_tokens`` it cost), or None."""
        path = self.dir / f"{cache_key(model, messages, temperature, index)}.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return data if isinstance(data.get("text"), str) else None
        except (OSError, ValueError, AttributeError):
            return None

    def get(self, model: str, messages: list[dict], temperature: float, index: int) -> str | None:
        data = self.entry(model, messages, temperature, index)
        return data["text"] if data else None

    def put(self, model: str, messages: list[dict], temperature: float, index: int, text: str,
            prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        key = cache_key(model, messages, temperature, index)
        tmp = self.dir / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"model": model, "temperature": temperature, "index": index, "text": text,
                                   "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}))
        tmp.replace(self.dir / f"{key}.json")
