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

    def get(self, model: str, messages: list[dict], temperature: float, index: int) -> str | None:
        path = self.dir / f"{cache_key(model, messages, temperature, index)}.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())["text"]
        except (OSError, ValueError, KeyError):
            return None

    def put(self, model: str, messages: list[dict], temperature: float, index: int, text: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        key = cache_key(model, messages, temperature, index)
        tmp = self.dir / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"model": model, "temperature": temperature, "index": index, "text": text}))
        tmp.replace(self.dir / f"{key}.json")
