"""Human (or scripted) preferences: sessions, the preference log, Bradley-Terry scores.

``run_round`` (in ``round.py``) is what the loop calls after an iteration: videos, pairs, one session,
and a typed ``PreferenceRound`` (scores, notes) back. ``feedback=web`` serves one page for the whole run
(``web.py``): the session is a context manager around the run, and ``Session.watch`` wraps the loop's
reporter so the page can show the run's progress between sessions.
"""

from __future__ import annotations

from pathlib import Path

from eureka.prefer.log import PreferenceLog
from eureka.prefer.pairs import choose_pairs
from eureka.prefer.round import PreferenceRound, public, record_videos, run_round
from eureka.prefer.scores import bradley_terry
from eureka.prefer.session import CliSession, Pair, ScriptedTeacher, Session, SessionInfo, SessionResult

MODES = ("fitness", "cli", "web", "scripted")


def make_session(cfg, run_dir: str | Path, announce=print) -> Session | None:
    """The session for ``feedback.mode`` (None for ``fitness``)."""
    mode = cfg.get("mode", "fitness")
    log = PreferenceLog(Path(run_dir) / "preferences.jsonl")
    timeout = float(cfg.get("timeout_s", 600))
    if mode == "fitness":
        return None
    if mode == "scripted":
        return ScriptedTeacher(log, noise=float(cfg.get("noise", 0.0)), seed=int(cfg.get("seed", 0)))
    if mode == "cli":
        return CliSession(log, timeout_s=timeout, open_videos=bool(cfg.get("open_videos", True)))
    if mode == "web":
        from eureka.prefer.web import WebSession

        return WebSession(log, host=str(cfg.get("host", "127.0.0.1")), port=int(cfg.get("port", 8765)),
                          timeout_s=timeout, announce=announce, finish_delay_s=float(cfg.get("finish_delay_s", 3)),
                          open_browser=bool(cfg.get("open_browser", False)))
    raise ValueError(f"feedback.mode must be one of {', '.join(MODES)}, not '{mode}'")


__all__ = ["MODES", "CliSession", "Pair", "PreferenceLog", "PreferenceRound", "ScriptedTeacher", "Session",
           "SessionInfo", "SessionResult", "bradley_terry", "choose_pairs", "make_session", "public", "record_videos",
           "run_round"]
