"""The web preference page: FastAPI + uvicorn, one page and one server for the whole run.

Chosen over Gradio because the page is small and fixed (two videos, four buttons,
a note, a population table, the run's progress), FastAPI adds few dependencies,
and its plain JSON endpoints make the session easy to drive from a browser test.

Only the person who started the run gets in: the URL the run prints carries a secret token
(as Jupyter's does); every request without it (in the query, or the cookie the first visit
sets) is refused with 401, and the Host header must name the page's own host (``localhost``,
``127.0.0.1``, the bound host), so a web page the user visits cannot reach it by DNS rebinding.

The server starts with the run and stops with it. Between sessions the page shows
where the run is (iteration, trainings and their progress, fitness so far), fed by
a wrapper around the loop's reporter; when a session starts, the open page switches
to it by itself. State lives on the server (answers in ``preferences.jsonl``), so
reopening the page resumes at the next unanswered pair and two tabs cannot lose an
answer (the last one wins). Every answer carries the id of the session it belongs
to: an answer from a tab left open on an ended session is refused with a clear
message, nothing is recorded, and the page loads the current state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn

    from eureka.train.result import TrainResult

import collections
import hmac
import html
import os
import secrets
import socket
import sys
import threading
import time
import webbrowser
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from eureka.prefer.log import PreferenceLog
from eureka.prefer.scores import bradley_terry
from eureka.prefer.session import Pair, Session, SessionInfo, SessionResult
from eureka.prefer.steer import project, session_favourite

PAGE = Path(__file__).with_name("page.html")
CHOICES = ("a", "b", "tie", "skip")


class AnswerIn(BaseModel):
    """One answer posted by the page."""

    pair_id: str
    choice: str
    note: str = ""
    session_id: str = ""


class SessionIn(BaseModel):
    """A request about the page's session (done, still active, keep reviewing)."""

    session_id: str = ""


def free_port(host: str, port: int, tries: int = 50) -> int:
    """``port`` if it can be bound on ``host``, else the next free one."""
    for p in range(port, port + tries):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                s.bind((host, p))
                return p
            except OSError:
                continue
    raise OSError(f"no free port in {port}-{port + tries - 1} on {host}")


def has_display() -> bool:
    """Whether a browser can be opened here (a desktop session, or macOS / Windows)."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# -- the run between sessions ----------------------------------------------------------------------
class RunStatus:
    """What the page shows between sessions; fed by :class:`PageReporter` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.iteration: int | None = None
        self.iterations = 0
        self.phase = ""
        self.jobs: dict[str, dict] = {}
        self.best: dict | None = None
        self.history: list[dict] = []  # best of each iteration
        self.messages: collections.deque[str] = collections.deque(maxlen=6)
        self.last_session: dict | None = None
        self.choices: list[dict] = []  # what each session's choices did (eureka.prefer.steer.outcome)
        self.finishing = False  # the final evaluation runs: no session will open again
        self.finished = False

    def update(self, fn) -> None:
        with self._lock:
            fn(self)

    def snapshot(self) -> dict:
        with self._lock:
            return {"iteration": self.iteration, "iterations": self.iterations, "phase": self.phase,
                    "jobs": [dict(j) for j in self.jobs.values()], "best": self.best,
                    "history": [dict(h) for h in self.history], "messages": list(self.messages),
                    "last_session": self.last_session, "choices": [dict(c) for c in self.choices],
                    "finishing": self.finishing, "finished": self.finished}


class PageReporter:
    """Wraps the loop's reporter: every hook goes to it unchanged and also updates the page's run status."""

    def __init__(self, inner: Any, status: RunStatus):
        self.inner, self.status = inner, status

    def __getattr__(self, name: str):  # hooks the page does not follow (paused, ...) go straight through
        return getattr(self.inner, name)

    def iteration_started(self, it: int, total: int) -> None:
        def f(s: RunStatus) -> None:
            s.iteration, s.iterations, s.phase = it, total, "the designer writes candidates"
            s.jobs = {}
        self.status.update(f)
        self.inner.iteration_started(it, total)

    def candidates_designed(self, it: int, candidates: list) -> None:
        def f(s: RunStatus) -> None:
            s.phase = f"checking {len(candidates)} candidate(s) in the sandbox, then training"
            s.jobs = {c.id: {"id": c.id, "group": f"iteration {it + 1}", "status": "designed", "steps": 0,
                             "total": None, "fitness": None, "parent": c.parent} for c in candidates}
            for out in s.choices:  # which child each note went to
                if out["iteration"] == it - 1:
                    for n in out["notes"]:
                        n["children"] = [{"id": c.id, "fitness": None, "status": "designed"}
                                         for c in candidates if c.parent == n["parent"]]
        self.status.update(f)
        self.inner.candidates_designed(it, candidates)

    def training_started(self, job_id: str, total_steps: int) -> None:
        def f(s: RunStatus) -> None:
            job = s.jobs.setdefault(job_id, {"id": job_id, "group": "final evaluation", "fitness": None,
                                             "parent": None})
            job.update(status="training", steps=job.get("steps") or 0, total=(job.get("steps") or 0) + total_steps)
            training = [j for j in s.jobs.values() if j["status"] == "training"]
            s.phase = (f"training {len(training)} candidate(s)" if job["group"] != "final evaluation"
                       else f"final evaluation: {len(training)} training(s)")
        self.status.update(f)
        self.inner.training_started(job_id, total_steps)

    def training_progress(self, job_id: str, steps: int) -> None:
        def f(s: RunStatus) -> None:
            if job_id in s.jobs:
                s.jobs[job_id]["steps"] = steps
        self.status.update(f)
        self.inner.training_progress(job_id, steps)

    def candidate_done(self, cand: Any) -> None:
        def f(s: RunStatus) -> None:
            job = s.jobs.setdefault(cand.id, {"id": cand.id, "group": f"iteration {cand.iteration + 1}",
                                              "steps": 0, "total": None, "parent": cand.parent})
            job.update(status=cand.status, fitness=cand.fitness, error=cand.error_class)
            if job.get("total"):
                job["steps"] = max(job.get("steps") or 0, job["total"]) if cand.status == "ok" else job["steps"]
            for out in s.choices:  # ... and later, how those children scored
                for n in out["notes"]:
                    for child in n["children"]:
                        if child["id"] == cand.id:
                            child.update(fitness=cand.fitness, status=str(getattr(cand.status, "value", cand.status)))
            if cand.status == "ok" and cand.fitness is not None:
                if s.best is None or cand.fitness > s.best["fitness"]:
                    s.best = {"id": cand.id, "fitness": cand.fitness}
                row = next((h for h in s.history if h["iteration"] == cand.iteration), None)
                if row is None:
                    s.history.append({"iteration": cand.iteration, "id": cand.id, "fitness": cand.fitness})
                elif cand.fitness > row["fitness"]:
                    row.update(id=cand.id, fitness=cand.fitness)
        self.status.update(f)
        self.inner.candidate_done(cand)

    def job_done(self, job_id: str, result: TrainResult) -> None:
        def f(s: RunStatus) -> None:
            if job_id in s.jobs:
                s.jobs[job_id].update(status="ok" if result.ok else "failed", fitness=result.fitness,
                                      steps=s.jobs[job_id].get("total") or s.jobs[job_id].get("steps"))
        self.status.update(f)
        self.inner.job_done(job_id, result)

    def phase(self, text: str) -> None:
        def f(s: RunStatus) -> None:
            s.phase = text
            s.finishing = s.finishing or text.startswith("final evaluation")
        self.status.update(f)
        self.inner.phase(text)

    def message(self, text: str) -> None:
        self.status.update(lambda s: s.messages.append(text))
        self.inner.message(text)


# -- one session on the page -----------------------------------------------------------------------
class Board:
    """The session the page serves now."""

    def __init__(self, iteration: int, pairs: list[Pair], population: list[dict], info: SessionInfo):
        self.iteration, self.pairs, self.population, self.info = iteration, pairs, population, info
        self.session_id = info.session_id or f"{iteration}-{id(self):x}"
        self.by_id = {p.pair_id: p for p in pairs}
        self.last_activity = time.time()
        self.done = False
        self.held = False
        self.finish_at: float | None = None


def _iteration_of(session_id: str) -> int | None:
    head = session_id.split("-", 1)[0]
    return int(head) if head.isdigit() else None


class WebSession(Session):
    """Serve the page for the whole run; each ``run`` is one session on it.

    A session ends when every pair is answered (after ``finish_delay_s``, which the
    page counts down; "keep reviewing" cancels it), when the person presses Done,
    or after ``timeout_s`` without an answer (the page counts that down too).
    """

    def __init__(self, log: PreferenceLog, host: str = "127.0.0.1", port: int = 8765, timeout_s: float = 600.0,
                 announce=print, finish_delay_s: float = 3.0, open_browser: bool = False):
        super().__init__(log, timeout_s)
        self.host, self.port, self.announce = host, port, announce
        self.finish_delay_s, self.open_browser = float(finish_delay_s), bool(open_browser)
        self.url = ""
        self.token = secrets.token_urlsafe(24)  # in the URL the run prints; nothing else gets in
        self.bound_port = port
        self.status = RunStatus()
        self.board: Board | None = None
        self.videos: dict[str, str | None] = {}
        self.inner: Any = None
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._opened_by_run = False
        self._last_poll = 0.0
        self._finished_seen = False
        self._scores_cache: tuple[Any, dict] | None = None

    # -- lifetime ---------------------------------------------------------------------------------
    def watch(self, reporter):
        self.inner = reporter
        return PageReporter(reporter, self.status)

    def say_url(self) -> None:
        """The URL on a line of its own that no wrapping can break (``grep http`` finds it)."""
        console = getattr(self.inner, "console", None)
        if console is not None:
            console.print(self.url, soft_wrap=True, highlight=False, markup=False, emoji=False)
        else:
            print(self.url, flush=True)

    def open(self) -> None:
        """Start the server (once) and print its URL."""
        if self._server is not None:
            return
        import uvicorn

        port = free_port(self.host, self.port)
        self.bound_port = port
        config = uvicorn.Config(self.app(), host=self.host, port=port, log_level="warning", lifespan="off",
                                timeout_keep_alive=1, timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="eureka-page", daemon=True)
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started and time.time() < deadline and self._thread.is_alive():
            time.sleep(0.05)
        self.url = f"http://{self.host}:{port}/?token={self.token}"
        moved = f" (port {self.port} was busy)" if port != self.port else ""
        self.announce(f"preference page for the whole run{moved}; open this URL:")
        self.say_url()
        if self.open_browser and has_display():
            threading.Thread(target=webbrowser.open, args=(self.url,), daemon=True).start()

    def close(self) -> None:
        """Say the run has finished (to a page that is polling), then stop the server."""
        if self._server is None:
            return
        self.status.update(lambda s: setattr(s, "finished", True))
        if time.time() - self._last_poll < 5:  # a page is open: let it see "the run has finished" (then it stops)
            deadline = time.time() + 5
            while not self._finished_seen and time.time() < deadline:
                time.sleep(0.05)
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None

    # -- one session ------------------------------------------------------------------------------
    def run(self, iteration: int, pairs: list[Pair], population: list[dict],
            info: SessionInfo | None = None) -> SessionResult:
        opened_here = self._server is None
        self.open()
        board = Board(iteration, pairs, population, info or SessionInfo())
        with self._lock:
            self.videos.update({c["id"]: c.get("video") for p in pairs for c in (p.a, p.b)})
            self.videos.update({c["id"]: c.get("video") for c in population + board.info.candidates})
            self.board = board
        self.announce(f"preference session for iteration {iteration + 1}: {len(pairs)} pair(s) on the page")
        self.say_url()
        ended = ""
        try:
            while not ended:
                time.sleep(0.1)
                with self._lock:
                    now = time.time()
                    if board.done:
                        ended = "done"
                    elif board.finish_at is not None and now >= board.finish_at:
                        ended = "all answered"
                    elif now - board.last_activity > self.timeout_s:
                        ended = "idle"
        finally:
            with self._lock:
                self.board = None
        answers = self.log.latest(iteration)
        answered = sum(1 for p in pairs if p.pair_id in answers)
        result = SessionResult(answered=answered, timed_out=ended == "idle", ended=ended)
        if ended == "idle":
            result.message = (f"the page was idle for {self.timeout_s:g} s; falling back to fitness for the "
                              "unanswered pairs")
        self.status.update(lambda s: setattr(s, "last_session", {
            "iteration": iteration, "answered": answered, "pairs": len(pairs), "ended": ended,
            "fell_back": len(pairs) - answered}))
        if opened_here:
            self.close()
        return result

    def outcome(self, result: dict) -> None:
        """Show what the choices did on the page (between sessions, and on the final page)."""
        self.status.update(lambda s: s.choices.append(result))

    # -- the page's API ---------------------------------------------------------------------------
    def _stale(self, session_id: str) -> dict | None:
        """None when ``session_id`` is the session being served, else what to tell the page."""
        board = self.board
        if board is not None and session_id == board.session_id:
            return None
        it = _iteration_of(session_id)
        which = f"the session of iteration {it + 1}" if it is not None else "an earlier session"
        now = (f"the current session is iteration {board.iteration + 1}: it is shown now" if board is not None
               else "the run has moved on; this page shows where it is")
        return {"stale": True, "message": f"This page showed {which}, which has ended: nothing was recorded. "
                                          f"Reloaded: {now}."}

    def _scores(self, board: Board) -> dict[str, float]:
        comparisons = self.log.comparisons()
        ids = board.info.score_ids or [c["id"] for c in board.info.candidates or board.population]
        key = (tuple(comparisons), tuple(ids))
        if self._scores_cache is None or self._scores_cache[0] != key:
            compared = {x for a, b, _ in comparisons for x in (a, b)}
            self._scores_cache = (key, {k: v for k, v in bradley_terry(ids, comparisons).items() if k in compared})
        return self._scores_cache[1]

    def state(self) -> dict:
        """What ``/api/state`` returns: the run's status and, during a session, the session."""
        self._last_poll = time.time()
        status = self.status.snapshot()
        self._finished_seen = self._finished_seen or status["finished"]
        with self._lock:
            board = self.board
        if board is None:
            mode = "finished" if status["finished"] else ("finishing" if status["finishing"] else "waiting")
            return {"mode": mode, "status": status, "session": None}
        answers = self.log.latest(board.iteration)
        scores = self._scores(board)
        table = board.info.candidates or board.population
        favourite = session_favourite(answers[p.pair_id] for p in board.pairs if p.pair_id in answers)
        projected = project(table, scores, favourite, board.info.selection, board.info.population_size)

        def public(c: dict) -> dict:
            out = {k: c.get(k) for k in ("id", "fitness", "parent", "code", "reflection", "parent_reflection", "iteration",
                                         "in_population", "current")}
            return out | {"has_video": bool(c.get("video")), "preference": scores.get(c["id"])} | projected.get(c["id"], {})

        now = time.time()
        answered = sum(1 for p in board.pairs if p.pair_id in answers)
        session = {
            "session_id": board.session_id, "iteration": board.iteration, "iterations": board.info.iterations,
            "pairs": [{"pair_id": p.pair_id, "a": public(p.a), "b": public(p.b),
                       "answer": answers.get(p.pair_id, {}).get("choice"),
                       "note": answers.get(p.pair_id, {}).get("note", ""),
                       "repeated": board.info.repeated.get(p.pair_id, "")} for p in board.pairs],
            "answered": answered, "total": len(board.pairs), "known": board.info.known,
            "population": [public(c) for c in table],
            "selection": board.info.selection, "selection_text": board.info.selection_text,
            "note_hint": board.info.note_hint, "timeout_s": self.timeout_s,
            "note_example": board.info.note_example, "survive": board.info.survive, "last": board.info.last,
            "population_size": board.info.population_size, "favourite": favourite,
            "idle_left_s": max(0.0, self.timeout_s - (now - board.last_activity)),
            "finish_in_s": None if board.finish_at is None else max(0.0, board.finish_at - now),
            "held": board.held, "done": board.done}
        return {"mode": "session", "status": status, "session": session, "iteration": board.iteration}

    def allowed_hosts(self) -> set[str]:
        """Host names the page answers to (the Host header, port left out): anything else is a rebinding."""
        names = {"localhost", "127.0.0.1", "::1", self.host.lower()}
        if self.host in ("0.0.0.0", "::", ""):  # every interface: the machine's own names too
            names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        return names

    def authorized(self, host_header: str, query_token: str | None, cookie_token: str | None) -> int:
        """0 when a request may in, else its HTTP status: 403 for a foreign Host header, 401 without the token."""
        host = host_header.strip().lower()
        if host.startswith("[") and "]" in host:  # [::1]:8765
            host = host[1:host.index("]")]
        elif host.count(":") == 1:  # localhost:8765
            host = host.split(":")[0]
        if host not in self.allowed_hosts():
            return 403
        for given in (query_token, cookie_token):
            if given and hmac.compare_digest(given.encode(), self.token.encode()):
                return 0
        return 401

    def app(self):
        from fastapi import FastAPI, HTTPException, Request
        from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

        app = FastAPI(title="eureka preferences", docs_url=None, redoc_url=None, openapi_url=None)
        cookie = f"eureka_token_{self.bound_port}"

        @app.middleware("http")
        async def only_the_user(request: Request, call_next):
            query = request.query_params.get("token")
            status = self.authorized(request.headers.get("host", ""), query, request.cookies.get(cookie))
            if status:
                why = ("this page answers only to its own host name" if status == 403 else
                       "open the URL the run printed (it carries the page's token)")
                return JSONResponse({"detail": why}, status_code=status)
            response = await call_next(request)
            if query:  # the first visit: later requests of the page (state, answers, videos) carry the cookie
                response.set_cookie(cookie, self.token, httponly=True, samesite="strict", path="/")
            return response

        def refuse(session_id: str):
            stale = self._stale(session_id)
            return JSONResponse(stale, status_code=409) if stale else None

        @app.get("/", response_class=HTMLResponse)
        def page() -> str:
            return PAGE.read_text().replace("{{TITLE}}", html.escape("eureka"))

        @app.get("/api/state")
        def get_state() -> dict:
            return self.state()

        @app.post("/api/answer")
        def answer(body: AnswerIn):
            with self._lock:
                if (bad := refuse(body.session_id)) is not None:
                    return bad
                board = self.board
                assert board is not None  # refuse() passes only the session of the board being served
                if body.pair_id not in board.by_id:
                    raise HTTPException(404, f"unknown pair {body.pair_id}")
                if body.choice not in CHOICES:
                    raise HTTPException(422, "choice must be a, b, tie or skip")
                board.last_activity = time.time()
                self.record(board.iteration, board.by_id[body.pair_id], body.choice, body.note[:2000],
                            source="web", session_id=board.session_id)
                answers = self.log.latest(board.iteration)
                answered = sum(1 for p in board.pairs if p.pair_id in answers)
                if answered == len(board.pairs) and not board.held:
                    board.finish_at = time.time() + self.finish_delay_s
                return {"ok": True, "answered": answered, "total": len(board.pairs),
                        "finish_in_s": None if board.finish_at is None else self.finish_delay_s}

        def on_board(body: SessionIn, fn) -> Any:
            with self._lock:
                if (bad := refuse(body.session_id)) is not None:
                    return bad
                fn(self.board)
                return {"ok": True}

        @app.post("/api/done")
        def done(body: SessionIn):
            return on_board(body, lambda b: setattr(b, "done", True))

        @app.post("/api/active")
        def active(body: SessionIn):
            return on_board(body, lambda b: setattr(b, "last_activity", time.time()))

        @app.post("/api/hold")
        def hold(body: SessionIn):
            def f(b: Board) -> None:
                b.held, b.finish_at, b.last_activity = True, None, time.time()
            return on_board(body, f)

        @app.get("/video/{cid}")
        def video(cid: str):
            path = self.videos.get(cid)
            if not path or not Path(path).is_file():
                raise HTTPException(404, "no video")
            return FileResponse(path, media_type="video/mp4" if path.endswith(".mp4") else "image/gif")

        return app
