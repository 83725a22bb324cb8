"""``preferences.jsonl``: every answer, append-only; the last answer to a pair wins."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path


class PreferenceLog:
    """Pairwise choices and notes of a run, safe to append from several threads (two browser tabs)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: dict) -> dict:
        """Store one answer: ``pair_id``, ``a``, ``b``, ``choice`` (a/b/tie/skip), ``note``, ``iteration``."""
        record = {"time": time.time(), **record}
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
        return record

    def records(self) -> list[dict]:
        """Every stored line (a torn last line is skipped)."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def latest(self, iteration: int | None = None) -> dict[str, dict]:
        """The last answer per ``pair_id`` (of one iteration, or all)."""
        out: dict[str, dict] = {}
        for r in self.records():
            if "pair_id" in r and (iteration is None or r.get("iteration") == iteration):
                out[r["pair_id"]] = r
        return out

    def comparisons(self) -> list[tuple[str, str, str]]:
        """``(a, b, choice)`` of every pair's last answer, all iterations."""
        return [(r["a"], r["b"], r["choice"]) for r in self.latest().values()]
