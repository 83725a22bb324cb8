"""Preference sessions: a scripted teacher, a terminal session, and (in web.py) a web page.

Every session shows pairs of candidates (rollout videos, fitness), records each
answer in ``preferences.jsonl`` as it is given, and returns when the person is
done, when every pair is answered, or when ``timeout_s`` passes without an answer
(then the loop falls back to fitness for what is missing, and says so).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from eureka.config import FeedbackConfig
from eureka.prefer.log import PreferenceLog

_F = FeedbackConfig  # the defaults live in eureka/config.py

CHOICES = {"a": "a", "b": "b", "t": "tie", "tie": "tie", "s": "skip", "skip": "skip"}


@dataclass
class Pair:
    """One comparison: two candidates (dicts with id, fitness, video, code)."""

    pair_id: str
    a: dict
    b: dict


@dataclass
class SessionResult:
    """What a session produced (the answers themselves are in the preference log)."""

    answered: int = 0
    timed_out: bool = False
    message: str = ""
    notes: list[str] = field(default_factory=list)
    ended: str = ""  # all answered | done | quit | idle


@dataclass
class SessionInfo:
    """What a session shows besides the pairs: how choices and notes are used, which pairs repeat."""

    session_id: str = ""
    iterations: int = 0                 # of the run (0: unknown)
    selection: str = "fitness"          # loop.selection
    selection_text: str = ""            # how the choices act on selection, in plain words
    note_hint: str = ""                 # what the designer does with a note
    repeated: dict[str, str] = field(default_factory=dict)  # pair_id -> why it is asked again
    known: int = 0                      # pairs skipped: answered in an earlier session, nothing changed
    candidates: list[dict] = field(default_factory=list)   # the population table: population + current
    score_ids: list[str] = field(default_factory=list)     # every candidate of the run (Bradley-Terry ids)
    population_size: int = 4            # loop.population: places the candidates compete for
    last: bool = False                  # the run's last session (no next iteration)
    note_example: str = ""              # placeholder of the note box, in the task's own variables
    survive: str = ""                   # set when every candidate is kept whatever the person chooses


class Session:
    """Base class: ``run`` asks about ``pairs`` and stores answers in ``log``.

    A session is also a context manager around the whole run (the web page's
    server lives that long), and ``watch`` may wrap the loop's reporter to
    follow the run between sessions.
    """

    def __init__(self, log: PreferenceLog, timeout_s: float = _F.timeout_s):
        self.log, self.timeout_s = log, timeout_s

    def __enter__(self) -> Session:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Called when the run starts."""

    def close(self) -> None:
        """Called when the run ends (also on errors and Ctrl-C)."""

    def watch(self, reporter):
        """The reporter the loop should use (the web session wraps it to show the run's progress)."""
        return reporter

    def outcome(self, result: dict) -> None:
        """What the session's choices did (``eureka.prefer.steer.outcome``), told after selection."""

    def record(self, iteration: int, pair: Pair, choice: str, note: str = "", source: str = "",
               session_id: str = "") -> dict:
        return self.log.append({"iteration": iteration, "pair_id": pair.pair_id, "a": pair.a["id"],
                                "b": pair.b["id"], "a_rev": pair.a.get("revision"),
                                "b_rev": pair.b.get("revision"), "choice": choice, "note": note.strip(),
                                "source": source or type(self).__name__, "session": session_id})

    def run(self, iteration: int, pairs: list[Pair], population: list[dict],
            info: SessionInfo | None = None) -> SessionResult:
        raise NotImplementedError


class ScriptedTeacher(Session):
    """Prefers the higher fitness; with probability ``noise`` it answers the other way (B-Pref style)."""

    def __init__(self, log: PreferenceLog, noise: float = _F.noise, seed: int = _F.seed):
        super().__init__(log)
        self.noise, self.rng = noise, np.random.default_rng(seed)

    def run(self, iteration: int, pairs: list[Pair], population: list[dict],
            info: SessionInfo | None = None) -> SessionResult:
        for pair in pairs:
            fa, fb = pair.a.get("fitness"), pair.b.get("fitness")
            fa = -np.inf if fa is None else fa
            fb = -np.inf if fb is None else fb
            choice = "tie" if abs(fa - fb) < 1e-9 else ("a" if fa > fb else "b")
            if choice != "tie" and self.rng.random() < self.noise:
                choice = "b" if choice == "a" else "a"
            self.record(iteration, pair, choice, session_id=info.session_id if info else "")
        return SessionResult(answered=len(pairs), ended="all answered")


def _viewer() -> str | None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None
    for cmd in ("xdg-open", "mpv", "vlc"):
        if shutil.which(cmd):
            return cmd
    return None


class CliSession(Session):
    """A terminal session (works over SSH): video paths, then A / B / tie / skip and a free-text note."""

    def __init__(self, log: PreferenceLog, timeout_s: float = _F.timeout_s, stdin: TextIO | None = None,
                 stdout: TextIO | None = None, open_videos: bool = _F.open_videos):
        super().__init__(log, timeout_s)
        self._stdin, self._stdout = stdin, stdout
        self.viewer = _viewer() if open_videos else None

    @property
    def stdin(self) -> TextIO:
        return self._stdin or sys.stdin

    @property
    def stdout(self) -> TextIO:
        return self._stdout or sys.stdout

    def _say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _ask(self, prompt: str) -> str | None:
        """One line from stdin, or None on timeout / closed input."""
        self.stdout.write(prompt)
        self.stdout.flush()
        try:
            ready, _, _ = select.select([self.stdin], [], [], self.timeout_s)
        except (ValueError, OSError):
            ready = [self.stdin]
        if not ready:
            return None
        line = self.stdin.readline()
        return None if line == "" else line.strip()

    def run(self, iteration: int, pairs: list[Pair], population: list[dict],
            info: SessionInfo | None = None) -> SessionResult:
        info = info or SessionInfo()
        done = self.log.latest(iteration)
        todo = [p for p in pairs if p.pair_id not in done]
        self._say(f"\n=== Preference session, iteration {iteration + 1}: {len(todo)} pair(s) to compare "
                  f"({len(pairs) - len(todo)} already answered) ===")
        if info.known:
            self._say(f"({info.known} pair(s) answered in earlier sessions are not asked again)")
        if info.selection_text:
            self._say(info.selection_text)
        if info.survive:
            self._say(f"Note: {info.survive}")
        if info.note_hint:
            self._say(f"Notes: {info.note_hint}")
        self._say("For each pair, watch both rollouts and answer a (A is better), b, t (tie), s (skip), "
                  f"or q (finish now). No answer for {self.timeout_s:g} s: the rest falls back to fitness "
                  "(feedback.timeout_s).")
        result = SessionResult()
        for n, pair in enumerate(todo, 1):
            self._say(f"\n--- pair {n} of {len(todo)} ---")
            if pair.pair_id in info.repeated:
                self._say(f"  (asked again on purpose: {info.repeated[pair.pair_id]})")
            for label, c in (("A", pair.a), ("B", pair.b)):
                fit = "n/a" if c.get("fitness") is None else f"{c['fitness']:.3f}"
                self._say(f"  {label}: {c['id']}  fitness {fit}  video: {c.get('video') or '(none)'}")
                if self.viewer and c.get("video"):
                    subprocess.Popen([self.viewer, c["video"]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while True:
                answer = self._ask("Which is better? [a/b/t/s/q] ")
                if answer is None:
                    result.timed_out, result.ended = True, "idle"
                    result.message = (f"no answer within {self.timeout_s:g} s; falling back to fitness for "
                                      "the unanswered pairs")
                    self._say("\n" + result.message)
                    return result
                answer = answer.lower()
                if answer in ("q", "quit", "done"):
                    result.message, result.ended = "finished early by the user", "quit"
                    return result
                if answer in CHOICES:
                    break
                self._say("  please type a, b, t, s or q")
            note = self._ask("What should change? (enter to skip) ")
            self.record(iteration, pair, CHOICES[answer], note or "", session_id=info.session_id)
            result.answered += 1
            if note:
                result.notes.append(note)
        self._say("Thanks: all pairs answered.")
        result.ended = "all answered"
        return result

    def outcome(self, result: dict) -> None:
        from eureka.prefer.steer import outcome_lines

        self._say("\n--- what your choices did ---")
        for line in outcome_lines(result):
            self._say("  " + line)


def wait_idle(last_activity, done, timeout_s: float, poll: float = 0.2) -> bool:
    """Block until ``done()`` or ``timeout_s`` without activity; True when it timed out."""
    while not done():
        if time.time() - last_activity() > timeout_s:
            return True
        time.sleep(poll)
    return False
