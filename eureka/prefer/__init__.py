"""Human (or scripted) preferences: sessions, the preference log, Bradley-Terry scores.

``run_round`` (in ``round.py``) is what the loop calls after an iteration: videos, pairs, one session,
and a typed ``PreferenceRound`` (scores, notes) back. ``feedback=web`` serves one page for the whole run
(``web.py``): the session is a context manager around the run, and ``Session.watch`` wraps the loop's
reporter so the page can show the run's progress between sessions.
"""

from __future__ import annotations

from pathlib import Path

from eureka.config import FEEDBACK_MODES, FeedbackConfig
from eureka.prefer.log import PreferenceLog
from eureka.prefer.pairs import choose_pairs
from eureka.prefer.round import PreferenceRound, public, run_round
from eureka.prefer.scores import bradley_terry
from eureka.prefer.session import CliSession, Pair, ScriptedTeacher, Session, SessionInfo, SessionResult

MODES = FEEDBACK_MODES


def make_session(cfg: FeedbackConfig, run_dir: str | Path, announce=print) -> Session | None:
    """The session for ``feedback.mode`` (None for ``fitness``)."""
    log = PreferenceLog(Path(run_dir) / "preferences.jsonl")
    if cfg.mode == "fitness":
        return None
    if cfg.mode == "scripted":
        return ScriptedTeacher(log, noise=cfg.noise, seed=cfg.seed)
    if cfg.mode == "cli":
        return CliSession(log, timeout_s=cfg.timeout_s, open_videos=cfg.open_videos)
    if cfg.mode == "web":
        from eureka.prefer.web import WebSession

        return WebSession(log, host=cfg.host, port=cfg.port, timeout_s=cfg.timeout_s, announce=announce,
                          finish_delay_s=cfg.finish_delay_s, open_browser=cfg.open_browser)
    raise ValueError(f"feedback.mode must be one of {', '.join(MODES)}, not '{cfg.mode}'")


__all__ = ["MODES", "CliSession", "Pair", "PreferenceLog", "PreferenceRound", "ScriptedTeacher", "Session",
           "SessionInfo", "SessionResult", "bradley_terry", "choose_pairs", "make_session", "public",
           "run_round"]
