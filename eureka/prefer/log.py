"""``preferences.jsonl``: every answer, append-only; the last answer to a pair wins."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from eureka.store import append_jsonl, read_jsonl


class PreferenceLog:
    """Pairwise choices and notes of a run, safe to append from several threads (two browser tabs)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: dict) -> dict:
        """Store one answer: ``pair_id``, ``a``, ``b``, ``choice`` (a/b/tie/skip), ``note``, ``iteration``,
        ``session`` (the session's id) and ``a_rev``/``b_rev`` (the evaluations the person saw)."""
        record = {"time": time.time(), **record}
        with self._lock:
            append_jsonl(self.path, record)
        return record

    def records(self) -> list[dict]:
        """Every stored line (a torn last line is skipped)."""
        return read_jsonl(self.path)

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
