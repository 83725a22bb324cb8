"""The run directory: candidates' files, an append-only event log and ``summary.json``."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from eureka.store.safe import write_file


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str, allow_nan=False) if _finite(obj) else \
        json.dumps(_clean(obj), indent=2, default=str)


def _finite(obj: Any) -> bool:
    try:
        json.dumps(obj, allow_nan=False, default=str)
        return True
    except ValueError:
        return False


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line and flush it to disk (an append-only log)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(_clean(record), default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict]:
    """Every line of a JSONL log (a torn last line, from a killed process, is skipped)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


class RunStore:
    """Files of one run, written as results arrive."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # Walled processes run as nobody and reach their own directory only through their working
            # directory: the run's config, other candidates and the logs stay out of their reach.
            os.chmod(self.root, 0o700)
        self.events_path = self.root / "events.jsonl"

    def candidate_dir(self, cid: str) -> Path:
        """``candidates/<cid>/`` (created)."""
        path = self.root / "candidates" / cid
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_text(self, rel: str | Path, text: str) -> Path:
        """Write ``text`` atomically to ``root/rel``, following no link below the run directory
        (candidates' directories are hostile: see ``eureka.store.safe``)."""
        path = Path(rel)
        with contextlib.suppress(ValueError):
            path = path.relative_to(self.root)
        write_file(self.root, path, text)
        return self.root / path

    def write_json(self, rel: str | Path, obj: Any) -> Path:
        """Write ``obj`` as JSON (NaN/inf become null) atomically."""
        return self.write_text(rel, _dump(obj) + "\n")

    def event(self, kind: str, **data: Any) -> None:
        """Append one event to ``events.jsonl`` and flush it to disk."""
        append_jsonl(self.events_path, {"time": time.time(), "event": kind, **data})

    def events(self) -> list[dict]:
        """All events so far (a truncated last line is ignored)."""
        return read_jsonl(self.events_path)

    # -- the run's files -------------------------------------------------------------------
    def save_config(self, text: str) -> None:
        """``config.yaml``: the resolved configuration (secrets redacted by the caller)."""
        self.write_text("config.yaml", text)

    def save_summary(self, summary: dict) -> None:
        """``summary.json``: what the run found so far (rewritten as the run goes)."""
        self.write_json("summary.json", summary)

    def save_preferences(self, scores: dict[str, float], notes: dict[str, list[str]]) -> None:
        """``preference_scores.json``: the person's scores per candidate and their notes."""
        self.write_json("preference_scores.json", {"scores": scores, "notes": notes})

    # -- a candidate's files ---------------------------------------------------------------
    def save_design(self, cid: str, messages: list[dict], answer: str) -> None:
        """``prompt.json`` (the messages the designer got) and ``response.txt`` (its answer)."""
        d = self.candidate_dir(cid)
        self.write_json(d / "prompt.json", messages)
        self.write_text(d / "response.txt", answer)

    def save_verdict(self, cid: str, code: str | None, verdict: dict) -> str | None:
        """``validation.json`` and, when the critic extracted code, ``reward.py``; its path (or None)."""
        d = self.candidate_dir(cid)
        path = str(self.write_text(d / "reward.py", code)) if code else None
        self.write_json(d / "validation.json", verdict)
        return path

    def save_reflection(self, cid: str, text: str) -> None:
        """``reflection.txt``: what the analyzer made of the candidate's training."""
        self.write_text(self.candidate_dir(cid) / "reflection.txt", text)

    def earlier_wall_time(self) -> float:
        """The wall time the run's earlier processes recorded in ``summary.json`` (0 for a new run)."""
        try:
            v = json.loads((self.root / "summary.json").read_text()).get("wall_time_s")
        except (OSError, ValueError, AttributeError):
            return 0.0
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 else 0.0


__all__ = ["RunStore", "append_jsonl", "read_jsonl"]
